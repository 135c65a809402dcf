/**
 * What `simulate --metrics` costs per image: the fixed chain alone (none), plus the float net's output for
 * the agreement figures (agreement), or the float net in lockstep with per-layer local/cumulative metrics
 * (layers, the default), against the float forward alone. LeNet × MNIST and cifar10_quick, Xilinx 8-bit; rounds
 * interleaved, medians. The ImageNet-size nets (GoogLeNet, ResNet-50, MobileNet v1): sim.bench.ts.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { loadModel } from '../../src/graph/load';
import { runNet } from '../../src/exec/executor';
import { annotateXilinx } from '../../src/sim/annotate';
import { compileSim } from '../../src/sim/simulate';
import { simulateImage } from '../../src/sim/parallel';
import type { ImageRunner } from '../../src/sim/parallel';
import { newSimAccumulators } from '../../src/sim/results';
import type { MetricsLevel } from '../../src/sim/results';
import type { Net } from '../../src/graph/types';
import { initKernels } from '../../src/kernels';
import type { Tensor } from '../../src/tensor';
import { corpusFile, median, nowMs, randomInput } from './netutil';

async function perImage(inputs: Tensor[], f: (x: Tensor) => Promise<unknown>): Promise<number> {
  const t0 = nowMs();
  for (const x of inputs) await f(x);
  return (nowMs() - t0) / inputs.length;
}

async function measure(name: string, net: Net, inputs: Tensor[], rounds: number, out: Record<string, number | string>): Promise<void> {
  await annotateXilinx(net, inputs.slice(0, 4), 8);
  const prog = compileSim(net, {});
  const runner = (metrics: MetricsLevel): ImageRunner => ({ net, prog, outBlob: net.outputs[0], metrics, top: 5, warn: () => {}, guard: () => () => {} });
  const sample = (x: Tensor) => ({ name: 'x', label: 0, load: async () => x });
  const t: Record<string, number[]> = { float: [], none: [], agreement: [], layers: [] };
  await perImage(inputs.slice(0, 1), (x) => simulateImage(runner('layers'), sample(x), newSimAccumulators())); // warm-up
  for (let r = 0; r < rounds; r++) {
    t.float.push(await perImage(inputs, (x) => runNet(net, x, { warn: () => {}, reuseBuffers: true })));
    for (const m of ['none', 'agreement', 'layers'] as MetricsLevel[]) {
      const acc = newSimAccumulators();
      t[m].push(await perImage(inputs, (x) => simulateImage(runner(m), sample(x), acc)));
    }
  }
  const f = median(t.float);
  out[`${name}: float forward ms/image`] = f;
  for (const m of ['none', 'agreement', 'layers']) {
    out[`${name}: --metrics ${m} ms/image`] = median(t[m]);
    out[`${name}: --metrics ${m} / float`] = median(t[m]) / f;
  }
  out[`${name}: layers / none (speed-up of none)`] = median(t.layers) / median(t.none);
}

export async function run(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  await initKernels();
  const lenet = loadModel(corpusFile('models/lenet_mnist_v1_everpeace/lenet.prototxt'), corpusFile('models/lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel'),
    { inputShape: [1, 1, 28, 28], warn: () => {} }).graph;
  const img = zlib.gunzipSync(fs.readFileSync(corpusFile('data/mnist/t10k-images-idx3-ubyte.gz')));
  const digits = Array.from({ length: 100 }, (_, i): Tensor => ({
    shape: [1, 1, 28, 28], data: Float32Array.from(img.subarray(16 + i * 784, 16 + (i + 1) * 784), (v) => v / 255),
  }));
  await measure('lenet', lenet, digits, 5, out);
  const cifar = loadModel(corpusFile('models/cifar10_quick_v1_everpeace/cifar10_quick.prototxt'),
    corpusFile('models/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel'), { warn: () => {} }).graph;
  await measure('cifar10_quick', cifar, Array.from({ length: 30 }, (_, i) => randomInput([1, 3, 32, 32], 100 + i)), 5, out);
  return out;
}
