/**
 * The error sums' order (src/sim/metrics.ts ERROR_SUM_BLOCK): blocks of 4096 values each summed in index order, the
 * block sums then added in block order. The JS loops (accumulateError, the fused fixed loop) and the wasm loop
 * (wasm/sim-metrics.c: several blocks in f64x2 lanes, blocks split between the threads) give the sums of that
 * definition bit for bit, on 1 and 2 threads, on its float32 route and its double one; the quantization (float32 or
 * f64x2 lanes) and requantization of resident blobs split between the threads give the integers of one thread and
 * of the scalar loops.
 */
import * as A from '../src/chaidnn/arith';
import { dequantize, quantizeFloat, type FixedFormat } from '../src/chaidnn/format';
import { initKernels, setResidentChain, setThreads, setUseWasm, shutdownKernels } from '../src/kernels';
import { errSumRoutes, fixedErrorSumsOf, simThreadMinValues, simThreadStats } from '../src/kernels/sim-metrics';
import { accumulateError, accumulateFixedErrors, ERROR_SUM_BLOCK, newErrorAcc, type ErrorAcc } from '../src/sim/metrics';
import { quantizeForChain } from '../src/sim/fixed-chain';
import { rt } from '../src/kernels/config';
import { quantizeTwin } from '../src/kernels/sim-twin-threads';
import { rng } from './helpers/rng';
import { errorSumData } from './helpers/error-sum-data';

const defaults = { ...simThreadMinValues };
afterEach(() => {
  Object.assign(simThreadMinValues, defaults);
  setThreads(1);
  setUseWasm(true);
  setResidentChain(true);
  A.setWasmRequant(true);
});
afterAll(() => shutdownKernels());

const bits = (x: number): string => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x));
const fields = (a: ErrorAcc): string[] => Object.entries(a).map(([k, v]) => `${k}=${bits(v)}`);

/** The sums as the order is defined, written plainly. */
function definition(ref: Float32Array, fix: Float32Array, q: Int32Array, bw: number): ErrorAcc {
  const acc = newErrorAcc();
  const total = [0, 0, 0, 0];
  let mx = 0;
  for (let i0 = 0; i0 < ref.length; i0 += 4096) {
    const s = [0, 0, 0, 0];
    for (let i = i0; i < Math.min(ref.length, i0 + 4096); i++) {
      const a = ref[i], b = fix[i], e = a - b;
      s[0] += a * a;
      s[1] += b * b;
      s[2] += a * b;
      s[3] += e * e;
      if (!(Math.abs(e) <= mx)) mx = Number.isNaN(e) || Number.isNaN(mx) ? NaN : Math.abs(e);
    }
    for (let k = 0; k < 4; k++) total[k] += s[k];
  }
  const m = 2 ** (bw - 1) - 1;
  [acc.sumRef2, acc.sumFix2, acc.sumDot, acc.sumErr2] = total;
  acc.maxAbsErr = Number.isNaN(mx) ? Infinity : mx;
  acc.n = acc.nFixed = ref.length;
  acc.saturated = q.filter((v) => Math.abs(v) >= m).length;
  return acc;
}

function data(n: number, seed: number, special: boolean): { ref: Float32Array; q: Int32Array; q2: Int32Array } {
  const r = rng(seed);
  const { ref, q, q2 } = errorSumData(n, r);
  if (special && n > 0) {
    const at = (k: number): number => Math.floor(r() * n) + 0 * k;
    ref[at(0)] = NaN;
    ref[at(1)] = Infinity;
    ref[at(2)] = -Infinity;
    q[at(3)] = -(2 ** 31);
    q2[at(4)] = 2 ** 31 - 1;
  }
  return { ref, q, q2 };
}

// 0 to 3 blocks and tails, and past the 4-block groups of the one-operand wasm loop (with leftovers)
const B = ERROR_SUM_BLOCK;
const lengths = [0, 1, 3, 2047, 2048, B - 1, B, B + 1, 2 * B + 5, 3 * B, 3 * B + 3, 4 * B, 5 * B + 1, 9 * B + 7];

