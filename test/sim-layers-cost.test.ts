/**
 * What makes `simulate --metrics layers` cheaper gives the same figures, bit for bit: the fixed chain and the
 * local runs on resident blobs (wasm memory, float twins, blocks back to the pool) against the staged path;
 * the cumulative and local error sums in one pass against one pass each; the in-place ReLU of a resident blob
 * on its twin.
 */
import * as A from '../src/chaidnn/arith';
import { initKernels, isWasmArray, residentStats, setResidentChain, shutdownKernels, wasmFloat32Array } from '../src/kernels';
import { fixedErrorSums, fixedErrorSumsOf } from '../src/kernels/sim-metrics';
import { quantizedReference, sameInts } from '../src/sim/local';
import { quantizeFloat, type FixedFormat } from '../src/chaidnn/format';
import { quantizeForChain } from '../src/sim/fixed-chain';
import { randomInput } from './bench/netutil';
import { rng } from './helpers/rng';
import { runNodeHelper } from './helpers/cli';

beforeAll(async () => {
  await initKernels();
});
afterAll(() => shutdownKernels());
afterEach(() => setResidentChain(true));

const bits = (x: number): string => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x));

describe('--metrics layers on the resident chain (ImageNet nets at 32x32): the figures of the staged path', () => {
  // run on dist/ in a plain node process (test/helpers/sim-layers-run.js): the simulator is several times slower in jest's sandbox
  type Got = { convs: number; eltwise: number; shortcuts: number; sameWithoutShortcuts: boolean; resident: { convs: number; noRoom: number; eltwise: number }; sameStats: boolean; sameBlobs: boolean };
  let got: Record<string, Got>;
  beforeAll(() => {
    got = runNodeHelper('sim-layers-run.js');
  }, 300_000);
  // depthwise convs and ReLUs after folded BN/Scale; Concat and blobs read by several layers; residual Eltwise
  test.each(['mobilenet_v1.prototxt Xilinx', 'bvlc_googlenet.prototxt DynamicFixed', 'resnet50.prototxt Xilinx'])('%s', (name) => {
    const g = got[name];
    // the fixed convs and most local ones resident, never out of room (the local runs' blocks go back to the pool)
    expect(g.resident.convs).toBeGreaterThan(1.5 * g.convs);
    expect(g.resident.noRoom).toBe(0);
    // ResNet's residual Eltwise SUMs, fixed and local, in wasm (so the ReLU and 1x1 conv after them read resident blobs)
    expect(g.resident.eltwise).toBe(2 * g.eltwise);
    expect(g.sameStats).toBe(true);
    expect(g.sameBlobs).toBe(true);
    // GoogLeNet's 13 MAX pools and 9 Concats, ResNet's pool1: local runs taken from the quantized reference, the same figures
    if (!name.startsWith('mobilenet')) expect(g.shortcuts).toBeGreaterThan(0);
    expect(g.sameWithoutShortcuts).toBe(true);
  });
});

describe('the local runs\' inputs', () => {
  it('are quantized into wasm memory, the integers of quantizeFloat', () => {
    const t = randomInput([1, 8, 16, 16], 9);
    const q = quantizedReference(t, { mode: 'Xilinx', bw: 8, th: 0.9 });
    expect(isWasmArray(q as unknown as Float32Array)).toBe(true);
    expect(Array.from(q)).toEqual(Array.from(A.quantizeXilinx(t.data, 0.9, 8)));
  });
});

describe('the wasm quantizers (float32 lanes for the Xilinx input) equal quantizeFloat', () => {
  const r = rng(21);
  const x = Float32Array.from({ length: 20011 }, () => (r() - 0.5) * 30);
  const special = [0, -0, 0.5, -0.5, 1.5, -2.5, 1e-40, -1e-40, 1e-45, 3e38, -3e38, Infinity, -Infinity, NaN, 12.7, -12.7, 12.700001];
  special.forEach((v, i) => (x[i] = v));
  const formats: FixedFormat[] = [
    { mode: 'Xilinx', bw: 8, th: 12.7 }, { mode: 'Xilinx', bw: 8, th: 0.3 }, { mode: 'Xilinx', bw: 6, th: 3.1 }, { mode: 'Xilinx', bw: 16, th: 7 },
    { mode: 'Xilinx', bw: 24, th: 1 }, { mode: 'Xilinx', bw: 8, th: -2 }, { mode: 'Xilinx', bw: 8, th: 1e-30 }, { mode: 'DynamicFixed', bw: 8, fl: 4 },
  ];
  // ties of the rounding: (k + 0.5)·sf in float32, as many as the scale allows
  const tiesOf = (fmt: FixedFormat): Float32Array => {
    if (fmt.mode !== 'Xilinx') return x;
    const sf = A.scaleFactor(Math.fround(fmt.th), fmt.bw);
    const t = x.slice();
    for (let k = 0; k < 4000; k++) t[100 + k] = Math.fround((k - 2000 + 0.5) * sf);
    return t;
  };
  test.each(formats.map((f) => [JSON.stringify(f), f] as const))('%s', (_n, fmt) => {
    const xs = tiesOf(fmt);
    for (const netInput of [true, false]) {
      expect(sameInts(quantizeForChain(xs, fmt, netInput), quantizeFloat(xs, fmt, netInput))).toBe(true);
    }
  });
});

