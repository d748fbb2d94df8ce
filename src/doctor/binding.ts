// A VXLAN device bound to the wrong underlay. Unicast VXLAN leaves by the routing table, whatever
// device the VXLAN device is bound to (`dev`), and carries its `local` address as the outer source.
// When the route to a peer VTEP leaves by another device than the one holding that address, the
// packets leave one network with another network's source: a peer filtering reverse paths
// (rp_filter, the default of many distributions) drops them, and a firewall that allows VXLAN
// from node addresses does too. csumwatch then sees queries leave and never come back, with no
// checksum to blame. It happens when the CNI picked the node's address from the wrong interface
// (flannel's first interface, Calico's first-found autodetection).

import { NetInterface } from '../node/interfaces';
import { RouteResult } from '../node/routes';
import { Finding } from './finding';

/** Route lookups per VXLAN device: enough to see a pattern on a large cluster, bounded. */
export const MAX_PEERS = 16;

export interface BindingInput {
  vxlan: NetInterface;
  interfaces: readonly NetInterface[];
  /** The peers whose routes were looked up (at most MAX_PEERS), and how many the FDB holds. */
  peers: readonly string[];
  peersTotal: number;
  routes: ReadonlyMap<string, RouteResult>;
  /** The node's address as the cluster knows it (Kubernetes InternalIP), when known. */
  nodeAddress: string | null;
}

const EXAMPLES = 3;

export function checkBinding(inp: BindingInput): Finding[] {
  const vx = inp.vxlan;
  const v = vx.vxlan;
  if (!v) return [];
  const out: Finding[] = [];
  const local = v.local;
  const holder = local ? inp.interfaces.find((i) => i.addresses.some((a) => a.address === local)) ?? null : null;
  const bound = v.link ? inp.interfaces.find((i) => i.name === v.link) ?? null : null;
  const what = `${vx.name} (VNI ${v.vni}, port ${v.port}${local ? `, local ${local}` : ''}${v.link ? `, dev ${v.link}` : ''})`;
  const fix = remedy(vx.name, inp);

  if (local && !holder) {
    out.push({
      check: 'binding',
      severity: 'critical',
      evidence: `${what}: its local address ${local} is on no interface of this node: it sends with a source address that is not the node's, and peers that send to it reach no one`,
      remediation: fix,
    });
    return out;
  }

  const noRoute: string[] = [];
  const elsewhere = new Map<string, { peers: string[]; src: string | null }>();
  let viaBound = 0;
  for (const p of inp.peers) {
    const r = inp.routes.get(p);
    if (!r || r.error !== undefined || !r.route || ['unreachable', 'blackhole', 'prohibit', 'throw'].includes(r.route.type)) {
      noRoute.push(`${p} (${r?.error ?? r?.route?.type ?? 'not looked up'})`);
      continue;
    }
    const dev = r.route.dev ?? '?';
    if (bound && dev === bound.name) viaBound++;
    if (holder && dev !== holder.name) {
      const g = elsewhere.get(dev) ?? { peers: [], src: r.route.prefsrc };
      g.peers.push(p);
      elsewhere.set(dev, g);
    }
  }
  const checked = `${inp.peers.length} of ${inp.peersTotal} peer VTEP${inp.peersTotal === 1 ? '' : 's'} checked`;

  if (noRoute.length > 0) {
    out.push({
      check: 'binding',
      severity: 'critical',
      evidence: `${what}: no route to peer VTEP${noRoute.length === 1 ? '' : 's'} ${list(noRoute)} (${checked}): packets to ${noRoute.length === 1 ? 'it' : 'them'} never leave the node`,
      remediation: `add the route to the peers' network on the underlay, or ${fix}`,
    });
  }
  for (const [dev, g] of elsewhere) {
    out.push({
      check: 'binding',
      severity: 'critical',
      evidence: `${what} sends from ${local}, an address of ${holder!.name}, but the route to peer VTEP${g.peers.length === 1 ? '' : 's'} ${list(g.peers)} leaves by ${dev}${g.src ? ` with source ${g.src}` : ''} (${checked}): ` +
        `its packets leave ${dev} carrying ${holder!.name}'s address; a peer filtering reverse paths (rp_filter) drops them and its answers are sent back to ${local}`,
      remediation: fix,
    });
  }
  if (bound && holder && bound !== holder && elsewhere.size === 0) {
    out.push({
      check: 'binding',
      severity: 'warning',
      evidence: `${what} is bound to ${bound.name}, but its local address ${local} is on ${holder.name}${viaBound === 0 && inp.peers.length > 0 ? `, and the routes to its peers leave by ${holder.name}, not ${bound.name}` : ''}: unicast follows the routes, flooding and a default destination go out ${bound.name}`,
      remediation: fix,
    });
  }
  if (local && inp.nodeAddress && local !== inp.nodeAddress) {
    const nodeIf = inp.interfaces.find((i) => i.addresses.some((a) => a.address === inp.nodeAddress));
    out.push({
      check: 'binding',
      severity: 'warning',
      evidence: `${what} sends from ${local}${holder ? ` (${holder.name})` : ''}, but the node's address is ${inp.nodeAddress}${nodeIf ? ` (${nodeIf.name})` : ''}: peers and firewalls that know this node by its address see VXLAN from another one`,
      remediation: fix,
    });
  }
  return out;
}

function list(xs: readonly string[]): string {
  return xs.length <= EXAMPLES ? xs.join(', ') : `${xs.slice(0, EXAMPLES).join(', ')} and ${xs.length - EXAMPLES} more`;
}

/** Recreate the device on the interface the routes use, and tell the CNI so. */
function remedy(name: string, inp: BindingInput): string {
  let dev: string | null = null;
  let src: string | null = null;
  let peer: string | null = null;
  for (const p of inp.peers) {
    const r = inp.routes.get(p)?.route;
    if (r?.dev && r.prefsrc) {
      dev = r.dev;
      src = r.prefsrc;
      peer = p;
      break;
    }
  }
  const iface = dev ?? '<interface>';
  const reach = peer ?? '<peer>';
  return `make the CNI put ${name} on ${dev ? `local ${src} dev ${dev}` : 'the address and interface the routes to the peers use'}: ` +
    `flannel --iface=${iface} (or --iface-can-reach=${reach}, or the annotation flannel.alpha.coreos.com/public-ip-overwrite), ` +
    `Calico IP_AUTODETECTION_METHOD=interface=${iface} (or can-reach=${reach}) on calico-node, ` +
    `then restart the CNI agent on this node so that it recreates ${name}`;
}
