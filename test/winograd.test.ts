import { runNet } from '../src/exec/executor';
import {
  conv2d, conv2dBatch, initKernels, setThreads, setWinograd, shutdownKernels, winogradCalls, winogradEnabled, type Conv2dParams,
} from '../src/kernels';
import { conv2dRef } from '../src/kernels/reference';
import { winogradApplies, winoShared, winoTile } from '../src/kernels/winograd';
import { rng } from './helpers/rng';
import { benchNet, randomInput } from './bench/netutil';

// Winograd F(2x2,3x3) and F(4x4,3x3) on the float layer path (conv2dBatch): against the float64 reference on odd
// shapes, paddings 0/1/2 and channel counts that are not multiples of 4, on one and two threads (blocks of tile rows,
// or the map shared step by step) and in batches; through the executor with the fused epilogues; and never on
// conv2d, whose integer sums the simulator needs exact.

afterAll(async () => {
  setWinograd(true);
  await shutdownKernels();
});

function rand(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

function params(inC: number, h: number, w: number, outC: number, pad: number): Conv2dParams {
  return { inC, inH: h, inW: w, outC, outH: h + 2 * pad - 2, outW: w + 2 * pad - 2, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: pad, padW: pad, dilH: 1, dilW: 1, group: 1 };
}

/** max |a - b| over max |b| */
function relErr(a: Float32Array, b: Float32Array): number {
  let e = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    e = Math.max(e, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return e / m;
}

// [inC, H, W, outC, pad]: odd and even sizes, outputs of 1..3 tile columns and rows, partial MR panels
const SHAPES: Array<[number, number, number, number, number]> = [
  [16, 5, 5, 16, 1], [17, 7, 9, 19, 0], [33, 14, 14, 30, 1], [20, 13, 6, 21, 1], [16, 3, 3, 18, 2], [24, 9, 11, 40, 0], [37, 4, 27, 23, 1], [19, 30, 30, 17, 1],
];

/** F(4x4,3x3) rounds more (its transforms have entries up to 8 and 1/24): still 10x below the goldens' 1e-4 */
const TOL = { 2: 2e-6, 4: 2e-5 };

describe.each([[1, '2', '2'], [2, '2', '2'], [1, '4', '4'], [2, '4', '4']])('%i thread(s), output tiles %sx%s', (threads, tile, _same) => {
  const saved = process.env.CHAIQ_WINOGRAD;
  beforeAll(async () => {
    process.env.CHAIQ_WINOGRAD = tile;
    setThreads(threads);
    await initKernels();
  });
  afterAll(() => {
    setThreads(2);
    if (saved === undefined) delete process.env.CHAIQ_WINOGRAD;
    else process.env.CHAIQ_WINOGRAD = saved;
  });
  test.each(SHAPES)('%i x %i x %i -> %i, pad %i: 1 and 3 images match the reference', async (inC, h, w, outC, pad) => {
    const p = params(inC, h, w, outC, pad);
    expect(winogradApplies(p)).toBe(true);
    const m = winoTile(p);
    expect(m).toBe(Number(tile));
    const wt = rand(outC * inC * 9, 2);
    const bias = rand(outC, 3);
    for (const n of [1, 3]) {
      const x = rand(n * inC * h * w, 1 + n);
      const ref = new Float32Array(n * outC * p.outH * p.outW);
      conv2dRef(n, x, wt, bias, { c: inC, h, w, o: outC, kh: 3, kw: 3, sh: 1, sw: 1, ph: pad, pw: pad, dh: 1, dw: 1, group: 1, oh: p.outH, ow: p.outW }, ref);
      const y = new Float32Array(ref.length);
      const before = winogradCalls();
      await conv2dBatch(x, n, wt, bias, p, y);
      expect(winogradCalls() - before).toBe(n);
      // the direct path is at ~1e-6 here (float32 sums of up to 37·9 products); the transforms add less than that
      expect(relErr(y, ref)).toBeLessThan(TOL[m]);
    }
  });
});

test('both ways of sharing one image between threads are used: blocks of tile rows on large maps, steps on small ones', () => {
  expect(winoShared(params(19, 30, 30, 17, 1), 2, 2)).toBe(false);
  expect(winoShared(params(33, 14, 14, 30, 1), 2, 2)).toBe(true);
  expect(winoShared(params(33, 14, 14, 30, 1), 2, 1)).toBe(false);
  // the default tile: F(4x4,3x3) from 12x12 outputs, F(2x2,3x3) below
  expect(winoTile(params(16, 14, 14, 16, 0))).toBe(4);
  expect(winoTile(params(16, 7, 7, 16, 1))).toBe(2);
});

test('only 3x3 stride-1 dilation-1 ungrouped convs of enough channels take it; setWinograd(false) turns it off', async () => {
  const p = params(32, 10, 10, 32, 1);
  expect(winogradApplies(p)).toBe(true);
  expect(winogradApplies({ ...p, strideH: 2, strideW: 2, outH: 5, outW: 5 })).toBe(false);
  expect(winogradApplies({ ...p, dilH: 2, dilW: 2, padH: 2, padW: 2 })).toBe(false);
  expect(winogradApplies({ ...p, group: 2 })).toBe(false);
  expect(winogradApplies({ ...p, inC: 3 })).toBe(false);
  expect(winogradApplies({ ...p, kH: 5, kW: 5, padH: 2, padW: 2 })).toBe(false);
  const x = rand(32 * 100, 5);
  const wt = rand(32 * 32 * 9, 6);
  const y = new Float32Array(32 * 100);
  setWinograd(false);
  try {
    expect(winogradEnabled()).toBe(false);
    expect(winogradApplies(p)).toBe(false);
    const before = winogradCalls();
    await conv2dBatch(x, 1, wt, null, p, y);
    expect(winogradCalls()).toBe(before);
  } finally {
    setWinograd(true);
  }
});

test('CHAIQ_WINOGRAD=0 turns it off at load', () => {
  const saved = process.env.CHAIQ_WINOGRAD;
  process.env.CHAIQ_WINOGRAD = '0';
  try {
    jest.isolateModules(() => {
      const w = require('../src/kernels/winograd') as typeof import('../src/kernels/winograd');
      expect(w.winogradEnabled()).toBe(false);
      expect(w.winogradApplies(params(32, 10, 10, 32, 1))).toBe(false);
    });
  } finally {
    if (saved === undefined) delete process.env.CHAIQ_WINOGRAD;
    else process.env.CHAIQ_WINOGRAD = saved;
  }
});

test('conv2d (the simulator\'s exact integer sums) stays on the direct path: integer operands give exact integers', () => {
  const p = params(64, 12, 12, 32, 1);
  const r = rng(9);
  const x = Float32Array.from({ length: 64 * 144 }, () => Math.floor(r() * 255) - 127);
  const wt = Float32Array.from({ length: 32 * 64 * 9 }, () => Math.floor(r() * 255) - 127);
  const ref = new Float32Array(32 * 144);
  conv2dRef(1, x, wt, undefined, { c: 64, h: 12, w: 12, o: 32, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, dh: 1, dw: 1, group: 1, oh: 12, ow: 12 }, ref);
  const y = new Float32Array(ref.length);
  const before = winogradCalls();
  conv2d(x, wt, null, p, y);
  expect(winogradCalls()).toBe(before);
  expect(Array.from(y)).toEqual(Array.from(ref));
});

describe('through the executor (ResNet-18 at 40x40: BatchNorm, Scale, ReLU, residual Eltwise and ReLU fused)', () => {
  const b = benchNet('resnet18_priv.prototxt', 3, 2, 40);
  const x = randomInput(b.inputShape, 11);
  const run = async (fuse: boolean): Promise<Map<string, Float32Array>> =>
    new Map([...(await runNet(b.net, x, { warn: () => {}, fuse, keep: 'all' }))].map(([k, t]) => [k, Float32Array.from(t.data)]));

  test('fused equals unfused bit for bit, and both are within float rounding of the direct convolution', async () => {
    const before = winogradCalls();
    const fused = await run(true);
    expect(winogradCalls() - before).toBeGreaterThan(4);
    const unfused = await run(false);
    const differ = [...unfused].filter(([k, v]) => {
      const g = fused.get(k);
      return !g || g.length !== v.length || g.some((e, i) => !Object.is(e, v[i]));
    });
    expect(differ.map(([k]) => k)).toEqual([]);
    setWinograd(false);
    let direct: Map<string, Float32Array>;
    try {
      direct = await run(true);
    } finally {
      setWinograd(true);
    }
    const outName = b.net.outputs[0];
    const worst = Math.max(...[...direct].map(([k, v]) => relErr(fused.get(k)!, v)));
    expect(worst).toBeLessThan(1e-5);
    expect(relErr(fused.get(outName)!, direct.get(outName)!)).toBeLessThan(1e-5);
  });
});
