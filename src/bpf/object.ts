// One BPF user-space layer: opening and loading the kernel objects of bpf/ (built into
// dist/bpf), their maps (by the object, or pinned on a bpffs), attaching their programs (by
// section, or to a tc hook in a network namespace), pinning, test runs and ring buffers. It wraps
// the generic libbpf addon (binding.ts) and turns every -errno into a typed error; the layouts of
// the values it moves are generated from each object's BTF (generated/<object>.ts). The agent's
// tracer (src/capture/ebpf.ts), capture filter (src/capture/kfilter.ts) and the lab's injector
// and VLAN tagger (src/lab/) all go through here: there is no second loader.

import * as fs from 'node:fs';
import path from 'node:path';
import { BpfBinding, bpfBinding, BpfError, check, errnoText } from './binding';
import { constants as osConstants } from 'node:os';

/** The built object dist/bpf/NAME.bpf.o (make -C bpf, run by `npm run build`). */
export function objectPath(name: string): string {
  return path.join(__dirname, '..', '..', 'bpf', `${name}.bpf.o`);
}

/** enum bpf_map_type values the layer reads differently. */
const PERCPU_TYPES = new Set([5 /* PERCPU_HASH */, 6 /* PERCPU_ARRAY */, 10 /* LRU_PERCPU_HASH */]);
const ZERO_KEY = Buffer.alloc(4);

/** Where a tc program goes: a device (in a network namespace, by its name under /run/netns). */
export interface TcTarget {
  /** Network namespace name (ip netns), or null for the caller's. */
  netns: string | null;
  dev: string;
  direction: 'ingress' | 'egress';
  /** The filter's priority (tc's pref) and handle; an existing filter with both is replaced. */
  priority: number;
  handle: number;
}

/** A map by its fd: lookups, updates and dumps of byte buffers in the kernel's layout. */
export class BpfMap {
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** Possible CPUs: a per-CPU value holds one slot of slotSize bytes per possible CPU. */
  readonly cpus: number;

  /** owned: close() closes fd (an fd from objGet); else the object owns it. */
  constructor(private readonly b: BpfBinding, readonly name: string, private fdv: number, private readonly owned: boolean) {
    const info = check<[number, number, number, number]>(b, `reading the definition of ${name}`, b.mapInfo(fdv));
    [this.type, this.keySize, this.valueSize, this.maxEntries] = info;
    this.cpus = PERCPU_TYPES.has(this.type) ? check<number>(b, 'counting possible CPUs', b.possibleCpus()) : 1;
  }