describe('the blocked order of the error sums', () => {
  beforeAll(async () => {
    setThreads(2);
    await initKernels();
    setThreads(1);
  });

  test('ERROR_SUM_BLOCK is 4096 (wasm/sim-metrics.c ERR_BLOCK)', () => expect(B).toBe(4096));

  test.each([false, true])('JS loops and the wasm loop give the definition\'s sums, 1 and 2 threads, 1 and 2 operands (NaN, ±Inf: %s)', (special) => {
    const fmt: FixedFormat = { mode: 'DynamicFixed', bw: 8, fl: 5 };
    const fmt2: FixedFormat = { mode: 'Xilinx', bw: 8, th: 3.1 };
    const scale = 2 ** -5;
    const scale2 = A.scaleFactor(3.1, 8);
    simThreadMinValues.errSums = 0; // every wasm call that can split does
    for (const n of lengths) {
      const d = data(n, n + (special ? 7 : 0), special);
      const fix = dequantize(d.q, fmt);
      const fix2 = dequantize(d.q2, fmt2);
      const want = [definition(d.ref, fix, d.q, 8), definition(d.ref, fix2, d.q2, 8)].map(fields);
      const viaDequantized = [newErrorAcc(), newErrorAcc()];
      accumulateError(viaDequantized[0], d.ref, fix, d.q, 8);
      accumulateError(viaDequantized[1], d.ref, fix2, d.q2, 8);
      expect(viaDequantized.map(fields)).toEqual(want);
      for (const [wasm, threads] of [[false, 1], [true, 1], [true, 2]] as const) {
        setUseWasm(wasm);
        setThreads(threads);
        for (const both of [false, true]) {
          const before = simThreadStats.errSums;
          const accs = [newErrorAcc(), newErrorAcc()];
          const terms = [{ acc: accs[0], q: d.q, scale, bw: 8 }, { acc: accs[1], q: d.q2, scale: scale2, bw: 8 }];
          accumulateFixedErrors(d.ref, both ? terms : terms.slice(0, 1));
          expect([n, wasm, threads, both, ...fields(accs[0])]).toEqual([n, wasm, threads, both, ...want[0]]);
          if (both) expect([n, wasm, threads, ...fields(accs[1])]).toEqual([n, wasm, threads, ...want[1]]);
          const inWasm = wasm && n >= 2048;
          expect(simThreadStats.errSums - before).toBe(inWasm && threads === 2 ? 1 : 0);
        }
      }
      setUseWasm(true);
      setThreads(1);
      if (n >= 2048) expect(fixedErrorSumsOf(d.ref, [{ q: d.q, scale, m: 127 }])).not.toBeNull();
    }
  });

  test('a sum over many blocks is not the serial sum in index order', () => {
    // what the order changed: the same data summed value by value from 0 differs in the last bits
    const d = data(9 * B + 7, 11, false);
    const fix = dequantize(d.q, { mode: 'DynamicFixed', bw: 8, fl: 5 });
    let serial = 0;
    for (let i = 0; i < d.ref.length; i++) serial += (d.ref[i] - fix[i]) ** 2;
    const acc = newErrorAcc();
    accumulateError(acc, d.ref, fix);
    expect(acc.sumErr2).toBe(definition(d.ref, fix, d.q, 8).sumErr2);
    expect(acc.sumErr2).not.toBe(serial);
  });
});

