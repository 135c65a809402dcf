/**
 * The simulator's integer Winograd F(2x2,3x3) (kernels/sim-winograd.ts): the same int32 sums as convIntJs on
 * random shapes (odd sizes, pads 0/1/2, channel counts not multiples of 8), 1 and 2 threads, and it takes a conv
 * exactly when its int16 transforms and the 2^31 bound of 4y hold. The integer GEMM on the same micro-kernel too, for
 * any ungrouped conv (strides, pads, kernel sizes, dilations), alone and paired; and on GoogLeNet and ResNet-50 no
 * conv runs on the float32 kernels any more. The int8 GEMM of the relaxed build (wasm/sim-gemm-i8.c) too, on inputs
 * in [0, 127] and weights in [-128, 127], and the int16 GEMM when an input is outside.
 */
import { convIntJs, getThreads, initKernels, kernelStats, setThreads, shutdownKernels, simGemmStats, simPairStats } from '../src/kernels';
import { convIntGemm, convIntWinograd, setSimGemmI8, simGemmFits, simGemmI8Stats, simWinogradFits, SIMW_MAX_W, SIMW_MAX_X } from '../src/kernels/sim-winograd';
import { mulberry32 } from '../src/io/calibset';
import type { Conv2dParams } from '../src/kernels/types';
import { setSimWinograd } from '../src/kernels';
import * as A from '../src/chaidnn/arith';
import { annotateXilinx } from '../src/sim/annotate';
import { compileSim, runSim } from '../src/sim/simulate';
import { benchNet, randomInput } from './bench/netutil';
import { runNodeHelper } from './helpers/cli';

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

