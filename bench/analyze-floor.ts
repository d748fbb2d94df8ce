// The first stages of `csumwatch analyze`, each alone in a fresh process: `read` walks the
// capture's records, `decode` also decodes and verifies every frame and counts it, as analyze
// does, but correlates nothing. bench/analyze.ts times them beside the whole command, so that
// its report says how much of a whole-process run no change to the correlator could remove.
//
//   node dist/bench/analyze-floor.js read|decode FILE

import { FrameStats } from '../src/analyze/stats';
import { readCaptureFile } from '../src/capture/replay';
import { Decoder } from '../src/decode/decoder';
import { Frame } from '../src/decode/frame';

function main(argv: string[]): number {
  const [stage, path] = argv;
  if ((stage !== 'read' && stage !== 'decode') || path === undefined) {
    process.stderr.write('usage: analyze-floor read|decode FILE\n');
    return 2;
  }
  let frames = 0;
  if (stage === 'read') {
    readCaptureFile(path, () => { frames++; });
  } else {
    const decoder = new Decoder();
    const frame = new Frame();
    const stats = new FrameStats();
    readCaptureFile(path, (r) => {
      decoder.decode(r.buf, r.off, r.off + r.capLen, r.wireLen, r.linkType, r.dir, frame);
      stats.add(frame, r.wireLen);
    });
    frames = stats.frames;
  }
  // The parent checks the count: a stage that read nothing would make a floor of nothing.
  process.stdout.write(`${frames}\n`);
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`analyze-floor: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
