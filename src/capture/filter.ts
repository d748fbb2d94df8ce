// The kernel-side capture filter (libpcap syntax, compiled to classic BPF and run in the kernel for
// every packet on the interface), so that JavaScript sees only what csumwatch counts:
//
//   - plain DNS: UDP or TCP to or from a DNS port;
//   - Geneve: UDP to a Geneve port, every packet (its options make the inner offsets variable);
//   - VXLAN: UDP to a VXLAN port. With vtep 'all' every VXLAN packet passes, so the per-VTEP
//     counters are exact. With vtep 'dns' only VXLAN packets whose inner payload is DNS pass: the
//     filter walks the inner Ethernet, IPv4 (variable IHL) or IPv6 header to the inner UDP ports.
//
// Offsets inside `udp[...]` count from the outer UDP header: 8 bytes UDP, 8 bytes VXLAN
// (RFC 7348 §5), 14 bytes inner Ethernet, then the inner IP header at udp[30]. Inner VLAN tags,
// IPv6 extension headers and IP fragments after the first are not followed: such DNS packets are
// rare inside an overlay, and in 'all' mode they pass anyway.

export type VtepPackets = 'all' | 'dns';

export interface FilterOptions {
  vxlanPorts: readonly number[];
  /**
   * UDP destination ports carrying Geneve: every Geneve packet passes, whatever `vtep` says. Its
   * options make the inner header's offset variable, which this filter does not walk.
   */
  genevePorts?: readonly number[];
  dnsPorts: readonly number[];
  vtep: VtepPackets;
}

/** Offset of the inner IP header from the outer UDP header. */
const INNER_IP = 8 + 8 + 14;

export function captureFilter(o: FilterOptions): string {
  const geneve = o.genevePorts ?? [];
  if (o.vxlanPorts.length === 0 && geneve.length === 0 && o.dnsPorts.length === 0) throw new RangeError('no VXLAN or DNS port to capture');
  for (const p of [...o.vxlanPorts, ...geneve, ...o.dnsPorts]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new RangeError(`not a port: ${p}`);
  }
  const parts: string[] = [];
  if (o.dnsPorts.length > 0) parts.push(`(${o.dnsPorts.map((p) => `port ${p}`).join(' or ')})`);
  if (o.vxlanPorts.length > 0) {
    const vx = `(${o.vxlanPorts.map((p) => `udp dst port ${p}`).join(' or ')})`;
    if (o.vtep === 'all' || o.dnsPorts.length === 0) parts.push(vx);
    else {
      // libpcap's udp[] indexes only over IPv4; over an IPv6 underlay the same bytes are reached
      // through ip6[] past the fixed 40-byte header (no extension headers, as VXLAN sends).
      const v4 = `(ip and ${innerDns(o.dnsPorts, (x) => `udp[${x}]`, (x) => `udp[${x}:2]`)})`;
      const v6 = `(ip6 and ip6[6]=17 and ${innerDns(o.dnsPorts, (x) => `ip6[40+${x}]`, (x) => `ip6[40+${x}:2]`)})`;
      parts.push(`(${vx} and (${v4} or ${v6}))`);
    }
  }
  if (geneve.length > 0) parts.push(`(${geneve.map((p) => `udp dst port ${p}`).join(' or ')})`);
  return parts.join(' or ');
}

/**
 * The inner packet is UDP or TCP to or from a DNS port, over IPv4 or IPv6. b1 and b2 load one and
 * two bytes at an offset from the outer UDP header.
 */
function innerDns(dnsPorts: readonly number[], b1: (x: string | number) => string, b2: (x: string | number) => string): string {
  const ethType = b2(INNER_IP - 2);
  // IPv4: protocol at +9; the transport header after IHL*4 bytes; first fragments only.
  const l4v4 = `${INNER_IP}+((${b1(INNER_IP)}&0xf)*4)`;
  const v4ports = dnsPorts.map((p) => `${b2(l4v4)}=${p} or ${b2(`${l4v4}+2`)}=${p}`).join(' or ');
  const v4 = `(${ethType}=0x0800 and (${b1(INNER_IP + 9)}=17 or ${b1(INNER_IP + 9)}=6) and ${b2(INNER_IP + 6)}&0x1fff=0 and (${v4ports}))`;
  // IPv6: next header at +6; the transport header right after the 40-byte fixed header.
  const l4v6 = INNER_IP + 40;
  const v6ports = dnsPorts.map((p) => `${b2(l4v6)}=${p} or ${b2(l4v6 + 2)}=${p}`).join(' or ');
  const v6 = `(${ethType}=0x86dd and (${b1(INNER_IP + 6)}=17 or ${b1(INNER_IP + 6)}=6) and (${v6ports}))`;
  return `(${v4} or ${v6})`;
}
