/**
 * Worker wake-ups: with CHAIQ_SPIN_US a kernel worker polls for its next job that long before it sleeps on
 * Atomics.wait, so convolutions that follow each other within that time find it awake. Results do not change.
 */
process.env.CHAIQ_SPIN_US = '10000';
import { conv2d, initKernels, kernelStats, setThreads, setUseWasm, shutdownKernels } from '../src/kernels';
import { spinMicros } from '../src/kernels/wasm-runtime';

afterAll(() => shutdownKernels());

test('CHAIQ_SPIN_US: a number of µs, at most 10 ms; off (0: sleep at once) by default', () => {
  expect(spinMicros({})).toBe(0);
  expect(spinMicros({ CHAIQ_SPIN_US: '0' })).toBe(0);
  expect(spinMicros({ CHAIQ_SPIN_US: '200' })).toBe(200);
  expect(spinMicros({ CHAIQ_SPIN_US: '1e9' })).toBe(10000);
  expect(spinMicros({ CHAIQ_SPIN_US: 'soon' })).toBe(0);
  expect(spinMicros({ CHAIQ_SPIN_US: '-1' })).toBe(0);
});

test('back-to-back convolutions on two threads: the worker stays awake between them', async () => {
  setUseWasm(true);
  setThreads(2);
  await initKernels();
  if (kernelStats().backend !== 'wasm') return;
  // 64 -> 64 channels, 3x3, 32x32: 38 M MACs, split across both threads
  const p = { inC: 64, inH: 32, inW: 32, outC: 64, outH: 32, outW: 32, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilH: 1, dilW: 1, group: 1 };
  const x = Float32Array.from({ length: 64 * 32 * 32 }, (_, i) => Math.sin(i));
  const w = Float32Array.from({ length: 64 * 64 * 9 }, (_, i) => Math.cos(i) / 24);
  const out = new Float32Array(64 * 32 * 32);
  conv2d(x, w, null, p, out);
  const first = Float32Array.from(out);
  const s0 = kernelStats();
  const calls = 40;
  for (let i = 0; i < calls; i++) conv2d(x, w, null, p, out);
  const s1 = kernelStats();
  expect(s1.workerJobs - s0.workerJobs).toBe(calls);
  // without polling the worker sleeps after most jobs (28-37 of 40 measured); a descheduled main thread (a loaded
  // machine) may let it sleep now and then
  expect(s1.workerSleeps - s0.workerSleeps).toBeLessThan(calls / 2);
  expect(Buffer.from(out.buffer).equals(Buffer.from(first.buffer))).toBe(true);
});
