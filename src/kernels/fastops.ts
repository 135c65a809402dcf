/**
 * The hot non-conv layer loops (ReLU, BatchNorm/Scale/Bias affine, 2-way Eltwise SUM) in WebAssembly SIMD
 * (src/kernels/wasm/layers.c); MAX/AVE pooling and LRN go to the conv kernels' runtime (src/kernels). Plain JS runs ~1.5 ns per value on these loops; wasm runs
 * them 3-10x faster even with the copy in and out. Data goes through a private linear memory in chunks of
 * ~256 KB (stays in L2 between copy-in, compute and copy-out). Results equal the JS forwards bit for bit
 * (see layers.c). Every function returns false when wasm is off (CHAIQ_NO_WASM=1 / setUseWasm(false),
 * the same switch as the conv kernels) or unavailable: the caller then runs its JS loop.
 */
import { kernelBackend, lrn075InWasm, poolInWasm } from '.';
import { LAYERS_WASM_BASE64 } from './wasm/layers-wasm';

interface LayerExports {
  relu(x: number, y: number, n: number): void;
  add2(a: number, b: number, y: number, n: number): void;
  chan_affine(x: number, y: number, planes: number, inner: number, mid: number, a: number, b: number, mode: number, m0: number): void;
}

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: object };
  Memory: new (d: { initial: number; maximum?: number }) => WasmMemory;
}

const HEAP_START = 1 << 20; // above wasm-ld's default shadow stack
/** floats per chunk and operand: 3 operands x 256 KB stay in L2 */
const CHUNK = 1 << 16;

class LayerRuntime {
  readonly ex: LayerExports;
  private readonly memory: WasmMemory;
  private top = HEAP_START;
  private f32 = new Float32Array(0);
  private f64 = new Float64Array(0);

  constructor() {
    const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    this.memory = new WA.Memory({ initial: 64 });
    const mod = new WA.Module(Buffer.from(LAYERS_WASM_BASE64, 'base64'));
    this.ex = new WA.Instance(mod, { env: { memory: this.memory } }).exports as unknown as LayerExports;
  }

  reset(): void {
    this.top = HEAP_START;
  }

  /** byte address of `floats` float32s (64-byte aligned) */
  alloc(floats: number): number {
    const a = this.top;
    this.top = a + Math.ceil((floats * 4) / 64) * 64;
    if (this.top > 0xfff00000) throw new RangeError('chaiq fastops: operands too large for wasm memory');
    const have = this.memory.buffer.byteLength;
    if (this.top > have) this.memory.grow(Math.ceil((this.top - have) / 65536));
    return a;
  }

  F32(): Float32Array {
    if (this.f32.buffer !== this.memory.buffer) {
      this.f32 = new Float32Array(this.memory.buffer);
      this.f64 = new Float64Array(this.memory.buffer);
    }
    return this.f32;
  }

  F64(): Float64Array {
    this.F32();
    return this.f64;
  }

  putF64(v: ArrayLike<number>): number {
    const a = this.alloc(2 * v.length);
    const m = this.F64();
    for (let i = 0; i < v.length; i++) m[(a >>> 3) + i] = v[i];
    return a;
  }
}

let rt: LayerRuntime | null | undefined;

/** Run `f` on the runtime; false (the caller's JS loop runs) when wasm is off or memory cannot grow. */
function withRuntime(f: (r: LayerRuntime) => void): boolean {
  const r = runtime();
  if (!r) return false;
  try {
    f(r);
    return true;
  } catch (e) {
    if (e instanceof RangeError) return false; // Memory.grow beyond the engine's limit
    throw e;
  }
}

/** A kernels-runtime op; false (the caller's JS loop runs) when wasm is off or memory cannot grow. */
function inKernels(f: () => boolean): boolean {
  if (kernelBackend() !== 'wasm') return false;
  try {
    return f();
  } catch (e) {
    if (e instanceof RangeError) return false;
    throw e;
  }
}