describe('error sums of two fixed versions in one pass', () => {
  function data(n: number, seed: number): { ref: Float32Array; q: Int32Array; q2: Int32Array } {
    const r = rng(seed);
    const ref = wasmFloat32Array(n)!;
    const q = new Int32Array(n);
    const q2 = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      ref[i] = (r() - 0.5) * 3;
      q[i] = Math.round(ref[i] * 40 + (r() - 0.5) * 4);
      q2[i] = Math.round(ref[i] * 10 + (r() - 0.5) * 3);
    }
    return { ref, q, q2 };
  }
  const cases: Array<[string, number, (d: ReturnType<typeof data>) => void]> = [
    ['plain, a length that is not a multiple of 4', 10007, () => undefined],
    ['rails, INT32_MIN, a NaN and an infinite reference value', 5003, (d) => {
      d.q[3] = 127;
      d.q2[10] = -127;
      d.q[4000] = -(2 ** 31);
      d.ref[2049] = NaN;
      d.ref[7] = -Infinity;
    }],
    ['a NaN in the tail only', 4099, (d) => (d.ref[4098] = NaN)],
  ];
  test.each(cases)('%s: the sums of two single passes', (_n, n, edit) => {
    const d = data(n, n);
    edit(d);
    const a = { q: d.q, scale: 1 / 40, m: 127 };
    const b = { q: d.q2, scale: Math.fround(0.1), m: 31 };
    const pair = fixedErrorSumsOf(d.ref, [a, b])!;
    const one = [fixedErrorSums(d.ref, a.q, a.scale, a.m)!, fixedErrorSums(d.ref, b.q, b.scale, b.m)!];
    expect(pair.map((s) => Object.values(s).map(bits))).toEqual(one.map((s) => Object.values(s).map(bits)));
    // integers in wasm memory are read in place: the same sums
    const zone = wasmFloat32Array(n)!;
    const qw = new Int32Array(zone.buffer, zone.byteOffset, n);
    qw.set(d.q);
    expect(isWasmArray(qw as unknown as Float32Array)).toBe(true);
    const inPlace = fixedErrorSumsOf(d.ref, [{ ...a, q: qw }, b])!;
    expect(inPlace.map((s) => Object.values(s).map(bits))).toEqual(one.map((s) => Object.values(s).map(bits)));
  });
});

describe('an in-place ReLU of a resident blob', () => {
  it('keeps its twin: the next conv reads it without staging, the integers of the staged path', () => {
    const r = rng(11);
    const x = Int32Array.from({ length: 16 * 9 * 9 }, () => Math.floor(r() * 255) - 127);
    const w = Int32Array.from({ length: 16 * 16 * 9 }, () => Math.floor(r() * 21) - 10);
    const S = new Float64Array(16).fill(40000);
    const g: A.ConvGeom = { inC: 16, inH: 9, inW: 9, outC: 16, outH: 9, outW: 9, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilH: 1, dilW: 1, group: 1 };
    const chain = (): Int32Array => {
      const y = A.convXilinx(quantizeForChain(Float32Array.from(x), { mode: 'DynamicFixed', bw: 8, fl: 0 }, true), w, null, S, g, 8, false);
      const z = A.reluInt(y, y);
      expect(z).toBe(y);
      return A.convXilinx(z, w, null, S, g, 8, false).slice();
    };
    const before = residentStats.staged;
    const fast = chain();
    expect(residentStats.staged).toBe(before);
    setResidentChain(false);
    expect(Array.from(fast)).toEqual(Array.from(chain()));
  });
});
