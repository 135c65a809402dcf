/**
 * What makes `simulate --metrics layers` cheap gives the figures of the plain definitions, bit for bit: the
 * float reference on runNet (reused buffers, conv fused with the BN/Scale the fixed step folds, in lockstep)
 * against each layer's own forward; the error sums on the wasm loop and the one-pass JS loop against
 * accumulateError of the dequantized array; the branch-free rounding and clamps against their definitions;
 * the local inputs quantized once per tensor and format.
 */
import { initKernels, wasmFloat32Array } from '../src/kernels';
import { setUseWasm } from '../src/kernels/config';
import { fixedErrorSums } from '../src/kernels/sim-metrics';
import * as A from '../src/chaidnn/arith';
import { dequantize, type FixedFormat } from '../src/chaidnn/format';
import { accumulateError, accumulateFixedError, newErrorAcc } from '../src/sim/metrics';
import { annotateXilinx } from '../src/sim/annotate';
import { compileSim, newSimStats, runSim } from '../src/sim/simulate';
import { referenceFusion, setReferenceOnExecutor } from '../src/sim/reference';
import { forgetQuantized, quantizedReference, sameAsFixed, sameInts } from '../src/sim/local';
import { accumulatorsJSON, addImageStats, newSimAccumulators } from '../src/sim/results';
import { randomInput } from './bench/netutil';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import type { Net } from '../src/graph/types';
import { rng } from './helpers/rng';

beforeAll(async () => {
  await initKernels();
});

const bits = (x: number): string => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x));

describe('error sums', () => {
  function data(n: number, seed: number): { ref: Float32Array; q: Int32Array } {
    const r = rng(seed);
    const ref = new Float32Array(n);
    const q = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      ref[i] = (r() - 0.5) * 3;
      q[i] = Math.round(ref[i] * 40 + (r() - 0.5) * 4);
    }
    return { ref, q };
  }

  const cases: Array<[string, number, (d: { ref: Float32Array; q: Int32Array }) => void]> = [
    ['plain, a length that is not a multiple of 4', 10007, () => undefined],
    ['values on the rails and INT32_MIN', 5003, (d) => {
      d.q[3] = 127;
      d.q[10] = -127;
      d.q[11] = -128;
      d.q[4000] = -(2 ** 31);
      d.q[5002] = 2 ** 31 - 1;
    }],
    ['a NaN reference value', 4099, (d) => (d.ref[2049] = NaN)],
    ['an infinite reference value', 4096, (d) => (d.ref[7] = -Infinity)],
  ];
  test.each(cases)('%s: wasm and JS loops equal accumulateError of the dequantized array', (_, n, edit) => {
    const d = data(n, n);
    edit(d);
    for (const fmt of [{ mode: 'Xilinx', bw: 8, th: 3.1 }, { mode: 'DynamicFixed', bw: 8, fl: 5 }] as FixedFormat[]) {
      const scale = fmt.mode === 'Xilinx' ? A.scaleFactor(fmt.th, fmt.bw) : 2 ** -fmt.fl;
      const want = newErrorAcc();
      want.maxAbsErr = 0.25; // accumulated over an earlier blob
      accumulateError(want, d.ref, dequantize(d.q, fmt), d.q, fmt.bw);
      const inWasm = wasmFloat32Array(n)!;
      inWasm.set(d.ref);
      expect(fixedErrorSums(inWasm, d.q, scale, 127)).not.toBeNull();
      for (const [ref, wasm] of [[d.ref, true], [inWasm, true], [d.ref, false]] as const) {
        setUseWasm(wasm);
        try {
          const got = newErrorAcc();
          got.maxAbsErr = 0.25;
          accumulateFixedError(got, ref, d.q, scale, fmt.bw);
          expect(Object.values(got).map(bits)).toEqual(Object.values(want).map(bits));
        } finally {
          setUseWasm(true);
        }
      }
    }
  });
});

