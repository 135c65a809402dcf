/**
 * The hot non-conv layer loops (ReLU, BatchNorm/Scale/Bias affine, 2-way Eltwise SUM, MAX/AVE pooling, LRN)
 * on the kernels' wasm module (src/kernels/layer-ops.ts): in place when the blobs live in its memory (runNet's
 * recycled buffers), else through staged chunks. Plain JS runs ~1.5 ns per value on these loops; wasm runs
 * them 3-10x faster even with the copy in and out. Results equal the JS forwards bit for bit. Every function
 * returns false when wasm is off (CHAIQ_NO_WASM=1 / setUseWasm(false), the same switch as the conv kernels)
 * or unavailable: the caller then runs its JS loop.
 */
import { kernelBackend } from './config';
import { add2InWasm, chanAffineInWasm, lrn075InWasm, poolInWasm, reluInWasm } from './layer-ops';

/** A kernels op; false (the caller's JS loop runs) when wasm is off or memory cannot grow. */
function inKernels(f: () => boolean): boolean {
  if (kernelBackend() !== 'wasm') return false;
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError) return false; // Memory.grow beyond the engine's limit
    throw e;
  }
}

/** Y = max(X, 0) (ReLU with negative_slope 0). */
export function fastRelu(X: Float32Array, Y: Float32Array): boolean {
  return inKernels(() => reluInWasm(X, Y));
}

/** Y = A + B (Eltwise SUM of two bottoms, coefficients 1). */
export function fastAdd2(A: Float32Array, B: Float32Array, Y: Float32Array): boolean {
  return inKernels(() => add2InWasm(A, B, Y));
}

/**
 * Per-channel affine over `outer·mid` planes of `inner` values (plane p uses channel p % mid), in double:
 * 'div': Y = (X - a[c]) / b[c] (BatchNorm), 'muladd': Y = X·a[c] + b[c] (Scale, Bias).
 */
export function fastChannelAffine(X: Float32Array, Y: Float32Array, outer: number, mid: number, inner: number,
  a: ArrayLike<number>, b: ArrayLike<number>, mode: 'div' | 'muladd'): boolean {
  return inKernels(() => chanAffineInWasm(X, Y, outer, mid, inner, a, b, mode));
}

export interface PoolGeom {
  kh: number; kw: number; ph: number; pw: number; sh: number; sw: number; oh: number; ow: number;
}

/** MAX or AVE pooling of `planes` planes h×w → oh×ow with Caffe's geometry (already computed), on every thread. */
export function fastPool(method: 'MAX' | 'AVE', X: Float32Array, Y: Float32Array, planes: number, h: number, w: number, g: PoolGeom): boolean {
  return inKernels(() => poolInWasm(method === 'MAX', X, Y, planes, h, w, g));
}

/**
 * LRN across channels with beta 0.75 over n images [c,hw]: y = x / (r·√r), r = √(k + a·Σ window x²),
 * in double with the JS forward's summation order (a = alpha / local_size).
 */
export function fastLrnAcross075(X: Float32Array, Y: Float32Array, n: number, c: number, hw: number, size: number, k: number, a: number): boolean {
  return inKernels(() => lrn075InWasm(X, Y, n, c, hw, size, k, a));
}
