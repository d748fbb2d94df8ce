// What `csumwatch analyze` prints: the CONTRACT.md JSON object (with extensions after the fixed
// keys) and the readable report with its one-line verdict.

import { CSUM_NAMES, Csum } from '../decode/checksum';
import { RCODE_SLOTS, rcodeName } from '../decode/dns';
import { ENCAP_COUNT, Layer, LAYER_COUNT, LAYER_NAMES } from '../decode/frame';
import { Status, STATUS_COUNT, statusName } from '../decode/status';
import { REASON_PREFIXES } from '../decode/tally';
import { Analysis } from './analyze';
import { isoTime } from '../correlate/transactions';

type Buckets = Record<string, number>;

function buckets(a: Analysis, layer: Layer, names: readonly string[]): Buckets {
  const out: Buckets = {};
  for (const n of names) out[n] = a.stats.count(layer, CSUM_NAMES.indexOf(n));
  return out;
}

const IP_RESULTS = ['ok', 'bad'];
const UDP_RESULTS = ['ok', 'bad', 'none', 'partial', 'unverifiable'];
const TCP_RESULTS = ['ok', 'bad', 'partial', 'unverifiable'];

function ms(us: number): number {
  return Math.round(us) / 1000;
}

/** Malformed reasons by name: outside a tunnel, then inside VXLAN ("vxlan.") and Geneve ("geneve."). */
function reasonCounts(arr: Float64Array, out: Buckets): void {
  for (let w = 0; w < ENCAP_COUNT; w++) {
    for (let s = 0; s < STATUS_COUNT; s++) {
      const n = arr[w * STATUS_COUNT + s];
      if (n > 0 && s !== Status.TRUNCATED) out[REASON_PREFIXES[w] + statusName(s)] = n;
    }
  }
}

/** The analyze --json object: CONTRACT.md's keys first, in its order, then extensions. */
export function toJson(a: Analysis): Record<string, unknown> {
  const st = a.stats;
  const d = a.dns;
  const rcodes: Buckets = { NOERROR: d.rcodes[0] };
  for (let r = 1; r < RCODE_SLOTS; r++) if (d.rcodes[r] > 0) rcodes[rcodeName(r)] = d.rcodes[r];
  const malformedReasons: Buckets = {};
  reasonCounts(st.decodeErrors, malformedReasons);
  const lostByLayer: Buckets = {};
  const pseudo: Buckets = {};
  for (let l = 0; l < LAYER_COUNT; l++) {
    if (d.lostByLayer[l] > 0) lostByLayer[LAYER_NAMES[l]] = d.lostByLayer[l];
    if (st.pseudoOnlyBad[l] > 0) pseudo[LAYER_NAMES[l]] = st.pseudoOnlyBad[l];
  }
  return {
    frames: st.frames,
    malformed: st.malformed,
    checksums: {
      ipv4: buckets(a, Layer.IPV4, IP_RESULTS),
      ipv6: {},
      udp: buckets(a, Layer.UDP, UDP_RESULTS),
      tcp: buckets(a, Layer.TCP, TCP_RESULTS),
      vxlan: {
        ipv4: buckets(a, Layer.VXLAN_IPV4, IP_RESULTS),
        udp: buckets(a, Layer.VXLAN_UDP, UDP_RESULTS),
        tcp: buckets(a, Layer.VXLAN_TCP, TCP_RESULTS),
      },
      // Extension: the headers inside Geneve, as vxlan.* are inside VXLAN.
      geneve: {
        ipv4: buckets(a, Layer.GENEVE_IPV4, IP_RESULTS),
        udp: buckets(a, Layer.GENEVE_UDP, UDP_RESULTS),
        tcp: buckets(a, Layer.GENEVE_TCP, TCP_RESULTS),
      },
    },
    dns: {
      queries: d.queries,
      responses: d.responses,
      answered: d.answered,
      unanswered: d.unanswered,
      lost_to_checksum: d.lostToChecksum,
      rcodes,
      latency_ms: {
        p50: ms(d.latency.quantile(0.5)),
        p90: ms(d.latency.quantile(0.9)),
        p99: ms(d.latency.quantile(0.99)),
        max: ms(d.latency.max),
      },
      // Extensions.
      retransmissions: d.retransmissions,
      duplicate_responses: d.duplicateResponses,
      orphan_responses: d.orphanResponses,
      unkeyed: d.unkeyed,
      evicted: d.evicted,
      lost_by_layer: lostByLayer,
      top_lost_names: d.topLostNames(10),
      lost: d.lost().map((l) => ({
        ts: isoTime(l.tsUs),
        client: l.client, client_port: l.clientPort, server: l.server, server_port: l.serverPort,
        id: l.id, name: l.name, qtype: l.qtype, cause: l.cause, layer: l.layer,
        pseudo_header_only: l.pseudoOnly, queries: l.queries, vxlan: l.vxlan, geneve: l.geneve,
      })),
    },
    // Extensions.
    truncated: st.truncated,
    not_ip: st.notIp,
    vxlan_frames: st.vxlanFrames,
    geneve_frames: st.geneveFrames,
    fragments: { first: st.fragmentsFirst, later: st.fragmentsLater },
    malformed_reasons: malformedReasons,
    bad_pseudo_header_only: pseudo,
    files: a.files.map((f) => ({ path: f.path, format: f.format, frames: f.records, error: f.error })),
    verdict: verdict(a),
  };
}

