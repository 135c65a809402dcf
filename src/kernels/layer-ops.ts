/**
 * Pooling, LRN and the elementwise layer loops on the kernels' wasm memory: in place when the operands live
 * there (runNet's activations), else staged; same values as the JS forwards bit for bit.
 */
import { chunks, rt, workersFor } from './config';
import { JOB_LRN, JOB_POOL, type WasmRuntime } from './wasm-runtime';

/**
 * MAX/AVE pooling of `planes` planes h×w → oh×ow (Caffe geometry given), planes split across the threads;
 * in place when X and Y are in the kernels' wasm memory (runNet's activations), else staged. Same values as
 * the JS forward. False (nothing done) without wasm or when X and Y overlap.
 */
export function poolInWasm(isMax: boolean, X: Float32Array, Y: Float32Array, planes: number, h: number, w: number,
  g: { kh: number; kw: number; ph: number; pw: number; sh: number; sw: number; oh: number; ow: number }): boolean {
  const r = rt();
  const nx = planes * h * w;
  const ny = planes * g.oh * g.ow;
  if (!r || X.length < nx || Y.length < ny) return false;
  // + slack when staged: the stride-2 path reads one value past a row's last window
  const io = stageIO(r, X, nx + 16, Y, ny);
  if (!io) return false;
  const idle = workersFor(r, ny * g.kh * g.kw);
  const T = idle.length + 1;
  const [ch, nc] = chunks(planes, T, 1, 1);
  const args = [isMax ? 1 : 0, io.xa, io.ya, planes, h, w, g.oh, g.ow, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, ch, nc];
  r.parallel(JOB_POOL, Array.from({ length: T }, () => args), idle);
  io.done();
  return true;
}

/**
 * Addresses of X (read) and Y (written) for a kernel: in place when they live in the kernels' memory,
 * else staged in scratch (X copied in with room for `xFloats`, Y copied out by `done`). undefined when
 * both are resident and overlap.
 */
function stageIO(r: WasmRuntime, X: Float32Array, xFloats: number, Y: Float32Array, yFloats: number) {
  let xa = r.addrOf(X);
  let ya = r.addrOf(Y);
  if (xa >= 0 && ya >= 0 && xa < ya + Y.byteLength && ya < xa + X.byteLength) return undefined;
  r.reset();
  const stageY = ya < 0;
  if (xa < 0) {
    xa = r.alloc(xFloats);
    r.F32().set(X.subarray(0, Math.min(X.length, xFloats)), xa >>> 2);
  }
  if (stageY) ya = r.alloc(yFloats);
  return {
    xa,
    ya,
    done: () => {
      if (stageY) Y.set(r.F32().subarray(ya >>> 2, (ya >>> 2) + yFloats));
    },
  };
}

/**
 * LRN across channels with beta 0.75 (y = x / (r·√r), r = √(k + a·Σ window x²)) over n images [c, hw], pixels
 * split across the threads; in place when X and Y are in the kernels' wasm memory, else staged. Same values
 * as the JS forward. False (nothing done) without wasm or when X and Y overlap.
 */
export function lrn075InWasm(X: Float32Array, Y: Float32Array, n: number, c: number, hw: number, size: number, k: number, a: number): boolean {
  const r = rt();
  if (!r || X.length < n * c * hw || Y.length < n * c * hw) return false;
  const io = stageIO(r, X, n * c * hw, Y, n * c * hw);
  if (!io) return false;
  const { xa, ya } = io;
  const ka = r.alloc(4);
  r.F64().set([k, a], ka >>> 3);
  const idle = workersFor(r, c * hw * size);
  const T = idle.length + 1;
  const [ch, nc] = chunks(hw, T, 2, 64);
  const accs = Array.from({ length: T }, () => r.alloc(2 * ch));
  for (let b = 0; b < n; b++) {
    const off = 4 * b * c * hw;
    r.parallel(JOB_LRN, accs.map((acc) => [xa + off, ya + off, c, hw, size, ka, acc, ch, nc]), idle);
  }
  io.done();
  return true;
}

/** floats per staged chunk and operand: 3 operands x 256 KB stay in L2 between copy-in, compute and copy-out */
const CHUNK = 1 << 16;

/**
 * Elementwise over [0, Y.length): in one call when every operand lives in wasm memory (in-place updates, Y
 * equal to an input, are fine: each value is read before it is written), else through staged chunks.
 */
function elementwise(r: WasmRuntime, ins: Float32Array[], Y: Float32Array, run: (inAddrs: number[], out: number, len: number) => void): void {
  const n = Y.length;
  const ya = r.addrOf(Y);
  const xas = ins.map((X) => r.addrOf(X));
  if (ya >= 0 && xas.every((a, k) => a >= 0 && (a === ya || a + ins[k].byteLength <= ya || ya + Y.byteLength <= a))) {
    run(xas, ya, n);
    return;
  }
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

/** Y = max(X, 0) as JS `x > 0 ? x : 0`. False (nothing done) without wasm. */
export function reluInWasm(X: Float32Array, Y: Float32Array): boolean {
  const r = rt();
  if (!r || X.length < Y.length) return false;
  elementwise(r, [X], Y, ([x], y, len) => r.ex.relu(x, y, len));
  return true;
}

/** Y = A + B in float32. False (nothing done) without wasm. */
export function add2InWasm(A: Float32Array, B: Float32Array, Y: Float32Array): boolean {
  const r = rt();
  if (!r || A.length < Y.length || B.length < Y.length) return false;
  elementwise(r, [A, B], Y, ([a, b], y, len) => r.ex.add2(a, b, y, len));
  return true;
}

/**
 * Per-channel affine over `outer·mid` planes of `inner` values (plane p uses channel p % mid), in double:
 * 'div': Y = (X - a[c]) / b[c] (BatchNorm), 'muladd': Y = X·a[c] + b[c] (Scale, Bias). False without wasm.
 */
export function chanAffineInWasm(X: Float32Array, Y: Float32Array, outer: number, mid: number, inner: number,
  a: ArrayLike<number>, b: ArrayLike<number>, mode: 'div' | 'muladd'): boolean {
  const r = rt();
  const planes = outer * mid;
  if (!r || X.length < planes * inner || Y.length < planes * inner) return false;
  const md = mode === 'div' ? 0 : 1;
  // whole planes per staged chunk (at least one): a huge plane may not fit, then the JS loop runs
  const per = Math.max(1, Math.floor(CHUNK / Math.max(1, inner)));
  const cap = per * inner;
  if (!r.canHold(16 * (a.length + b.length) + 8 * cap + 4096)) return false;
  r.reset();
  const pa = r.putF64(Float64Array.from(a));
  const pb = r.putF64(Float64Array.from(b));
  const xa = r.addrOf(X);
  const ya = r.addrOf(Y);
  const n = planes * inner;
  if (xa >= 0 && ya >= 0 && (xa === ya || xa + 4 * n <= ya || ya + 4 * n <= xa)) {
    r.ex.chan_affine(xa, ya, planes, inner, mid, pa, pb, md, 0);
    return true;
  }
  const px = r.alloc(cap);
  const py = r.alloc(cap);
  for (let p0 = 0; p0 < planes; p0 += per) {
    const np = Math.min(per, planes - p0);
    const o = p0 * inner;
    const len = np * inner;
    r.F32().set(X.subarray(o, o + len), px >>> 2);
    r.ex.chan_affine(px, py, np, inner, mid, pa, pb, md, p0 % mid);
    Y.set(r.F32().subarray(py >>> 2, (py >>> 2) + len), o);
  }
  return true;
}