describe('integer GEMM of any ungrouped conv (im2col rows) equals convIntJs', () => {
  const gk = (inC: number, H: number, W: number, outC: number, k: number, s: number, pad: number, d = 1): Conv2dParams => {
    const o = (n: number): number => Math.floor((n + 2 * pad - (d * (k - 1) + 1)) / s) + 1;
    return { inC, inH: H, inW: W, outC, outH: o(H), outW: o(W), kH: k, kW: k, strideH: s, strideW: s, padH: pad, padW: pad, dilH: d, dilW: d, group: 1 };
  };
  const checkK = (p: Conv2dParams, xr: number, wr: number, seed: number): void => {
    const x = ints(p.inC * p.inH * p.inW, -xr, xr, seed);
    const w = ints(p.outC * p.inC * p.kH * p.kW, -wr, wr, seed + 1);
    const c0 = simGemmStats.convs;
    const got = convIntGemm(x, w, p, rowAbsMax(w, p.outC));
    expect(got).not.toBeNull();
    expect(simGemmStats.convs).toBe(c0 + 1);
    const want = new Int32Array(p.outC * p.outH * p.outW);
    convIntJs(x, w, p, want);
    let bad = -1;
    for (let i = 0; i < want.length && bad < 0; i++) if (got![i] !== want[i]) bad = i;
    expect(`${JSON.stringify(p)}: ${bad}`).toBe(`${JSON.stringify(p)}: -1`);
  };
  for (const T of [1, 2]) {
    it(`7x7/2 pad 3, 5x5 pad 2, 3x3/2, 1x1/2, dilation 2, odd channel counts, random shapes; ${T} thread(s)`, async () => {
      setThreads(T);
      await initKernels();
      checkK(gk(3, 23, 21, 16, 7, 2, 3), 128, 127, 1);
      checkK(gk(13, 14, 15, 9, 5, 1, 2), 128, 127, 2);
      checkK(gk(11, 17, 16, 12, 3, 2, 1), 128, 127, 3);
      checkK(gk(19, 15, 14, 21, 1, 2, 0), 128, 127, 4);
      checkK(gk(9, 16, 13, 10, 3, 1, 2, 2), 128, 127, 5);
      checkK(gk(7, 9, 9, 8, 3, 1, 0), 128, 127, 6); // a 3x3 stride-1 conv too small for the Winograd
      const r = mulberry32(90 + T);
      const pick = (a: number, b: number): number => a + Math.floor(r() * (b - a + 1));
      for (let k = 0; k < 12; k++) {
        const kk = [1, 2, 3, 5, 7][k % 5], s = pick(1, 3), d = pick(1, 2), pad = pick(0, kk);
        const p = gk(pick(1, 21), pick(1, 19), pick(1, 19), pick(8, 23), kk, s, pad, d);
        if (p.outH >= 1 && p.outW >= 1 && p.inC * kk * kk >= 8) checkK(p, 128, 127, 200 * T + k);
      }
      // past 2^20 MACs (workers help): several pixel blocks, small blocks on small maps, a 3x3 map cut by output channels
      const jobs0 = kernelStats().workerJobs;
      checkK(gk(3, 48, 45, 32, 7, 2, 3), 127, 127, 7);
      checkK(gk(24, 12, 12, 40, 5, 1, 2), 127, 127, 8);
      checkK(gk(128, 9, 9, 400, 1, 2, 0), 255, 127, 9);
      checkK(gk(256, 5, 5, 512, 1, 2, 0), 127, 127, 10);
      if (T === 2 && kernelStats().threads === 2) expect(kernelStats().workerJobs).toBeGreaterThan(jobs0);
    });
  }

  it('int16 operands and the 2^31 bound on a 5x5 pad 2 conv: taken just below, not at it; grouped convs not taken', () => {
    setThreads(1);
    const p = gk(3, 6, 7, 8, 5, 1, 2);
    const x = new Int32Array(3 * 42).fill(32767);
    const S = Math.floor((2 ** 31 - 1) / 32767);
    const w = new Int32Array(8 * 75);
    for (let o = 0; o < 8; o++) {
      // the centre taps of channels 0 and 1 (never in the padding) and a small one: partial sums pass 2^31
      w[o * 75 + 12] = 32767; w[o * 75 + 25 + 12] = 32767; w[o * 75 + 50 + 12] = -(S - 2 * 32767);
    }
    expect(rowAbsMax(w, 8)).toBe(S);
    const got = convIntGemm(x, w, p, S);
    expect(got).not.toBeNull();
    const want = new Int32Array(got!.length);
    convIntJs(x, w, p, want);
    expect(Array.from(got!)).toEqual(Array.from(want));
    expect(convIntGemm(x, w, p, S + 1)).toBeNull();
    const x2 = Int32Array.from(x);
    x2[3] = -32768;
    expect(convIntGemm(x2, w, p, 1)).toBeNull();
    const w2 = Int32Array.from(w);
    w2[0] = 32768;
    expect(convIntGemm(x, w2, p, 1)).toBeNull();
    expect(convIntGemm(x, w, { ...p, inC: 1, group: 3, outC: 9 } as Conv2dParams, 1)).toBeNull();
  });

  it('the paired call (two images, inputs not in the zone copied in) and the single one equal the JS loops', async () => {
    setThreads(threads0);
    await initKernels();
    for (const [k, p] of [[0, gk(3, 29, 27, 16, 7, 2, 3)], [1, gk(16, 12, 11, 24, 5, 1, 2)], [2, gk(24, 13, 13, 32, 1, 2, 0)], [3, gk(12, 15, 14, 16, 3, 2, 1, 2)]] as const) {
      const x0 = ints(p.inC * p.inH * p.inW, -128, 127, 10 + k), x1 = ints(x0.length, -128, 127, 20 + k);
      const w = ints(p.outC * p.inC * p.kH * p.kW, -127, 127, 30 + k);
      const S = Float64Array.from({ length: p.outC }, (_, c) => 3000 + 17 * c);
      const L: A.ConvLayer = { mode: 'Xilinx', w, bq: Int32Array.from({ length: p.outC }, (_, c) => c - 8), S };
      const L2: A.ConvLayer = { mode: 'DynamicFixed', w, biasInt: Int32Array.from({ length: p.outC }, (_, c) => 50 * c - 300), shift: 6 };
      for (const lay of [L, L2]) {
        const calls = simPairStats.calls, gemm = A.intConvPaths.gemm, fl = A.intConvPaths.float;
        const [a, b] = A.convPair(x0, x1, lay, p, 8, k % 2 === 0);
        expect([simPairStats.calls - calls, A.intConvPaths.gemm - gemm, A.intConvPaths.float - fl]).toEqual([1, 2, 0]);
        const one = (x: Int32Array): Int32Array => lay.mode === 'Xilinx' ? A.convXilinx(x, w, lay.bq, lay.S, p, 8, k % 2 === 0) : A.convDynamicFixed(x, w, lay.biasInt, lay.shift, p, 8, k % 2 === 0);
        const g1 = A.intConvPaths.gemm;
        const single = one(x0);
        expect(A.intConvPaths.gemm - g1).toBe(1);
        A.setIntConvBackend('js');
        A.setWasmRequant(false);
        const [ja, jb] = [one(x0), one(x1)];
        A.setIntConvBackend('auto');
        A.setWasmRequant(true);
        expect(Array.from(a)).toEqual(Array.from(ja));
        expect(Array.from(b)).toEqual(Array.from(jb));
        expect(Array.from(single)).toEqual(Array.from(ja));
      }
    }
  });
});

