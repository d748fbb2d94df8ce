// The kernel drop tracer loaded and attached for real (root): in a network namespace of its own
// the test sends DNS queries and other datagrams to closed UDP ports on loopback, which the
// kernel drops with reason NO_SOCKET. The tracer must count every one and send an event for each
// with the namespace, the device, the flow and the DNS message; the event scope must select
// what it says; a ring buffer too small for a burst must count the events it lost (events + lost
// equals the drops); both attach types must work; the reason names must be the kernel's; and
// where BPF cannot load (no BTF, no privileges) the error must say so with its own class.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';

import {
  BpfUnavailableError, DropEvent, dropReasonNames, DropTracer, DROP_PROTOS, EV_DNS, EV_FLOW, EV_PORTS, EV_TUNNEL, FLOW_LAYOUT,
  REASON_SLOTS, TracerOptions,
} from '../../src/capture/ebpf';
import { DnsView } from '../../src/decode/frame';
import { rootTest } from '../support/root';
import { decodeDns } from '../../src/decode/dns';

const NS = 'cswebpf-t';
const ROOT = join(__dirname, '..', '..', '..');

rootTest('the eBPF tests');

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

spawnSync('ip', ['netns', 'del', NS]);
sh('ip', ['netns', 'add', NS]);
sh('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
t.teardown(() => {
  spawnSync('ip', ['netns', 'del', NS]);
});
const NETNS_INODE = statSync(`/run/netns/${NS}`).ino;

const { names: REASONS, error: REASON_ERROR } = dropReasonNames(null);
const NO_SOCKET = REASONS.indexOf('no_socket');
const UDP = DROP_PROTOS.indexOf('udp');

/**
 * Sends `dns` DNS queries (IDs 1..dns, names qN.ebpf.test) to 127.0.0.1:53 and `other` datagrams
 * to 127.0.0.1:9 from inside NS; nothing listens on either port. Returns when all are sent.
 */
function send(dns: number, other: number): void {
  const queries = Array.from({ length: dns }, (_, i) =>
    dnsPacket.encode({ type: 'query', id: i + 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: `q${i + 1}.ebpf.test` }] }).toString('hex'));
  const script = `
    const s = require('dgram').createSocket('udp4');
    const q = ${JSON.stringify(queries)}.map((h) => Buffer.from(h, 'hex'));
    let n = 0;
    const all = q.map((b) => [b, 53]).concat(Array.from({ length: ${other} }, () => [Buffer.from('not dns'), 9]));
    const next = () => {
      if (n === all.length) return s.close();
      const [b, port] = all[n++];
      s.send(b, port, '127.0.0.1', next);
    };
    next();`;
  const r = spawnSync('ip', ['netns', 'exec', NS, process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`sending in ${NS}: ${r.stderr.trim()}`);
}

/** The NO_SOCKET/UDP count the tracer holds now. */
function noSocketCount(tr: DropTracer): number {
  const c = new Float64Array(REASON_SLOTS * DROP_PROTOS.length);
  tr.readCounts(c);
  return c[NO_SOCKET * DROP_PROTOS.length + UDP];
}

interface Seen {
  netns: number;
  slot: number;
  ifname: string;
  proto: string;
  flags: number;
  dst: string;
  dport: number;
  dnsId: number | null;
}

function record(ev: DropEvent): Seen {
  const f = ev.flowAt('flow');
  let dnsId: number | null = null;
  if (ev.dnsLen > 0) {
    const d = new DnsView();
    decodeDns(ev.b, ev.dnsOffset, ev.dnsOffset + ev.dnsLen, ev.dnsOffset + 0xffff, d);
    dnsId = d.keyed ? d.id : -1;
  }
  return {
    netns: ev.netns,
    slot: ev.slot,
    ifname: ev.ifname,
    proto: DROP_PROTOS[ev.proto],
    flags: ev.flags,
    dst: [...ev.b.subarray(f + FLOW_LAYOUT.daddr, f + FLOW_LAYOUT.daddr + 4)].join('.'),
    dport: ev.b.readUInt16LE(f + FLOW_LAYOUT.dport),
    dnsId,
  };
}

