import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { rng } from './helpers/rng';
import {
  clearWeightCache, conv2d, conv2dBatch, Conv2dParams, initKernels, kernelBackend, kernelStats, setThreads, setUseWasm, setWeightCacheBytes, sgemm,
  shutdownKernels,
} from '../src/kernels';

// bound once: jest's sandbox makes each global lookup slow, and the float64 references call abs once per term
const { abs, floor, max, sqrt } = Math;

function randArr(n: number, r: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = r() * 2 - 1;
  return a;
}

const refCache = new Map<string, { y: Float64Array; mag: Float64Array }>();
/** convRef memoised per test case (every backend sees the same seeded inputs). */
function convRefCached(key: string, x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams) {
  let r = refCache.get(key);
  if (!r) refCache.set(key, (r = convRef(x, w, bias, p)));
  return r;
}

/** Direct convolution in float64; also returns Σ|w·x| per output for the error bound. */
function convRef(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams): { y: Float64Array; mag: Float64Array } {
  const cg = p.inC / p.group;
  const og = p.outC / p.group;
  const y = new Float64Array(p.outC * p.outH * p.outW);
  const mag = new Float64Array(y.length);
  for (let o = 0; o < p.outC; o++) {
    const g = floor(o / og);
    for (let oy = 0; oy < p.outH; oy++) {
      for (let ox = 0; ox < p.outW; ox++) {
        let s = bias ? bias[o] : 0;
        let m = abs(s);
        for (let c = 0; c < cg; c++) {
          for (let ki = 0; ki < p.kH; ki++) {
            const iy = oy * p.strideH - p.padH + ki * p.dilH;
            if (iy < 0 || iy >= p.inH) continue;
            for (let kj = 0; kj < p.kW; kj++) {
              const ix = ox * p.strideW - p.padW + kj * p.dilW;
              if (ix < 0 || ix >= p.inW) continue;
              const t = w[((o * cg + c) * p.kH + ki) * p.kW + kj] * x[((g * cg + c) * p.inH + iy) * p.inW + ix];
              s += t;
              m += abs(t);
            }
          }
        }
        const i = (o * p.outH + oy) * p.outW + ox;
        y[i] = s;
        mag[i] = m;
      }
    }
  }
  return { y, mag };
}

function makeParams(q: Partial<Conv2dParams> & { inC: number; inH: number; inW: number; outC: number; kH: number; kW: number }): Conv2dParams {
  const p: Conv2dParams = {
    strideH: 1, strideW: 1, padH: 0, padW: 0, dilH: 1, dilW: 1, group: 1, outH: 0, outW: 0, ...q,
  };
  // Caffe's output size rule
  p.outH = floor((p.inH + 2 * p.padH - (p.dilH * (p.kH - 1) + 1)) / p.strideH) + 1;
  p.outW = floor((p.inW + 2 * p.padW - (p.dilW * (p.kW - 1) + 1)) / p.strideW) + 1;
  return p;
}

function expectClose(got: Float32Array, ref: Float64Array, mag: Float64Array, K: number, what: string): void {
  const tol = 1e-6 * sqrt(K) * 4;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    const e = abs(got[i] - ref[i]) / (mag[i] + 1e-30);
    if (!(e <= tol) && !(abs(got[i] - ref[i]) < 1e-7)) throw new Error(`${what}: index ${i} got ${got[i]} want ${ref[i]} (rel-to-|terms| ${e}, tol ${tol})`);
    worst = max(worst, e);
  }
  expect(worst).toBeLessThanOrEqual(tol);
}

const CONFIGS: Array<Parameters<typeof makeParams>[0]> = [
  { inC: 3, inH: 17, inW: 19, outC: 5, kH: 3, kW: 3, padH: 1, padW: 1 },
  { inC: 8, inH: 9, inW: 9, outC: 13, kH: 1, kW: 1 }, // pointwise
  { inC: 16, inH: 7, inW: 11, outC: 9, kH: 1, kW: 1, strideH: 2, strideW: 2 }, // 1x1 strided
  { inC: 6, inH: 23, inW: 21, outC: 10, kH: 7, kW: 7, strideH: 2, strideW: 2, padH: 3, padW: 3 },
  { inC: 4, inH: 15, inW: 20, outC: 6, kH: 3, kW: 5, strideH: 1, strideW: 2, padH: 2, padW: 0 }, // rect
  { inC: 5, inH: 19, inW: 16, outC: 7, kH: 3, kW: 3, padH: 2, padW: 2, dilH: 2, dilW: 2 }, // dilation
  { inC: 5, inH: 19, inW: 16, outC: 7, kH: 3, kW: 2, padH: 3, padW: 1, dilH: 3, dilW: 1, strideH: 2 },
  { inC: 8, inH: 12, inW: 12, outC: 12, kH: 3, kW: 3, padH: 1, padW: 1, group: 2 }, // grouped
  { inC: 12, inH: 10, inW: 9, outC: 8, kH: 3, kW: 3, group: 4 },
  { inC: 16, inH: 14, inW: 14, outC: 16, kH: 3, kW: 3, padH: 1, padW: 1, group: 16 }, // depthwise s1
  { inC: 12, inH: 15, inW: 13, outC: 12, kH: 3, kW: 3, padH: 1, padW: 1, strideH: 2, strideW: 2, group: 12 }, // dw s2
  { inC: 6, inH: 11, inW: 29, outC: 6, kH: 5, kW: 3, padH: 2, padW: 1, dilH: 2, dilW: 3, strideW: 3, group: 6 }, // dw odd
  { inC: 4, inH: 9, inW: 9, outC: 8, kH: 3, kW: 3, padH: 1, padW: 1, group: 4 }, // channel multiplier 2
  { inC: 3, inH: 1, inW: 1, outC: 5, kH: 1, kW: 1 }, // 1x1 image
  { inC: 32, inH: 16, inW: 17, outC: 40, kH: 3, kW: 3, padH: 1, padW: 1 }, // big enough to use threads (split N)
  { inC: 300, inH: 7, inW: 7, outC: 72, kH: 1, kW: 1 }, // small N: split over M, K > KC
  { inC: 96, inH: 40, inW: 40, outC: 96, kH: 3, kW: 3, padH: 1, padW: 1, group: 96 }, // dw with threads
  { inC: 128, inH: 9, inW: 8, outC: 130, kH: 3, kW: 3, padH: 1, padW: 1, group: 2 }, // weights packed in parallel, partial panels
];

