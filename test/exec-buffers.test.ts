/**
 * The buffer pool reaches the forwards through their context (ForwardContext.buffers), not through a module
 * switch: a forward allocates from the allocator it is given, runNet passes its pool only under reuseBuffers,
 * and any other forward (a run without reuseBuffers, the simulator's float reference) gets fresh arrays, even
 * while the thread's pool holds recycled ones.
 */
import * as path from 'path';
import { loadModel } from '../src/graph/load';
import { runNet } from '../src/exec/executor';
import * as bufpool from '../src/kernels/bufpool';
import { BufferPool } from '../src/kernels/bufpool';
import { isWasmArray, kernelBackend, shutdownKernels } from '../src/kernels';
import type { Tensor } from '../src/tensor';

const LENET = path.resolve(__dirname, '../models/lenet');
const quiet = () => {};
const { graph: net } = loadModel(path.join(LENET, 'lenet.prototxt'), path.join(LENET, 'lenet_iter_10000.caffemodel'), { warn: quiet });

function digit(seed: number): Tensor {
  const data = new Float32Array(28 * 28);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7919 + seed * 104729) % 256) / 255;
  return { shape: [1, 1, 28, 28], data };
}

afterAll(() => shutdownKernels());

test('no module switch: the pool is an object the executor passes on', () => {
  expect('buffersInWasm' in bufpool).toBe(false);
  expect('takeBuffer' in bufpool).toBe(false);
});

test('a forward takes its outputs from the allocator in its context, and fresh arrays without one', async () => {
  const relu = net.layers.find((l) => l.def?.convFusion === 'relu')!;
  const x: Tensor = { shape: [1, 500], data: Float32Array.from({ length: 500 }, (_, i) => i - 250) };
  const taken: [number, boolean][] = [];
  const mine = new Float32Array(500);
  const buffers = { take: (n: number, zero: boolean) => (taken.push([n, zero]), mine) };
  const [y] = await relu.def!.forward!(relu, [x], { warn: quiet, buffers });
  expect(taken).toEqual([[500, false]]); // ReLU writes every output: stale values are fine
  expect(y.data).toBe(mine);
  const [z] = await relu.def!.forward!(relu, [x], { warn: quiet });
  expect(z.data).not.toBe(mine);
  expect(z.data).toEqual(mine);
});

test('a run without reuseBuffers gets fresh arrays while the thread pool holds recycled ones', async () => {
  const x = digit(1);
  await runNet(net, x, { warn: quiet, reuseBuffers: true });
  await runNet(net, x, { warn: quiet, reuseBuffers: true }); // the pool now holds this net's buffer sizes
  const plain = await runNet(net, x, { warn: quiet, keep: 'all' });
  const reused = await runNet(net, x, { warn: quiet, keep: 'all', reuseBuffers: true });
  for (const [k, t] of plain) {
    expect(isWasmArray(t.data)).toBe(false);
    expect(t.data).toEqual(reused.get(k)!.data);
  }
  if (kernelBackend() === 'wasm') expect(plain.size).toBeGreaterThan(3);
});

test('reuseBuffers may name the pool: the run recycles into that one', async () => {
  const pool = new BufferPool(false);
  const seen = new Set<Float32Array>();
  const sizes = new Set<number>();
  await runNet(net, digit(2), {
    warn: quiet,
    reuseBuffers: pool,
    onLayer: (_n, tops) => tops.forEach((t) => (seen.add(t.data), sizes.add(t.data.length))),
  });
  const n = Math.max(...sizes); // conv1's output: dead after pool1
  expect(seen.has(pool.take(n))).toBe(true);
});
