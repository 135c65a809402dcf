/**
 * The fixed chain kept in wasm memory (src/kernels/sim-conv.ts, src/sim/fixed-chain.ts): resident int32 blobs
 * with exact float32 twins, SIMD requantization, wasm quantizers, MAX pooling and Concat on the twins. Every
 * path gives the integers of the staged / JS paths it replaces, and `--metrics none` runs take it.
 */
import * as A from '../src/chaidnn/arith';
import { quantizeFloat, type FixedFormat } from '../src/chaidnn/format';
import { residentStats, setResidentChain, shutdownKernels } from '../src/kernels';
import { compileSim, runSim } from '../src/sim/simulate';
import { quantizeForChain } from '../src/sim/fixed-chain';
import { annotateXilinx } from '../src/sim/annotate';
import { mulberry32 } from '../src/io/calibset';
import { annotateDynamicFixed, benchNet, randomInput } from './bench/netutil';

afterAll(() => shutdownKernels());
afterEach(() => {
  setResidentChain(true);
  A.setWasmRequant(true);
});

function ints(n: number, lo: number, hi: number, seed: number): Int32Array {
  const r = mulberry32(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
}

function geom(inC: number, H: number, outC: number, k: number, group = 1): A.ConvGeom {
  const pad = (k - 1) >> 1;
  return { inC, inH: H, inW: H, outC, outH: H, outW: H, kH: k, kW: k, strideH: 1, strideW: 1, padH: pad, padW: pad, dilH: 1, dilW: 1, group };
}

/** f with the resident chain, then with the staged path and the JS requantization loops. */
function bothWays<T>(f: () => T): [T, T] {
  const a = f();
  setResidentChain(false);
  A.setWasmRequant(false);
  const b = f();
  setResidentChain(true);
  A.setWasmRequant(true);
  return [a, b];
}

describe('resident convolutions requantize as the JS loops', () => {
  // 7x7 planes (not a multiple of 4), negative accumulators, S from 1 to 2^31-1 (past 2^53 the int64 loop)
  const g = geom(24, 7, 24, 3);
  const x = ints(24 * 49, -128, 127, 1);
  const w = ints(24 * 24 * 9, -20, 20, 2);
  // max|x|·Σ|w| between 2^22 and 2^24: with S = 2^31-1, |t| passes 2^53
  const gBig = geom(64, 7, 24, 3);
  const xBig = ints(64 * 49, -128, 127, 9);
  const wBig = ints(24 * 64 * 9, -127, 127, 10);


  it('Xilinx, with and without ReLU, bw 8 and 6', () => {
    const S = Float64Array.from({ length: 24 }, (_, c) => [1, 4000, 2 ** 22, 2 ** 24 + 3, 2 ** 31 - 1, 77][c % 6]);
    const bq = Int32Array.from({ length: 24 }, (_, c) => [-128, 127, 0, 5, -7, 1][c % 6]);
    for (const [bw, relu] of [[8, false], [8, true], [6, false]] as const) {
      const before = residentStats.convs;
      const [fast, slow] = bothWays(() => A.convXilinx(x, w, bq, S, g, bw, relu));
      const [fastBig, slowBig] = bothWays(() => A.convXilinx(xBig, wBig, bq, S, gBig, bw, relu));
      expect(residentStats.convs).toBe(before + 2);
      expect(Array.from(fast)).toEqual(Array.from(slow));
      expect(Array.from(fastBig)).toEqual(Array.from(slowBig));
    }
  });

  it('DynamicFixed, shifts from -3 to 61 (the int32 lanes and the int64 loop)', () => {
    const bias = Int32Array.from({ length: 24 }, (_, c) => [-32768, 32767, 0, 3, -5, 100][c % 6]);
    for (const shift of [-3, 0, 1, 7, 22, 30, 31, 61]) for (const relu of [false, true]) {
      const before = residentStats.convs;
      const [fast, slow] = bothWays(() => A.convDynamicFixed(x, w, bias, shift, g, 8, relu));
      expect(residentStats.convs).toBe(before + 1);
      expect(Array.from(fast)).toEqual(Array.from(slow));
    }
  });

  it('a conv reads another resident conv\'s output, depthwise too', () => {
    const S = Float64Array.from({ length: 24 }, (_, c) => 3000 + 17 * c);
    const w1 = ints(24 * 24 * 9, -20, 20, 3);
    const wd = ints(24 * 9, -60, 60, 4);
    const [fast, slow] = bothWays(() => {
      const y = A.convXilinx(x, w1, null, S, geom(24, 7, 24, 3), 8, true);
      return A.convXilinx(y, wd, null, S, geom(24, 7, 24, 3, 24), 8, false);
    });
    expect(Array.from(fast)).toEqual(Array.from(slow));
  });
});

describe('the Xilinx requantization at its rounding edges', () => {
  // a 3x3 conv of two channels whose only tap is the first's centre 1: the accumulators are the inputs, so t = x·S + bq·2^22
  // lands on exact halves (S = 2^21, 3·2^20), next to them (2^21 ± 1) and on the rails; planes of 64 and 49
  // values; float32 accumulators (the exact-float32 path) and int32 ones (the integer Winograd and GEMM)
  it.each([[16, 256], [15, 225]])('%ix%i planes, float and int32 accumulators, bw 8 and 6, with and without ReLU', (H) => {
    const outC = 24;
    const g = geom(2, H, outC, 3);
    const n = 2 * H * H;
    const x = Int32Array.from({ length: n }, (_, i) => [0, 1, -1, 3, -3, 127, -128, 255, -255, 5, -5, 2, -2][i % 13] * (i % 3 === 2 ? 31 : 1));
    const w = Int32Array.from({ length: outC * 18 }, (_, i) => (i % 18 === 4 ? 1 : 0));
    const S = Float64Array.from({ length: outC }, (_, c) => [2 ** 21, 3 * 2 ** 20, 2 ** 21 + 1, 2 ** 21 - 1, 2 ** 22, 2 ** 24 + 3][c % 6]);
    const bq = Int32Array.from({ length: outC }, (_, c) => [0, -1, 2, -3, 100, -100, 1, -2][c % 8]);
    for (const [backend, path] of [['float', 'float'], ['wino', 'wino'], ['auto', 'gemm']] as const) {
      A.setIntConvBackend(backend);
      for (const [bw, relu] of [[8, false], [8, true], [6, false]] as const) {
        const before = { ...A.intConvPaths };
        const [fast, slow] = bothWays(() => A.convXilinx(x, w, bq, S, g, bw, relu));
        expect(A.intConvPaths[path]).toBeGreaterThan(before[path]);
        expect(Array.from(fast)).toEqual(Array.from(slow));
        expect(new Set(fast).size).toBeGreaterThan(10);
      }
    }
    A.setIntConvBackend('auto');
  });
});

describe('the wasm quantizers equal quantizeFloat', () => {
  const r = mulberry32(5);
  const x = Float32Array.from({ length: 4099 }, () => (r() - 0.5) * 40);
  // ties, rails, specials
  const special = [0, -0, 0.5, -0.5, 1.5, -2.5, 0.49999997, -0.49999997, 15.875, -16, 16, 1e30, -1e30, Infinity, -Infinity, NaN, 1e-40];
  special.forEach((v, i) => (x[i] = v));
  for (let i = 0; i < 64; i++) x[100 + i] = (i - 32) / 16 + 1 / 32; // halfway at fl 4
  const formats: FixedFormat[] = [
    { mode: 'DynamicFixed', bw: 8, fl: 3 }, { mode: 'DynamicFixed', bw: 8, fl: 4 }, { mode: 'DynamicFixed', bw: 16, fl: 10 },
    { mode: 'DynamicFixed', bw: 8, fl: -2 }, { mode: 'Xilinx', bw: 8, th: 12.7 }, { mode: 'Xilinx', bw: 6, th: 3.1 }, { mode: 'Xilinx', bw: 8, th: 0 },
  ];
  it.each(formats.map((f) => [JSON.stringify(f), f] as const))('%s', (_n, fmt) => {
    for (const netInput of [true, false]) {
      expect(Array.from(quantizeForChain(x, fmt, netInput))).toEqual(Array.from(quantizeFloat(x, fmt, netInput)));
    }
  });
});

describe('MAX pooling and Concat on resident blobs', () => {
  it('equal the integer loops, also after the input changes in place', () => {
    const x = ints(16 * 15 * 15, -100, 100, 6);
    const g: A.PoolGeom = { C: 16, inH: 15, inW: 15, outH: 7, outW: 7, kH: 3, kW: 3, strideH: 2, strideW: 2, padH: 0, padW: 0 };
    expect(Array.from(A.maxPoolInt(x, g))).toEqual(Array.from(A.maxPoolIntJs(x, g)));
    x[3] = 1000;
    expect(Array.from(A.maxPoolInt(x, g))).toEqual(Array.from(A.maxPoolIntJs(x, g)));
    const y = A.convXilinx(x, ints(16 * 16 * 9, -5, 5, 7), null, new Float64Array(16).fill(50000), geom(16, 15, 16, 3), 8, false);
    const p = A.maxPoolInt(y, g);
    expect(Array.from(p)).toEqual(Array.from(A.maxPoolIntJs(y, g)));
    const cat = A.concatInt([y, x, y]);
    expect(Array.from(cat)).toEqual([...y, ...x, ...y]);
    // a conv reading the concatenation: its twin
    const g3 = geom(48, 15, 8, 1);
    const w3 = ints(8 * 48, -9, 9, 8);
    const [fast, slow] = bothWays(() => A.convXilinx(A.concatInt([y, x, y]), w3, null, new Float64Array(8).fill(9000), g3, 8, false));
    expect(Array.from(fast)).toEqual(Array.from(slow));
  });
});

describe('Eltwise SUM on resident blobs', () => {
  /** the JS loop of eltwiseAddInt, with the resident paths off */
  const jsSum = (ins: Int32Array[], bw: number, relu: boolean): number[] => {
    setResidentChain(false);
    const out = Array.from(A.eltwiseAddInt(ins, bw, relu));
    setResidentChain(true);
    return out;
  };
  it('saturates as the JS loop, 2 and 3 inputs, resident or not, with the fused ReLU; the ReLU after it keeps the twin', () => {
    const g = geom(16, 9, 16, 3);
    const S = new Float64Array(16).fill(60000);
    const x = ints(16 * 81, -128, 127, 11);
    const w = ints(16 * 16 * 9, -12, 12, 12);
    const a = A.convXilinx(x, w, null, S, g, 8, false); // resident
    const b = ints(16 * 81 + 0, -128, 127, 13); // a JS array
    const c = A.convXilinx(b, w, null, S, g, 8, false);
    for (const ins of [[a, c], [a, b], [b, a, c], [b, b]]) for (const [bw, relu] of [[8, false], [8, true], [6, false]] as const) {
      const before = residentStats.eltwise;
      const y = A.eltwiseAddInt(ins, bw, relu);
      expect(residentStats.eltwise).toBe(before + 1);
      expect(Array.from(y)).toEqual(jsSum(ins, bw, relu));
    }
    // a length that is not a multiple of 4, values near the int32 bound (the JS loop's double sums)
    const odd = [ints(1031, -(2 ** 20), 2 ** 20, 14), ints(1031, -(2 ** 20), 2 ** 20, 15)];
    expect(Array.from(A.eltwiseAddInt(odd, 16, false))).toEqual(jsSum(odd, 16, false));
    const big = [ints(64, 2 ** 30, 2 ** 31 - 1, 16), ints(64, 2 ** 30, 2 ** 31 - 1, 17)];
    const before = residentStats.eltwise;
    expect(Array.from(A.eltwiseAddInt(big, 32, false))).toEqual(jsSum(big, 32, false));
    expect(residentStats.eltwise).toBe(before); // Σ max|x| ≥ 2^31: the JS loop
    // residual block: sum, in-place ReLU, conv, without staging; the integers of the staged path
    const [fast, slow] = bothWays(() => {
      const branches = [A.convXilinx(x, w, null, S, g, 8, false), A.convXilinx(b, w, null, S, g, 8, false)];
      const staged = residentStats.staged;
      const s = A.eltwiseAddInt(branches, 8);
      expect(A.reluInt(s, s)).toBe(s);
      const z = A.convXilinx(s, w, null, S, g, 8, false).slice();
      return { z, staged: residentStats.staged - staged };
    });
    expect(fast.staged).toBe(0);
    expect(Array.from(fast.z)).toEqual(Array.from(slow.z));
  });
});

describe('--metrics none on ImageNet nets (32x32): the resident chain, the same integers as the staged one', () => {
  jest.setTimeout(60000);
  const cases: Array<[string, string, 'Xilinx' | 'DynamicFixed']> = [
    ['MobileNet v1', 'mobilenet_v1.prototxt', 'Xilinx'], ['GoogLeNet', 'bvlc_googlenet.prototxt', 'DynamicFixed'],
  ];
  it.each(cases)('%s %s', async (_n, file, mode) => {
    const b = benchNet(file, 1, 1, 32);
    const x = randomInput(b.inputShape, 3);
    if (mode === 'Xilinx') await annotateXilinx(b.net, [x], 8, 'max');
    else await annotateDynamicFixed(b.net, [x]);
    const prog = compileSim(b.net, { mode });
    const convs = prog.steps.filter((s) => s.kind === 'conv').length;
    const relu = jest.spyOn(A, 'reluInt');
    const before = { ...residentStats };
    const out = await runSim(prog, x, { reference: false, keep: 'all' });
    const fast = await runSim(prog, x, { reference: false });
    // never out of room; MobileNet: every conv resident (both runs), the ReLUs after folded BN/Scale applied by
    // the convs; GoogLeNet: a few convs are past the float32 bound (on the integer kernel)
    expect(residentStats.noRoom).toBe(before.noRoom);
    if (file.startsWith('mobilenet')) {
      expect(residentStats.convs - before.convs).toBe(2 * convs);
      expect(relu).not.toHaveBeenCalled();
    } else expect(residentStats.convs - before.convs).toBeGreaterThan(1.5 * convs);
    relu.mockRestore();
    setResidentChain(false);
    A.setWasmRequant(false);
    const slow = await runSim(prog, x, { reference: false, keep: 'all' });
    expect([...out.fixed.keys()].sort()).toEqual([...slow.fixed.keys()].sort());
    for (const [k, q] of slow.fixed) expect(Array.from(out.fixed.get(k)!)).toEqual(Array.from(q));
    const o = b.net.outputs[0];
    expect(Array.from(fast.outputs.get(o)!.data)).toEqual(Array.from(slow.outputs.get(o)!.data));
    // results do not share the pool's memory
    for (const q of fast.fixed.values()) expect(q.buffer instanceof SharedArrayBuffer).toBe(false);
  });
});
