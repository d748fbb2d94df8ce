// csumwatch analyze FILE... [--vxlan-port N]... [--geneve-port N]... [--dns-port N]... [--json]

import { analyzeFiles } from '../analyze/analyze';
import { toJson, toText } from '../analyze/report';
import { parseCommand, parsePort, UsageError } from './errors';

export const HELP = `usage: csumwatch analyze FILE... [options]

Reads pcap and pcapng captures (Ethernet, 802.1Q/802.1ad, Linux cooked v1/v2, raw IP), verifies
every IPv4/IPv6/UDP/TCP checksum outside and inside VXLAN and Geneve, matches DNS queries with
their responses, and says which queries were lost to bad checksums. FILE - reads standard input
(tcpdump -w - | csumwatch analyze -); a pipe or FIFO is read as it comes, waiting for its writer.

options:
  --json               print one JSON object (the format in CONTRACT.md) instead of the report
  --vxlan-port N       decode UDP port N as VXLAN; repeat for more (default 4789 and 8472)
  --geneve-port N      decode UDP port N as Geneve; repeat for more (default 6081)
  --dns-port N         decode UDP port N as DNS; repeat for more (default 53)
  --dns-timeout S      seconds after which an unanswered query is lost (default 5)
  --dns-capacity N     DNS transactions kept in flight at once (default 65536)
  --lost N             recent lost transactions listed (default 100)
  -h, --help           this help

exit status: 0 read every file, 1 a file could not be read (what was read is still reported),
2 bad usage.
`;

export function runAnalyze(argv: string[]): number {
  const parsed = parseCommand({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        'vxlan-port': { type: 'string', multiple: true },
        'geneve-port': { type: 'string', multiple: true },
        'dns-port': { type: 'string', multiple: true },
        'dns-timeout': { type: 'string' },
        'dns-capacity': { type: 'string' },
        lost: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const files = parsed.positionals;
  if (files.length === 0) throw new UsageError('analyze: no capture file given (see csumwatch analyze --help)');
  const vxlanPorts = v['vxlan-port']?.map((p) => parsePort('--vxlan-port', p));
  const genevePorts = v['geneve-port']?.map((p) => parsePort('--geneve-port', p));
  const dnsPorts = v['dns-port']?.map((p) => parsePort('--dns-port', p));
  const timeout = v['dns-timeout'] === undefined ? 5 : Number(v['dns-timeout']);
  if (!(timeout > 0)) throw new UsageError(`--dns-timeout: not a positive number of seconds: ${v['dns-timeout']}`);
  const capacity = positiveInt('--dns-capacity', v['dns-capacity'], 65536);
  const lost = v.lost === undefined ? 100 : Number(v.lost);
  if (!Number.isInteger(lost) || lost < 0) throw new UsageError(`--lost: not a count: ${v.lost}`);

  const progress = process.stderr.isTTY ? progressBar() : undefined;
  const a = analyzeFiles(files, {
    vxlanPorts, genevePorts, dnsPorts, dnsTimeoutUs: timeout * 1e6, dnsCapacity: capacity, lostListSize: lost,
    onProgress: progress?.update,
  });
  progress?.done();
  // A report of nothing (every file unreadable from its first byte) would only hide the errors
  // below; --json still prints its object, whose files[].error a program reads.
  const nothingRead = a.files.every((f) => f.error !== null && f.records === 0);
  if (v.json) process.stdout.write(JSON.stringify(toJson(a), null, 2) + '\n');
  else if (!nothingRead) process.stdout.write(toText(a));
  // Frames of a link type nobody decodes would otherwise vanish into the malformed count.
  for (const [lt, n] of a.unsupportedLinkTypes) {
    process.stderr.write(`csumwatch: analyze: skipped ${n} frame${n === 1 ? '' : 's'} of link type ${lt}${LINK_TYPE_NAMES[lt] ? ` (${LINK_TYPE_NAMES[lt]})` : ''}: not decoded (Ethernet, Linux cooked v1/v2, raw IP and BSD loopback are)\n`);
  }
  let failed = 0;
  for (const f of a.files) {
    if (f.error) {
      process.stderr.write(`csumwatch: ${f.error}\n`);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}

/** Names of link types users meet that the decoder does not read (tcpdump.org/linktypes.html). */
const LINK_TYPE_NAMES: Record<number, string> = {
  9: 'PPP', 50: 'PPP_HDLC', 105: 'IEEE802_11', 127: 'IEEE802_11_RADIOTAP', 141: 'MTP3', 192: 'PPI', 195: 'IEEE802_15_4',
  220: 'USB_LINUX_MMAPPED', 239: 'NFLOG', 249: 'NETLINK', 253: 'IPOIB',
};

function positiveInt(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: not a positive whole number: ${v}`);
  return n;
}

/** A progress line on a terminal, for files large enough to wait for (over 64 MiB). */
function progressBar(): { update: (path: string, done: number, total: number) => void; done: () => void } {
  let shown = false;
  let last = 0;
  return {
    update(path, done, total) {
      if (total < 64 << 20) return;
      const now = Date.now();
      if (now - last < 200 && done < total) return;
      last = now;
      const width = 30;
      const filled = Math.round((done / total) * width);
      const mb = (n: number): string => (n / (1 << 20)).toFixed(0);
      process.stderr.write(`\r${path} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${mb(done)}/${mb(total)} MiB`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write('\r\x1b[K');
    },
  };
}
