/**
 * An in-place ReLU's row of the per-layer table taken in its producer's pass over the reference (observer.ts
 * reluFollows, wasm/sim-metrics.c's ReLU operand): max(q, 0) against max(ref, 0) as the float ReLU writes it
 * (NaN, -0 and -Inf give +0). The sums are those of the ReLU's own pass bit for bit: on the wasm loop (both
 * builds, 1 and 2 threads, float32 and double routes) and the JS one, and the nets' tables with the switch on and off.
 */
import * as A from '../src/chaidnn/arith';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import type { Net } from '../src/graph/types';
import { initKernels, setResidentChain, setThreads, setUseWasm, shutdownKernels } from '../src/kernels';
import { fixedErrorSumsOf, simThreadMinValues, simThreadStats, type FixedOperand, type ReluInPlace } from '../src/kernels/sim-metrics';
import { rt } from '../src/kernels/config';
import { accumulateFixedErrors, addFixedSums, ERROR_SUM_BLOCK, newErrorAcc, type ErrorAcc } from '../src/sim/metrics';
import { annotateXilinx } from '../src/sim/annotate';
import { compileSim, newSimStats, runSim } from '../src/sim/simulate';
import { reluRowStats, setReluRowsInProducerPass } from '../src/sim/observer';
import { setReferenceOnExecutor } from '../src/sim/reference';
import { annotateDynamicFixed } from './bench/netutil';
import type { Tensor } from '../src/tensor';
import { rng } from './helpers/rng';
import { errorSumData } from './helpers/error-sum-data';

const defaults = { ...simThreadMinValues };
beforeAll(async () => {
  setThreads(2);
  await initKernels();
  setThreads(1);
});
afterEach(() => {
  Object.assign(simThreadMinValues, defaults);
  setThreads(1);
  setUseWasm(true);
  setReluRowsInProducerPass(true);
  setReferenceOnExecutor(true);
  setResidentChain(true);
});
afterAll(() => shutdownKernels());

const bits = (x: number): string => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x));
const fields = (a: ErrorAcc): string[] => Object.entries(a).map(([k, v]) => `${k}=${bits(v)}`);
const B = ERROR_SUM_BLOCK;

/** The float ReLU's values (layers/relu.ts, kernels.c relu). */
const reluRef = (x: Float32Array): Float32Array => x.map((v) => (v > 0 ? v : 0));

interface Term { q: Int32Array; scale: number; bw: number }

/**
 * The ReLU row's accumulator both ways: its own pass (accumulateFixedErrors on the ReLU's blobs), and the sums
 * the producer's pass returns; the producer's accumulators must not change either.
 */
function bothWays(ref: Float32Array, terms: Term[]): { own: string[]; fused: string[]; producer: string[][]; producerAlone: string[][] } {
  const ownAcc = newErrorAcc();
  accumulateFixedErrors(reluRef(ref), [{ acc: ownAcc, q: A.reluInt(terms[0].q), scale: terms[0].scale, bw: terms[0].bw }]);
  const alone = terms.map(() => newErrorAcc());
  accumulateFixedErrors(ref, terms.map((t, k) => ({ acc: alone[k], ...t })));
  const accs = terms.map(() => newErrorAcc());
  const sums = accumulateFixedErrors(ref, terms.map((t, k) => ({ acc: accs[k], ...t })), true);
  const fusedAcc = newErrorAcc();
  if (sums) addFixedSums(fusedAcc, terms[0].q.length, sums);
  return { own: fields(ownAcc), fused: fields(fusedAcc), producer: accs.map(fields), producerAlone: alone.map(fields) };
}

function data(n: number, seed: number): { ref: Float32Array; q: Int32Array; q2: Int32Array } {
  const r = rng(seed);
  const { ref, q, q2 } = errorSumData(n, r);
  if (n > 20) {
    [ref[1], ref[2], ref[3], ref[4], ref[n - 1]] = [NaN, -0, Infinity, -Infinity, NaN];
    q[5] = -(2 ** 31);
    q[2] = 0;
  }
  return { ref, q, q2 };
}

