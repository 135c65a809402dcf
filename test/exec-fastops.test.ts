import { fastAdd2, fastChannelAffine, fastLrnAcross075, fastPool, fastRelu, type PoolGeom } from '../src/kernels/fastops';
import { kernelBackend, lrn075InWasm, poolInWasm, setUseWasm, shutdownKernels, wasmFloat32Array } from '../src/kernels';

/** a copy of a in the conv kernels' wasm memory (runNet's activations with reuseBuffers) */
function inWasm(a: Float32Array): Float32Array {
  const w = wasmFloat32Array(a.length)!;
  w.set(a);
  return w;
}

// The wasm loops must equal the JS forwards' arithmetic bit for bit (same as the forwards in src/layers/*.ts).

function rand(n: number, seed: number, special = true): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = ((s / 2 ** 32) * 2 - 1) * 10 ** ((s >>> 8) % 7 - 3);
  }
  if (special && n > 8) {
    x[1] = NaN;
    x[2] = -0;
    x[3] = Infinity;
    x[4] = -Infinity;
    x[5] = 1e-42; // subnormal
  }
  return x;
}

function same(a: Float32Array, b: Float32Array): string[] {
  const bad: string[] = [];
  const ai = new Int32Array(a.buffer, a.byteOffset, a.length);
  const bi = new Int32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length && bad.length < 5; i++) {
    if (ai[i] !== bi[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) bad.push(`[${i}] ${a[i]} vs ${b[i]}`);
  }
  return bad;
}

afterAll(() => shutdownKernels());

test('wasm path is active here', () => {
  expect(kernelBackend()).toBe('wasm');
});

test.each([1, 3, 4, 7, 65536 + 5, 200003])('relu and add2 (n=%d)', (n) => {
  const X = rand(n, n);
  const B = rand(n, n + 1);
  const Y = new Float32Array(n);
  expect(fastRelu(X, Y)).toBe(true);
  const R = X.map((v) => (v > 0 ? v : 0));
  expect(same(Y, R)).toEqual([]);
  expect(fastAdd2(X, B, Y)).toBe(true);
  const S = new Float32Array(n);
  for (let i = 0; i < n; i++) S[i] = X[i] + B[i];
  expect(same(Y, S)).toEqual([]);
});

test.each([
  [1, 3, 5],
  [2, 64, 49],
  [3, 7, 1],
  [1, 5, 40000], // planes larger than a chunk
  [4, 300, 300], // chunk boundaries not on channel 0
])('channel affine outer=%d mid=%d inner=%d', (outer, mid, inner) => {
  const n = outer * mid * inner;
  const X = rand(n, n);
  const a = Float64Array.from(rand(mid, 5, false), (v, i) => (i === 0 ? 0.1 : v));
  const b = Float64Array.from(rand(mid, 6, false), (v) => Math.sqrt(Math.abs(v) + 1e-5));
  for (const mode of ['div', 'muladd'] as const) {
    const Y = new Float32Array(n);
    expect(fastChannelAffine(X, Y, outer, mid, inner, a, b, mode)).toBe(true);
    const R = new Float32Array(n);
    for (let o = 0; o < outer; o++)
      for (let m = 0; m < mid; m++)
        for (let i = 0; i < inner; i++) {
          const k = (o * mid + m) * inner + i;
          R[k] = mode === 'div' ? (X[k] - a[m]) / b[m] : X[k] * a[m] + b[m];
        }
    expect(same(Y, R)).toEqual([]);
  }
});

/** the JS pooling loops (src/layers/pooling.ts) */
function poolRef(method: 'MAX' | 'AVE', X: Float32Array, planes: number, h: number, w: number, g: PoolGeom): Float32Array {
  const Y = new Float32Array(planes * g.oh * g.ow);
  for (let p = 0; p < planes; p++)
    for (let py = 0; py < g.oh; py++)
      for (let px = 0; px < g.ow; px++) {
        let hs = py * g.sh - g.ph;
        let ws = px * g.sw - g.pw;
        let v: number;
        if (method === 'MAX') {
          const he = Math.min(hs + g.kh, h);
          const we = Math.min(ws + g.kw, w);
          hs = Math.max(hs, 0);
          ws = Math.max(ws, 0);
          v = -Infinity;
          for (let y = hs; y < he; y++) for (let x = ws; x < we; x++) if (X[p * h * w + y * w + x] > v) v = X[p * h * w + y * w + x];
          if (v === -Infinity) v = -3.4028234663852886e38;
        } else {
          let he = Math.min(hs + g.kh, h + g.ph);
          let we = Math.min(ws + g.kw, w + g.pw);
          const size = (he - hs) * (we - ws);
          hs = Math.max(hs, 0);
          ws = Math.max(ws, 0);
          he = Math.min(he, h);
          we = Math.min(we, w);
          let s = 0;
          for (let y = hs; y < he; y++) for (let x = ws; x < we; x++) s += X[p * h * w + y * w + x];
          v = s / size;
        }
        Y[(p * g.oh + py) * g.ow + px] = v;
      }
  return Y;
}

