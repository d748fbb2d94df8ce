// Every fixture capture against its ground truth (test/fixtures/NAME.truth.json, written by the
// tool that made it: what the lab sent, what the fault tool damaged). Every number the truth file
// states must be what `analyze --json` reports; lost query names must match exactly.

import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeFiles } from '../../src/analyze/analyze';
import { toJson } from '../../src/analyze/report';

const FIX = join(__dirname, '..', '..', '..', 'test', 'fixtures');

/** Every numeric leaf of `want`, compared with the same path in `got`. */
function compareLeaves(t: any, want: unknown, got: unknown, path: string): void {
  if (typeof want === 'number') {
    t.equal(got, want, path);
    return;
  }
  if (want && typeof want === 'object' && !Array.isArray(want)) {
    for (const [k, v] of Object.entries(want)) compareLeaves(t, v, got && typeof got === 'object' ? (got as Record<string, unknown>)[k] : undefined, `${path}.${k}`);
  }
}

const truths = readdirSync(FIX).filter((f) => f.endsWith('.truth.json')).sort();
t.ok(truths.length >= 14, `truth files present (${truths.length})`);
for (const tf of truths) {
  t.test(tf.replace('.truth.json', ''), async (t) => {
    const truth = JSON.parse(readFileSync(join(FIX, tf), 'utf8'));
    const capture = join(FIX, truth.file);
    const j = toJson(analyzeFiles([capture])) as Record<string, any>;
    t.equal(j.files[0].error, null, 'read to the end');
    t.equal(j.frames, truth.frames, 'frames');
    t.equal(j.malformed, 0, 'nothing malformed in a real capture');
    if (truth.checksums) compareLeaves(t, truth.checksums, j.checksums, 'checksums');
    if (truth.dns) compareLeaves(t, truth.dns, j.dns, 'dns');
    if (truth.dns_packets) {
      t.equal(j.dns.queries, truth.dns_packets.queries * (truth.copies ?? 1), 'dns queries');
      t.equal(j.dns.responses, truth.dns_packets.responses * (truth.copies ?? 1), 'dns responses');
    }
    if (truth.damaged) {
      let bad = 0;
      for (const [layer, n] of Object.entries(truth.damaged as Record<string, number>)) {
        const [outer, inner] = layer.split('.');
        const bucket = inner ? j.checksums.vxlan[inner] : j.checksums[outer];
        t.ok(bucket.bad >= n, `${layer}: ${bucket.bad} bad, at least the ${n} damaged`);
        bad += n;
      }
      t.equal(j.dns.lost_to_checksum, bad, 'every damaged query lost to checksum');
    }
    if (truth.lost_names) {
      const names = (j.dns.lost as Array<{ name: string }>).map((l) => l.name.replace(/\.$/, '')).sort();
      t.same(names, [...truth.lost_names].map((n: string) => n.replace(/\.$/, '')).sort(), 'lost names');
    }
    t.ok(j.dns.lost_to_checksum <= j.dns.unanswered, 'lost_to_checksum <= unanswered');
  });
}
