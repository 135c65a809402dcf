import { mulberry32 } from '../src/io/calibset';
import { convInt, convIntJs, kernelBackend, kernelStats, setThreads, setUseWasm, shutdownKernels, type Conv2dParams } from '../src/kernels';

// the simulator's integer convolution: wasm (i32x4.dot_i16x8_s) bit-exact against a naive JS loop

afterAll(() => shutdownKernels());

/** naive reference with exact (BigInt-free) int32 wrapping sums, written independently of convIntJs */
function naive(x: ArrayLike<number>, w: ArrayLike<number>, p: Conv2dParams): Int32Array {
  const out = new Int32Array(p.outC * p.outH * p.outW);
  const cg = p.inC / p.group;
  const og = p.outC / p.group;
  for (let o = 0; o < p.outC; o++) {
    const g = Math.floor(o / og);
    for (let oy = 0; oy < p.outH; oy++) {
      for (let ox = 0; ox < p.outW; ox++) {
        let s = 0;
        for (let c = 0; c < cg; c++) {
          for (let ki = 0; ki < p.kH; ki++) {
            for (let kj = 0; kj < p.kW; kj++) {
              const iy = oy * p.strideH - p.padH + ki * p.dilH;
              const ix = ox * p.strideW - p.padW + kj * p.dilW;
              if (iy < 0 || iy >= p.inH || ix < 0 || ix >= p.inW) continue;
              const xv = x[((g * cg + c) * p.inH + iy) * p.inW + ix];
              const wv = w[((o * cg + c) * p.kH + ki) * p.kW + kj];
              s = (s + xv * wv) | 0; // |xv·wv| <= 2^30: exact in double
            }
          }
        }
        out[(o * p.outH + oy) * p.outW + ox] = s;
      }
    }
  }
  return out;
}

function geom(c: number, h: number, w: number, o: number, k: number, s: number, pad: number, dil: number, group: number): Conv2dParams {
  const oh = Math.floor((h + 2 * pad - (dil * (k - 1) + 1)) / s) + 1;
  const ow = Math.floor((w + 2 * pad - (dil * (k - 1) + 1)) / s) + 1;
  return { inC: c, inH: h, inW: w, outC: o, outH: oh, outW: ow, kH: k, kW: k, strideH: s, strideW: s, padH: pad, padW: pad, dilH: dil, dilW: dil, group };
}

const CASES: Array<[string, Conv2dParams]> = [
  ['3x3 pad 1', geom(5, 9, 11, 7, 3, 1, 1, 1, 1)],
  ['1x1', geom(16, 7, 7, 9, 1, 1, 0, 1, 1)],
  ['stride 2 pad 1', geom(3, 15, 14, 6, 3, 2, 1, 1, 1)],
  ['7x7 stride 2 pad 3', geom(3, 23, 23, 8, 7, 2, 3, 1, 1)],
  ['dilation 2', geom(4, 13, 12, 5, 3, 1, 2, 2, 1)],
  ['depthwise 3x3', geom(12, 10, 9, 12, 3, 1, 1, 1, 12)],
  ['depthwise stride 2', geom(8, 11, 11, 8, 3, 2, 1, 1, 8)],
  ['grouped', geom(8, 6, 6, 12, 3, 1, 1, 1, 4)],
  ['more than one thread chunk', geom(8, 40, 40, 16, 3, 1, 1, 1, 1)],
];

function rand(n: number, lo: number, hi: number, r: () => number, T: Int8ArrayConstructor | Int16ArrayConstructor | Int32ArrayConstructor) {
  const a = new T(n);
  for (let i = 0; i < n; i++) a[i] = lo + Math.floor(r() * (hi - lo + 1));
  return a;
}

describe.each([1, 2])('convInt with %i thread(s)', (threads) => {
  beforeAll(() => setThreads(threads));

  it.each(CASES)('%s: int8 and int16 operands bit-exact', (_name, p) => {
    expect(kernelBackend()).toBe('wasm');
    const r = mulberry32(p.inC * 131 + p.kH * 7 + p.group);
    const wLen = p.outC * (p.inC / p.group) * p.kH * p.kW;
    const x8 = rand(p.inC * p.inH * p.inW, -128, 127, r, Int8Array);
    const w8 = rand(wLen, -128, 127, r, Int8Array);
    expect(convInt(x8, w8, p)).toEqual(naive(x8, w8, p));
    // 16-bit operands at full range: the sums wrap mod 2^32 like the reference
    const x16 = rand(p.inC * p.inH * p.inW, -32768, 32767, r, Int16Array);
    const w16 = rand(wLen, -32768, 32767, r, Int16Array);
    expect(convInt(x16, w16, p)).toEqual(naive(x16, w16, p));
    // the simulator's Int32Array operands
    const x32 = Int32Array.from(x16);
    const w32 = Int32Array.from(w16);
    expect(convInt(x32, w32, p)).toEqual(naive(x32, w32, p));
  });
});

test('the JS fallback and out-of-int16 operands give the same accumulators', () => {
  const p = geom(4, 8, 8, 6, 3, 2, 1, 1, 2);
  const r = mulberry32(9);
  const wLen = p.outC * (p.inC / p.group) * p.kH * p.kW;
  const x = rand(p.inC * p.inH * p.inW, -40000, 40000, r, Int32Array); // not int16: JS path
  const w = rand(wLen, -300, 300, r, Int32Array);
  expect(convInt(x, w, p)).toEqual(naive(x, w, p));
  const out = new Int32Array(p.outC * p.outH * p.outW);
  convIntJs(x, w, p, out);
  expect(out).toEqual(naive(x, w, p));
  setUseWasm(false);
  try {
    expect(kernelBackend()).toBe('js');
    const xs = rand(p.inC * p.inH * p.inW, -128, 127, r, Int16Array);
    expect(convInt(xs, w, p)).toEqual(naive(xs, w, p));
  } finally {
    setUseWasm(true);
  }
});

test('convInt uses the worker pool on a large conv', () => {
  setThreads(2);
  const p = geom(32, 28, 28, 32, 3, 1, 1, 1, 1);
  const r = mulberry32(3);
  const x = rand(p.inC * p.inH * p.inW, -128, 127, r, Int8Array);
  const w = rand(p.outC * p.inC * 9, -128, 127, r, Int8Array);
  const before = kernelStats().workerJobs;
  let got = convInt(x, w, p);
  for (let i = 0; i < 50 && kernelStats().workerJobs === before; i++) got = convInt(x, w, p); // workers warm up
  expect(kernelStats().workerJobs).toBeGreaterThan(before);
  expect(got).toEqual(naive(x, w, p));
});

test('convInt checks the geometry', () => {
  const p = geom(2, 5, 5, 2, 3, 1, 1, 1, 1);
  expect(() => convInt(new Int8Array(10), new Int8Array(36), p)).toThrow(/input has 10 values/);
  expect(() => convInt(new Int8Array(50), new Int8Array(36), { ...p, outH: 4 })).toThrow(/does not match/);
});