  /** The map pinned at file; close() closes its fd. */
  static pinned(file: string, b: BpfBinding = bpfBinding()): BpfMap {
    const fd = check<number>(b, `opening the map pinned at ${file}`, b.objGet(file));
    try {
      return new BpfMap(b, path.basename(file), fd, true);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** The map's fd (-1 once closed). */
  get fd(): number {
    return this.fdv;
  }

  get perCpu(): boolean {
    return PERCPU_TYPES.has(this.type);
  }

  /** Bytes of one CPU's value in a lookup's buffer (a per-CPU value is padded to 8). */
  get slotSize(): number {
    return this.perCpu ? (this.valueSize + 7) & ~7 : this.valueSize;
  }

  /** A buffer for one lookup's value (per-CPU: every CPU's slot), or for n of them. */
  valueBuffer(n = 1): Buffer {
    return Buffer.alloc(this.slotSize * this.cpus * n);
  }

  private open(op: string): number {
    if (this.fdv < 0) throw new BpfError(`${op}: the map is closed`, osConstants.errno.EBADF);
    return this.fdv;
  }

  /** The value of key into value (per-CPU: one slot per CPU); key defaults to the u32 0. */
  lookup(value: Buffer, key: Buffer = ZERO_KEY, op = `reading ${this.name}`): void {
    check(this.b, op, this.b.lookup(this.open(op), key, value));
  }

  /** Writes value at key (default the u32 0); flags BPF_ANY (0), BPF_NOEXIST (1), BPF_EXIST (2). */
  update(value: Buffer, key: Buffer = ZERO_KEY, flags = 0, op = `writing ${this.name}`): void {
    check(this.b, op, this.b.update(this.open(op), key, value, flags));
  }

  /** Every element of a hash map packed into keys and values (valueBuffer(n)); returns how many. */
  dump(keys: Buffer, values: Buffer, op = `reading ${this.name}`): number {
    return check<number>(this.b, op, this.b.dump(this.open(op), keys, values));
  }

  /** Closes the fd if it is this map's own (a pinned map); the object's maps close with it. */
  close(): void {
    if (this.owned && this.fdv >= 0) fs.closeSync(this.fdv);
    this.fdv = -1;
  }
}

/** An attached program (by its section); detach() removes it. */
export class BpfLink {
  constructor(private readonly b: BpfBinding, private link: object | null) {}
  detach(): void {
    if (this.link) this.b.detach(this.link);
    this.link = null;
  }
}

/** A kernel object: open, then choose programs and size maps, load, then use; close() frees it. */
export class BpfObject {
  private h: object | null;
  private readonly maps = new Map<string, BpfMap>();

  private constructor(private readonly b: BpfBinding, h: object, readonly file: string) {
    this.h = h;
  }

  /** Opens file (a path, or the name of a built object); btfPath: kernel BTF for CO-RE (null: the running kernel's). */
  static open(file: string, btfPath: string | null = null, b: BpfBinding = bpfBinding()): BpfObject {
    if (!file.includes('/')) file = objectPath(file);
    b.log();
    return new BpfObject(b, check<object>(b, `opening ${file}`, b.open(file, btfPath)), file);
  }

  /**
   * Opens and loads file with these programs left out and maps sized; closes it again when
   * anything fails. For objects whose steps need no error of their own.
   */
  static load(file: string, o: { btfPath?: string | null; autoload?: Record<string, boolean>; maxEntries?: Record<string, number> } = {}, b: BpfBinding = bpfBinding()): BpfObject {
    const obj = BpfObject.open(file, o.btfPath ?? null, b);
    try {
      for (const [p, on] of Object.entries(o.autoload ?? {})) obj.setAutoload(p, on);
      for (const [m, n] of Object.entries(o.maxEntries ?? {})) obj.setMaxEntries(m, n);
      obj.load(`loading ${path.basename(obj.file)}`);
    } catch (err) {
      obj.close();
      throw err;
    }
    return obj;
  }

  private handle(op: string): object {
    if (!this.h) throw new BpfError(`${op}: ${path.basename(this.file)} is closed`, osConstants.errno.EBADF);
    return this.h;
  }

  /** Before load: whether program loads. */
  setAutoload(program: string, load: boolean, op = `choosing ${program}`): void {
    check(this.b, op, this.b.setAutoload(this.handle(op), program, load));
  }

  /** Before load: map's max_entries (a ring buffer's: its bytes). */
  setMaxEntries(map: string, entries: number, op = `sizing ${map}`): void {
    check(this.b, op, this.b.setMaxEntries(this.handle(op), map, entries));
  }

  load(op = `loading ${path.basename(this.file)}`): void {
    check(this.b, op, this.b.load(this.handle(op)));
  }

  /** After load: the map, by name (one BpfMap per map, closed with the object). */
  map(name: string, op = `finding ${name}`): BpfMap {
    let m = this.maps.get(name);
    if (!m) {
      m = new BpfMap(this.b, name, check<number>(this.b, op, this.b.mapFd(this.handle(op), name)), false);
      this.maps.set(name, m);
    }
    return m;
  }

  /** After load: a program's fd (a socket filter is attached by it; the object owns it). */
  programFd(program: string, op = `finding ${program}`): number {
    return check<number>(this.b, op, this.b.progFd(this.handle(op), program));
  }

  /** Attaches program where its section says (tracepoints, kprobes, ...). */
  attach(program: string, op = `attaching ${program}`): BpfLink {
    return new BpfLink(this.b, check<object>(this.b, op, this.b.attach(this.handle(op), program)));
  }

  /**
   * Attaches a sched_cls program to a device's clsact hook, direct action (the qdisc is added
   * if missing). The tc filter holds the program: it stays after close() and process exit.
   */
  tcAttach(program: string, t: TcTarget, op = `attaching ${program} to ${t.dev} ${t.direction}${t.netns ? ` in ${t.netns}` : ''}`): void {
    const fd = this.programFd(program, op);
    const ns = t.netns === null ? null : path.join('/run/netns', t.netns);
    check(this.b, op, this.b.tcAttach(ns, t.dev, t.direction === 'egress', fd, t.priority, t.handle));
  }

  /** Pins map at file (a bpffs path whose directory exists), so another process can open it. */
  pinMap(map: string, file: string): void {
    const fd = check<number>(this.b, `finding ${map}`, this.b.mapFd(this.handle(`pinning ${map}`), map));
    check(this.b, `pinning ${map} at ${file}`, this.b.pin(fd, file));
  }

  /** Pins program at file. */
  pinProgram(program: string, file: string): void {
    check(this.b, `pinning ${program} at ${file}`, this.b.pin(this.programFd(program), file));
  }

  /** Runs the kernel skipped because program was already running on that CPU. */
  recursionMisses(program: string, op = `reading ${program}'s recursion misses`): number {
    return check<number>(this.b, op, this.b.recursionMisses(this.handle(op), program));
  }

  /** BPF_PROG_TEST_RUN of a loaded program over data, repeat times: its return value and ns per run. */
  testRun(program: string, data: Buffer, repeat = 1, op = `running ${program}`): { retval: number; ns: number } {
    const r = this.b.testRun(this.programFd(program, op), data, repeat, 0, 0, 0);
    const [retval, ns] = check<[number, number]>(this.b, op, r);
    return { retval, ns };
  }

  get closed(): boolean {
    return this.h === null;
  }

  /** Frees the object and its maps (attached links and tc filters keep their programs); safe twice. */
  close(): void {
    for (const m of this.maps.values()) m.close();
    this.maps.clear();
    if (this.h) this.b.close(this.h);
    this.h = null;
  }
}

/**
 * A ring buffer map read in batches: onRecord(buf, off, len) per record, valid only during the
 * call (the batch buffer is reused); onError when the ring fails. The addon drains when the
 * kernel wakes the reader, and poll() drains on demand (a timer calls it).
 */
export class RingReader {
  private h: object | null;
  /** The batch buffer the addon writes into, referenced for as long as the ring is open. */
  readonly buffer: Buffer;
  private onError: (msg: string) => void;

  constructor(
    private readonly b: BpfBinding,
    map: BpfMap,
    onRecord: (buf: Buffer, off: number, len: number) => void,
    onError: (msg: string) => void,
    batchBytes = 1 << 18,
  ) {
    const buf = Buffer.alloc(batchBytes);
    this.buffer = buf;
    this.onError = onError;
    this.h = check<object>(b, `opening the ring buffer`, b.ringOpen(map.fd, buf, (records, bytes) => {
      if (records < 0) {
        this.onError(String(bytes));
        return;
      }
      const end = bytes as number;
      let off = 0;
      // Records: u32 length | u32 0 | length bytes, padded to 8 (native/bpf.c).
      for (let i = 0; i < records && off + 8 <= end; i++) {
        const len = buf.readUInt32LE(off);
        const data = off + 8;
        if (data + len > end) break;
        onRecord(buf, data, len);
        off = data + ((len + 7) & ~7);
      }
    }));
  }

  /** Records cut short because one was longer than the batch buffer. */
  get clipped(): number {
    return this.h ? this.b.ringClipped(this.h) : 0;
  }

  /** Drains the ring now; a failure goes to onError. EBUSY (called from inside onRecord) is no failure. */
  poll(): void {
    if (!this.h) return;
    const n = this.b.ringConsume(this.h);
    if (n < 0 && n !== -osConstants.errno.EBUSY) this.onError(`reading the ring buffer: ${errnoText(-n)}`);
  }

  /** Stops reading; the batch buffer stays referenced here until the addon has let go. */
  close(): void {
    if (this.h) this.b.ringClose(this.h);
    this.h = null;
  }
}