const lengths = [0, 1, 2047, 2048, B - 1, B, B + 1, 2 * B + 5, 3 * B, 4 * B, 5 * B + 1, 9 * B + 7];
const s8 = 2 ** -5;
const sx = A.scaleFactor(3.1, 8);

/** Every case of the kernel comparison: lengths, one and two operands, both routes; the mismatches. */
function kernelCases(): string[] {
  const bad: string[] = [];
  for (const n of lengths) {
    const d = data(n, n + 3);
    const big = d.q.slice();
    if (n > 3 * B) big[3 * B + 7] = 2 ** 24 + 1; // its pair of blocks on the double route
    const cases: Array<[string, Term[]]> = [
      ['one', [{ q: d.q, scale: s8, bw: 8 }]],
      ['two', [{ q: d.q, scale: s8, bw: 8 }, { q: d.q2, scale: sx, bw: 6 }]],
      ['same twice', [{ q: d.q, scale: s8, bw: 8 }, { q: d.q, scale: s8, bw: 8 }]],
      ['> 2^24', [{ q: big, scale: sx, bw: 8 }, { q: d.q2, scale: s8, bw: 8 }]],
      ['scale not a float32', [{ q: d.q, scale: 0.1, bw: 8 }]],
      ['rail m = 0', [{ q: d.q2, scale: s8, bw: 1 }, { q: d.q, scale: 1 / 3, bw: 8 }]],
    ];
    for (const [what, terms] of cases) {
      const w = bothWays(d.ref, terms);
      if (JSON.stringify(w.own) !== JSON.stringify(w.fused) || JSON.stringify(w.producer) !== JSON.stringify(w.producerAlone)) bad.push(`${n} ${what}`);
    }
  }
  return bad;
}

describe('the ReLU operand of the error sums', () => {
  test('wasm on 1 and 2 threads and the JS loop: the sums of the ReLU\'s own pass (NaN, ±Inf, -0, INT32_MIN, both routes, tails)', () => {
    for (const [wasm, threads] of [[false, 1], [true, 1], [true, 2]] as const) {
      setUseWasm(wasm);
      setThreads(threads);
      simThreadMinValues.errSums = 0;
      const split = simThreadStats.errSums;
      expect([wasm, threads, ...kernelCases()]).toEqual([wasm, threads]);
      if (wasm && threads === 2) expect(simThreadStats.errSums).toBeGreaterThan(split);
    }
  });

  test('the other wasm build (CHAIQ_FMA flipped) gives the same sums', async () => {
    const saved = process.env.CHAIQ_FMA;
    process.env.CHAIQ_FMA = saved === '0' ? '1' : '0';
    try {
      let bad: string[] = [];
      let iso: { k: typeof import('../src/kernels'); m: typeof import('../src/sim/metrics'); sm: typeof import('../src/kernels/sim-metrics') } | null = null;
      jest.isolateModules(() => {
        iso = { k: require('../src/kernels'), m: require('../src/sim/metrics'), sm: require('../src/kernels/sim-metrics') };
      });
      const { k, m, sm } = iso!;
      k.setThreads(2);
      await k.initKernels();
      sm.simThreadMinValues.errSums = 0;
      for (const threads of [1, 2]) {
        k.setThreads(threads);
        for (const n of [2 * B + 5, 5 * B + 1]) {
          const d = data(n, n);
          const terms = [{ q: d.q, scale: s8, bw: 8 }, { q: d.q2, scale: sx, bw: 6 }];
          const own = m.newErrorAcc();
          m.accumulateFixedErrors(reluRef(d.ref), [{ acc: own, q: A.reluInt(d.q), scale: s8, bw: 8 }]);
          const sums = m.accumulateFixedErrors(d.ref, terms.map((t) => ({ acc: m.newErrorAcc(), ...t })), true);
          const fused = m.newErrorAcc();
          if (sums) m.addFixedSums(fused, n, sums);
          if (JSON.stringify(fields(own)) !== JSON.stringify(fields(fused))) bad.push(`${threads} ${n}`);
          // and the sums of this build's own pass are the default build's
          expect(fields(own)).toEqual(bothWays(d.ref, terms).own);
        }
      }
      expect(bad).toEqual([]);
      bad = [];
      await k.shutdownKernels();
    } finally {
      if (saved === undefined) delete process.env.CHAIQ_FMA;
      else process.env.CHAIQ_FMA = saved;
    }
  });

  test('fixedErrorSumsOf with the ReLU operand: one more set, the first operands\' unchanged', () => {
    const d = data(3 * B + 3, 9);
    const ops = [{ q: d.q, scale: s8, m: 127 }, { q: d.q2, scale: sx, m: 31 }];
    const base = fixedErrorSumsOf(d.ref, ops)!;
    const withRelu = fixedErrorSumsOf(d.ref, ops, true)!;
    expect(withRelu.length).toBe(3);
    expect(withRelu.slice(0, 2)).toEqual(base);
    expect(withRelu[2]).toEqual(fixedErrorSumsOf(reluRef(d.ref), [{ q: A.reluInt(d.q), scale: s8, m: 127 }])![0]);
    // a reference of another length: no ReLU sums (its row takes its own pass)
    expect(accumulateFixedErrors(d.ref.subarray(1), [{ acc: newErrorAcc(), q: d.q, scale: s8, bw: 8 }], true)).toBeUndefined();
  });
});