describe('branch-free rounding', () => {
  const definition = (x: number): number => (x < 0 ? -Math.round(-x) : Math.round(x));
  test('roundHalfAway is C round() (a -0 gives +0)', () => {
    const xs = [0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994, 127.5, -127.5, 1e300, -1e300,
      2 ** 52 - 0.5, -(2 ** 52 - 0.5), 2 ** 53 + 2, NaN, Infinity, -Infinity, 0, -0, -0.3, 1e-320, -1e-320];
    const r = rng(3);
    for (let i = 0; i < 20000; i++) xs.push((r() - 0.5) * 600, Math.round((r() - 0.5) * 600) + 0.5);
    const wrong = xs.filter((x) => bits(A.roundHalfAway(x)) !== bits(Object.is(x, -0) ? 0 : definition(x)));
    expect(wrong).toEqual([]);
  });

  test('the quantizers equal their branchy definitions, clamps included', () => {
    const r = rng(4);
    const x = new Float32Array(30001);
    for (let i = 0; i < x.length; i++) x[i] = (r() - 0.5) * 8;
    x[5] = NaN;
    x[6] = Infinity;
    x[7] = -Infinity;
    const th = 2.7;
    const thf = Math.fround(th);
    const sf = A.scaleFactor(thf, 8);
    const inv = Math.fround(1 / sf);
    const clamp = (v: number, lo: number, hi: number) => (v > hi ? hi : v < lo ? lo : v);
    const xil = Int32Array.from(x, (v) => clamp(definition(Math.fround(clamp(v, -thf, thf) / sf)), -127, 127));
    const pack = Int32Array.from(x, (v) => clamp(Math.floor(Math.fround(Math.fround(clamp(v, -thf, thf) * inv) + 0.5)), -127, 127));
    const dfx = Int32Array.from(x, (v) => clamp(definition(clamp(v, -128 / 32, 127 / 32) * 32), -128, 127));
    expect(sameInts(A.quantizeXilinx(x, th, 8), xil)).toBe(true);
    expect(sameInts(A.quantizeXilinxPack(x, th, 8), pack)).toBe(true);
    expect(sameInts(A.quantizeDynamicFixed(x, 8, 5), dfx)).toBe(true);
  });

  test('reluInt is max(x, 0), in place too', () => {
    const x = Int32Array.from({ length: 5001 }, (_, i) => ((i * 7919) % 257) - 128);
    x[0] = -(2 ** 31);
    x[1] = 2 ** 31 - 1;
    const want = Int32Array.from(x, (v) => (v > 0 ? v : 0));
    expect(sameInts(A.reluInt(x), want)).toBe(true);
    expect(sameInts(A.reluInt(x, x), want)).toBe(true);
  });
});

describe('local inputs', () => {
  test('a reference tensor is quantized once per format, again after the observer replaces it', () => {
    const t = randomInput([1, 4, 8, 8], 5);
    const f1: FixedFormat = { mode: 'Xilinx', bw: 8, th: 1 };
    const f2: FixedFormat = { mode: 'Xilinx', bw: 8, th: 0.5 };
    const a = quantizedReference(t, f1);
    expect(quantizedReference(t, { ...f1 })).toBe(a);
    expect(a).toEqual(A.quantizeXilinx(t.data, 1, 8));
    expect(quantizedReference(t, f2)).not.toBe(a);
    t.data[0] = 0.75; // an in-place layer wrote the blob
    forgetQuantized(t);
    expect(quantizedReference(t, f1)[0]).toBe(95);
    expect(sameAsFixed([a], [a.slice()], [f1], [f1])).toBe(true);
    expect(sameAsFixed([a], [a.slice()], [f1], [f2])).toBe(false);
  });
});

/**
 * A small net with what the reference run has to get right: convs with folded BN/Scale and an in-place ReLU
 * after them, a blob read by three layers (two convs, a residual Eltwise), a Concat, MAX and AVE pooling, an
 * InnerProduct on the ARM.
 */
