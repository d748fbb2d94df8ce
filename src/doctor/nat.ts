// NAT of the VXLAN outer header while transmit checksum offload is on: the kernel bug behind the
// "63-second" DNS delays. With tx-checksum-ip-generic on the VXLAN device the packet is
// CHECKSUM_PARTIAL for its inner header; NAT (MASQUERADE --random-fully matching the VXLAN port)
// rewrites the outer UDP source port but does not update the outer checksum, so the peer drops
// every such packet (Udp InCsumErrors). The evidence is in conntrack: an entry to the VXLAN port
// whose reply goes back to another source address or port than the one that sent.
// `csumwatch lab up --nat` reproduces it, still, on Linux 6.18.

import { ConntrackRead, sourceTranslated } from '../node/conntrack';
import { Finding } from './finding';

export interface NatDevice {
  name: string;
  port: number;
  /** tx-checksum-ip-generic on the device; null when unreadable. */
  offloadOn: boolean | null;
}

export interface NatInput {
  devices: readonly NatDevice[];
  /** null when conntrack could not be read; error says why. */
  conntrack: ConntrackRead | null;
  error?: string;
}

export function checkNat(inp: NatInput): Finding[] {
  if (inp.devices.length === 0) return [];
  const ct = inp.conntrack;
  if (ct === null) {
    return [{
      check: 'nat',
      severity: 'info',
      evidence: `conntrack could not be read (${inp.error ?? 'unknown error'}): NAT of the VXLAN outer header was not checked`,
      remediation: 'install conntrack (apt install conntrack), or run where /proc/net/nf_conntrack exists; connection tracking must be loaded for NAT to exist at all',
    }];
  }
  const out: Finding[] = [];
  const ports = [...new Set(inp.devices.map((d) => d.port))].sort((a, b) => a - b);
  for (const port of ports) {
    const entries = ct.entries.filter((e) => e.original.dport === port);
    const nat = entries.filter(sourceTranslated);
    if (nat.length === 0) continue;
    const devs = inp.devices.filter((d) => d.port === port);
    const hot = devs.filter((d) => d.offloadOn === true);
    const e = nat[0];
    const example = `${e.original.src}:${e.original.sport} → ${e.reply.dst}:${e.reply.dport} toward ${e.original.dst}`;
    const counted = `${nat.length}${ct.truncated ? '+' : ''} of ${entries.length} conntrack entries for UDP port ${port} (VXLAN) have a translated source, e.g. ${example}`;
    const exclude = `keep VXLAN out of NAT: iptables -t nat -I POSTROUTING -p udp --dport ${port} -j RETURN ahead of the MASQUERADE rule that matches it`;
    if (hot.length > 0) {
      const names = hot.map((d) => d.name).join(', ');
      out.push({
        check: 'nat',
        severity: 'critical',
        evidence: `${counted}, while ${names} ${hot.length === 1 ? 'has' : 'have'} tx-checksum-ip-generic on: NAT rewrites the outer source port and leaves the outer UDP checksum as it was, ` +
          `so the peer drops every such packet (its Udp InCsumErrors): the kernel bug behind the "63-second" DNS delays`,
        remediation: `now: ${hot.map((d) => `ethtool -K ${d.name} tx-checksum-ip-generic off`).join('; ')} (made persistent as the offload finding says; Calico: featureDetectOverride ChecksumOffloadBroken=true); and ${exclude}`,
      });
    } else {
      out.push({
        check: 'nat',
        severity: 'info',
        evidence: `${counted}; ${devs.map((d) => d.name).join(', ')} ${devs.some((d) => d.offloadOn === null) ? 'offload unknown' : 'compute their checksums themselves'}, so the outer checksum is right after NAT`,
        remediation: `keep tx-checksum-ip-generic off on ${devs.map((d) => d.name).join(', ')} for as long as VXLAN is NATed, or ${exclude}`,
      });
    }
  }
  return out;
}
