/**
 * Fixed-point simulator throughput on real nets (LeNet × MNIST, cifar10_quick × random CIFAR-sized inputs),
 * Xilinx 8-bit, against the float forward (runNet) of the same net in the same run.
 * "sim" = integers only (reference off); "sim+metrics" = with the float run and per-layer local/cumulative metrics.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { loadModel } from '../../src/graph/load';
import { runNet } from '../../src/exec/executor';
import { annotateXilinx } from '../../src/sim/annotate';
import { compileSim, newSimStats, runSim } from '../../src/sim/simulate';
import type { Net } from '../../src/graph/types';
import { initKernels, kernelBackend } from '../../src/kernels';
import type { Tensor } from '../../src/tensor';

// compiled to dist/test/bench/: the repo is three levels up, the corpus beside it
const SRC_CORPUS = [path.resolve(__dirname, '../../../../shared/corpus'), path.resolve(__dirname, '../../../shared/corpus')]
  .find((p) => fs.existsSync(p)) ?? '/work/shared/corpus';

async function timePerImage(n: number, f: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(5, n); i++) await f(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f(i);
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

async function measure(name: string, net: Net, inputs: Tensor[], out: Record<string, number | string>): Promise<void> {
  await annotateXilinx(net, inputs.slice(0, 20), 8);
  const prog = compileSim(net, {});
  const n = inputs.length;
  // three interleaved rounds, best of each: the machine may be shared
  let tFloat = Infinity, tSim = Infinity, tFull = Infinity;
  for (let round = 0; round < 3; round++) {
    tFloat = Math.min(tFloat, await timePerImage(n, (i) => runNet(net, inputs[i], { warn: () => {} })));
    tSim = Math.min(tSim, await timePerImage(n, (i) => runSim(prog, inputs[i], { reference: false })));
    const stats = newSimStats();
    tFull = Math.min(tFull, await timePerImage(n, (i) => runSim(prog, inputs[i], { stats })));
  }
  out[`${name}: float forward images/s`] = 1000 / tFloat;
  out[`${name}: sim (fixed only) images/s`] = 1000 / tSim;
  out[`${name}: sim+metrics images/s`] = 1000 / tFull;
  out[`${name}: sim / float time ratio`] = tSim / tFloat;
  out[`${name}: sim+metrics / float time ratio`] = tFull / tFloat;
}

export async function run(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  await initKernels();
  out['kernel backend'] = kernelBackend();
  const C = SRC_CORPUS;
  const lenet = loadModel(`${C}/models/lenet_mnist_v1_everpeace/lenet.prototxt`, `${C}/models/lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel`,
    { inputShape: [1, 1, 28, 28], warn: () => {} }).graph;
  const img = zlib.gunzipSync(fs.readFileSync(`${C}/data/mnist/t10k-images-idx3-ubyte.gz`));
  const digits = Array.from({ length: 300 }, (_, i): Tensor => ({
    shape: [1, 1, 28, 28], data: Float32Array.from(img.subarray(16 + i * 784, 16 + (i + 1) * 784), (v) => v / 255),
  }));
  await measure('lenet', lenet, digits, out);

  const cifar = loadModel(`${C}/models/cifar10_quick_v1_everpeace/cifar10_quick.prototxt`,
    `${C}/models/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel`, { warn: () => {} }).graph;
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 255 - 128;
  const pics = Array.from({ length: 100 }, (): Tensor => ({ shape: [1, 3, 32, 32], data: Float32Array.from({ length: 3072 }, rnd) }));
  await measure('cifar10_quick', cifar, pics, out);
  return out;
}