const MODES: Array<{ name: string; wasm: boolean; threads: number }> = [
  { name: 'js', wasm: false, threads: 1 },
  { name: 'wasm 1 thread', wasm: true, threads: 1 },
  { name: 'wasm 2 threads', wasm: true, threads: 2 },
];

afterAll(async () => {
  await shutdownKernels();
});

describe('kernels', () => {
  beforeAll(async () => {
    setThreads(2);
    await initKernels();
  });

  it('uses the wasm backend by default when available', () => {
    setUseWasm(true);
    expect(kernelBackend()).toBe('wasm');
  });

  for (const mode of MODES) {
    describe(mode.name, () => {
      beforeAll(() => {
        setUseWasm(mode.wasm);
        setThreads(mode.threads);
      });
      afterAll(() => {
        setUseWasm(true);
        setThreads(2);
      });

      CONFIGS.forEach((cfg, ci) => {
        for (const withBias of [true, false]) {
          it(`conv2d config ${ci} bias=${withBias}`, () => {
            const r = rng(1000 + ci * 7 + (withBias ? 1 : 0));
            const p = makeParams(cfg);
            const x = randArr(p.inC * p.inH * p.inW, r);
            const w = randArr(p.outC * (p.inC / p.group) * p.kH * p.kW, r);
            const bias = withBias ? randArr(p.outC, r) : null;
            const out = new Float32Array(p.outC * p.outH * p.outW).fill(NaN);
            conv2d(x, w, bias, p, out);
            const { y, mag } = convRefCached(`c${ci}b${withBias}`, x, w, bias, p);
            expectClose(out, y, mag, (p.inC / p.group) * p.kH * p.kW, `${mode.name} cfg ${ci}`);
          });
        }
      });

      it('conv2dBatch matches per-image reference', async () => {
        for (const ci of [0, 9, 10, 14]) {
          const r = rng(77 + ci);
          const p = makeParams(CONFIGS[ci]);
          const n = 3;
          const inSize = p.inC * p.inH * p.inW;
          const outSize = p.outC * p.outH * p.outW;
          const x = randArr(n * inSize, r);
          const w = randArr(p.outC * (p.inC / p.group) * p.kH * p.kW, r);
          const bias = randArr(p.outC, r);
          const out = new Float32Array(n * outSize);
          await conv2dBatch(x, n, w, bias, p, out);
          for (let i = 0; i < n; i++) {
            const { y, mag } = convRefCached(`batch${ci}i${i}`, x.subarray(i * inSize), w, bias, p);
            expectClose(out.subarray(i * outSize, (i + 1) * outSize), y, mag, (p.inC / p.group) * p.kH * p.kW, `batch cfg ${ci} img ${i}`);
          }
        }
      });

      const GEMMS: Array<[number, number, number]> = [[1, 1, 1], [3, 5, 7], [17, 33, 300], [64, 200, 129], [1, 1000, 512], [130, 9, 40], [5, 70, 0]];
      for (const [M, N, K] of GEMMS) {
        for (const transB of [false, true]) {
          for (const accumulate of [false, true]) {
            it(`sgemm ${M}x${N}x${K} transB=${transB} acc=${accumulate}`, () => {
              const r = rng(M * 31 + N * 7 + K + (transB ? 1 : 0));
              const A = randArr(M * K, r);
              const B = randArr(K * N, r);
              const C0 = randArr(M * N, r);
              const C = C0.slice();
              sgemm(M, N, K, A, B, C, { transB, accumulate });
              const ref = new Float64Array(M * N);
              const mag = new Float64Array(M * N);
              for (let i = 0; i < M; i++) {
                for (let j = 0; j < N; j++) {
                  let s = accumulate ? C0[i * N + j] : 0;
                  let m = abs(s);
                  for (let k = 0; k < K; k++) {
                    const t = A[i * K + k] * (transB ? B[j * K + k] : B[k * N + j]);
                    s += t;
                    m += abs(t);
                  }
                  ref[i * N + j] = s;
                  mag[i * N + j] = m;
                }
              }
              expectClose(C, ref, mag, K + 1, `sgemm ${M}x${N}x${K}`);
            });
          }
        }
      }
    });
  }

  it('hands work to the worker thread when threads = 2', () => {
    setUseWasm(true);
    setThreads(2);
    const before = kernelStats().workerJobs;
    const r = rng(5);
    const p = makeParams(CONFIGS[14]);
    const out = new Float32Array(p.outC * p.outH * p.outW);
    conv2d(randArr(p.inC * p.inH * p.inW, r), randArr(p.outC * p.inC * 9, r), null, p, out);
    expect(kernelStats().workerJobs).toBeGreaterThan(before);
  });

  it('CHAIQ_NO_WASM=1 selects the JS backend', () => {
    const saved = process.env.CHAIQ_NO_WASM;
    process.env.CHAIQ_NO_WASM = '1';
    try {
      jest.isolateModules(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const k = require('../src/kernels') as typeof import('../src/kernels');
        expect(k.kernelBackend()).toBe('js');
      });
    } finally {
      if (saved === undefined) delete process.env.CHAIQ_NO_WASM;
      else process.env.CHAIQ_NO_WASM = saved;
    }
  });

  it('workers restart after shutdownKernels', async () => {
    setUseWasm(true);
    setThreads(2);
    await shutdownKernels();
    await initKernels();
    const before = kernelStats().workerJobs;
    const r = rng(6);
    const p = makeParams(CONFIGS[14]);
    const x = randArr(p.inC * p.inH * p.inW, r);
    const w = randArr(p.outC * p.inC * 9, r);
    const out = new Float32Array(p.outC * p.outH * p.outW);
    conv2d(x, w, null, p, out);
    expect(kernelStats().workerJobs).toBeGreaterThan(before);
    const { y, mag } = convRef(x, w, null, p);
    expectClose(out, y, mag, p.inC * 9, 'after restart');
  });

  for (const ci of [14, 16, 17]) {
    it(`packed-weight cache (config ${ci}): reused across calls, repacked when the array is refilled, cleared on demand`, () => {
      setUseWasm(true);
      setThreads(2);
      const r = rng(77 + ci);
      const p = makeParams(CONFIGS[ci]);
      const K = (p.inC / p.group) * p.kH * p.kW;
      const x = randArr(p.inC * p.inH * p.inW, r);
      const w = randArr(p.outC * K, r);
      const bias = randArr(p.outC, r);
      const out = new Float32Array(p.outC * p.outH * p.outW);
      const check = (what: string): void => {
        const { y, mag } = convRef(x, w, bias, p);
        expectClose(out, y, mag, K + 1, what);
      };
      conv2d(x, w, bias, p, out);
      check('first call');
      const first = out.slice();
      out.fill(NaN);
      conv2d(x, w, bias, p, out);
      expect(out).toEqual(first); // from the cache: same numbers
      w.set(randArr(w.length, r)); // same array object, new values
      conv2d(x, w, bias, p, out);
      check('after refilling the weights');
      w[w.length - 1] += 1; // the last value is always sampled
      conv2d(x, w, bias, p, out);
      check('after changing the last weight');
      w[1] += 1; // may fall between samples: clearWeightCache() makes it visible
      clearWeightCache();
      conv2d(x, w, bias, p, out);
      check('after clearWeightCache');
      setWeightCacheBytes(0); // cache off: same numbers
      const cached = out.slice();
      conv2d(x, w, bias, p, out);
      expect(out).toEqual(cached);
      setWeightCacheBytes(1 << 30);
    });
  }

  it('rejects inconsistent shapes', () => {
    const p = makeParams({ inC: 3, inH: 4, inW: 4, outC: 2, kH: 3, kW: 3, group: 2 });
    expect(() => conv2d(new Float32Array(48), new Float32Array(100), null, p, new Float32Array(8))).toThrow(/group/);
    const q = makeParams({ inC: 3, inH: 4, inW: 4, outC: 2, kH: 3, kW: 3 });
    expect(() => conv2d(new Float32Array(10), new Float32Array(54), null, q, new Float32Array(8))).toThrow(/input/);
  });
});

// The committed base64 must be what scripts/build-wasm.sh makes of kernels.c (only checkable with clang).
const hasClang = (() => {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' });
    execFileSync('wasm-ld', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
(hasClang ? it : it.skip)('committed kernels-wasm.ts is up to date with kernels.c', () => {
  const root = path.resolve(__dirname, '..');
  const tmp = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-wasm-')), 'k.ts');
  execFileSync('sh', [path.join(root, 'scripts/build-wasm.sh'), tmp]);
  expect(fs.readFileSync(tmp, 'utf8')).toBe(fs.readFileSync(path.join(root, 'src/kernels/wasm/kernels-wasm.ts'), 'utf8'));
});
