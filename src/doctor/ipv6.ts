// Name servers and answers of an address family the node cannot route. A nameserver the node has
// no route to costs every lookup that tries it the resolver's timeout (5 s by default) before the
// next one is asked: an IPv6 nameserver on a node without IPv6 routing is the usual case (check
// ipv6). An IPv4 one without a route is the same failure; it is reported under the resolv check,
// with the rest of what is wrong with resolv.conf. AAAA answers on a node (or in pods) without an
// IPv6 route make clients that try IPv6 first wait before they fall back to IPv4.

import { isIP } from 'net';

import { NetInterface } from '../node/interfaces';
import { RouteResult } from '../node/routes';
import { stripZone } from '../node/resolv';
import { Finding } from './finding';

/**
 * Looked up to learn whether the node routes IPv6 at large: a documentation address (RFC 3849),
 * so only a default (or other covering) route matches it. Nothing is sent.
 */
export const IPV6_PROBE = '2001:db8::1';

export interface Nameserver {
  address: string;
  /** The file that names it. */
  from: string;
}

export interface Ipv6Input {
  nameservers: readonly Nameserver[];
  routes: ReadonlyMap<string, RouteResult>;
  interfaces: readonly NetInterface[];
  /** DNS answers seen by family (the agent's count of A and AAAA answers); null when not known. */
  answers: { a: number; aaaa: number } | null;
}

const BAD_TYPES = ['unreachable', 'blackhole', 'prohibit', 'throw'];

/** null when routable, else why not. */
export function unroutable(addr: string, routes: ReadonlyMap<string, RouteResult>, ifs: readonly NetInterface[]): string | null {
  const zone = addr.indexOf('%');
  if (zone >= 0) {
    // A link-local nameserver names its interface: it is reachable when that interface is up with IPv6.
    const dev = ifs.find((i) => i.name === addr.slice(zone + 1));
    if (!dev) return `no interface ${addr.slice(zone + 1)}`;
    if (!dev.up) return `${dev.name} is down`;
    return dev.addresses.some((a) => a.family === 'inet6') ? null : `${dev.name} has no IPv6 address`;
  }
  const r = routes.get(addr);
  if (!r) return 'not looked up';
  if (r.error !== undefined) return r.error;
  return BAD_TYPES.includes(r.route.type) ? `${r.route.type} route` : null;
}

export function checkIpv6(inp: Ipv6Input): Finding[] {
  const out: Finding[] = [];
  const bad: Array<Nameserver & { why: string }> = [];
  const seen = new Set<string>();
  for (const ns of inp.nameservers) {
    if (seen.has(ns.address)) continue;
    seen.add(ns.address);
    const why = unroutable(ns.address, inp.routes, inp.interfaces);
    if (why !== null) bad.push({ ...ns, why });
  }
  const all = bad.length > 0 && bad.length === seen.size;
  for (const ns of bad) {
    const fam = isIP(stripZone(ns.address)) === 6 ? 'IPv6' : 'IPv4';
    out.push({
      check: fam === 'IPv6' ? 'ipv6' : 'resolv',
      severity: all ? 'critical' : 'warning',
      evidence: `nameserver ${ns.address} (${ns.from}) is ${fam}, and this node has no route to it (${ns.why}): ` +
        (all ? 'no nameserver it names can be reached, so no lookup from the node succeeds' : 'every lookup that tries it first waits for the resolver\'s timeout (5 s unless options timeout: says otherwise)'),
      remediation: `remove ${ns.address} from ${ns.from}, or give the node ${fam === 'IPv6' ? 'IPv6 routing (a default route from its network\'s router advertisements)' : 'a route'} to it`,
    });
  }
  if (inp.answers && inp.answers.aaaa > 0) {
    const why = unroutable(IPV6_PROBE, inp.routes, inp.interfaces);
    if (why !== null) {
      out.push({
        check: 'ipv6',
        severity: 'warning',
        evidence: `${inp.answers.aaaa} AAAA answers (and ${inp.answers.a} A) were seen, but this node has no IPv6 route (${why}): clients that try an IPv6 address first wait for a timeout before they fall back to IPv4`,
        remediation: 'give the node IPv6 routing, or stop AAAA answers from reaching IPv4-only clients (options no-aaaa in the pods\' dnsConfig with glibc 2.36 or later, or an AAAA filter in CoreDNS)',
      });
    }
  }
  return out;
}
