/**
 * The simulator's integer Winograd F(2x2,3x3) (kernels/sim-winograd.ts): the same int32 sums as convIntJs on
 * random shapes (odd sizes, pads 0/1/2, channel counts not multiples of 8), 1 and 2 threads, and it takes a conv
 * exactly when its int16 transforms and the 2^31 bound of 4y hold. The 1x1 integer GEMM on the same micro-kernel too.
 */
import { convIntJs, getThreads, initKernels, kernelStats, setThreads, shutdownKernels } from '../src/kernels';
import { convIntGemm, convIntWinograd, simGemmFits, simWinogradFits, SIMW_MAX_W, SIMW_MAX_X } from '../src/kernels/sim-winograd';
import { mulberry32 } from '../src/io/calibset';
import type { Conv2dParams } from '../src/kernels/types';
import { setSimWinograd } from '../src/kernels';
import * as A from '../src/chaidnn/arith';
import { annotateXilinx } from '../src/sim/annotate';
import { compileSim, runSim } from '../src/sim/simulate';
import { benchNet, randomInput } from './bench/netutil';

const threads0 = getThreads();
afterAll(async () => {
  setThreads(threads0);
  await shutdownKernels();
});

function geom(inC: number, H: number, W: number, outC: number, pad: number): Conv2dParams {
  return { inC, inH: H, inW: W, outC, outH: H + 2 * pad - 2, outW: W + 2 * pad - 2, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: pad, padW: pad, dilH: 1, dilW: 1, group: 1 };
}