describe('the float32 and the double route of the wasm error sums (wasm/sim-metrics.c)', () => {
  beforeAll(async () => {
    setThreads(2);
    await initKernels();
    setThreads(1);
  });

  interface Op { q: Int32Array; scale: number; bw: number }

  /** The sums of the JS loop; the wasm loop's must be the same on 1 and 2 threads. Returns the blocks on the double route. */
  function sameAsJs(ref: Float32Array, ops: Op[]): number {
    const run = (): string[][] => {
      const accs = ops.map(() => newErrorAcc());
      accumulateFixedErrors(ref, ops.map((o, k) => ({ acc: accs[k], ...o })));
      return accs.map(fields);
    };
    setUseWasm(false);
    const want = run();
    setUseWasm(true);
    simThreadMinValues.errSums = 0;
    setThreads(2);
    const before = simThreadStats.errSums;
    expect(run()).toEqual(want);
    expect(simThreadStats.errSums).toBe(before + 1);
    setThreads(1);
    const { blocks, double } = errSumRoutes;
    expect(run()).toEqual(want);
    expect(errSumRoutes.blocks - blocks).toBe(Math.ceil(ref.length / B));
    return errSumRoutes.double - double;
  }

  const s8 = 2 ** -5;
  const sx = A.scaleFactor(3.1, 8);

  test('float32 scales and |q| ≤ 2^24 take the float32 route: every length, one and two operands, two rails', () => {
    for (const n of lengths.filter((v) => v >= 2048)) {
      const d = data(n, 3 * n + 1, false);
      const q6 = d.q2.map((v) => Math.max(-31, Math.min(31, v)));
      expect([n, sameAsJs(d.ref, [{ q: d.q, scale: s8, bw: 8 }])]).toEqual([n, 0]);
      expect([n, sameAsJs(d.ref, [{ q: d.q, scale: s8, bw: 8 }, { q: q6, scale: sx, bw: 6 }])]).toEqual([n, 0]);
    }
  });

  test('q = ±2^24 stays on the float32 route, 2^24 + 1 and INT32_MIN send their pair of blocks (or their block) to the double route', () => {
    const n = 9 * B + 7;
    const d = data(n, 21, false);
    const big = d.q.slice();
    big[3 * B + 17] = 2 ** 24;
    big[6 * B + 1] = -(2 ** 24);
    expect(sameAsJs(d.ref, [{ q: big, scale: sx, bw: 8 }])).toBe(0);
    expect(sameAsJs(d.ref, [{ q: d.q, scale: s8, bw: 8 }, { q: big, scale: sx, bw: 8 }])).toBe(0);
    big[5 * B + 4095] = 2 ** 24 + 1; // pair (4, 5)
    big[9 * B + 6] = -(2 ** 31); // the last, short block
    expect(sameAsJs(d.ref, [{ q: big, scale: sx, bw: 8 }])).toBe(3);
    expect(sameAsJs(d.ref, [{ q: d.q, scale: s8, bw: 8 }, { q: big, scale: sx, bw: 8 }])).toBe(3);
    expect(sameAsJs(d.ref, [{ q: big, scale: sx, bw: 8 }, { q: d.q, scale: s8, bw: 8 }])).toBe(3);
    const odd = d.q.slice(0, 3 * B + 1);
    odd[2 * B] = -(2 ** 31); // block 2: full, but no pair
    expect(sameAsJs(d.ref.slice(0, 3 * B + 1), [{ q: odd, scale: s8, bw: 8 }])).toBe(1);
  });

  test('a scale that is not a float32, or a rail m < 1, takes the double route for every block', () => {
    const n = 5 * B + 1;
    const d = data(n, 5, true);
    expect(sameAsJs(d.ref, [{ q: d.q, scale: 0.1, bw: 8 }])).toBe(6);
    expect(sameAsJs(d.ref, [{ q: d.q, scale: s8, bw: 8 }, { q: d.q2, scale: 1 / 3, bw: 8 }])).toBe(6);
    expect(sameAsJs(d.ref, [{ q: d.q, scale: s8, bw: 1 }])).toBe(6);
    expect(sameAsJs(d.ref, [{ q: d.q, scale: s8, bw: 8 }, { q: d.q2, scale: s8, bw: 1 }])).toBe(6);
  });

  test('the float32 route with subnormal and overflowing fixed values, NaN, ±Inf and -0 in the reference', () => {
    const n = 4 * B + 9;
    const d = data(n, 8, false);
    d.ref[7] = NaN;
    d.ref[B + 3] = Infinity;
    d.ref[2 * B + 5] = -Infinity;
    d.ref[3 * B] = -0;
    d.q[3 * B] = 0;
    const tiny = Math.fround(2 ** -140 * 1.375); // b subnormal
    const tinyRef = d.ref.map((v, i) => (i % 3 ? v * 2 ** -135 : v));
    expect(sameAsJs(tinyRef, [{ q: d.q, scale: tiny, bw: 8 }, { q: d.q2, scale: 2 ** -149, bw: 8 }])).toBe(0);
    // 127 · 2^125 is past the float32 range: b = ±Inf
    expect(sameAsJs(d.ref, [{ q: d.q, scale: 2 ** 125, bw: 8 }, { q: d.q2, scale: s8, bw: 8 }])).toBe(0);
    // errors of exactly 0 (the max stays +0)
    const q0 = new Int32Array(n);
    expect(sameAsJs(new Float32Array(n).fill(-0), [{ q: q0, scale: s8, bw: 8 }])).toBe(0);
  });
});

