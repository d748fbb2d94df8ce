// Cross-check against tshark (checksum validation on) over every fixture capture: both must agree
// on every header, except where csumwatch knows better from transmit offload:
//  - csumwatch "partial" (the field holds the pseudo-header sum on a packet sent by this host):
//    tshark says bad;
//  - the outer UDP checksum of such a frame, which csumwatch verifies as local checksum offload
//    computed it ("ok"): tshark says bad;
//  - "none" (checksum 0): tshark says "not present" (its status 3), except on a VXLAN outer header
//    over IPv6, where it says "illegal" (4): RFC 6935 made a zero legal there for tunnels, tshark
//    does not know it.
//  - "unverifiable" (capture cut the segment): tshark does not verify it either.
// Geneve's layers are compared as VXLAN's, over frames built here and the third-party Geneve
// captures (../shared/external-captures) where present.

import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { readCaptureFile } from '../../src/capture/replay';
import { Csum, CSUM_NAMES } from '../../src/decode/checksum';
import { Decoder } from '../../src/decode/decoder';
import { ENCAP_NONE, Frame, Layer, LAYER_COUNT, LAYER_NAMES } from '../../src/decode/frame';
import { build, defaultResponse, geneveDnsSpec, geneveSpec, plainTcpSpec } from '../support/packets';
import { writePcap } from '../support/pcap-writer';
import { tsharkAvailable, tsharkChecksums } from '../support/tshark';

const FIXTURES = join(__dirname, '..', '..', '..', 'test', 'fixtures');
const EXTERNAL = process.env.CSW_EXTERNAL_CAPTURES ?? join(__dirname, '..', '..', '..', '..', 'shared', 'external-captures');

/** tshark statuses csumwatch's result may meet. */
function agrees(r: number, ts: number | undefined, innerPartial: boolean, layer: number, outerV6: boolean): boolean {
  switch (r) {
    case Csum.OK: return ts === 1 || (layer === Layer.UDP && innerPartial && ts === 0);
    case Csum.BAD: return ts === 0;
    case Csum.PARTIAL: return ts === 0;
    case Csum.NONE: return ts === 3 || (layer === Layer.UDP && outerV6 && ts === 4);
    case Csum.UNVERIFIABLE: return ts === 2 || ts === undefined;
    default: return ts === undefined || ts === 2;
  }
}

if (!tsharkAvailable()) {
  t.fail('tshark is not installed: scripts/setup.sh installs it');
} else {
  const files = readdirSync(FIXTURES).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
  t.ok(files.length >= 10, `fixtures present (${files.length})`);
  const paths = files.map((f) => join(FIXTURES, f));
  // Geneve: frames built here (good and damaged headers at each layer, options, an IP payload, an
  // IPv6 underlay, a sender's partial checksums), and the third-party Geneve captures when present.
  const tmp = mkdtempSync(join(tmpdir(), 'csw-tshark-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const ovn = [{ cls: 0x0102, type: 0x80, data: [0, 0, 0, 1] }];
  const built = [
    geneveDnsSpec({ options: ovn }),
    geneveDnsSpec({ options: ovn, inner: { udpCsum: 'flip' } }),
    geneveDnsSpec({ inner: { ipCsum: 'flip' } }),
    geneveDnsSpec({ outerUdpCsum: 'flip' }),
    geneveDnsSpec({ outerUdpCsum: 'lco', options: ovn, inner: { udpCsum: 'pseudo' } }),
    geneveDnsSpec({ outerV: 6, outerUdpCsum: 'zero', inner: { v: 6 } }),
    geneveDnsSpec({ inner: { link: { kind: 'raw' }, dns: defaultResponse() } }),
    geneveSpec(plainTcpSpec({ dport: 53 }), { options: [{ cls: 1, type: 1, data: new Array(24).fill(9) }] }),
    geneveSpec(plainTcpSpec({ dport: 443, csum: 'flip' })),
  ];
  const builtPath = join(tmp, 'geneve-built.pcap');
  writePcap(builtPath, 1, built.map((spec, i) => ({ data: build(spec).bytes, tsUs: 1_700_000_000_000_000 + i })));
  paths.push(builtPath);
  for (const f of ['tcpdump-geneve.pcap', 'tcpdump-geneve-gcp.pcap', 'sv-geneve-decoder.pcap', 'zeek-geneve-vxlan-dns-truncated.pcap']) {
    if (existsSync(join(EXTERNAL, f))) paths.push(join(EXTERNAL, f));
  }
  for (const path of paths) {
    t.test(path.startsWith(FIXTURES) ? basename(path) : path, async (t) => {
      const ts = tsharkChecksums(path);
      const decoder = new Decoder();
      const f = new Frame();
      const mismatches: string[] = [];
      let n = 0;
      let compared = 0;
      readCaptureFile(path, (r) => {
        decoder.decode(r.buf, r.off, r.off + r.capLen, r.wireLen, r.linkType, r.dir, f);
        const tf = ts[n];
        n++;
        if (tf === undefined) return;
        const innerPartial = f.csum[Layer.VXLAN_UDP] === Csum.PARTIAL || f.csum[Layer.VXLAN_TCP] === Csum.PARTIAL || f.csum[Layer.GENEVE_UDP] === Csum.PARTIAL || f.csum[Layer.GENEVE_TCP] === Csum.PARTIAL;
        for (let l = 0; l < LAYER_COUNT; l++) {
          const mine = f.csum[l];
          const theirs = tf.layers[LAYER_NAMES[l]];
          if (mine < 0 && theirs === undefined) continue;
          compared++;
          if (!agrees(mine, theirs, innerPartial, l, f.encap !== ENCAP_NONE && f.outer.ipVersion === 6)) {
            mismatches.push(`frame ${n} ${LAYER_NAMES[l]}: csumwatch ${mine < 0 ? 'absent' : CSUM_NAMES[mine]}, tshark ${theirs === undefined ? 'absent' : ['bad', 'good', 'unverified', 'not present', 'illegal'][theirs]} (${tf.protocols})`);
          }
        }
      });
      t.equal(n, ts.length, 'same number of frames as tshark');
      t.ok(compared > 0, `compared ${compared} headers`);
      t.same(mismatches.slice(0, 10), [], 'every header agrees with tshark');
    });
  }
}