/** Caffe's ceil-mode output size */
function geom(h: number, w: number, k: number, s: number, pad: number): PoolGeom {
  let oh = Math.ceil((h + 2 * pad - k) / s) + 1;
  let ow = Math.ceil((w + 2 * pad - k) / s) + 1;
  if (pad) {
    if ((oh - 1) * s >= h + pad) oh--;
    if ((ow - 1) * s >= w + pad) ow--;
  }
  return { kh: k, kw: k, ph: pad, pw: pad, sh: s, sw: s, oh, ow };
}

test.each([
  [3, 28, 28, 3, 1, 1],
  [2, 112, 112, 3, 2, 0],
  [5, 13, 17, 3, 2, 1],
  [4, 7, 7, 7, 1, 0],
  [2, 9, 11, 2, 2, 0],
  [1, 300, 300, 3, 1, 1], // bigger than a chunk
  [6, 5, 5, 5, 3, 2],
  [3, 30, 61, 3, 2, 1], // stride-2 SIMD interior with padding
  [2, 19, 40, 5, 2, 2],
  [256, 57, 57, 3, 2, 1], // enough work for both threads
])('pooling planes=%d %dx%d k%d s%d p%d', (planes, h, w, k, s, pad) => {
  const X = rand(planes * h * w, h * 31 + w, false);
  X[7] = NaN;
  X[11] = -Infinity;
  const g = geom(h, w, k, s, pad);
  for (const method of ['MAX', 'AVE'] as const) {
    const Y = new Float32Array(planes * g.oh * g.ow);
    expect(fastPool(method, X, Y, planes, h, w, g)).toBe(true);
    const ref = poolRef(method, X, planes, h, w, g);
    expect(same(Y, ref)).toEqual([]);
    if (kernelBackend() === 'wasm') {
      // in place in the kernels' memory, split across the threads
      const Yw = inWasm(new Float32Array(Y.length).fill(7));
      expect(poolInWasm(method === 'MAX', inWasm(X), Yw, planes, h, w, g)).toBe(true);
      expect(same(Yw, ref)).toEqual([]);
    }
  }
});

test('setUseWasm(false) turns the fast path off', () => {
  setUseWasm(false);
  try {
    expect(fastRelu(new Float32Array(4), new Float32Array(4))).toBe(false);
  } finally {
    setUseWasm(true);
  }
});

test.each([
  [1, 64, 56 * 56, 5],
  [2, 7, 9, 5],
  [1, 3, 5, 7], // window wider than the channels
  [2, 96, 3137, 5], // enough work for both threads
])('LRN across channels, beta 0.75 (n=%d c=%d hw=%d size=%d)', (n, c, hw, size) => {
  const X = rand(n * c * hw, c * hw, false).map((v) => v * 50);
  const k = 1;
  const a = 1e-4 / size;
  const Y = new Float32Array(X.length);
  expect(fastLrnAcross075(X, Y, n, c, hw, size, k, a)).toBe(true);
  if (kernelBackend() === 'wasm') {
    const Yw = inWasm(new Float32Array(Y.length));
    expect(lrn075InWasm(inWasm(X), Yw, n, c, hw, size, k, a)).toBe(true);
    expect(same(Yw, Y)).toEqual([]);
    expect(poolInWasm(true, Yw, Yw, 1, 1, 1, { kh: 1, kw: 1, ph: 0, pw: 0, sh: 1, sw: 1, oh: 1, ow: 1 })).toBe(false); // in and out overlap
    // arrays outside the kernels' memory are staged: same values
    const Ys = new Float32Array(Y.length);
    expect(lrn075InWasm(X, Ys, n, c, hw, size, k, a)).toBe(true);
    expect(same(Ys, Y)).toEqual([]);
  }
  // the JS forward's arithmetic (src/layers/lrn.ts lrnForward)
  const R = new Float32Array(X.length);
  const pre = (size - 1) / 2;
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < hw; p++) {
        let s = 0;
        for (let cc = Math.max(0, ch - pre); cc < Math.min(c, ch - pre + size); cc++) {
          const v = X[(b * c + cc) * hw + p];
          s += v * v;
        }
        const r = Math.sqrt(k + a * s);
        const i = (b * c + ch) * hw + p;
        R[i] = X[i] / (r * Math.sqrt(r));
      }
  expect(same(Y, R)).toEqual([]);
});