describe('the ReLU applied in the pass (fixedErrorSumsOf with a twin)', () => {
  test('q and its twin become max(q, 0) (sim_relu_twin\'s values), the sums those without it: both routes, tails, 1 and 2 threads, q read twice', () => {
    const r = rt()!;
    simThreadMinValues.errSums = 0;
    for (const threads of [1, 2]) {
      setThreads(threads);
      for (const n of [2048, B + 1, 2 * B + 5, 5 * B + 1, 9 * B + 7]) {
        const d = data(n, 7 * n);
        const cases: Array<[string, (q: Int32Array) => FixedOperand[]]> = [
          ['one', (q) => [{ q, scale: s8, m: 127 }]],
          ['two', (q) => [{ q, scale: s8, m: 127 }, { q: d.q2, scale: sx, m: 31 }]],
          ['q twice', (q) => [{ q, scale: s8, m: 127 }, { q, scale: sx, m: 127 }]],
          ['scale not a float32', (q) => [{ q, scale: 0.1, m: 127 }]],
          ['> 2^24', (q) => [{ q, scale: s8, m: 127 }]],
        ];
        for (const [what, opsOf] of cases) {
          const src = d.q.slice();
          if (what === '> 2^24') src[n > 2 * B ? B + 3 : n - 3] = 2 ** 24 + 9; // a pair's block, or the tail
          const want = fixedErrorSumsOf(d.ref, opsOf(src.slice()), true)!;
          const qv = r.zoneView(n)!;
          const fv = r.zoneView(n)!;
          const q = new Int32Array(qv.buffer, qv.byteOffset, n);
          q.set(src);
          fv.fill(NaN);
          const inPlace: ReluInPlace = { twin: fv };
          const got = fixedErrorSumsOf(d.ref, opsOf(q), true, inPlace);
          const tag = `${threads} ${n} ${what}`;
          let top = 0, wrongQ = 0, wrongF = 0;
          for (let i = 0; i < n; i++) {
            const v = Math.max(src[i], 0);
            top = Math.max(top, v);
            wrongQ += q[i] !== v ? 1 : 0;
            wrongF += fv[i] !== Math.fround(v) ? 1 : 0; // (float)v, as sim_relu_twin
          }
          expect([tag, inPlace.applied, inPlace.absMax, wrongQ, wrongF]).toEqual([tag, true, top, 0, 0]);
          expect([tag, got]).toEqual([tag, want]);
          r.zoneReturn(qv);
          r.zoneReturn(fv);
        }
      }
    }
    // integers not in the kernels' memory (copied in): nothing applied
    const d = data(3 * B, 1);
    const tw = r.zoneView(3 * B)!;
    const inPlace: ReluInPlace = { twin: tw };
    fixedErrorSumsOf(d.ref, [{ q: d.q, scale: s8, m: 127 }], true, inPlace);
    expect(inPlace.applied).toBeUndefined();
    expect(d.q.some((v) => v < 0)).toBe(true);
    r.zoneReturn(tw);
  });
});

