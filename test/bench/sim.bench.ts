/**
 * The simulator against the float forward on ImageNet-size nets (GoogLeNet, ResNet-50, MobileNet v1, seeded
 * random weights), 8-bit Xilinx and DynamicFixed: time per image of `simulate --metrics none` (the fixed chain
 * alone) and `--metrics layers` (the float net in lockstep, per-layer local and cumulative metrics), each ÷
 * the float forward's (runNet, reused buffers) in the same run. Rounds interleave float / none / layers;
 * figures are medians over rounds, wall clock and process CPU (all threads: what counts on a loaded machine).
 * Also how many convolutions took each accumulator path (exact float32, int16 dot products, JS loops).
 * Small nets (LeNet, cifar10_quick) and `--metrics agreement`: sim-metrics.bench.ts.
 */
import { runNet } from '../../src/exec/executor';
import * as A from '../../src/chaidnn/arith';
import { annotateXilinx } from '../../src/sim/annotate';
import { compileSim, runSim } from '../../src/sim/simulate';
import { simulateImage, type ImageRunner } from '../../src/sim/parallel';
import { newSimAccumulators, type MetricsLevel } from '../../src/sim/results';
import { initKernels, residentStats } from '../../src/kernels';
import { simGemmI8Stats } from '../../src/kernels/sim-winograd';
import type { Tensor } from '../../src/tensor';
import { annotateDynamicFixed, benchNet, median, nowMs, randomInput } from './netutil';

const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};

interface Times { wall: number[]; cpu: number[] }

async function timed(t: Times, n: number, f: () => Promise<unknown>): Promise<void> {
  const w0 = nowMs();
  const c0 = cpuMs();
  for (let i = 0; i < n; i++) await f();
  t.wall.push((nowMs() - w0) / n);
  t.cpu.push((cpuMs() - c0) / n);
}

async function measure(key: string, file: string, mode: 'Xilinx' | 'DynamicFixed', images: number, rounds: number, out: Record<string, number | string>): Promise<void> {
  const b = benchNet(file);
  const inputs = Array.from({ length: images }, (_, i) => randomInput(b.inputShape, 300 + i));
  if (mode === 'Xilinx') await annotateXilinx(b.net, inputs.slice(0, 1), 8, 'max');
  else await annotateDynamicFixed(b.net, inputs.slice(0, 1), 8);
  const net = b.net;
  const prog = compileSim(net, { mode });
  const runner = (metrics: MetricsLevel): ImageRunner => ({ net, prog, outBlob: net.outputs[0], metrics, top: 5, warn: () => {}, guard: () => () => {} });
  const acc = newSimAccumulators();
  let k = 0;
  const next = (): Tensor => inputs[k++ % inputs.length];
  const sample = (x: Tensor) => ({ name: 'x', label: 0, load: async () => x });
  const run = {
    float: () => runNet(net, next(), { warn: () => {}, reuseBuffers: true }),
    none: () => simulateImage(runner('none'), sample(next()), acc),
    layers: () => simulateImage(runner('layers'), sample(next()), acc),
  };
  const before = { ...A.intConvPaths };
  const res0 = residentStats.convs;
  const q0 = simGemmI8Stats.convs;
  await runSim(prog, inputs[0], { reference: false }); // warm-up, and the conv paths of one image
  const paths = `${A.intConvPaths.wino - before.wino} integer winograd / ${A.intConvPaths.gemm - before.gemm} integer GEMM (${simGemmI8Stats.convs - q0} int8) / ${A.intConvPaths.dw - before.dw} integer depthwise / ${A.intConvPaths.float - before.float} float32 (${residentStats.convs - res0} resident) / ${A.intConvPaths.int - before.int} int16 / ${A.intConvPaths.js - before.js} JS`;
  for (const f of Object.values(run)) await f();
  const t: Record<keyof typeof run, Times> = { float: { wall: [], cpu: [] }, none: { wall: [], cpu: [] }, layers: { wall: [], cpu: [] } };
  for (let r = 0; r < rounds; r++) {
    for (const m of ['float', 'none', 'layers'] as const) await timed(t[m], images, run[m]);
  }
  const name = `${key} ${mode} 8-bit`;
  const fw = median(t.float.wall), fc = median(t.float.cpu);
  out[`${name}: float forward ms/image (wall, CPU)`] = `${fw.toFixed(0)}, ${fc.toFixed(0)}`;
  for (const m of ['none', 'layers'] as const) {
    out[`${name}: --metrics ${m} / float (wall, CPU)`] = `${(median(t[m].wall) / fw).toFixed(2)}×, ${(median(t[m].cpu) / fc).toFixed(2)}×`;
  }
  out[`${name}: conv paths`] = paths;
}

export async function run(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  await initKernels();
  const quick = process.env.CHAIQ_BENCH_QUICK === '1';
  // rounds of two images each, float / none / layers interleaved (CHAIQ_BENCH_ROUNDS): medians over them
  const rounds = Math.max(1, Number(process.env.CHAIQ_BENCH_ROUNDS ?? 5) | 0);
  const nets: Array<[string, string]> = [['googlenet', 'bvlc_googlenet.prototxt'], ['resnet50', 'resnet50.prototxt'], ['mobilenet_v1', 'mobilenet_v1.prototxt']];
  for (const [key, file] of quick ? nets.slice(0, 1) : nets) {
    for (const mode of ['Xilinx', 'DynamicFixed'] as const) await measure(key, file, mode, 2, quick ? 1 : rounds, out);
  }
  out['load average at the end (1, 5, 15 min)'] = require('os').loadavg().map((v: number) => v.toFixed(2)).join(', ');
  return out;
}