/** Opens a tracer, runs fn, drains the ring, and returns the events; always closes it. */
function traced(o: Partial<TracerOptions>, fn: (tr: DropTracer) => void, startRing = true): { events: Seen[]; tr: DropTracer } {
  // Geneve ports too: every drop here then goes through the search for a decapsulated Geneve
  // tunnel, which must find none in plain packets.
  const tr = DropTracer.open({ vxlanPorts: [4789, 8472], genevePorts: [6081], dnsPorts: [53], eventSlots: [NO_SOCKET], ...o });
  const events: Seen[] = [];
  try {
    if (startRing) tr.start((ev) => events.push(record(ev)), (msg) => { throw new Error(msg); });
    fn(tr);
    if (!startRing) tr.start((ev) => events.push(record(ev)), (msg) => { throw new Error(msg); });
    tr.poll();
  } catch (err) {
    tr.close();
    throw err;
  }
  return { events, tr };
}

t.test('reason names come from the running kernel\'s BTF', (t) => {
  t.equal(REASON_ERROR, null, 'the kernel has BTF');
  // bpftool's reading of the same enum.
  const raw = sh('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux']);
  const block = /ENUM 'skb_drop_reason'[^\n]*\n((?:\s+'[^']+' val=\d+\n)+)/.exec(raw);
  t.ok(block, 'bpftool shows enum skb_drop_reason');
  let checked = 0;
  for (const m of (block?.[1] ?? '').matchAll(/'([^']+)' val=(\d+)/g)) {
    const v = Number(m[2]);
    if (v >= REASON_SLOTS - 1 || m[1] === 'SKB_DROP_REASON_MAX') continue;
    t.equal(REASONS[v], m[1].replace(/^SKB_DROP_REASON_/, '').replace(/^SKB_/, '').toLowerCase(), `slot ${v} is ${m[1]}`);
    checked++;
  }
  t.ok(checked > 50, `${checked} reasons checked`);
  for (const r of ['udp_csum', 'ip_csum', 'no_socket', 'netfilter_drop']) t.ok(REASONS.includes(r), `${r} is a reason of this kernel`);
  t.equal(REASONS[REASON_SLOTS - 1], 'other');
  const missing = dropReasonNames('/nonexistent/vmlinux');
  t.type(missing.error, BpfUnavailableError, 'no BTF file: unavailable');
  t.equal(missing.names[11], 'reason_11', 'and the slots are named by number');
  t.end();
});

for (const attach of ['tp_btf', 'raw_tp'] as const) {
  t.test(`${attach}: every NO_SOCKET drop counted, an event for each with its namespace, flow and DNS`, (t) => {
    const DNS = 40;
    const OTHER = 25;
    let before = 0;
    const { events, tr } = traced({ attach, eventScope: 'all' }, (tr) => {
      before = noSocketCount(tr);
      send(DNS, OTHER);
    });
    try {
      t.equal(tr.attachType, attach);
      const after = noSocketCount(tr);
      const stats = tr.readStats();
      t.equal(stats.lost, 0, 'no event lost');
      t.equal(stats.dnsShort, 0, 'every DNS message in the linear data');
      t.equal(stats.missed, 0, 'no run skipped by the kernel');
      const mine = events.filter((e) => e.netns === NETNS_INODE);
      t.equal(mine.length, DNS + OTHER, 'an event for each datagram sent in the test namespace');
      // Every no_socket drop on the host got an event (scope all): the count moved by exactly as many.
      t.equal(after - before, events.filter((e) => e.slot === NO_SOCKET).length, 'counted in the kernel: one per event, on any namespace');
      t.ok(mine.every((e) => e.slot === NO_SOCKET && e.proto === 'udp' && e.ifname === 'lo' && e.dst === '127.0.0.1'), 'reason no_socket, udp, on lo, to 127.0.0.1');
      t.ok(mine.every((e) => (e.flags & (EV_FLOW | EV_PORTS)) === (EV_FLOW | EV_PORTS)), 'flow and ports read');
      t.ok(mine.every((e) => (e.flags & EV_TUNNEL) === 0), 'no tunnel read into plain packets');
      const dns = mine.filter((e) => e.dport === 53);
      t.equal(dns.length, DNS);
      t.ok(dns.every((e) => (e.flags & EV_DNS) !== 0), 'the DNS ones carry the message');
      t.same(dns.map((e) => e.dnsId).sort((a, b) => (a as number) - (b as number)), Array.from({ length: DNS }, (_, i) => i + 1), 'with their DNS IDs, questions decodable');
      t.ok(mine.filter((e) => e.dport === 9).every((e) => (e.flags & EV_DNS) === 0 && e.dnsId === null), 'the others carry none');
    } finally {
      tr.close();
    }
    t.end();
  });
}

