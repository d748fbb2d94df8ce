// The fuzzer's oracles fire: each is shown catching a deliberately broken part, on the same short
// stream that passes untouched: a decoder that reads one byte past the end, one that reports a
// checksum result out of range or one its bytes contradict, one that throws (in the oracle and in
// the agent); counters that skip a frame or call a bad VXLAN packet good; records handed to the
// agent one byte short; a correlator, an analysis or a scrape that no longer adds up, a counter that
// goes down, a failed collector, an unparsable line; a memory bound. A failing frame comes back
// minimised, in the fixture format, and fails again when replayed (and passes with the real decoder).

import t, { Test } from 'tap';
import { Agent } from '../../src/agent/agent';
import { Decoder } from '../../src/decode/decoder';
import { Frame } from '../../src/decode/frame';
import { Status } from '../../src/decode/status';
import { Failure, formatFixture, fuzz, FuzzOptions, FrameDecoder, OutsideOracle, parseFixture, Rng } from './fuzz';

const FRAMES = 12_000;
const base = { frames: FRAMES, seed: 7, worker: 0, chunk: 4000 };

type Hooks = NonNullable<FuzzOptions['hooks']>;

async function failuresWith(hooks: Hooks): Promise<Failure[]> {
  const r = await fuzz({ ...base, hooks });
  return r.failures;
}

/** A decoder that decodes with the real one, then lets `after` break the result. */
function wrapped(after: (f: Frame, b: Uint8Array, off: number, end: number) => void, shiftEnd = 0): (real: Decoder) => FrameDecoder {
  return (real) => ({
    decode(b, off, end, wireLen, linkType, dir, f): Status {
      const st = real.decode(b, off, end + shiftEnd, wireLen, linkType, dir, f);
      after(f, b, off, end);
      return st;
    },
  });
}

function expectOracle(t: Test, fs: Failure[], oracle: Failure['oracle'], why: RegExp): Failure | undefined {
  const hit = fs.find((f) => f.oracle === oracle && why.test(f.message));
  t.ok(hit, `the ${oracle} oracle fired (${why}); got: ${fs.map((f) => `[${f.oracle}] ${f.message}`).slice(0, 3).join('; ') || 'nothing'}`);
  return hit;
}

/** The reported frame, through the fixture format, fails again with the broken decoder and passes with the real one. */
function replays(t: Test, f: Failure | undefined, broken: (real: Decoder) => FrameDecoder): void {
  if (!f) return;
  t.ok(f.hex !== undefined && f.hex.length > 0, 'the frame is in the report');
  const fxs = parseFixture(formatFixture(f));
  t.equal(fxs.length, 1, 'one frame in the fixture');
  const fx = fxs[0];
  t.ok(fx.bytes.length <= 400, `minimised to ${fx.bytes.length} bytes`);
  const bad = new OutsideOracle(broken(new Decoder()), new Rng(3));
  const good = new OutsideOracle(new Decoder(), new Rng(3));
  t.not(bad.check(fx.bytes, fx.bytes.length, fx.wireLen, fx.linkType, fx.dir, 5), null, 'fails again when replayed');
  t.equal(good.check(fx.bytes, fx.bytes.length, fx.wireLen, fx.linkType, fx.dir, 5), null, 'passes with the real decoder');
}

t.test('control: the same stream, nothing broken, no failure', async (t) => {
  const r = await fuzz(base);
  t.equal(r.frames, FRAMES);
  t.equal(r.failureCount, 0, r.failures.map((f) => f.message).join('\n'));
  t.ok(r.reached.analyzeFrames === FRAMES && r.scrapes >= 3, 'analyze read every frame, the registry was scraped per chunk');
});

t.test('a decoder reading one byte past the end is caught, minimised and replayable', async (t) => {
  const broken = wrapped(() => {}, 1);
  const fs = await failuresWith({ oracleDecoder: broken });
  replays(t, expectOracle(t, fs, 'outside', /differs with different bytes outside/), broken);
});

t.test('a checksum result out of range is caught', async (t) => {
  const broken = wrapped((f) => { if (f.dns.present && f.status === Status.OK) f.csum[2] = 7; });
  const fs = await failuresWith({ oracleDecoder: broken });
  replays(t, expectOracle(t, fs, 'ranges', /result 7/), broken);
});