const NET = `name: "mini"
input: "data" input_shape { dim: 1 dim: 3 dim: 16 dim: 16 }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "bn1" type: "BatchNorm" bottom: "conv1" top: "conv1" batch_norm_param { use_global_stats: true } }
layer { name: "sc1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2a" type: "Convolution" bottom: "pool1" top: "conv2a" convolution_param { num_output: 8 kernel_size: 1 } }
layer { name: "relu2a" type: "ReLU" bottom: "conv2a" top: "conv2a" }
layer { name: "conv2b" type: "Convolution" bottom: "pool1" top: "conv2b" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "bn2b" type: "BatchNorm" bottom: "conv2b" top: "conv2b" batch_norm_param { use_global_stats: true } }
layer { name: "sc2b" type: "Scale" bottom: "conv2b" top: "conv2b" scale_param { bias_term: true } }
layer { name: "relu2b" type: "ReLU" bottom: "conv2b" top: "conv2b" }
layer { name: "cat" type: "Concat" bottom: "conv2a" bottom: "conv2b" top: "cat" }
layer { name: "conv3" type: "Convolution" bottom: "cat" top: "conv3" convolution_param { num_output: 8 kernel_size: 1 } }
layer { name: "bn3" type: "BatchNorm" bottom: "conv3" top: "conv3" batch_norm_param { use_global_stats: true } }
layer { name: "sc3" type: "Scale" bottom: "conv3" top: "conv3" scale_param { bias_term: true } }
layer { name: "res" type: "Eltwise" bottom: "pool1" bottom: "conv3" top: "res" }
layer { name: "relu3" type: "ReLU" bottom: "res" top: "res" }
layer { name: "pool2" type: "Pooling" bottom: "res" top: "pool2" pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool2" top: "fc" inner_product_param { num_output: 10 } }
`;

function miniNet(seed: number): Net {
  const t = loadNetText('mini.prototxt', { text: NET });
  const net = buildNet(t.net, { file: 'mini.prototxt', warn: () => undefined });
  const r = rng(seed);
  const u = (n: number, lo: number, hi: number) => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  for (const node of net.layers) {
    const bs = node.bottomShapes as number[][];
    if (!node.def?.blobShapes || !bs.length) continue;
    node.blobs = node.def.blobShapes(node, bs).map((shape, bi) => {
      const n = shape.reduce((a, b) => a * b, 1);
      let data: Float32Array;
      if (node.type === 'BatchNorm') data = bi === 0 ? u(n, -0.1, 0.1) : bi === 1 ? u(n, 0.5, 1.5) : new Float32Array(n).fill(1);
      else if (node.type === 'Scale') data = bi === 0 ? u(n, 0.8, 1.2) : u(n, -0.1, 0.1);
      else if (bi === 0) {
        const a = Math.sqrt(6 / (n / shape[0]));
        data = u(n, -a, a);
      } else data = u(n, -0.05, 0.05);
      return { shape: [...shape], data };
    });
  }
  return net;
}

describe('float reference on the executor', () => {
  test('a conv is fused with the BatchNorm and Scale it folds; its ReLU and a residual Eltwise run as layers', () => {
    const net = miniNet(1);
    const prog = compileSim(net, { mode: 'Xilinx', warn: () => undefined });
    const f = referenceFusion(net, prog.steps);
    const idx = (name: string) => net.layers.findIndex((l) => l.name === name);
    expect([...f.keys()]).toEqual([idx('conv1'), idx('conv2b'), idx('conv3')]);
    for (const [ci, c] of f) {
      const st = prog.steps[ci];
      expect(st.kind === 'conv' && st.absorbed).toEqual([c.bn?.index, c.scale?.index]);
      expect(c.relu ?? c.eltwise).toBeUndefined();
    }
  });

  test('per-layer sums and reference values (the output: agreement) equal those of each layer\'s own forward', async () => {
    const net = miniNet(2);
    const inputs = [randomInput([1, 3, 16, 16], 11), randomInput([1, 3, 16, 16], 12), randomInput([1, 3, 16, 16], 13)];
    await annotateXilinx(net, inputs.slice(0, 1), 8, 'max');
    const prog = compileSim(net, { mode: 'Xilinx', warn: () => undefined });
    const runAll = async (keep: 'all' | string[]) => {
      const acc = newSimAccumulators();
      const refs: Array<[string, number[]]> = [];
      for (const x of inputs) {
        const stats = newSimStats();
        const r = await runSim(prog, x, { stats, keep });
        addImageStats(acc, stats);
        for (const [k, t] of r.reference) refs.push([k, Array.from(t.data)]);
      }
      return { acc: JSON.stringify(accumulatorsJSON(acc)), refs };
    };
    for (const keep of [['fc', 'cat'], 'all'] as const) {
      const fast = await runAll(keep as 'all' | string[]);
      setReferenceOnExecutor(false);
      let slow;
      try {
        slow = await runAll(keep as 'all' | string[]);
      } finally {
        setReferenceOnExecutor(true);
      }
      expect(fast.acc).toBe(slow.acc);
      expect(fast.refs).toEqual(slow.refs);
      expect(JSON.parse(fast.acc).layers.length).toBeGreaterThan(12);
    }
  });
});
