// The libbpf addon (native/bpf.c, built into dist/native/csw_bpf.node) and the errors its -errno
// returns become. The addon is generic: one call per kernel operation, no object's layouts. The
// rest of src/bpf/ wraps it (object.ts) and reads the layouts generated from the objects' BTF
// (generated/); nothing outside src/bpf/ calls it directly except through a BpfBinding handed in.

import { constants as osConstants } from 'node:os';
import { requireAddon } from '../capture/addon';

export interface BpfBinding {
  open(file: string, btfPath: string | null): object | number;
  close(obj: object): void;
  setAutoload(obj: object, program: string, load: boolean): number;
  setMaxEntries(obj: object, map: string, entries: number): number;
  load(obj: object): number;
  mapFd(obj: object, map: string): number;
  recursionMisses(obj: object, program: string): number;
  attach(obj: object, program: string): object | number;
  detach(link: object): void;
  lookup(fd: number, key: Buffer, value: Buffer): number;
  update(fd: number, key: Buffer, value: Buffer, flags: number): number;
  mapInfo(fd: number): [number, number, number, number] | number;
  /** Every element of a hash map: keys and values packed, as many as fit; the count or -errno. */
  dump(fd: number, keys: Buffer, values: Buffer): number;
  progFd(obj: object, program: string): number;
  /**
   * BPF_PROG_TEST_RUN: runs the program over data `repeat` times in the kernel; [retval, ns per
   * run] or -errno. ifindex > 0: an XDP program, with that device as where the frame came in;
   * flags 2 (BPF_F_TEST_XDP_LIVE_FRAMES): each frame really leaves by its verdict. Blocks.
   */
  testRun(progFd: number, data: Buffer, repeat: number, flags: number, ifindex: number, batchSize: number): [number, number] | number;
  /** Pins a map or program fd on a bpffs; 0 or -errno. */
  pin(fd: number, path: string): number;
  /** A new fd for what is pinned at path (the caller closes it), or -errno. */
  objGet(path: string): number;
  /**
   * A loaded sched_cls program on a device's clsact hook (egress, else ingress), direct action,
   * replacing the filter of that priority and handle, in the network namespace of netnsPath
   * (null: the caller's; the addon enters it on a thread of its own). 0 or -errno.
   */
  tcAttach(netnsPath: string | null, ifname: string, egress: boolean, progFd: number, priority: number, handle: number): number;
  ringOpen(fd: number, buf: Buffer, cb: (records: number, bytesOrError: number | string) => void): object | number;
  ringConsume(ring: object): number;
  ringClipped(ring: object): number;
  ringClose(ring: object): void;
  enumValues(btfPath: string | null, name: string): Array<[string, number]> | number;
  possibleCpus(): number;
  log(): string;
  version(): string;
}

export class BpfError extends Error {
  readonly code: string = 'CSW_ERR_BPF';
  /**
   * op: what was being done; errno: positive errno (0 if none); log: libbpf's messages, which
   * hold the verifier's reasons when a load is refused.
   */
  constructor(readonly op: string, readonly errno: number, readonly log = '') {
    super(`${op}: ${errnoText(errno)}`);
  }
}

/** The kernel, its BTF or the process's privileges lack what a program needs: fall back. */
export class BpfUnavailableError extends BpfError {
  override readonly code: string = 'CSW_ERR_BPF_UNAVAILABLE';
}

const ENOTSUPP = 524; // the kernel's internal "not supported", which does reach user space
export const UNAVAILABLE = new Set([
  osConstants.errno.EPERM, osConstants.errno.ENOENT, osConstants.errno.ENOSYS, osConstants.errno.EOPNOTSUPP,
  osConstants.errno.ESRCH, osConstants.errno.ENOTSUP, ENOTSUPP,
]);

export function errnoText(errno: number): string {
  if (errno === 0) return 'failed';
  if (errno === ENOTSUPP) return 'ENOTSUPP (operation not supported by this kernel)';
  for (const [name, v] of Object.entries(osConstants.errno)) if (v === errno) return name;
  return `errno ${errno}`;
}

let binding: BpfBinding | null = null;

/** The addon, loaded once; a BpfUnavailableError says how to build it when it is missing. */
export function bpfBinding(): BpfBinding {
  binding ??= requireAddon<BpfBinding>('csw_bpf', (file, reason) => {
    const e = new BpfUnavailableError(`loading the BPF addon ${file}`, 0);
    e.message = `${e.op}: ${reason}`;
    return e;
  });
  return binding;
}

/**
 * libbpf's messages since the last call, without its note that it skipped .csw.types (the
 * section CSW_BTF_TYPE puts types in for the generator, bpf/shared/btf.h).
 */
export function takeLog(b: BpfBinding): string {
  return b.log().split('\n').filter((l) => !/skipping unrecognized data section\(\d+\) \.csw\.types/.test(l)).join('\n').trim();
}

/** Throws the error for a negative return value of op; returns v otherwise. */
export function check<T>(b: BpfBinding, op: string, v: T | number): T {
  if (typeof v === 'number' && v < 0) {
    const errno = -v;
    const log = takeLog(b);
    const E = UNAVAILABLE.has(errno) ? BpfUnavailableError : BpfError;
    throw new E(op, errno, log);
  }
  return v as T;
}
