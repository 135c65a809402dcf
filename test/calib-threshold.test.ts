import * as fs from 'fs';
import * as path from 'path';
import {
  computeThreshold, computeThresholdKL, computeThresholdPercentile, snapPow2, absHistogram,
  computeThresholdMSEFromHist, computeThresholdEntropyFromHist,
} from '../src/calib/threshold';
import { accumulateAbsHistogram, histogramEdges, npSum, sqrtRuleBins } from '../src/calib/numpy';

const DIR = path.join(__dirname, 'fixtures', 'calib', 'threshold');
interface Case {
  name: string; offset: number; length: number; absMax: number; absMin: number; nbins?: number;
  histNonzero?: [number, number][]; percentile: Record<string, number>;
  results: { bw: number; original: number; nbins: number; allNaN: boolean; expected: number; fallback: boolean }[];
}
const meta = JSON.parse(fs.readFileSync(path.join(DIR, 'cases.json'), 'utf8')) as { cases: Case[] };
const bin = fs.readFileSync(path.join(DIR, 'inputs.bin'));
const all = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength));
const data = (c: Case) => all.subarray(c.offset, c.offset + c.length);

/** printf('%.12g') of a float32, as the prototxt printer would show a threshold. */
function g12(x: number): string {
  const s = Math.fround(x).toPrecision(12);
  return s.includes('e') ? s : s.replace(/\.?0+$/, '');
}

describe('computeThresholdKL matches the numpy original (scripts/threshold_reference.py)', () => {
  it('has 20+ cases', () => expect(meta.cases.length).toBeGreaterThanOrEqual(20));
  for (const c of meta.cases) {
    it(c.name, () => {
      const x = data(c);
      if (c.nbins !== undefined) {
        const nb = sqrtRuleBins(x.length, c.absMin, c.absMax);
        expect(nb).toBe(c.nbins);
        const counts = new Float64Array(nb);
        accumulateAbsHistogram(x, Math.fround(c.absMax), nb, histogramEdges(Math.fround(c.absMax), nb), counts);
        const nz = [...counts].map((v, k) => [k, v]).filter(([, v]) => v > 0);
        expect(nz).toEqual(c.histNonzero);
      }
      for (const r of c.results) {
        const got = computeThresholdKL(x, r.bw);
        if (r.expected === 0) expect(got.th).toBe(0);
        else expect(Math.abs(got.th - r.expected) / r.expected).toBeLessThan(1e-6);
        expect(got.fallback !== undefined).toBe(r.fallback);
        // number[] input gives the same answer
        if (x.length < 2000) expect(computeThresholdKL(Array.from(x), r.bw).th).toBe(got.th);
      }
    });
  }
});

describe('percentile / max against numpy', () => {
  for (const c of meta.cases) {
    it(c.name, () => {
      const x = data(c);
      for (const [p, v] of Object.entries(c.percentile)) {
        const got = computeThresholdPercentile(x, Number(p)).th;
        expect(Math.abs(got - v)).toBeLessThanOrEqual(1e-6 * Math.max(Math.abs(v), 1e-30) + 1e-12);
      }
      expect(computeThreshold('max', x, 8).th).toBe(Math.fround(c.absMax));
    });
  }
});

describe('fcn5 input thresholds (chaidnn-semantics.md §4.3)', () => {
  it('N = 8·3·200·200 with max 151 gives 980 sqrt-rule bins', () => {
    expect(sqrtRuleBins(960000, 0, 151)).toBe(980);
  });
  it('(i+0.5)·float32(151/980) prints as the XportDNN values', () => {
    const edges = histogramEdges(151, 980);
    const w = Math.fround(edges[1] - edges[0]);
    expect(w).toBe(Math.fround(151 / 980));
    expect(g12((965 + 0.5) * w)).toBe('148.765808105');
    expect(g12((980 + 0.5) * w)).toBe('151.077041626');
    // the float64 width would not reproduce it
    expect(g12((965 + 0.5) * (151 / 980))).not.toBe('148.765808105');
  });
});

