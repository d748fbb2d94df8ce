// Linux BIG TCP as captured on the sending host: datagrams over 64 KiB whose IPv4 total length
// (or IPv6 payload length) is 0. They are legal there, not malformed; the frame's own length is the
// datagram's, and the transport checksum is still verified (here: pending offload, partial).

import t from 'tap';
import { Csum } from '../../src/decode/checksum';
import { Decoder } from '../../src/decode/decoder';
import { Frame, Layer } from '../../src/decode/frame';
import { Status } from '../../src/decode/status';
import { build, V4_CLIENT, V4_SERVER, V6_CLIENT, V6_SERVER } from '../support/packets';

const payload = Buffer.alloc(70_000, 0x5a);

for (const v of [4, 6] as const) {
  t.test(`IPv${v} length field 0 on a ${payload.length}-byte TCP segment`, async (t) => {
    const ip = v === 4
      ? { v: 4 as const, src: V4_CLIENT, dst: V4_SERVER, totalLength: 0 }
      : { v: 6 as const, src: V6_CLIENT, dst: V6_SERVER, payloadLength: 0 };
    let bytes: Buffer;
    try {
      bytes = build({ ip, l4: { kind: 'tcp', srcPort: 40000, dstPort: 443, payload, csum: 'pseudo' } } as never).bytes;
    } catch (err) {
      t.fail(`builder cannot make it: ${(err as Error).message}`);
      return;
    }
    const f = new Frame();
    new Decoder().decode(bytes, 0, bytes.length, bytes.length, 1, 2, f);
    t.equal(f.status, Status.OK, 'not malformed');
    t.equal(f.csum[Layer.TCP], Csum.PARTIAL, 'checksum pending offload on the sender');
    // The same length field on a small frame is still a lie.
    const small = build({ ip, l4: { kind: 'tcp', srcPort: 40000, dstPort: 443, payload: Buffer.alloc(10), csum: 'correct' } } as never).bytes;
    new Decoder().decode(small, 0, small.length, small.length, 1, 2, f);
    t.not(f.status, Status.OK, 'length 0 on a small frame is malformed');
  });
}
