import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { StatsCollector, saveStats, loadStats, mergeStats, thresholdFromStats, thresholdFromStatsDetailed } from '../src/calib/stats';
import { computeThreshold, computeThresholdKL } from '../src/calib/threshold';
import { ChaiqError } from '../src/errors';

/** Deterministic pseudo-normal values (mulberry32 + Box-Muller). */
function gen(n: number, seed: number, f: (z: number, u: number) => number): Float32Array {
  let a = seed >>> 0;
  const rnd = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
    out[i] = f(z, rnd());
  }
  return out;
}

const blobs: Record<string, Float32Array> = {
  conv1: gen(60000, 1, (z) => z * 3 + 0.5),
  relu1: gen(50000, 2, (z) => Math.max(0, z * 2)),
  fc: gen(30000, 3, (z, u) => (u < 0.001 ? 50 * z : z)),
};
// shards of different sizes, each observed in uneven batches
const cuts = [0, 0.2, 0.65, 1];
function shard(x: Float32Array, s: number): Float32Array[] {
  const a = Math.floor(x.length * cuts[s]);
  const b = Math.floor(x.length * cuts[s + 1]);
  const part = x.subarray(a, b);
  const out: Float32Array[] = [];
  for (let i = 0, k = 1; i < part.length; i += 777 * k, k++) out.push(part.subarray(i, Math.min(part.length, i + 777 * k)));
  return out;
}

const settings = { bw: 8, calibration: { dims: [3, 224, 224], mean: [104, 117, 123] } };
let tmp: string;
beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-stats-')); });
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('two-pass streaming stats merged over 3 shards', () => {
  it('gives exactly the all-at-once KL threshold, and the same fine histogram', () => {
    // pass 1 per shard → files → merge
    const p1: string[] = [];
    for (let s = 0; s < 3; s++) {
      const c = new StatsCollector(settings);
      c.shards.push({ shard: s });
      for (const [name, x] of Object.entries(blobs)) for (const b of shard(x, s)) c.observe(name, b);
      const f = path.join(tmp, `p1_${s}.json`);
      saveStats(f, c);
      p1.push(f);
    }
    const merged1 = path.join(tmp, 'p1.json');
    saveStats(merged1, mergeStats(p1));
    // pass 2 per shard, planned from the merged pass-1 file
    const p2: string[] = [];
    for (let s = 0; s < 3; s++) {
      const c = loadStats(merged1);
      c.beginExactPass();
      for (const [name, x] of Object.entries(blobs)) for (const b of shard(x, s)) c.observeExact(name, b);
      const f = path.join(tmp, `p2_${s}.json`);
      saveStats(f, c);
      p2.push(f);
    }
    const final = StatsCollector.fromJSON(mergeStats(p2));
    // single collector over everything
    const one = new StatsCollector(settings);
    for (const [name, x] of Object.entries(blobs)) one.observe(name, x);
    for (const [name, x] of Object.entries(blobs)) {
      const s = final.get(name);
      const o = one.get(name);
      expect(s.count).toBe(x.length);
      expect(s.absMax).toBe(o.absMax);
      expect(s.absMin).toBe(o.absMin);
      expect(s.min).toBe(o.min);
      expect(s.max).toBe(o.max);
      expect(s.fine.range).toBe(o.fine.range);
      expect(Array.from(s.fine.counts)).toEqual(Array.from(o.fine.counts));
      for (const bw of [6, 8, 16]) {
        const direct = computeThresholdKL(x, bw);
        expect(thresholdFromStats(s, 'kl', bw)).toBe(direct.th);
      }
      expect(thresholdFromStats(s, 'max', 8)).toBe(computeThreshold('max', x, 8).th);
      const pExact = computeThreshold('percentile', x, 8, { percentile: 99.9 }).th;
      const pStats = thresholdFromStats(s, 'percentile', 8, { percentile: 99.9 });
      const sorted = Float32Array.from(x, Math.abs).sort();
      const r = Math.floor(0.999 * (x.length - 1));
      const gap = sorted[r + 1] - sorted[r]; // np.percentile interpolates across this gap
      expect(Math.abs(pStats - pExact)).toBeLessThanOrEqual(gap + s.fine.range / s.fine.bins + 1e-9);
      for (const m of ['mse', 'entropy'] as const) {
        const t = thresholdFromStats(s, m, 8);
        expect(t).toBeGreaterThan(0);
        expect(t).toBeLessThanOrEqual(s.absMax * (1 + 1e-9));
      }
    }
    // merged pass-1 and pass-2 stats are the same regardless of order
    const rev = StatsCollector.fromJSON(mergeStats([...p2].reverse()));
    expect(thresholdFromStats(rev.get('fc'), 'kl', 8)).toBe(thresholdFromStats(final.get('fc'), 'kl', 8));
    expect(final.shards).toEqual([{ shard: 0 }, { shard: 1 }, { shard: 2 }]);
  });

  it('in-process two passes equal the direct threshold too', () => {
    const c = new StatsCollector();
    const x = blobs.relu1;
    for (let i = 0; i < x.length; i += 5000) c.observe('r', x.subarray(i, i + 5000));
    c.beginExactPass();
    for (let i = 0; i < x.length; i += 3000) c.observeExact('r', x.subarray(i, i + 3000));
    expect(thresholdFromStatsDetailed(c.get('r'), 'kl', 6)).toEqual(computeThresholdKL(x, 6));
  });

  it('all-zero blobs and fine-histogram growth', () => {
    const c = new StatsCollector({ fineBins: 16 });
    c.observe('z', new Float32Array(10));
    c.observe('z', Float32Array.from([0.1, 0.2]));
    c.observe('z', Float32Array.from([3.9, -7]));
    const s = c.get('z');
    expect(s.fine.range).toBe(8);
    // 8/16 = 0.5 wide bins: 12 values in bin 0, 3.9 → bin 7, 7 → bin 14
    expect(s.fine.counts[0]).toBe(12);
    expect(s.fine.counts[7]).toBe(1);
    expect(s.fine.counts[14]).toBe(1);
    const z = new StatsCollector();
    z.observe('z', new Float32Array(5));
    z.beginExactPass();
    z.observeExact('z', new Float32Array(5));
    expect(thresholdFromStats(z.get('z'), 'kl', 8)).toBe(0);
    expect(thresholdFromStats(z.get('z'), 'mse', 8)).toBe(0);
  });
});