const C = 16;
const H = 24; // 16·24·24 = 9216 values: two full blocks and a tail

function convText(name: string, bottom: string, top: string, out = C, k = 3): string {
  return `layer { name: "${name}" type: "Convolution" bottom: "${bottom}" top: "${top}"
  convolution_param { num_output: ${out} kernel_size: ${k} pad: ${(k - 1) / 2} } }`;
}
const relu = (name: string, blob: string, top = blob, extra = ''): string =>
  `layer { name: "${name}" type: "ReLU" bottom: "${blob}" top: "${top}" ${extra} }`;

/** data → the layers; every conv's weights random, BatchNorm/Scale near identity */
function net(layers: string[], seed: number): Net {
  const text = `name: "t"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: ${C} dim: ${H} dim: ${H} } } }\n${layers.join('\n')}\n`;
  const built = buildNet(loadNetText('t.prototxt', { text }).net, { file: 't.prototxt' });
  const r = rng(seed);
  const u = (n: number, lo: number, hi: number): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  const weights = new Map<string, Tensor[]>();
  for (const l of built.layers) {
    if (l.type === 'Convolution') weights.set(l.name, [{ shape: [C, C, 3, 3], data: u(C * C * 9, -0.2, 0.2) }, { shape: [C], data: u(C, -0.3, 0.3) }]);
    if (l.type === 'BatchNorm') weights.set(l.name, [{ shape: [C], data: u(C, -0.1, 0.1) }, { shape: [C], data: u(C, 0.5, 1.5) }, { shape: [1], data: new Float32Array([1]) }]);
    if (l.type === 'Scale') weights.set(l.name, [{ shape: [C], data: u(C, 0.8, 1.2) }, { shape: [C], data: u(C, -0.1, 0.1) }]);
  }
  return buildNet(loadNetText('t.prototxt', { text }).net, { weights, file: 't.prototxt' });
}

function input(seed: number, special: boolean): Tensor {
  const r = rng(seed);
  const x = { shape: [1, C, H, H], data: Float32Array.from({ length: C * H * H }, () => (r() - 0.5) * 4) };
  if (special) [x.data[7], x.data[300], x.data[4000]] = [NaN, Infinity, -Infinity];
  return x;
}

const nets: Record<string, string[]> = {
  'conv → ReLU': [convText('c1', 'data', 'c1'), relu('r1', 'c1'), convText('c2', 'c1', 'c2'), relu('r2', 'c2')],
  'conv → BN → Scale → ReLU': [convText('c1', 'data', 'c1'),
    'layer { name: "bn" type: "BatchNorm" bottom: "c1" top: "c1" }',
    'layer { name: "sc" type: "Scale" bottom: "c1" top: "c1" scale_param { bias_term: true } }', relu('r1', 'c1')],
  'Eltwise → ReLU': [convText('c1', 'data', 'c1'), relu('r1', 'c1'), convText('c2', 'c1', 'c2'),
    'layer { name: "sum" type: "Eltwise" bottom: "c1" bottom: "c2" top: "sum" }', relu('r2', 'sum')],
  'a ReLU with negative_slope': [convText('c1', 'data', 'c1'), relu('r1', 'c1', 'c1', 'relu_param { negative_slope: 0.1 }')],
  'a ReLU not in place': [convText('c1', 'data', 'c1'), relu('r1', 'c1', 'r1'), convText('c2', 'r1', 'c2')],
};
/** the ReLU rows taken in the producer's pass, per image */
const fusedPerImage: Record<string, number> = {
  'conv → ReLU': 2, 'conv → BN → Scale → ReLU': 1, 'Eltwise → ReLU': 2, 'a ReLU with negative_slope': 0, 'a ReLU not in place': 0,
};