describe('int8 GEMM (relaxed build: inputs in [0, 127], weights in [-128, 127]) equals convIntJs', () => {
  const gk = (inC: number, H: number, W: number, outC: number, k: number, s: number, pad: number, d = 1): Conv2dParams => {
    const o = (n: number): number => Math.floor((n + 2 * pad - (d * (k - 1) + 1)) / s) + 1;
    return { inC, inH: H, inW: W, outC, outH: o(H), outW: o(W), kH: k, kW: k, strideH: s, strideW: s, padH: pad, padW: pad, dilH: d, dilW: d, group: 1 };
  };
  // the int8 kernel runs in the relaxed build only (CHAIQ_FMA=0: the int16 one, never the int8)
  const fma = (): boolean => kernelStats().variant === 'fma';
  /** convIntGemm against convIntJs; whether the int8 kernel computed it */
  const run = (p: Conv2dParams, x: Int32Array, w: Int32Array): boolean => {
    const c0 = simGemmI8Stats.convs;
    const got = convIntGemm(x, w, p, rowAbsMax(w, p.outC));
    expect(got).not.toBeNull();
    const want = new Int32Array(p.outC * p.outH * p.outW);
    convIntJs(x, w, p, want);
    let bad = -1;
    for (let i = 0; i < want.length && bad < 0; i++) if (got![i] !== want[i]) bad = i;
    expect(`${JSON.stringify(p)}: ${bad}`).toBe(`${JSON.stringify(p)}: -1`);
    return simGemmI8Stats.convs > c0;
  };
  const w8 = (p: Conv2dParams, seed: number): Int32Array => ints(p.outC * p.inC * p.kH * p.kW, -128, 127, seed);
  for (const T of [1, 2]) {
    it(`random shapes, rows not a multiple of 4, 1x1 read in place and gathered; ${T} thread(s)`, async () => {
      setThreads(T);
      await initKernels();
      const r = mulberry32(300 + T);
      const pick = (a: number, b: number): number => a + Math.floor(r() * (b - a + 1));
      const shapes = [gk(9, 9, 11, 8, 1, 1, 0), gk(10, 6, 7, 12, 1, 1, 0), gk(3, 23, 21, 16, 7, 2, 3), gk(13, 10, 9, 9, 5, 1, 2), gk(19, 15, 14, 21, 1, 2, 0), gk(9, 12, 13, 10, 3, 1, 2, 2)];
      // past 2^20 MACs with two threads (the workers help): several pixel blocks, a small map cut by output channels
      if (T === 2) shapes.push(gk(48, 30, 31, 24, 1, 1, 0), gk(128, 9, 9, 400, 1, 2, 0));
      for (let k = 0; k < 6; k++) {
        const kk = [1, 2, 3, 5, 7][k % 5];
        const p = gk(pick(1, 21), pick(1, 19), pick(1, 19), pick(8, 23), kk, pick(1, 3), pick(0, kk), pick(1, 2));
        if (p.outH >= 1 && p.outW >= 1 && p.inC * kk * kk >= 8) shapes.push(p);
      }
      shapes.forEach((p, k) => expect(run(p, ints(p.inC * p.inH * p.inW, 0, 127, 400 * T + k), w8(p, 500 * T + k))).toBe(fma()));
    });
  }
  it('operands at the edges: inputs 0 and 127, weights -128 and 127 (pair sums ±2·127·128, no int16 saturation)', () => {
    setThreads(1);
    const p = gk(6, 7, 9, 8, 3, 1, 1);
    const n = p.inC * p.inH * p.inW, nw = p.outC * p.inC * 9;
    const edge = (seed: number, a: number, b: number, len: number): Int32Array => ints(len, 0, 1, seed).map((v) => (v ? b : a));
    for (const [x, w] of [[new Int32Array(n).fill(127), new Int32Array(nw).fill(-128)], [new Int32Array(n).fill(127), new Int32Array(nw).fill(127)],
      [edge(1, 0, 127, n), edge(2, -128, 127, nw)], [new Int32Array(n), edge(3, -128, 127, nw)]]) expect(run(p, x, w)).toBe(fma());
  });
  it('an input outside [0, 127] (-1, 128): the int16 GEMM, the same sums, and that layer keeps it; 8-bit weights only', () => {
    setThreads(threads0);
    const p = gk(16, 12, 13, 24, 3, 2, 1);
    const n = p.inC * p.inH * p.inW;
    for (const bad of [-1, 128]) {
      const w = w8(p, 7 + bad);
      const x = ints(n, 0, 127, 8);
      x[n - 5] = bad; // in the last pixel block
      const r0 = simGemmI8Stats.refused;
      expect(run(p, x, w)).toBe(false);
      expect(simGemmI8Stats.refused - r0).toBe(fma() ? 1 : 0);
      expect(run(p, ints(n, 0, 127, 9), w)).toBe(false);
      expect(run(p, ints(n, 0, 127, 9), Int32Array.from(w))).toBe(fma());
    }
    const w2 = w8(p, 11);
    w2[3] = 128;
    expect(run(p, ints(n, 0, 127, 12), w2)).toBe(false);
    w2[3] = -129;
    expect(run(p, ints(n, 0, 127, 12), Int32Array.from(w2))).toBe(false);
    const prev = setSimGemmI8('off');
    expect(run(p, ints(n, 0, 127, 13), w8(p, 14))).toBe(false);
    setSimGemmI8(prev);
  });
  it('the paired call (two images after a ReLU) on it, the same integers as the JS loops', async () => {
    setThreads(threads0);
    await initKernels();
    for (const [k, p] of [[0, gk(3, 29, 27, 16, 7, 2, 3)], [1, gk(24, 13, 13, 32, 1, 1, 0)], [2, gk(21, 15, 14, 16, 3, 2, 1)]] as const) {
      const x0 = ints(p.inC * p.inH * p.inW, 0, 127, 40 + k), x1 = ints(x0.length, 0, 127, 50 + k);
      const w = w8(p, 60 + k);
      const L: A.ConvLayer = { mode: 'DynamicFixed', w, biasInt: Int32Array.from({ length: p.outC }, (_, c) => 50 * c - 300), shift: 7 };
      const calls = simPairStats.calls, q0 = simGemmI8Stats.convs;
      const [a, b] = A.convPair(x0, x1, L, p, 8, true);
      expect([simPairStats.calls - calls, simGemmI8Stats.convs - q0]).toEqual([1, fma() ? 2 : 0]);
      A.setIntConvBackend('js');
      A.setWasmRequant(false);
      const [ja, jb] = [x0, x1].map((x) => A.convDynamicFixed(x, w, L.biasInt, L.shift, p, 8, true));
      A.setIntConvBackend('auto');
      A.setWasmRequant(true);
      expect(Array.from(a)).toEqual(Array.from(ja));
      expect(Array.from(b)).toEqual(Array.from(jb));
    }
  });
});