t.test('a checksum result that the bytes contradict is caught', async (t) => {
  // An inner UDP checksum called bad although it verifies.
  const broken = wrapped((f) => { if (f.csum[4] === 0) f.csum[4] = 1; });
  const fs = await failuresWith({ oracleDecoder: broken });
  replays(t, expectOracle(t, fs, 'checksum', /vxlan\.udp result 1 disagrees with the plain sum/), broken);
});

t.test('a decoder that throws is caught, in the oracle and in the agent', async (t) => {
  const thrower = wrapped((f) => { if (f.dns.present && f.dns.qtype === 28) throw new TypeError('boom'); });
  const fs = await failuresWith({ oracleDecoder: thrower });
  replays(t, expectOracle(t, fs, 'exception', /decoder threw: TypeError: boom/), thrower);
  const fa = await failuresWith({ agentDecoder: thrower });
  expectOracle(t, fa, 'exception', /agent batch handler threw/);
  expectOracle(t, fa, 'counters', /internalErrors|packets counted/);
});

t.test('counters that skip a frame, or call a bad VXLAN packet good, are caught', async (t) => {
  const skip = await failuresWith({
    agent: (a: Agent) => {
      const add = a.counters.add.bind(a.counters);
      a.counters.add = (slot, dir, f) => { if (f.status !== Status.TRUNCATED) add(slot, dir, f); };
    },
  });
  expectOracle(t, skip, 'counters', /packets counted == frames fed|packets\[/);
  const vtep = await failuresWith({
    agent: (a: Agent) => {
      const add = a.vtep.add.bind(a.vtep);
      a.vtep.add = (b, dir, f) => { const m = f.csum.slice(); f.csum.fill(-1); add(b, dir, f); f.csum.set(m); };
    },
  });
  expectOracle(t, vtep, 'counters', /vtep dir \d bad summed over peers/);
});

t.test('frames handed to the agent one byte short are caught', async (t) => {
  const fs = await failuresWith({ shortenRecords: 1 });
  expectOracle(t, fs, 'counters', /csum|decodeErrors|packets/);
  expectOracle(t, fs, 'dns', /against the reference correlator/);
});

t.test('a DNS correlator that no longer adds up is caught', async (t) => {
  const fs = await failuresWith({ afterBatch: (a, fed) => { if (fed > 5000) a.dns.evicted = a.dns.unanswered + 1; } });
  expectOracle(t, fs, 'dns', /evicted <= unanswered/);
  const lost = await failuresWith({ afterBatch: (a, fed) => { if (fed > 5000 && fed < 6000) a.dns.lostByLayer[0]++; } });
  expectOracle(t, lost, 'dns', /sum\(lostByLayer\) == lostToChecksum/);
});

t.test('an analysis that differs from the frames fed is caught', async (t) => {
  const fs = await failuresWith({ afterChunk: (a) => { a.stats.csum[0]++; a.dns.answered++; } });
  expectOracle(t, fs, 'analyze', /csum ipv4 result 0/);
  expectOracle(t, fs, 'analyze', /against the reference correlator: answered/);
});

t.test('a scrape that differs from the counters, or a failed collector, is caught', async (t) => {
  const more = await failuresWith({ scrape: (s) => s.replace(/^(csumwatch_packets_total\{[^}]*\}) (\d+)$/m, (_, a: string, v: string) => `${a} ${Number(v) + 1}`) });
  expectOracle(t, more, 'metrics', /csumwatch_packets_total/);
  const failed = await failuresWith({ scrape: (s) => s.replace(/^(csumwatch_collector_success\{collector="dns"\}) 1$/m, '$1 0') });
  expectOracle(t, failed, 'metrics', /collector dns failed/);
  let scrapes = 0;
  const down = await failuresWith({ scrape: (s) => (++scrapes === 2 ? s.replace(/^(csumwatch_dns_orphan_responses_total) (\d+)$/m, '$1 0') : s) });
  expectOracle(t, down, 'metrics', /counter went down between scrapes: csumwatch_dns_orphan_responses_total/);
  const garbled = await failuresWith({ scrape: (s) => s.replace(/^csumwatch_vtep_packets_total\{/m, 'csumwatch_vtep_packets_total{{') });
  expectOracle(t, garbled, 'metrics', /unparsable/);
});

t.test('memory over the bound is caught', async (t) => {
  const fs = await failuresWith({ heapLimitMiB: 1 });
  expectOracle(t, fs, 'memory', /heap \d+ MiB over the bound 1 MiB/);
});
