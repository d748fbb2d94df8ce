// Runs tshark with checksum validation on and returns, per frame, the checksum status of each
// layer in csumwatch's layer names. tshark's status numbers: 0 bad, 1 good, 2 unverified,
// 3 not present (a zero UDP checksum), 4 illegal (a zero UDP checksum over IPv6).

import { execFileSync } from 'node:child_process';

export type TsharkStatus = 0 | 1 | 2 | 3 | 4;
export interface TsharkFrame {
  protocols: string;
  /**
   * Keyed by csumwatch layer name: "ipv4", "udp", "tcp", "vxlan.ipv4", "vxlan.udp", "vxlan.tcp",
   * "geneve.ipv4", "geneve.udp", "geneve.tcp": the frame's own headers and those inside its first
   * tunnel (a tunnel inside that one ends the list, as csumwatch reports no layer for it).
   */
  layers: Record<string, TsharkStatus>;
}

export function tsharkAvailable(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function tsharkChecksums(path: string, vxlanPorts: readonly number[] = [4789, 8472], genevePorts: readonly number[] = [6081]): TsharkFrame[] {
  const args = ['-n', '-r', path,
    '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
    ...vxlanPorts.flatMap((p) => ['-d', `udp.port==${p},vxlan`]),
    ...genevePorts.flatMap((p) => ['-d', `udp.port==${p},geneve`]),
    '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
    '-e', 'frame.protocols', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'tcp.checksum.status'];
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 << 20 });
  const frames: TsharkFrame[] = [];
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [protocols, ip, udp, tcp] = line.split('|');
    const queues: Record<string, number[]> = { ip: nums(ip), udp: nums(udp), tcp: nums(tcp) };
    const layers: Record<string, TsharkStatus> = {};
    let inner = '';
    for (const p of protocols.split(':')) {
      if (p === 'vxlan' || p === 'geneve') {
        if (inner !== '') break;
        inner = p + '.';
      }
      // ICMP errors quote packets; stop at them so a quoted header is never compared.
      if (p === 'icmp' || p === 'icmpv6') break;
      const q = p === 'ip' ? 'ip' : p === 'udp' ? 'udp' : p === 'tcp' ? 'tcp' : null;
      if (q === null) continue;
      const v = queues[q].shift();
      if (v === undefined) continue;
      const name = inner + (q === 'ip' ? 'ipv4' : q);
      layers[name] = v as TsharkStatus;
    }
    frames.push({ protocols, layers });
  }
  return frames;
}

function nums(s: string | undefined): number[] {
  return s ? s.split(',').filter((x) => x !== '').map(Number) : [];
}
