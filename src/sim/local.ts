/**
 * The inputs of a layer's local run (the layer alone on the float reference, quantized with the formats it
 * reads): each reference tensor is quantized once per format, however many layers read it (GoogLeNet's
 * inception branches, ResNet's shortcut and residual branch), and a local run whose integers and formats are
 * those of the fixed chain is not run again (it is the fixed result: the first layer on the net input).
 */
import type { Tensor } from '../tensor';
import { formatString, sameFormat, type FixedFormat } from '../chaidnn/format';
import { releaseResident } from '../kernels';
import { quantizeForChain } from './fixed-chain';

/** Quantized versions of a reference tensor, by format; dropped when the observer replaces the tensor's blob. */
const quantized = new WeakMap<Tensor, Map<string, Int32Array>>();

/**
 * `t` (a blob's reference) is new, was overwritten in place, or nothing reads it any more: its quantized
 * versions are stale, and their wasm blocks go back to the pool (only the local runs read them).
 */
export function forgetQuantized(t: Tensor): void {
  const m = quantized.get(t);
  if (!m) return;
  quantized.delete(t);
  for (const q of m.values()) releaseResident(q);
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
  if (!q) m.set(key, (q = quantizeForChain(t.data, fmt, true)));
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
