/**
 * Streaming calibration statistics: observe ~50M activation values (pass 1 and the exact pass 2),
 * save 8 shard files and merge them. Baseline in the same run: a plain max|x| loop over the same values.
 * Standalone: `node dist/test/bench/merge.bench.js`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { StatsCollector, mergeStats, saveStats, thresholdFromStats } from '../../src/calib/stats';

const BATCH = 1 << 20;
const BLOBS = 10;
const BATCHES_PER_BLOB = 5; // 10 blobs × 5 × 1M ≈ 52M values

function makeBatch(seed: number): Float32Array {
  const x = new Float32Array(BATCH);
  let s = seed >>> 0;
  for (let i = 0; i < BATCH; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 4294967296;
    x[i] = u < 0.4 ? 0 : Math.log(u / 0.4) * (1 + (seed % 7)) * (i & 1 ? 1 : -1); // ReLU-ish / laplace-ish
  }
  return x;
}

const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

export async function run(): Promise<Record<string, number | string>> {
  const batches = Array.from({ length: BATCHES_PER_BLOB }, (_, k) => makeBatch(k + 1));
  const total = BLOBS * BATCHES_PER_BLOB * BATCH;
  // baseline: max|x| over the same values
  let t0 = process.hrtime.bigint();
  let sink = 0;
  for (let b = 0; b < BLOBS; b++) for (const x of batches) {
    let m = 0;
    for (let i = 0; i < x.length; i++) { const a = Math.abs(x[i]); if (a > m) m = a; }
    sink += m;
  }
  const baseMs = ms(t0);
  const c = new StatsCollector({ bw: 8 });
  t0 = process.hrtime.bigint();
  for (let b = 0; b < BLOBS; b++) for (const x of batches) c.observe(`blob${b}`, x);
  const pass1Ms = ms(t0);
  c.beginExactPass();
  t0 = process.hrtime.bigint();
  for (let b = 0; b < BLOBS; b++) for (const x of batches) c.observeExact(`blob${b}`, x);
  const pass2Ms = ms(t0);
  t0 = process.hrtime.bigint();
  const th = thresholdFromStats(c.get('blob0'), 'kl', 8);
  const klMs = ms(t0);
  const nbins = c.get('blob0').exact!.nbins;

  // 8 pass-1 shard files with 50 blobs each (≈ 1/8 of the values each), then merge them
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-merge-bench-'));
  try {
    const files: string[] = [];
    const small = batches[0].subarray(0, BATCH / 8);
    for (let s = 0; s < 8; s++) {
      const sc = new StatsCollector({ bw: 8 });
      for (let b = 0; b < 50; b++) sc.observe(`blob${b}`, small.map((v) => v * (1 + 0.1 * s)));
      const f = path.join(tmp, `shard${s}.json`);
      saveStats(f, sc);
      files.push(f);
    }
    const bytes = files.reduce((a, f) => a + fs.statSync(f).size, 0);
    t0 = process.hrtime.bigint();
    const merged = mergeStats(files);
    const mergeMs = ms(t0);
    return {
      values: total,
      'baseline max|x| ms': Math.round(baseMs),
      'pass-1 observe ms': Math.round(pass1Ms),
      'pass-1 Mvalues/s': Math.round(total / pass1Ms / 1e3),
      'pass-1 / baseline': +(pass1Ms / baseMs).toFixed(2),
      'pass-2 exact histogram ms': Math.round(pass2Ms),
      'pass-2 Mvalues/s': Math.round(total / pass2Ms / 1e3),
      [`kl threshold ms (${nbins} bins)`]: +klMs.toFixed(1),
      'kl threshold blob0': +th.toPrecision(9),
      'merge 8 shard files (50 blobs) ms': Math.round(mergeMs),
      'shard files total kB': Math.round(bytes / 1024),
      'merged blobs': Object.keys(merged.blobs).length,
      sink: sink > 0 ? 'ok' : 'zero',
    };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  run().then((r) => console.log(r), (e) => { console.error(e); process.exitCode = 1; });
}