t.test('scope dns-vxlan: events only for DNS (and VXLAN), counts for all', (t) => {
  let before = 0;
  const { events, tr } = traced({ eventScope: 'dns-vxlan' }, (tr) => {
    before = noSocketCount(tr);
    send(10, 30);
  });
  try {
    const mine = events.filter((e) => e.netns === NETNS_INODE);
    t.equal(mine.length, 10, 'ten events: the DNS queries');
    t.ok(mine.every((e) => e.dport === 53));
    t.ok(noSocketCount(tr) - before >= 40, 'all forty counted');
  } finally {
    tr.close();
  }
  t.end();
});

t.test('a ring buffer too small for the burst: lost events are counted, never silent', (t) => {
  // One page of ring: about 15 events; nothing reads it until the burst is over.
  let before = 0;
  let statsBefore = { drops: 0, events: 0, lost: 0, unparsed: 0 };
  const { events, tr } = traced({ eventScope: 'all', ringBytes: 4096 }, (tr) => {
    before = noSocketCount(tr);
    statsBefore = tr.readStats();
    send(200, 0);
  }, false);
  try {
    const s = tr.readStats();
    const counted = noSocketCount(tr) - before;
    t.ok(counted >= 200, `${counted} drops counted`);
    t.ok(s.lost - statsBefore.lost > 0, `${s.lost - statsBefore.lost} events lost`);
    t.equal((s.events - statsBefore.events) + (s.lost - statsBefore.lost), counted, 'events sent + events lost = drops of the selected reason');
    t.equal(events.length, s.events - statsBefore.events, 'every event sent was read');
  } finally {
    tr.close();
  }
  t.end();
});

t.test('the event reasons select: none selected, no events', (t) => {
  const { events, tr } = traced({ eventScope: 'all', eventSlots: [] }, () => send(5, 5));
  try {
    t.equal(events.filter((e) => e.netns === NETNS_INODE).length, 0);
    t.equal(tr.readStats().events, 0);
  } finally {
    tr.close();
  }
  t.end();
});

t.test('where BPF cannot load, the error says so with its own class', (t) => {
  let err: unknown = null;
  try {
    DropTracer.open({ btfPath: '/nonexistent/vmlinux', vxlanPorts: [4789], dnsPorts: [53], eventSlots: [] }).close();
  } catch (e) {
    err = e;
  }
  t.type(err, BpfUnavailableError, 'no BTF: BpfUnavailableError');
  const e = err as BpfUnavailableError;
  t.equal(e.errno, 2, 'ENOENT');
  t.match(e.message, /tp_btf.*ENOENT.*raw_tp.*ENOENT/, `both attach types tried: ${e.message}`);
  t.match(e.log, /BTF/, 'libbpf says why');
  // Without privileges: the same call as an unprivileged user.
  const script = `
    const e = require(${JSON.stringify(join(ROOT, 'dist', 'src', 'capture', 'ebpf.js'))});
    try { e.DropTracer.open({ vxlanPorts: [4789], dnsPorts: [53], eventSlots: [] }); console.log('loaded'); }
    catch (err) { console.log(JSON.stringify({ cls: err.constructor.name, code: err.code, errno: err.errno, msg: err.message })); }`;
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  t.equal(out.cls, 'BpfUnavailableError', `as nobody: ${out.msg}`);
  t.equal(out.code, 'CSW_ERR_BPF_UNAVAILABLE');
  t.equal(out.errno, 1, 'EPERM');
  t.end();
});