describe('GoogLeNet and ResNet-50 (32x32) --metrics layers: no conv on the float32 kernels, the same figures and blobs', () => {
  // on dist/ in a plain node process (test/helpers/sim-paths-run.js): the simulator is slower in jest's sandbox
  type Got = { convs: number; paths: Record<string, number>; floatOff: number; sameStats: boolean; sameBlobs: boolean; variant: string; int8: number };
  let got: Record<string, Got>;
  beforeAll(() => {
    got = runNodeHelper('sim-paths-run.js');
  }, 300_000);
  test.each(['bvlc_googlenet.prototxt Xilinx', 'resnet50.prototxt DynamicFixed'])('%s', (name) => {
    const g = got[name];
    // every conv of the fixed chain and of the local runs: the integer Winograd or the GEMM
    expect([g.paths.float, g.paths.int, g.paths.js]).toEqual([0, 0, 0]);
    expect(g.paths.wino + g.paths.gemm).toBeGreaterThan(1.9 * g.convs);
    expect(g.floatOff).toBeGreaterThan(0);
    expect(g.sameStats).toBe(true);
    expect(g.sameBlobs).toBe(true);
    // the int8 GEMM takes every GEMM conv but the first (the image's negative values) in the relaxed build, none without
    if (g.variant === 'fma') expect(g.int8).toBeGreaterThanOrEqual(g.paths.gemm - 2);
    else expect(g.int8).toBe(0);
    if (process.env.CHAIQ_FMA === '0') expect(g.variant).toBe('simd128');
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
