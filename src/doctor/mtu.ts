// The VXLAN device's MTU against its underlay's: VXLAN adds an outer IP header, UDP (8), the VXLAN
// header (8) and the inner Ethernet header (14), so 50 bytes over IPv4 (20) and 70 over IPv6 (40)
// (RFC 7348 §5). A larger VXLAN MTU makes the largest overlay packets bigger than the underlay
// can carry: they are fragmented (IPv4, DF clear: lost wherever the path drops fragments) or
// dropped, so large DNS answers (EDNS over 1232 bytes, DNS over TCP, DNSSEC) go missing while
// small ones pass.

import { NetInterface } from '../node/interfaces';
import { Finding } from './finding';

export const OVERHEAD_IPV4 = 50;
export const OVERHEAD_IPV6 = 70;

export interface MtuInput {
  vxlan: NetInterface;
  underlay: NetInterface | null;
}

/** The outer header's family: that of the local address, else the remote, else the underlay's addresses. */
export function underlayFamily(vx: NetInterface, underlay: NetInterface | null): 'ipv4' | 'ipv6' {
  const a = vx.vxlan?.local ?? vx.vxlan?.remote ?? null;
  if (a !== null) return a.includes(':') ? 'ipv6' : 'ipv4';
  const fams = new Set((underlay?.addresses ?? []).filter((x) => !x.address.startsWith('fe80:')).map((x) => x.family));
  return fams.has('inet6') && !fams.has('inet') ? 'ipv6' : 'ipv4';
}

export function checkMtu(inp: MtuInput): Finding[] {
  const vx = inp.vxlan;
  const ul = inp.underlay;
  if (!ul) return [];
  const fam = underlayFamily(vx, ul);
  const overhead = fam === 'ipv6' ? OVERHEAD_IPV6 : OVERHEAD_IPV4;
  const max = ul.mtu - overhead;
  if (vx.mtu <= max) return [];
  return [{
    check: 'mtu',
    severity: 'critical',
    evidence: `${vx.name} MTU ${vx.mtu} is more than its underlay ${ul.name}'s MTU ${ul.mtu} minus the ${overhead} bytes of VXLAN over ${fam === 'ipv6' ? 'IPv6' : 'IPv4'} (${max}): ` +
      `an overlay packet of ${max + 1} to ${vx.mtu} bytes makes an outer packet of ${ul.mtu + 1} to ${vx.mtu + overhead}, which ${ul.name} must fragment or drop: large DNS answers (EDNS, TCP) are lost while small ones pass`,
    remediation: `now: ip link set ${vx.name} mtu ${max} (and pods' MTU no higher); persistent: set the CNI's MTU to ${max} (flannel takes it from --iface's MTU, Calico from FelixConfiguration vxlanMTU or the calico-config veth_mtu, Cilium from --mtu), or raise ${ul.name}'s MTU to ${vx.mtu + overhead} where the whole underlay network carries it`,
  }];
}