/**
 * Two images (the second with NaN and ±Inf) through the net: the per-layer stats, the integers of every blob, the
 * ReLU rows fused and the ReLUs applied in the producer's pass.
 */
async function table(n: Net, mode: 'Xilinx' | 'DynamicFixed', on: boolean, apply = true): Promise<{ stats: string; ints: string; fused: number; applied: number }> {
  setReluRowsInProducerPass(on, apply);
  const prog = compileSim(n, { mode });
  const stats = newSimStats();
  const before = { ...reluRowStats };
  let ints = '';
  for (const [seed, special] of [[1, false], [2, true]] as const) {
    const r = await runSim(prog, input(seed, special), { stats, warn: () => {}, keep: 'all' });
    for (const [b, q] of r.fixed) ints += `${b}:${Buffer.from(q.buffer, q.byteOffset, q.byteLength).toString('base64')} `;
  }
  return {
    stats: JSON.stringify([...stats.layers.values()], (_k, v) => (typeof v === 'number' ? bits(v) : v)), ints,
    fused: reluRowStats.fused - before.fused, applied: reluRowStats.applied - before.applied,
  };
}

describe('the per-layer table with the ReLU rows in the producer\'s pass', () => {
  const combos: Array<[string, 'Xilinx' | 'DynamicFixed']> = Object.keys(nets).flatMap((k) => [[k, 'Xilinx'], [k, 'DynamicFixed']] as Array<[string, 'Xilinx' | 'DynamicFixed']>);
  test.each(combos)('%s, %s: the figures of the ReLU\'s own pass (wasm on 1 and 2 threads, JS, the reference on fresh arrays)', async (name, mode) => {
    const n = net(nets[name], name.length);
    if (mode === 'Xilinx') await annotateXilinx(n, [input(5, false)], 8, 'max');
    else await annotateDynamicFixed(n, [input(5, false)], 8);
    const runs: Array<[string, () => void]> = [
      ['wasm, 1 thread', () => setThreads(1)],
      ['wasm, 2 threads', () => { setThreads(2); simThreadMinValues.errSums = 0; }],
      ['JS', () => setUseWasm(false)],
      ['no resident chain', () => setResidentChain(false)],
      ['reference on fresh arrays', () => setReferenceOnExecutor(false)],
    ];
    const want = await table(n, mode, false);
    expect(want.fused).toBe(0);
    for (const [what, set] of runs) {
      set();
      const off = await table(n, mode, false);
      const sums = await table(n, mode, true, false);
      const on = await table(n, mode, true);
      expect([what, on.fused, sums.fused, sums.applied]).toEqual([what, 2 * fusedPerImage[name], 2 * fusedPerImage[name], 0]);
      // the ReLU applied in the pass wherever the integers and their twin are in the kernels' memory
      expect([what, on.applied]).toEqual([what, what === 'JS' || what === 'no resident chain' ? 0 : 2 * fusedPerImage[name]]);
      expect([what, on.stats, sums.stats]).toEqual([what, off.stats, off.stats]);
      expect([what, on.ints === off.ints, sums.ints === off.ints]).toEqual([what, true, true]);
      // nor on the thread count (the JS loop and the reference's layer-by-layer forwards round the float net differently)
      if (what === 'wasm, 2 threads') expect([on.stats, on.ints === want.ints]).toEqual([want.stats, true]);
      setThreads(1);
      setUseWasm(true);
      setResidentChain(true);
      setReferenceOnExecutor(true);
      Object.assign(simThreadMinValues, defaults);
    }
  });
});
