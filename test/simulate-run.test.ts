/**
 * runImages (src/cli/simulate-run.ts): when the first image says image workers are not worth starting, the
 * rest of the images run on this thread with every kernel thread, not on the one share a worker would get.
 */
import { runImages } from '../src/cli/simulate-run';
import { getThreads, shutdownKernels } from '../src/kernels';
import { compileSim } from '../src/sim/simulate';
import { annotateXilinx } from '../src/sim/annotate';
import { annotateDynamicFixed, benchNet, randomInput } from './bench/netutil';

afterAll(() => shutdownKernels());

it('a run that stays on this thread uses all the threads after the first image', async () => {
  const b = benchNet('lenet.prototxt');
  const x = randomInput(b.inputShape, 3);
  await annotateXilinx(b.net, [x], 8, 'max');
  const prog = compileSim(b.net, { mode: 'Xilinx' });
  const threads: number[] = [];
  const runner = {
    net: b.net, prog, outBlob: b.net.outputs[0], metrics: 'none' as const, top: 5, warn: () => {}, guard: () => () => {},
    onResult: () => threads.push(getThreads()),
  };
  const samples = Array.from({ length: 6 }, (_, i) => ({ name: `x${i}`, label: -1, load: async () => randomInput(b.inputShape, 10 + i) }));
  // LeNet's images take well under a millisecond: six of them never pay for two workers' start
  const acc = await runImages({ threads: 2 }, runner, samples, { sequential: false, warn: () => {} });
  expect(acc.images).toBe(6);
  expect(threads).toEqual([1, 2, 2, 2, 2, 2]);
});

it('a sequential run (--output_dir, --report) uses all the threads from the first image', async () => {
  const b = benchNet('lenet.prototxt');
  const x = randomInput(b.inputShape, 3);
  await annotateDynamicFixed(b.net, [x]);
  const prog = compileSim(b.net, { mode: 'DynamicFixed' });
  const threads: number[] = [];
  const runner = {
    net: b.net, prog, outBlob: b.net.outputs[0], metrics: 'layers' as const, top: 5, warn: () => {}, guard: () => () => {},
    onResult: () => threads.push(getThreads()),
  };
  const samples = Array.from({ length: 4 }, (_, i) => ({ name: `x${i}`, label: -1, load: async () => randomInput(b.inputShape, 10 + i) }));
  await runImages({ threads: 2 }, runner, samples, { sequential: true, warn: () => {} });
  expect(threads).toEqual([2, 2, 2, 2]);
});
