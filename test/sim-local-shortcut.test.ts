/**
 * Local runs that need no kernel (src/sim/local.ts localFromReference): a MAX pool's or a Concat's local result
 * is the quantized reference of its output when the formats it reads and writes are one quantizer (and, for the
 * pool, every clipped window holds a value and the reference no NaN). The per-layer figures are those of the
 * integer runs, bit for bit, where it is taken and where it is not.
 */
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { compileSim, newSimStats, runSim } from '../src/sim/simulate';
import { localShortcutStats, setLocalShortcuts } from '../src/sim/local';
import { initKernels, shutdownKernels } from '../src/kernels';
import type { Tensor } from '../src/tensor';
import { rng } from './helpers/rng';

beforeAll(async () => {
  await initKernels();
});
afterAll(() => shutdownKernels());
afterEach(() => setLocalShortcuts(true));

const bits = (x: number): string => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x));

interface Case {
  H: number;
  /** pooling kernel, stride, pad; ceil mode is Caffe's */
  k: number; s: number; pad: number;
  /** thresholds: conv1's and conv2's outputs, the Concat's block, the pool's input and output */
  t1: number; t2: number; tc: number; tpIn: number; tpOut: number;
  nan?: boolean;
}

const C = 4;

function xil(fields: Record<string, number>): string {
  return `precision_param { ${Object.entries(fields).map(([k, v]) => `${k}: ${v}`).join(' ')} quant_type: "Xilinx" }`;
}

/** data → conv1, conv2 (1x1) → Concat → MAX pool, Xilinx 8-bit with the given thresholds */
function net(c: Case) {
  const conv = (name: string, th: number) => `layer { name: "${name}" type: "Convolution" bottom: "data" top: "${name}"
    convolution_param { num_output: ${C} kernel_size: 1 }
    ${xil({ bw_layer_in: 8, bw_layer_out: 8, bw_params: 8, th_layer_in: 3, th_layer_out: th }).replace(' quant_type', ' th_params: 1 th_params: 1 th_params: 1 th_params: 1 quant_type')} }`;
  const text = `name: "t"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: ${C} dim: ${c.H} dim: ${c.H} } } }
${conv('conv1', c.t1)}
${conv('conv2', c.t2)}
layer { name: "cat" type: "Concat" bottom: "conv1" bottom: "conv2" top: "cat" ${xil({ bw_layer_out: 8, th_layer_out: c.tc })} }
layer { name: "pool" type: "Pooling" bottom: "cat" top: "pool" pooling_param { pool: MAX kernel_size: ${c.k} stride: ${c.s} pad: ${c.pad} }
  ${xil({ bw_layer_in: 8, bw_layer_out: 8, th_layer_in: c.tpIn, th_layer_out: c.tpOut })} }
`;
  const r = rng(c.H * 31 + c.k);
  const w = (): Tensor[] => [
    { shape: [C, C, 1, 1], data: Float32Array.from({ length: C * C }, () => r() * 2 - 1) },
    { shape: [C], data: Float32Array.from({ length: C }, () => r() - 0.5) },
  ];
  const weights = new Map<string, Tensor[]>([['conv1', w()], ['conv2', w()]]);
  return buildNet(loadNetText('t.prototxt', { text }).net, { weights, file: 't.prototxt' });
}

/** A layers run of two images: the per-layer stats (bit for bit) and how often each shortcut was taken. */
async function run(c: Case, on: boolean): Promise<{ stats: string; pool: number; concat: number }> {
  setLocalShortcuts(on);
  const n = net(c);
  const prog = compileSim(n, { mode: 'Xilinx' });
  const stats = newSimStats();
  const before = { ...localShortcutStats };
  for (const seed of [1, 2]) {
    const r = rng(seed);
    const x = { shape: [1, C, c.H, c.H], data: Float32Array.from({ length: C * c.H * c.H }, () => (r() - 0.5) * 6) };
    if (c.nan) x.data[5] = NaN;
    await runSim(prog, x, { stats, warn: () => {} });
  }
  return {
    stats: JSON.stringify([...stats.layers.values()], (_k, v) => (typeof v === 'number' ? bits(v) : v)),
    pool: localShortcutStats.pool - before.pool, concat: localShortcutStats.concat - before.concat,
  };
}

const same = { t1: 2, t2: 2, tc: 2, tpIn: 2, tpOut: 2 };
const cases: Array<[string, Case, { pool: boolean; concat: boolean }]> = [
  ['one format, windows inside the image', { H: 8, k: 2, s: 2, pad: 0, ...same }, { pool: true, concat: true }],
  // |values| up to ~6 against th 0.4: most values on the rails, before and after the max
  ['a threshold that clips', { H: 8, k: 3, s: 1, pad: 0, t1: 0.4, t2: 0.4, tc: 0.4, tpIn: 0.4, tpOut: 0.4 }, { pool: true, concat: true }],
  // 8 = 3·2 + 2: the last window of each axis is clipped to 2 of its 3 rows
  ['ceil-mode border windows', { H: 8, k: 3, s: 3, pad: 0, ...same }, { pool: true, concat: true }],
  ['padding', { H: 9, k: 3, s: 2, pad: 1, ...same }, { pool: true, concat: true }],
  // ceil mode, stride past the kernel: the last window lies outside the image (the integer loop writes 0)
  ['an empty border window', { H: 5, k: 1, s: 3, pad: 0, ...same }, { pool: false, concat: true }],
  ['the pool reads one format and writes another', { H: 8, k: 2, s: 2, pad: 0, ...same, tpOut: 2.5 }, { pool: false, concat: true }],
  ['the pool reads another format than the Concat writes', { H: 8, k: 2, s: 2, pad: 0, ...same, tpIn: 1.5, tpOut: 1.5 }, { pool: true, concat: true }],
  ['a Concat input in another format', { H: 8, k: 2, s: 2, pad: 0, ...same, t2: 3 }, { pool: true, concat: false }],
  ['a NaN in the reference', { H: 8, k: 2, s: 2, pad: 0, ...same, nan: true }, { pool: false, concat: true }],
];

test.each(cases)('%s: the figures of the integer runs', async (_n, c, taken) => {
  const fast = await run(c, true);
  const slow = await run(c, false);
  expect(slow.pool + slow.concat).toBe(0);
  expect({ pool: fast.pool > 0, concat: fast.concat > 0 }).toEqual(taken);
  expect(fast.stats).toBe(slow.stats);
});