const LAYER_PHRASE: Record<number, string> = {
  [Layer.IPV4]: 'bad IPv4 header checksums',
  [Layer.UDP]: 'bad UDP checksums',
  [Layer.TCP]: 'bad TCP checksums',
  [Layer.VXLAN_IPV4]: 'bad inner IPv4 header checksums inside VXLAN',
  [Layer.VXLAN_UDP]: 'bad inner UDP checksums inside VXLAN',
  [Layer.VXLAN_TCP]: 'bad inner TCP checksums inside VXLAN',
  [Layer.GENEVE_IPV4]: 'bad inner IPv4 header checksums inside Geneve',
  [Layer.GENEVE_UDP]: 'bad inner UDP checksums inside Geneve',
  [Layer.GENEVE_TCP]: 'bad inner TCP checksums inside Geneve',
};

/** The layer is a transport header inside a tunnel: the layers transmit offload fills. */
function innerTransport(l: number): boolean {
  return l === Layer.VXLAN_UDP || l === Layer.VXLAN_TCP || l === Layer.GENEVE_UDP || l === Layer.GENEVE_TCP;
}

function plural(n: number, one: string, many = one + 's'): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The layer that cost the most DNS transactions. */
function topLostLayer(a: Analysis): number {
  const lost = a.dns.lostByLayer;
  let top = 0;
  for (let l = 1; l < LAYER_COUNT; l++) if (lost[l] > lost[top]) top = l;
  return top;
}

/** One line a person can act on. */
export function verdict(a: Analysis): string {
  const st = a.stats;
  const d = a.dns;
  const txns = d.answered + d.unanswered;
  let bad = 0;
  let partial = 0;
  let verified = 0;
  for (let l = 0; l < LAYER_COUNT; l++) {
    bad += st.count(l, Csum.BAD);
    partial += st.count(l, Csum.PARTIAL);
    verified += st.count(l, Csum.OK) + st.count(l, Csum.BAD) + st.count(l, Csum.PARTIAL) + st.count(l, Csum.NONE);
  }
  if (d.lostToChecksum > 0) {
    const top = topLostLayer(a);
    const pseudoOnly = d.lostPseudoOnly[top] * 2 > d.lostByLayer[top];
    let pattern: string;
    if (innerTransport(top) && pseudoOnly) {
      pattern = 'the inner checksum holds only the pseudo-header sum: transmit checksum offload was never completed (the VMware vmxnet3 pattern)';
    } else if (innerTransport(top)) {
      pattern = 'the pattern of broken transmit checksum offload';
    } else if (top === Layer.UDP && st.vxlanFrames > 0) {
      pattern = 'the outer header changed after its checksum was computed (VXLAN source NAT with offload on, or a device rewriting it)';
    } else if (top === Layer.UDP && st.geneveFrames > 0) {
      pattern = 'the outer header changed after its checksum was computed (Geneve source NAT with offload on, or a device rewriting it)';
    } else if (top === Layer.VXLAN_IPV4 || top === Layer.GENEVE_IPV4) {
      pattern = 'inner headers damaged after the sender built them';
    } else {
      pattern = 'packets damaged on the way';
    }
    return `${d.lostToChecksum} of ${plural(txns, 'DNS query', 'DNS queries')} lost to ${LAYER_PHRASE[top]}: ${pattern}`;
  }
  if (bad > 0) return `${plural(bad, 'bad checksum')} in ${plural(st.frames, 'frame')}, no DNS query lost to them`;
  if (d.unanswered > 0) return `no checksum errors; ${d.unanswered} of ${plural(txns, 'DNS query', 'DNS queries')} unanswered for other reasons (timeouts, capture ended)`;
  if (partial > 0) return `no checksum errors: ${plural(partial, 'checksum')} left partial (sent before transmit offload filled them, or merged by GRO on receive), the rest good`;
  if (verified === 0) return `no checksums to verify in ${plural(st.frames, 'frame')}`;
  return `no checksum errors: all ${plural(verified, 'verified header')} good`;
}