describe('errors', () => {
  it('kl without the exact pass, incomplete pass, unknown blob', () => {
    const c = new StatsCollector();
    c.observe('a', Float32Array.from([1, 2, 3]));
    expect(() => thresholdFromStats(c.get('a'), 'kl', 8)).toThrow(/exact second calibration pass/);
    c.beginExactPass();
    c.observeExact('a', Float32Array.from([1, 2]));
    expect(() => thresholdFromStats(c.get('a'), 'kl', 8)).toThrow(/saw 2 of 3/);
    expect(() => c.observe('a', Float32Array.from([1]))).toThrow(ChaiqError);
    expect(() => c.observeExact('b', Float32Array.from([1]))).toThrow(/not seen in pass 1/);
    expect(() => c.get('nope')).toThrow(/no statistics/);
  });
  it('refuses to merge incompatible settings or a doubled shard', () => {
    const a = new StatsCollector({ bw: 8 });
    const b = new StatsCollector({ bw: 6 });
    a.observe('x', Float32Array.from([1]));
    b.observe('x', Float32Array.from([1]));
    expect(() => a.merge(b)).toThrow(/incompatible statistics/);
    const p = new StatsCollector();
    p.observe('x', Float32Array.from([1, 2]));
    p.beginExactPass();
    p.observeExact('x', Float32Array.from([1, 2]));
    const q = StatsCollector.fromJSON(p.toJSON());
    expect(() => p.merge(q)).toThrow(/merged twice/);
  });
  it('bad files name the file', () => {
    const f = path.join(tmp, 'bad.json');
    fs.writeFileSync(f, '{"format":"other"}');
    try {
      loadStats(f);
      throw new Error('no throw');
    } catch (e) {
      expect(e).toBeInstanceOf(ChaiqError);
      expect((e as ChaiqError).loc.file).toBe(f);
      expect((e as Error).message).toMatch(/not a chaiq stats file/);
    }
    expect(() => loadStats(path.join(tmp, 'missing.json'))).toThrow(/cannot read stats file/);
    fs.writeFileSync(f, '{oops');
    expect(() => loadStats(f)).toThrow(/not valid JSON/);
    expect(() => mergeStats([])).toThrow(/no stats files/);
  });
  it('rejects NaN input', () => {
    expect(() => new StatsCollector().observe('n', Float32Array.from([1, NaN]))).toThrow(/NaN/);
  });
});

describe('collectStats', () => {
  it('runs the forward loop twice for kl and matches the direct threshold', async () => {
    const { collectStats, needsExactPass } = await import('../src/calib/stats');
    const x = blobs.fc;
    const c = await collectStats((emit) => {
      for (let i = 0; i < x.length; i += 4096) emit('fc', x.subarray(i, i + 4096));
    }, { exact: needsExactPass('kl') });
    expect(thresholdFromStats(c.get('fc'), 'kl', 8)).toBe(computeThresholdKL(x, 8).th);
    expect(needsExactPass('max')).toBe(false);
    await expect(collectStats((emit, pass) => emit('a', new Float32Array(pass === 1 ? 3 : 2)), { exact: true }))
      .rejects.toThrow(/non-deterministic/);
  });
});