describe('the resident quantization and requantization on two threads', () => {
  beforeAll(async () => {
    setThreads(2);
    await initKernels();
  });

  function floats(n: number, seed: number): Float32Array {
    const r = rng(seed);
    const x = Float32Array.from({ length: n }, () => (r() - 0.5) * 8);
    x[5] = NaN;
    x[n - 2] = Infinity;
    x[n - 1] = -Infinity;
    return x;
  }

  test('quantizeForChain in chunks of values: the integers of quantizeFloat, and of one thread', () => {
    const x = floats(66003, 5);
    const cases: Array<[FixedFormat, boolean]> = [
      [{ mode: 'DynamicFixed', bw: 8, fl: 5 }, true],
      [{ mode: 'Xilinx', bw: 8, th: 2.7 }, true],
      [{ mode: 'Xilinx', bw: 8, th: 2.7 }, false],
      [{ mode: 'Xilinx', bw: 6, th: 2.7 }, false],
    ];
    for (const [fmt, netInput] of cases) {
      const want = Array.from(quantizeFloat(x, fmt, netInput));
      setThreads(2);
      const before = simThreadStats.quantize;
      const two = Array.from(quantizeForChain(x, fmt, netInput));
      expect(simThreadStats.quantize).toBe(before + 1);
      setThreads(1);
      const one = Array.from(quantizeForChain(x, fmt, netInput));
      expect(simThreadStats.quantize).toBe(before + 1);
      expect(two).toEqual(want);
      expect(one).toEqual(want);
    }
  });

  test('sim_quantize4 on float32 or f64x2 lanes, on 1 and 2 threads: the integers, twins and max |q| of the scalar sim_quantize', () => {
    type Scalar = { sim_quantize(kind: number, x: number, q: number, f: number, n: number, a: number, b: number, c: number, lo: number, hi: number): number };
    const f32 = Math.fround;
    const n = 66003;
    const r0 = rng(17);
    const x = Float32Array.from({ length: n }, () => (r0() - 0.5) * 8 * (r0() < 0.02 ? 1e30 : 1) * (r0() < 0.02 ? 1e-40 : 1));
    [x[5], x[6], x[7], x[8], x[9]] = [NaN, Infinity, -Infinity, -0, 2 ** -149];
    const sf = (th: number, bw: number): number => A.scaleFactor(th, bw);
    // [kind, a, b, c, lo, hi]: DynamicFixed (minv, maxv, p), Xilinx input (th, sf), Xilinx pack (th, inv)
    const cases: number[][] = [
      [0, -128 / 32, 127 / 32, 32, -128, 127], [0, -32, 31, 1, -32, 31], [0, -128 * 4, 127 * 4, 0.25, -128, 127],
      [0, -(2 ** -10) * 128, 2 ** -10 * 127, 2 ** 10, -128, 127], [0, -3e38, 3e38, 2 ** 100, -127, 127],
      [1, f32(2.7), sf(2.7, 8), 0, -127, 127], [1, f32(2.7), sf(2.7, 6), 0, -31, 31], [1, f32(3e38), f32(1e-38), 0, -127, 127],
      [2, f32(2.7), f32(1 / sf(2.7, 8)), 0, -127, 127], [2, f32(0.01), f32(1 / sf(0.01, 6)), 0, -31, 31], [2, f32(3e38), f32(1e30), 0, -31, 31],
      [2, 0.1, 3, 0, -127, 127], [1, 0, 1, 0, -127, 127], [1, f32(2.7), sf(2.7, 8), 0, -(2 ** 23), 2 ** 23],
    ];
    const r = rt()!;
    const ex = r.ex as unknown as Scalar;
    simThreadMinValues.quantize = 1 << 12;
    for (const [kind, a, b, c, lo, hi] of cases) {
      const got: string[] = [];
      for (const threads of [0, 1, 2]) {
        setThreads(Math.max(1, threads));
        r.reset();
        const xa = r.put(x);
        const qa = r.alloc(n);
        const fa = r.alloc(n);
        const before = simThreadStats.quantize;
        const m = threads ? quantizeTwin(r, kind, xa, qa, fa, n, a, b, c, lo, hi) : ex.sim_quantize(kind, xa, qa, fa, n, a, b, c, lo, hi);
        expect(simThreadStats.quantize - before).toBe(threads === 2 ? 1 : 0);
        got.push(`${m} ${Buffer.from(r.I32().slice(qa >>> 2, (qa >>> 2) + n).buffer).toString('base64')} ${Buffer.from(r.F32().slice(fa >>> 2, (fa >>> 2) + n).buffer).toString('base64')}`);
      }
      expect([kind, a, b, got[1] === got[0], got[2] === got[0]]).toEqual([kind, a, b, true, true]);
    }
  });

  test('a conv\'s requantization in chunks of output channels: the JS loops\' integers, and one thread\'s', () => {
    // 40 channels of 48x48 (92160 values); Xilinx S past 2^53 in some channels (their int64 loop)
    const g: A.ConvGeom = { inC: 8, inH: 48, inW: 48, outC: 40, outH: 48, outW: 48, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilH: 1, dilW: 1, group: 1 };
    const r = rng(9);
    const x = Int32Array.from({ length: 8 * 48 * 48 }, () => Math.floor(r() * 255) - 127);
    const w = Int32Array.from({ length: 40 * 8 * 9 }, () => Math.floor(r() * 255) - 127);
    const S = Float64Array.from({ length: 40 }, (_, c) => [1, 4000, 2 ** 22, 2 ** 31 - 1, 77][c % 5]);
    const bq = Int32Array.from({ length: 40 }, (_, c) => [-128, 127, 0, 5, -7][c % 5]);
    const bias = Int32Array.from({ length: 40 }, (_, c) => [-32768, 32767, 0, 3, -5][c % 5]);
    const runs: Array<() => Int32Array> = [
      () => A.convXilinx(x, w, bq, S, g, 8, false),
      () => A.convXilinx(x, w, bq, S, g, 8, true),
      () => A.convDynamicFixed(x, w, bias, 7, g, 8, false),
      () => A.convDynamicFixed(x, w, bias, 31, g, 8, true),
    ];
    simThreadMinValues.requant = 1 << 16;
    for (const f of runs) {
      setResidentChain(false);
      A.setWasmRequant(false);
      const want = Array.from(f());
      setResidentChain(true);
      A.setWasmRequant(true);
      setThreads(2);
      const before = simThreadStats.requant;
      const two = Array.from(f());
      expect(simThreadStats.requant).toBe(before + 1);
      setThreads(1);
      const one = Array.from(f());
      expect(simThreadStats.requant).toBe(before + 1);
      expect(two).toEqual(want);
      expect(one).toEqual(want);
    }
  });
});
