import { mulberry32 } from '../src/io/calibset';
import { kernelStats, relaxedSimdAvailable, setThreads, shutdownKernels, type Conv2dParams } from '../src/kernels';

// which build of the wasm module runs: the relaxed-SIMD FMA one where the engine has it (Node 20: after the
// flag chaiq sets), the SIMD128 one with CHAIQ_FMA=0; both on the worker threads too

afterAll(() => shutdownKernels());

const P: Conv2dParams = { inC: 64, inH: 28, inW: 28, outC: 64, outH: 28, outW: 28, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilH: 1, dilW: 1, group: 1 };

function operands(): { x: Float32Array; w: Float32Array; b: Float32Array } {
  const r = mulberry32(11);
  const f = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  return { x: f(P.inC * P.inH * P.inW), w: f(P.outC * P.inC * 9), b: f(P.outC) };
}

function convWith(k: typeof import('../src/kernels'), threads: number): { y: Float32Array; workerJobs: number } {
  const { x, w, b } = operands();
  k.setThreads(threads);
  const y = new Float32Array(P.outC * P.outH * P.outW);
  const before = k.kernelStats().workerJobs;
  let jobs = 0;
  // the first calls may find the workers still starting
  for (let i = 0; i < 40 && (threads === 1 ? i < 1 : jobs === 0); i++) {
    k.conv2d(x, w, b, P, y);
    jobs = k.kernelStats().workerJobs - before;
  }
  return { y, workerJobs: jobs };
}

test('relaxed SIMD is detected on this Node and the FMA build runs by default', () => {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 20) expect(relaxedSimdAvailable()).toBe(true);
  expect(kernelStats().variant).toBe(relaxedSimdAvailable() && process.env.CHAIQ_FMA !== '0' ? 'fma' : 'simd128');
});

test('the selected build gives the same values on 1 and 2 threads (workers run it too)', async () => {
  const k = require('../src/kernels') as typeof import('../src/kernels');
  const one = convWith(k, 1);
  // the workers report ready through this thread's event loop: start them before the synchronous calls
  k.setThreads(2);
  await k.initKernels();
  const two = convWith(k, 2);
  expect(two.workerJobs).toBeGreaterThan(0);
  expect(two.y).toEqual(one.y);
  setThreads(2);
});

test('CHAIQ_FMA=0 selects the SIMD128 build; both builds agree to float32 rounding', async () => {
  const base = convWith(require('../src/kernels'), 1).y;
  const saved = process.env.CHAIQ_FMA;
  let other: Float32Array | null = null;
  let variant: string | null = null;
  let otherWorkers: number | null = null;
  process.env.CHAIQ_FMA = saved === '0' ? '1' : '0';
  try {
    let iso: typeof import('../src/kernels') | null = null;
    jest.isolateModules(() => {
      iso = require('../src/kernels') as typeof import('../src/kernels');
    });
    const k = iso! as typeof import('../src/kernels');
    variant = k.kernelStats().variant;
    other = convWith(k, 1).y;
    // the workers report ready through this thread's event loop: start them before the synchronous calls
    k.setThreads(2);
    await k.initKernels();
    const two = convWith(k, 2);
    otherWorkers = two.workerJobs;
    expect(two.y).toEqual(other);
    await k.shutdownKernels();
  } finally {
    if (saved === undefined) delete process.env.CHAIQ_FMA;
    else process.env.CHAIQ_FMA = saved;
  }
  expect(variant).toBe(saved === '0' ? (relaxedSimdAvailable() ? 'fma' : 'simd128') : 'simd128');
  expect(otherWorkers).toBeGreaterThan(0);
  // K = 576: sums of |w·x| are ~100, float32 order/fusion differences ~1e-5 of that
  let maxDiff = 0;
  for (let i = 0; i < base.length; i++) maxDiff = Math.max(maxDiff, Math.abs(base[i] - other![i]));
  expect(maxDiff).toBeLessThan(1e-3);
});
