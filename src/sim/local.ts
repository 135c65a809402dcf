/**
 * The inputs of a layer's local run (the layer alone on the float reference, quantized with the formats it
 * reads): each reference tensor is quantized once per format, however many layers read it (GoogLeNet's
 * inception branches, ResNet's shortcut and residual branch), and a local run whose integers and formats are
 * those of the fixed chain is not run again (it is the fixed result: the first layer on the net input).
 */
import type { Tensor } from '../tensor';
import { formatString, sameFormat, type FixedFormat } from '../chaidnn/format';
import { windowsNonEmpty, type PoolGeom } from '../chaidnn/arith';
import { hasNaN, releaseResident } from '../kernels';
import { quantizeForChain } from './fixed-chain';

/** Quantized versions of a reference tensor, by format; dropped when the observer replaces the tensor's blob. */
const quantized = new WeakMap<Tensor, Map<string, Int32Array>>();
/** The arrays `quantized` holds: a local result taken from there is not the caller's to release. */
const cached = new WeakSet<Int32Array>();

/**
 * `t` (a blob's reference) is new, was overwritten in place, or nothing reads it any more: its quantized
 * versions are stale, and their wasm blocks go back to the pool (only the local runs read them).
 */
export function forgetQuantized(t: Tensor): void {
  const m = quantized.get(t);
  if (!m) return;
  quantized.delete(t);
  for (const q of m.values()) {
    cached.delete(q);
    releaseResident(q);
  }
}

/** q is a quantized reference (quantizedReference), held for the other layers that read it: not to be released. */
export function isQuantizedReference(q: Int32Array): boolean {
  return cached.has(q);
}

/**
 * quantizeFloat(t.data, fmt, true), computed once per tensor and format, in wasm memory with its float twin
 * when it can (fixed-chain.ts), so the local convolution reads it in place as the fixed chain reads its blobs.
 */
export function quantizedReference(t: Tensor, fmt: FixedFormat): Int32Array {
  let m = quantized.get(t);
  if (!m) quantized.set(t, (m = new Map()));
  const key = formatString(fmt) + (fmt.mode === 'DynamicFixed' ? ' dfx' : ' xil');
  let q = m.get(key);
  if (!q) {
    m.set(key, (q = quantizeForChain(t.data, fmt, true)));
    cached.add(q);
  }
  return q;
}

/** The same integers (byte comparison, as memcmp). */
export function sameInts(a: Int32Array, b: Int32Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** The local run would read exactly what the fixed run read: same integers, same formats. */
export function sameAsFixed(local: Int32Array[], fixed: Int32Array[], localFmts: (FixedFormat | undefined)[], fixedFmts: (FixedFormat | undefined)[]): boolean {
  for (let k = 0; k < local.length; k++) {
    const a = localFmts[k];
    const b = fixedFmts[k];
    if (a !== b && (!a || !b || !sameFormat(a, b))) return false;
    if (!sameInts(local[k], fixed[k])) return false;
  }
  return true;
}

let shortcuts = true;
/** Take the local runs that need no kernel from the quantized reference (default), or run them (tests compare). */
export function setLocalShortcuts(on: boolean): void {
  shortcuts = on;
}
/** How often a local run was taken from the quantized reference of the layer's output (tests, benches). */
export const localShortcutStats = { pool: 0, concat: 0 };

/** The same quantizer: quantizedReference gives the same integers (and keeps them under one key). */
function sameQuantizer(a: FixedFormat, b: FixedFormat): boolean {
  return a.mode === b.mode && sameFormat(a, b);
}

/** What a MAX pool or Concat local run would compute (simulate.ts localRun), described for localFromReference. */
export type CommutingStep =
  | { kind: 'maxpool'; geom: PoolGeom }
  | { kind: 'concat' };

/**
 * A MAX pool's or a Concat's local run without running it: the quantized reference of its output, when that is
 * provably the integers the run would give, else undefined. The run computes step(q(x_k)) with q the quantizer
 * of the formats it reads (`inFmts`), x_k the reference inputs, and labels it `outFmt`. With one quantizer for
 * every input and the output, q acting value by value, and `refOut` the reference output of that shape:
 * - Concat (along channels, batch 1: `refOut` has the shape of the flat concatenation, which only axis 1 gives):
 *   refOut is the inputs' values copied in order, so concat(q(x_k)) = q(refOut), value by value.
 * - MAX pool: every window clipped to the image holds at least one value (else the integer loop writes 0 where
 *   Caffe writes -FLT_MAX), and the reference holds no NaN (Caffe's comparisons skip it, q maps it to 0). Then
 *   refOut is max(W) over each clipped window W, as Caffe; q is non-decreasing (a clamp, a division by a
 *   positive scale or a product with 2^fl, C round, a clamp: each non-decreasing; a threshold ≤ 0 makes q
 *   constant), so max(q(W)) = q(max(W)): the pooled integers are q(refOut). Infinities saturate on both sides.
 * The consumers of the output usually read it in the same format, so the quantization is often already there.
 */
export function localFromReference(step: CommutingStep, refIns: Tensor[], refOut: Tensor, inFmts: FixedFormat[], outFmt: FixedFormat, outShape: number[]): Int32Array | undefined {
  if (!shortcuts || outShape[0] !== 1 || refOut.shape.length !== outShape.length || refOut.shape.some((d, k) => d !== outShape[k])) return undefined;
  if (!inFmts.every((f) => sameQuantizer(f, outFmt))) return undefined;
  if (step.kind === 'maxpool') {
    const g = step.geom;
    if (!windowsNonEmpty(g.inH, g.outH, g.kH, g.strideH, g.padH) || !windowsNonEmpty(g.inW, g.outW, g.kW, g.strideW, g.padW)) return undefined;
    if (refIns.length !== 1 || hasNaN(refIns[0].data)) return undefined;
    localShortcutStats.pool++;
  } else localShortcutStats.concat++;
  return quantizedReference(refOut, inFmts[0]);
}
