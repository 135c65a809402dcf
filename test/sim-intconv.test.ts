/**
 * The simulator's convolution paths (chaidnn/arith convAccumulateAuto): the exact-float32 kernel, the int16
 * dot-product kernel (kernels/int-conv.ts) and the JS loops give the same accumulators, and each is chosen by
 * the bound max|x|·Σ|w_c| (below 2^24 float, below 2^31 integer, else JS).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as A from '../src/chaidnn/arith';
import { simulateNet } from '../src/sim/simulate';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { mulberry32 } from '../src/io/calibset';
import { setSimWinograd, shutdownKernels } from '../src/kernels';
import type { Tensor } from '../src/tensor';

afterAll(() => shutdownKernels());
afterEach(() => {
  A.setIntConvBackend('auto');
  setSimWinograd('auto');
});

const fx = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/sim/nets.json'), 'utf8'));

function geom(inC: number, H: number, outC: number, k: number, stride = 1, group = 1): A.ConvGeom {
  const pad = (k - 1) >> 1;
  const o = Math.floor((H + 2 * pad - k) / stride) + 1;
  return { inC, inH: H, inW: H, outC, outH: o, outW: o, kH: k, kW: k, strideH: stride, strideW: stride, padH: pad, padW: pad, dilH: 1, dilW: 1, group };
}

function ints(n: number, lo: number, hi: number, seed: number): Int32Array {
  const r = mulberry32(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
}

function paths<T>(f: () => T): [T, Omit<typeof A.intConvPaths, 'wino' | 'gemm' | 'dw'>] {
  const before = { ...A.intConvPaths };
  const v = f();
  return [v, { float: A.intConvPaths.float - before.float, int: A.intConvPaths.int - before.int, js: A.intConvPaths.js - before.js }];
}

describe('convAccumulateAuto picks the kernel by the accumulator bound', () => {
  it('3x3 stride-1 convs take the integer Winograd (past 2^24 too), equal to the JS loops; 16-bit sums past 2^31 do not', () => {
    for (const [g, r] of [[geom(256, 9, 16, 3), 127], [geom(32, 10, 8, 3), 31], [geom(24, 7, 40, 3), 2000]] as const) {
      const x = ints(g.inC * g.inH * g.inW, -r, r, 21);
      const w = ints(g.outC * g.inC * 9, -127, 127, 22);
      const before = A.intConvPaths.wino;
      const [acc, p] = paths(() => A.convAccumulateAuto(x, w, g));
      expect([p, A.intConvPaths.wino - before]).toEqual([{ float: 0, int: 0, js: 0 }, 1]);
      expect(Array.from(acc)).toEqual(Array.from(A.convAccumulate(x, w, g)));
    }
    const g = geom(64, 5, 4, 3);
    const [, p] = paths(() => A.convAccumulateAuto(ints(64 * 25, -32767, 32767, 5), ints(4 * 64 * 9, -32767, 32767, 6), g));
    expect(p).toEqual({ float: 0, int: 0, js: 1 });
  });

  it('8-bit operands, K = 3·3·256: past 2^24, on the integer kernel, equal to the JS loops', () => {
    setSimWinograd('off');
    const g = geom(256, 9, 16, 3);
    const x = ints(256 * 81, -128, 127, 1);
    const w = ints(16 * 256 * 9, -127, 127, 2);
    w[5] = 127; // a row with Σ|w| ≥ 2^24/128
    const [acc, p] = paths(() => A.convAccumulateAuto(x, w, g));
    expect(p).toEqual({ float: 0, int: 1, js: 0 });
    expect(Array.from(acc)).toEqual(Array.from(A.convAccumulate(x, w, g)));
  });

  it('small operands stay on the exact-float32 kernel; depthwise and strided too', () => {
    setSimWinograd('off');
    for (const g of [geom(32, 10, 8, 3), geom(16, 11, 16, 3, 2, 16)]) {
      const x = ints(g.inC * g.inH * g.inW, -31, 31, 3);
      const w = ints(g.outC * (g.inC / g.group) * 9, -31, 31, 4);
      const [acc, p] = paths(() => A.convAccumulateAuto(x, w, g));
      expect(p).toEqual({ float: 1, int: 0, js: 0 });
      expect(Array.from(acc)).toEqual(Array.from(A.convAccumulate(x, w, g)));
      A.setIntConvBackend('int');
      const [acc2, p2] = paths(() => A.convAccumulateAuto(x, w, g));
      A.setIntConvBackend('auto');
      expect(p2).toEqual({ float: 0, int: 1, js: 0 });
      expect(Array.from(acc2)).toEqual(Array.from(acc));
    }
  });

  it('16-bit operands whose sums may pass 2^31 and weights beyond int16 take the JS loops', () => {
    const g = geom(64, 5, 4, 3);
    const x = ints(64 * 25, -32767, 32767, 5);
    const w = ints(4 * 64 * 9, -32767, 32767, 6);
    const [acc, p] = paths(() => A.convAccumulateAuto(x, w, g));
    expect(p).toEqual({ float: 0, int: 0, js: 1 });
    expect(Array.from(acc)).toEqual(Array.from(A.convAccumulate(x, w, g)));
    const wBig = ints(4 * 64 * 9, -1, 1, 7);
    wBig[0] = 40000; // an 17-bit weight: not an int16 operand
    const [, p2] = paths(() => A.convAccumulateAuto(ints(64 * 25, 0, 1000, 8), wBig, g));
    expect(p2).toEqual({ float: 0, int: 0, js: 1 });
  });

  it('psum18 always runs the JS loops (the order of its saturating sum matters)', () => {
    const g = geom(256, 5, 4, 3);
    const [, p] = paths(() => A.convAccumulateAuto(ints(256 * 25, -128, 127, 9), ints(4 * 256 * 9, -127, 127, 10), g, true));
    expect(p).toEqual({ float: 0, int: 0, js: 1 });
  });
});

describe.each(fx.cases.flatMap((c: any) => [[c.name, 'int', c], [c.name, 'wino', c]]) as [string, 'int' | 'wino', any][])('net %s on the %s kernel: every blob integer for integer', (_name, be, c: any) => {
  test('matches the numpy reference', async () => {
    const weights = new Map<string, Tensor[]>();
    for (const [k, v] of Object.entries(c.weights as Record<string, any[]>)) weights.set(k, v.map((b) => ({ shape: b.shape, data: Float32Array.from(b.data) })));
    const net = buildNet(loadNetText(`${c.name}.prototxt`, { text: c.prototxt }).net, { weights, file: `${c.name}.prototxt` });
    const input: Tensor = { shape: c.input.shape, data: Float32Array.from(c.input.data) };
    A.setIntConvBackend(be);
    const [r, p] = await (async () => { const before = A.intConvPaths[be]; const r = await simulateNet(net, input, { keep: 'all', psum18: c.psum18, reference: false }); return [r, A.intConvPaths[be] - before] as const; })();
    if (!c.psum18) expect(p).toBeGreaterThan(0);
    for (const [blob, e] of Object.entries(c.expected as Record<string, any>)) {
      const got = r.fixed.get(blob)!;
      expect(got.length).toBe(e.data.length);
      let diff = -1;
      for (let i = 0; i < got.length; i++) if (got[i] !== e.data[i]) { diff = i; break; }
      expect(`${blob}: ${diff}`).toBe(`${blob}: -1`);
    }
  });
});

describe('MAX pooling on the float32 pooling kernel equals the integer loop', () => {
  const cases: Array<[string, A.PoolGeom]> = [
    ['3x3 stride 2, ceil-mode border', { C: 16, inH: 29, inW: 29, outH: 14, outW: 14, kH: 3, kW: 3, strideH: 2, strideW: 2, padH: 0, padW: 0 }],
    ['3x3 stride 1 pad 1', { C: 12, inH: 20, inW: 23, outH: 20, outW: 23, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1 }],
    ['2x2 stride 2', { C: 8, inH: 32, inW: 32, outH: 16, outW: 16, kH: 2, kW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 }],
  ];
  it.each(cases)('%s', (_n, g) => {
    const x = ints(g.C * g.inH * g.inW, -128, 127, g.inH);
    expect(Array.from(A.maxPoolInt(x, g))).toEqual(Array.from(A.maxPoolIntJs(x, g)));
    x[7] = 1 << 25; // beyond float32's integers: the loop
    expect(Array.from(A.maxPoolInt(x, g))).toEqual(Array.from(A.maxPoolIntJs(x, g)));
  });
});

describe('requantization in wasm int64 equals the JS loops (exact doubles, BigInt past 2^52)', () => {
  it('Xilinx: int32 and float32 accumulators, S up to 2^31-1, ReLU or not', () => {
    const { requantXilinxInt } = require('../src/kernels');
    const C = 6, plane = 50;
    const acc = ints(C * plane, -(2 ** 31), 2 ** 31 - 1, 11);
    const accF = new Float32Array(ints(C * plane, -(2 ** 24), 2 ** 24, 12));
    const S = [1, 12345, 2 ** 22, 2 ** 24 + 3, 2 ** 31 - 1, 0];
    const bq = [-128, 127, 0, 5, -7, 1];
    for (const a of [acc, accF]) for (const [bw, relu] of [[8, false], [8, true], [6, false]] as const) {
      const lo = relu ? 0 : -(2 ** (bw - 1)), hi = 2 ** (bw - 1) - 1;
      const want = new Int32Array(a.length);
      for (let c = 0; c < C; c++) A.requantXilinx(Float64Array.from(a.subarray(c * plane, (c + 1) * plane)), S[c], bq[c], bw, relu, want, c * plane);
      expect(Array.from(requantXilinxInt(a, S, bq, C, lo, hi))).toEqual(Array.from(want));
    }
    expect(requantXilinxInt(acc, [2 ** 31, 1, 1, 1, 1, 1], bq, C, -128, 127)).toBeNull();
  });

  it('DynamicFixed: shifts from -30 to 61', () => {
    const { requantDynamicFixedInt } = require('../src/kernels');
    const C = 3, plane = 40;
    const acc = ints(C * plane, -(2 ** 31), 2 ** 31 - 1, 13);
    acc[0] = 0; acc[1] = 1; acc[2] = -1; acc[3] = 2 ** 20; acc[4] = -(2 ** 20) - 1;
    const bias = Int32Array.from([-(2 ** 31), 2 ** 31 - 1, 3]);
    for (const shift of [-30, -3, 0, 1, 7, 22, 33, 61]) for (const relu of [false, true]) {
      const want = new Int32Array(acc.length);
      for (let c = 0; c < C; c++) A.requantDynamicFixed(Float64Array.from(acc.subarray(c * plane, (c + 1) * plane)), bias[c], shift, 8, relu, want, c * plane);
      expect(Array.from(requantDynamicFixedInt(acc, bias, shift, C, relu ? 0 : -128, 127))).toEqual(Array.from(want));
    }
    expect(requantDynamicFixedInt(acc, bias, 62, C, -128, 127)).toBeNull();
  });
});