/** The fix to print under a verdict that blames offload; null when there is nothing to fix. */
function remediation(a: Analysis): string | null {
  const d = a.dns;
  if (d.lostToChecksum === 0) return null;
  const top = topLostLayer(a);
  if (top === Layer.GENEVE_UDP || top === Layer.GENEVE_TCP) {
    return 'fix: on the sending node turn off transmit checksum offload on the Geneve device: ethtool -K <geneve-dev> tx-checksum-ip-generic off (OVN-Kubernetes: genev_sys_6081; Antrea: antrea-tun0); make it persistent with a udev rule or the CNI\'s setting';
  }
  if (top === Layer.VXLAN_UDP || top === Layer.VXLAN_TCP) {
    return 'fix: on the sending node turn off transmit checksum offload on the VXLAN device: ethtool -K <vxlan-dev> tx-checksum-ip-generic off (Calico: FelixConfiguration featureDetectOverride "ChecksumOffloadBroken=true"); make it persistent with a udev rule or the CNI\'s setting';
  }
  if (top === Layer.UDP && a.stats.geneveFrames > a.stats.vxlanFrames) {
    return 'fix: on the sending node turn off transmit checksum offload on the Geneve device (ethtool -K <geneve-dev> tx-checksum-ip-generic off), or stop NATing the Geneve port (6081)';
  }
  if (top === Layer.UDP) {
    return 'fix: on the sending node turn off transmit checksum offload on the VXLAN device (ethtool -K <vxlan-dev> tx-checksum-ip-generic off), or stop NATing the VXLAN port (iptables --random-fully on 4789/8472)';
  }
  return null;
}

function pad(s: string | number, n: number): string {
  return String(s).padStart(n);
}

/** The readable report. */
export function toText(a: Analysis): string {
  const st = a.stats;
  const d = a.dns;
  const lines: string[] = [];
  const names = a.files.map((f) => (f.path === '-' ? 'standard input' : f.path)).join(', ');
  const spanUs = a.lastTsUs - a.firstTsUs;
  const span = spanUs <= 0 ? '' : spanUs < 1e6 ? ` over ${(spanUs / 1e3).toFixed(1)} ms` : ` over ${(spanUs / 1e6).toFixed(1)} s`;
  const geneve = st.geneveFrames > 0 ? `, ${st.geneveFrames} Geneve` : '';
  lines.push(`${names}: ${plural(st.frames, 'frame')}${span}, ${st.vxlanFrames} VXLAN${geneve}, ${st.malformed} malformed, ${st.truncated} truncated`);
  lines.push('');
  lines.push('checksums        ' + CSUM_NAMES.map((n) => pad(n, 14)).join(''));
  for (let l = 0; l < LAYER_COUNT; l++) {
    let any = 0;
    for (let r = 0; r < CSUM_NAMES.length; r++) any += st.count(l, r);
    if (any === 0) continue;
    let row = LAYER_NAMES[l].padEnd(17);
    for (let r = 0; r < CSUM_NAMES.length; r++) row += pad(st.count(l, r), 14);
    lines.push(row);
  }
  for (let l = 0; l < LAYER_COUNT; l++) {
    if (st.pseudoOnlyBad[l] > 0) lines.push(`  ${st.pseudoOnlyBad[l]} bad ${LAYER_NAMES[l]} received holding only the pseudo-header sum: transmit offload never completed`);
  }
  lines.push('');
  const txns = d.answered + d.unanswered;
  lines.push(`dns              ${d.queries} queries, ${d.responses} responses, ${txns} transactions`);
  lines.push(`                 ${d.answered} answered, ${d.unanswered} unanswered, ${d.lostToChecksum} lost to checksums`);
  if (d.retransmissions + d.orphanResponses + d.evicted > 0) {
    lines.push(`                 ${d.retransmissions} retransmissions, ${d.orphanResponses} responses without a query, ${d.evicted} evicted`);
  }
  if (d.latency.count > 0) {
    lines.push(`latency          p50 ${ms(d.latency.quantile(0.5))} ms, p90 ${ms(d.latency.quantile(0.9))} ms, p99 ${ms(d.latency.quantile(0.99))} ms, max ${ms(d.latency.max)} ms`);
  }
  const rc: string[] = [];
  for (let r = 0; r < RCODE_SLOTS; r++) if (d.rcodes[r] > 0) rc.push(`${rcodeName(r)} ${d.rcodes[r]}`);
  if (rc.length > 0) lines.push(`rcodes           ${rc.join(', ')}`);
  const top = d.topLostNames(10);
  if (top.length > 0) {
    lines.push('');
    lines.push('most lost names');
    for (const t of top) lines.push(`  ${pad(t.lost, 8)}  ${t.name}`);
  }
  const recent = d.lost().slice(0, 5);
  if (recent.length > 0) {
    lines.push('');
    lines.push('recently lost');
    for (const l of recent) {
      const why = l.layer ? `${l.cause} (${l.layer}${l.pseudoOnly ? ', pseudo-header sum only' : ''})` : l.cause;
      lines.push(`  ${l.client}:${l.clientPort} -> ${l.server}:${l.serverPort} ${l.qtype} ${l.name} id ${l.id}: ${why}`);
    }
  }
  const reasons: Buckets = {};
  reasonCounts(st.decodeErrors, reasons);
  const rk = Object.keys(reasons);
  if (rk.length > 0) {
    lines.push('');
    lines.push('malformed');
    for (const k of rk) lines.push(`  ${pad(reasons[k], 8)}  ${k}`);
  }
  for (const f of a.files) if (f.error) lines.push('', `error: ${f.error} (${plural(f.records, 'frame')} before it counted)`);
  lines.push('');
  lines.push(`verdict: ${verdict(a)}`);
  const fix = remediation(a);
  if (fix) lines.push(fix);
  return lines.join('\n') + '\n';
}