function runtime(): LayerRuntime | null {
  if (kernelBackend() !== 'wasm') return null;
  if (rt === undefined) {
    try {
      rt = new LayerRuntime();
    } catch {
      rt = null;
    }
  }
  return rt;
}

/** Elementwise over [0,n) in chunks: copy the inputs in, run, copy the result out. */
function chunked(r: LayerRuntime, ins: Float32Array[], Y: Float32Array, run: (inAddrs: number[], out: number, len: number) => void): void {
  const n = Y.length;
  r.reset();
  const addrs = ins.map(() => r.alloc(CHUNK));
  const out = r.alloc(CHUNK);
  for (let o = 0; o < n; o += CHUNK) {
    const len = Math.min(CHUNK, n - o);
    const m = r.F32();
    ins.forEach((X, k) => m.set(X.subarray(o, o + len), addrs[k] >>> 2));
    run(addrs, out, len);
    Y.set(r.F32().subarray(out >>> 2, (out >>> 2) + len), o);
  }
}

/** Y = max(X, 0) (ReLU with negative_slope 0). */
export function fastRelu(X: Float32Array, Y: Float32Array): boolean {
  return withRuntime((r) => chunked(r, [X], Y, ([x], y, len) => r.ex.relu(x, y, len)));
}

/** Y = A + B (Eltwise SUM of two bottoms, coefficients 1). */
export function fastAdd2(A: Float32Array, B: Float32Array, Y: Float32Array): boolean {
  return withRuntime((r) => chunked(r, [A, B], Y, ([a, b], y, len) => r.ex.add2(a, b, y, len)));
}

/**
 * Per-channel affine over `outer·mid` planes of `inner` values (plane p uses channel p % mid), in double:
 * 'div': Y = (X - a[c]) / b[c] (BatchNorm), 'muladd': Y = X·a[c] + b[c] (Scale, Bias).
 */
export function fastChannelAffine(X: Float32Array, Y: Float32Array, outer: number, mid: number, inner: number,
  a: ArrayLike<number>, b: ArrayLike<number>, mode: 'div' | 'muladd'): boolean {
  return withRuntime((r) => {
    const planes = outer * mid;
    // whole planes per chunk (at least one)
    const per = Math.max(1, Math.floor(CHUNK / Math.max(1, inner)));
    r.reset();
    const pa = r.putF64(a);
    const pb = r.putF64(b);
    const cap = per * inner;
    const px = r.alloc(cap);
    const py = r.alloc(cap);
    for (let p0 = 0; p0 < planes; p0 += per) {
      const np = Math.min(per, planes - p0);
      const o = p0 * inner;
      const len = np * inner;
      r.F32().set(X.subarray(o, o + len), px >>> 2);
      r.ex.chan_affine(px, py, np, inner, mid, pa, pb, mode === 'div' ? 0 : 1, p0 % mid);
      Y.set(r.F32().subarray(py >>> 2, (py >>> 2) + len), o);
    }
  });
}

export interface PoolGeom {
  kh: number; kw: number; ph: number; pw: number; sh: number; sw: number; oh: number; ow: number;
}

/** MAX or AVE pooling of `planes` planes h×w → oh×ow with Caffe's geometry (already computed); in the conv kernels' runtime, on every thread. */
export function fastPool(method: 'MAX' | 'AVE', X: Float32Array, Y: Float32Array, planes: number, h: number, w: number, g: PoolGeom): boolean {
  return inKernels(() => poolInWasm(method === 'MAX', X, Y, planes, h, w, g));
}

/**
 * LRN across channels with beta 0.75 over n images [c,hw]: y = x / (r·√r), r = √(k + a·Σ window x²),
 * in double with the JS forward's summation order (a = alpha / local_size); in the conv kernels' runtime.
 */
export function fastLrnAcross075(X: Float32Array, Y: Float32Array, n: number, c: number, hw: number, size: number, k: number, a: number): boolean {
  return inKernels(() => lrn075InWasm(X, Y, n, c, hw, size, k, a));
}
