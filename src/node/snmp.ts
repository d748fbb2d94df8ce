// /proc/net/snmp: the kernel's per-namespace protocol counters (Ip, Icmp, Tcp, Udp, ...).
// Each protocol is two lines, names then values:
//   Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors ...
//   Udp: 120 0 3 118 0 0 3 ...

export type Snmp = Record<string, Record<string, number>>;

/** Parses /proc/net/snmp text; a malformed pair of lines is skipped, never thrown. */
export function parseSnmp(text: string): Snmp {
  const out: Snmp = {};
  const lines = text.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const names = lines[i].trim().split(/\s+/);
    const values = lines[i + 1].trim().split(/\s+/);
    const proto = names[0];
    if (!proto.endsWith(':') || values[0] !== proto || names.length !== values.length) continue;
    // A values line holds only numbers; otherwise this was not a pair: move on by one line.
    if (!values.slice(1).every((v) => /^-?\d+$/.test(v))) continue;
    const row: Record<string, number> = {};
    for (let k = 1; k < names.length; k++) row[names[k]] = Number(values[k]);
    out[proto.slice(0, -1)] = row;
    i++;
  }
  return out;
}

/** Counter proto.name, or 0 when this kernel does not have it. */
export function snmpValue(s: Snmp, proto: string, name: string): number {
  return s[proto]?.[name] ?? 0;
}

/**
 * Parses /proc/net/snmp6, one "Udp6InCsumErrors   3" per line, into the same shape as
 * parseSnmp: { Udp6: { InCsumErrors: 3 }, Ip6: {...}, ... }.
 */
export function parseSnmp6(text: string): Snmp {
  const out: Snmp = {};
  for (const line of text.split('\n')) {
    const m = /^(Ip6|Icmp6|Udp6|UdpLite6)(\w+)\s+(\d+)\s*$/.exec(line);
    if (!m) continue;
    (out[m[1]] ??= {})[m[2]] = Number(m[3]);
  }
  return out;
}