describe('edge cases and other methods', () => {
  it('all-zero → 0, first-bin-empty → max with a reason', () => {
    expect(computeThresholdKL(new Float32Array(10), 8)).toEqual({ th: 0 });
    const c = meta.cases.find((k) => k.name === 'uniform_pos_empty_first_bin')!;
    const r = computeThresholdKL(data(c), 8);
    expect(r.th).toBe(Math.fround(c.absMax));
    expect(r.fallback).toMatch(/first histogram bin is empty/);
  });
  it('accepts an exact histogram input', () => {
    const c = meta.cases.find((k) => k.name === 'relu_30k')!;
    const counts = new Float64Array(c.nbins!);
    for (const [k, v] of c.histNonzero!) counts[k] = v;
    expect(computeThresholdKL({ counts, mx: c.absMax }, 8).th).toBe(computeThresholdKL(data(c), 8).th);
  });
  it('npSum follows numpy pairwise order closely', () => {
    const a = Float64Array.from({ length: 1000 }, (_, i) => 1 / (i + 1));
    let s = 0;
    for (const v of a) s += v;
    expect(Math.abs(npSum(a) - s)).toBeLessThan(1e-12);
  });
  it('snapPow2 snaps the scale factor up to a power of two', () => {
    expect(snapPow2(200, 8)).toBe(254);
    expect(snapPow2(127, 8)).toBe(127);
    expect(snapPow2(1, 8)).toBe(127 / 64);
    expect(snapPow2(10, 6)).toBe(31 * 0.5);
    expect(snapPow2(0, 8)).toBe(0);
  });
  it('mse / entropy pick thresholds inside (0, max] and clip long tails', () => {
    const c = meta.cases.find((k) => k.name === 'huge_outlier')!;
    const x = data(c);
    const te = computeThreshold('entropy', x, 8).th;
    expect(te).toBeGreaterThan(0);
    expect(te).toBeLessThan(500); // entropy clips the single 1000 outlier
    // MSE keeps it: clipping 1000 costs more squared error than coarse steps on 50000 normals
    expect(computeThreshold('mse', x, 8).th).toBeGreaterThan(900);
    // uniform data: MSE threshold is near the max
    const u = meta.cases.find((k) => k.name === 'uniform_5k')!;
    expect(computeThreshold('mse', data(u), 8).th).toBeGreaterThan(0.9);
  });
  it('mse threshold minimises the histogram MSE over its grid', () => {
    const c = meta.cases.find((k) => k.name === 'laplace_20k')!;
    const h = absHistogram(data(c), 256);
    const th = computeThresholdMSEFromHist(h, 6).th;
    const mse = (t: number) => {
      const sf = t / 31;
      let e = 0;
      for (let k = 0; k < 256; k++) {
        const v = (k + 0.5) * h.binWidth;
        const d = Math.round(Math.min(v, t) / sf) * sf - v;
        e += h.counts[k] * d * d;
      }
      return e;
    };
    for (let k = 0; k < 256; k++) expect(mse(th)).toBeLessThanOrEqual(mse(Math.min((k + 0.5) * h.binWidth, h.absMax)) + 1e-9);
  });
  it('entropy on all-zero and tiny histograms', () => {
    expect(computeThresholdEntropyFromHist(absHistogram(new Float32Array(5)), 8).th).toBe(0);
    const t = computeThreshold('entropy', [1, 2, 3], 8).th;
    expect(t).toBeGreaterThan(0);
    expect(t).toBeLessThanOrEqual(3);
  });
  it('rejects unknown methods and bad bit widths', () => {
    expect(() => computeThreshold('foo' as never, [1], 8)).toThrow(/unknown threshold method/);
    expect(() => computeThreshold('kl', [1], 1)).toThrow(/bit width/);
  });
});

describe('SuffixPairwiseSum', () => {
  it('equals npSum of the spliced vector bit for bit', () => {
    const { SuffixPairwiseSum } = require('../src/calib/numpy') as typeof import('../src/calib/numpy');
    for (const n of [1, 5, 9, 130, 300, 1031]) {
      const suffix = Float64Array.from({ length: n }, (_, k) => Math.sin(k * 1.7) * 1e3 + 1 / (k + 1));
      const s = new SuffixPairwiseSum(suffix);
      for (let from = 1; from <= n; from += Math.max(1, Math.floor(n / 37))) {
        const a = Float64Array.from({ length: n }, (_, k) => (k < from ? Math.cos(k * 0.3) * 7 : 999));
        const spliced = Float64Array.from({ length: n }, (_, k) => (k < from ? a[k] : suffix[k]));
        expect(s.sum(a, from)).toBe(npSum(spliced));
      }
    }
  });
});
