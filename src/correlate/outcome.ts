// How a DNS transaction that ended unanswered is judged: which checksum layer is blamed, which
// cause is counted, and when the agent cannot tell. Pure functions of what the table recorded.

import { ENCAP_LAYER_BASE, Layer } from '../decode/frame';
import type { LostCause } from './lost';

/**
 * The bad layers of a transaction, one mask: those seen inside a tunnel (bad), and those seen
 * without it (plain: on the vxlan or geneve device, after decapsulation). When the transaction was
 * also seen encapsulated (encap: the ENCAP_* it was seen in, ENCAP_NONE if never), its plain layers
 * are that sighting's inner layers, blamed as vxlan.* or geneve.*.
 */
export function mergePlain(bad: number, plain: number, encap: number): number {
  return bad | (plain << (ENCAP_LAYER_BASE[encap] - Layer.IPV4));
}

/**
 * The layer a lost transaction is blamed on (-1: none was bad). The outermost bad layer, unless a
 * layer's field held only the pseudo-header sum: then the offload that never completed is the
 * cause, and the outer checksum computed over it (local checksum offload) failed only because of it.
 */
export function blamedLayer(bad: number, pseudo: number): number {
  if (bad === 0) return -1;
  const pick = pseudo !== 0 ? pseudo : bad;
  return 31 - Math.clz32(pick & -pick); // lowest bit: the outermost
}

/**
 * The cause of a loss. A bad checksum seen on the wire explains a kernel drop too: one loss,
 * cause checksum. Otherwise a kernel drop, or why the transaction ended (timeout, evicted, end
 * of capture).
 */
export function lostCause(bad: number, dropped: boolean, why: LostCause): LostCause {
  return bad !== 0 ? 'checksum' : dropped ? 'kernel_drop' : why;
}

/**
 * Whether an unanswered transaction is neither answered nor lost: first seen while the capture
 * could have missed its answer (at or before judgeAfterUs), with nothing seen wrong (no bad
 * checksum, no kernel drop), ended by its timeout or for room.
 */
export function unjudged(firstUs: number, judgeAfterUs: number, why: LostCause, bad: number, dropped: boolean): boolean {
  return firstUs <= judgeAfterUs && why !== 'end_of_capture' && !dropped && bad === 0;
}