function ints(n: number, lo: number, hi: number, seed: number): Int32Array {
  const r = mulberry32(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
}

function rowAbsMax(w: Int32Array, outC: number): number {
  const per = w.length / outC;
  let m = 0;
  for (let c = 0; c < outC; c++) {
    let s = 0;
    for (let i = c * per; i < (c + 1) * per; i++) s += Math.abs(w[i]);
    m = Math.max(m, s);
  }
  return m;
}

function check(p: Conv2dParams, xr: number, wr: number, seed: number): void {
  const x = ints(p.inC * p.inH * p.inW, -xr, xr, seed);
  const w = ints(p.outC * p.inC * 9, -wr, wr, seed + 1);
  const got = convIntWinograd(x, w, p, rowAbsMax(w, p.outC));
  expect(got).not.toBeNull();
  const want = new Int32Array(p.outC * p.outH * p.outW);
  convIntJs(x, w, p, want);
  expect(got!.length).toBe(want.length);
  let bad = -1;
  for (let i = 0; i < want.length && bad < 0; i++) if (got![i] !== want[i]) bad = i;
  expect(bad).toBe(-1);
}

describe('integer Winograd F(2x2,3x3) equals convIntJs', () => {
  for (const T of [1, 2]) {
    it(`random shapes, ${T} thread(s)`, async () => {
      setThreads(T);
      await initKernels();
      const r = mulberry32(42 + T);
      const pick = (a: number, b: number): number => a + Math.floor(r() * (b - a + 1));
      for (let k = 0; k < 12; k++) {
        const pad = k % 3;
        const H = pick(3, 17), W = pick(3, 17);
        if (H + 2 * pad - 2 < 2 || W + 2 * pad - 2 < 2) continue;
        check(geom(pick(8, 27), H, W, pick(8, 21), pad), 128, 127, 100 * T + k);
      }
      // past 2^20 MACs (workers help): several blocks and output-channel shares; one block cut by channels only
      const jobs0 = kernelStats().workerJobs;
      check(geom(24, 30, 29, 21, 1), 127, 127, 7);
      check(geom(41, 7, 7, 64, 1), 127, 127, 8);
      check(geom(13, 45, 11, 17, 2), 255, 255, 9);
      if (T === 2 && kernelStats().threads === 2) expect(kernelStats().workerJobs).toBeGreaterThan(jobs0);
    });
  }

  it('operands at the int16 edges of the transforms', () => {
    setThreads(1);
    const p = geom(9, 9, 11, 10, 1);
    // max|x| = 8191 and max|w| = 3640 with sums far below 2^31 (few large values)
    const x = ints(p.inC * p.inH * p.inW, -3, 3, 11);
    const w = ints(p.outC * p.inC * 9, -3, 3, 12);
    for (let i = 0; i < x.length; i += 37) x[i] = i % 2 ? SIMW_MAX_X : -SIMW_MAX_X;
    for (let i = 0; i < w.length; i += 41) w[i] = i % 2 ? SIMW_MAX_W : -SIMW_MAX_W;
    const got = convIntWinograd(x, w, p, rowAbsMax(w, p.outC));
    expect(got).not.toBeNull();
    const want = new Int32Array(got!.length);
    convIntJs(x, w, p, want);
    expect(Array.from(got!)).toEqual(Array.from(want));
    // one past either edge: not taken
    const x2 = Int32Array.from(x);
    x2[0] = SIMW_MAX_X + 1;
    expect(convIntWinograd(x2, w, p, rowAbsMax(w, p.outC))).toBeNull();
    const w2 = Int32Array.from(w);
    w2[1] = -(SIMW_MAX_W + 1);
    expect(convIntWinograd(x, w2, p, rowAbsMax(w2, p.outC))).toBeNull();
  });

  it('the 2^31 bound of 4y: taken just below it (sums that wrap in int32 on the way), not at it', () => {
    setThreads(1);
    // every x = 8191, every w = 3640 over 8 channels: Σ|w_c| = 72·3640, 4·max|x|·Σ|w_c| ≈ 2^33: not taken
    const p = geom(8, 6, 6, 8, 1);
    const xF = new Int32Array(8 * 36).fill(SIMW_MAX_X);
    const wF = new Int32Array(8 * 8 * 9).fill(SIMW_MAX_W);
    expect(convIntWinograd(xF, wF, p, rowAbsMax(wF, 8))).toBeNull();
    // the largest row sum S with 4·8191·S < 2^31: weights of that total in every row, the sums near 2^29
    const S = Math.floor((2 ** 31 - 1) / (4 * SIMW_MAX_X));
    expect(simWinogradFits(SIMW_MAX_X, SIMW_MAX_W, S)).toBe(true);
    expect(simWinogradFits(SIMW_MAX_X, SIMW_MAX_W, S + 1)).toBe(false);
    const w = new Int32Array(8 * 8 * 9);
    for (let o = 0; o < 8; o++) {
      let left = S;
      for (let i = 0; i < 72 && left > 0; i++) {
        const v = Math.min(SIMW_MAX_W, left);
        w[o * 72 + i] = o % 2 ? -v : v;
        left -= v;
      }
    }
    expect(rowAbsMax(w, 8)).toBe(S);
    const got = convIntWinograd(xF, w, p, S);
    expect(got).not.toBeNull();
    const want = new Int32Array(got!.length);
    convIntJs(xF, w, p, want);
    expect(Array.from(got!)).toEqual(Array.from(want));
    expect(convIntWinograd(xF, w, p, S + 1)).toBeNull();
  });
});

describe('1x1 integer GEMM equals convIntJs', () => {
  const g1 = (inC: number, H: number, W: number, outC: number): Conv2dParams =>
    ({ inC, inH: H, inW: W, outC, outH: H, outW: W, kH: 1, kW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilH: 1, dilW: 1, group: 1 });
  const check1 = (p: Conv2dParams, xr: number, wr: number, seed: number): void => {
    const x = ints(p.inC * p.inH * p.inW, -xr, xr, seed);
    const w = ints(p.outC * p.inC, -wr, wr, seed + 1);
    const got = convIntGemm(x, w, p, rowAbsMax(w, p.outC));
    expect(got).not.toBeNull();
    const want = new Int32Array(p.outC * p.outH * p.outW);
    convIntJs(x, w, p, want);
    expect(Array.from(got!)).toEqual(Array.from(want));
  };
  for (const T of [1, 2]) {
    it(`random shapes, ${T} thread(s)`, async () => {
      setThreads(T);
      await initKernels();
      const r = mulberry32(7 + T);
      const pick = (a: number, b: number): number => a + Math.floor(r() * (b - a + 1));
      for (let k = 0; k < 10; k++) check1(g1(pick(8, 45), pick(1, 19), pick(1, 19), pick(8, 30)), 128, 127, 50 * T + k);
      // several pixel blocks; one block cut by output channels
      check1(g1(48, 30, 31, 24), 127, 127, 3);
      check1(g1(300, 5, 7, 100), 127, 127, 4);
    });
  }
  it('int16 operands and the 2^31 bound: sums that wrap on the way, taken just below, not at it', () => {
    setThreads(1);
    const p = g1(8, 3, 5, 8);
    const x = new Int32Array(8 * 15).fill(32767);
    const S = Math.floor((2 ** 31 - 1) / 32767);
    expect(simGemmFits(32767, 32767, S)).toBe(true);
    expect(simGemmFits(32767, 32767, S + 1)).toBe(false);
    const w = new Int32Array(64);
    for (let o = 0; o < 8; o++) {
      // 32767, 32767, -4: Σ|w| = S, the partial sum passes 2^31 before the last term brings it back
      w[o * 8] = 32767; w[o * 8 + 1] = 32767; w[o * 8 + 2] = -(S - 2 * 32767);
    }
    const got = convIntGemm(x, w, p, S);
    expect(got).not.toBeNull();
    const want = new Int32Array(got!.length);
    convIntJs(x, w, p, want);
    expect(Array.from(got!)).toEqual(Array.from(want));
    expect(convIntGemm(x, w, p, S + 1)).toBeNull();
    const x2 = Int32Array.from(x);
    x2[3] = 32768;
    expect(convIntGemm(x2, w, p, 1)).toBeNull();
  });
});

describe('GoogLeNet (32x32, 8-bit Xilinx) on the integer kernels: the integers of the float32 / int16 paths', () => {
  jest.setTimeout(120000);
  it.each([['bvlc_googlenet.prototxt']])('%s', async (file) => {
    setThreads(threads0);
    const b = benchNet(file, 1, 1, 32);
    const x = randomInput(b.inputShape, 5);
    await annotateXilinx(b.net, [x], 8, 'max');
    const prog = compileSim(b.net, { mode: 'Xilinx' });
    const before = { ...A.intConvPaths };
    const fast = await runSim(prog, x, { reference: false, keep: 'all' });
    expect(A.intConvPaths.wino - before.wino).toBeGreaterThan(0);
    expect(A.intConvPaths.gemm - before.gemm).toBeGreaterThan(0);
    const prev = setSimWinograd('off');
    const slow = await runSim(prog, x, { reference: false, keep: 'all' });
    setSimWinograd(prev);
    expect([...fast.fixed.keys()].sort()).toEqual([...slow.fixed.keys()].sort());
    for (const [k, q] of slow.fixed) expect(`${k}: ${Array.from(fast.fixed.get(k)!).join(',')}`).toBe(`${k}: ${Array.from(q).join(',')}`);
  });
});
