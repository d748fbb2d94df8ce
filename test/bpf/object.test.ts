// The BPF layer (src/bpf/object.ts) on the kernel: a map pinned by one object and opened by path
// (as `lab fault` opens the injector's), values moved in the generated layout, and a tc program
// attached in a network namespace by the addon (as `lab up` attaches the injector): the filter is
// on the device in that namespace only, and stays after the object is closed. Root.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { BpfMap, BpfObject } from '../../src/bpf/object';
import * as G from '../../src/bpf/generated/inject';
import { decodeConfig, encodeConfig, InjectConfig } from '../../src/lab/inject';
import { ensureBpffs } from '../../src/lab/inject';
import { rootTest } from '../support/root';

rootTest('BPF layer tests (bpffs, BPF, network namespaces)');

const NS = 'cswbpftest';
const PINS = join('/sys/fs/bpf', `csumwatch-test-${process.pid}`);
const sh = (cmd: string, ...args: string[]) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

t.teardown(() => {
  rmSync(PINS, { recursive: true, force: true });
  spawnSync('ip', ['netns', 'del', NS]);
});

t.test('a pinned map: written by path, read through the object and by path', (t) => {
  ensureBpffs();
  mkdirSync(PINS, { recursive: true });
  const obj = BpfObject.load('inject');
  t.teardown(() => obj.close());
  const file = join(PINS, 'csw_inject_cfg');
  obj.pinMap('csw_inject_cfg', file);
  const c: InjectConfig = { mode: 'inner-ipv4', probability: 0.5, vxlanPorts: [4789, 8472], innerPort: 53, direction: 'from' };
  const m = BpfMap.pinned(file);
  t.same([m.type, m.keySize, m.valueSize, m.maxEntries], [G.maps.csw_inject_cfg.type, 4, G.csw_inject_cfg.size, 1], 'the definition the BTF gave the generator');
  m.update(encodeConfig(c));
  m.close();
  const v = Buffer.alloc(G.csw_inject_cfg.size);
  obj.map('csw_inject_cfg').lookup(v);
  t.same(decodeConfig(v), c, 'the object sees what was written by path');
  t.throws(() => m.lookup(v), { code: 'CSW_ERR_BPF', errno: 9 }, 'a closed map refuses: EBADF');
  t.throws(() => BpfMap.pinned(join(PINS, 'nothing')), { code: 'CSW_ERR_BPF_UNAVAILABLE', errno: 2 }, 'nothing pinned there: ENOENT');
  t.end();
});

t.test('tc attach in a network namespace, by the addon', (t) => {
  spawnSync('ip', ['netns', 'del', NS]);
  sh('ip', 'netns', 'add', NS);
  sh('ip', '-n', NS, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1');
  const obj = BpfObject.load('inject');
  obj.tcAttach(G.programs.csw_inject, { netns: NS, dev: 'd0', direction: 'egress', priority: 1, handle: 1 });
  // Twice: the same priority and handle are replaced, as `tc filter replace` does.
  obj.tcAttach(G.programs.csw_inject, { netns: NS, dev: 'd0', direction: 'egress', priority: 1, handle: 1 });
  obj.close();
  t.match(sh('tc', '-n', NS, 'qdisc', 'show', 'dev', 'd0'), /qdisc clsact/, 'the clsact qdisc was added');
  const f = sh('tc', '-n', NS, 'filter', 'show', 'dev', 'd0', 'egress');
  t.match(f, /csw_inject/, 'the program is on egress after the object closed');
  t.match(f, /direct-action/, 'direct action');
  t.equal(f.match(/handle 0x1 /g)?.length, 1, 'one filter: the second attach replaced the first');
  t.equal(sh('tc', '-n', NS, 'filter', 'show', 'dev', 'd0', 'ingress').trim(), '', 'nothing on ingress');
  t.throws(() => BpfObject.load('inject').tcAttach(G.programs.csw_inject, { netns: NS, dev: 'nosuch0', direction: 'egress', priority: 1, handle: 1 }), { code: /^CSW_ERR_BPF/ }, 'no such device');
  t.throws(() => BpfObject.load('inject').tcAttach(G.programs.csw_inject, { netns: 'cswnosuchns', dev: 'd0', direction: 'egress', priority: 1, handle: 1 }), { code: /^CSW_ERR_BPF/ }, 'no such namespace');
  t.end();
});
