/**
 * Streaming, mergeable per-blob activation statistics.
 *
 * KL (ComputeThreshold) needs np.histogram(|x|, 'sqrt', range=(0, max)) over ALL calibration values; its
 * bin count depends on N, min|x| and max|x|, so it is only known at the end. We therefore calibrate in two
 * passes, both mergeable across shards:
 *  - pass 1 (`observe`): count, min, max, min|x|, max|x|, Σx, Σx² and a fine power-of-two histogram of |x|
 *    (FINE_BINS bins over [0, R), R the smallest power of two > max|x|; growing R merges bin groups, which is
 *    exact because bins stay aligned). Enough for max / percentile / mse / entropy (histogram-approximate).
 *  - pass 2 (`beginExactPass` + `observeExact`): with N/min|x|/max|x| now fixed, accumulate numpy's exact
 *    sqrt-rule histogram, so the KL threshold equals computing on all values at once.
 * Merge = sum counts, min of mins, max of maxes, sum histograms.
 */
import { writeFileAtomic } from '../io/atomic';
import { fsErrorWords } from '../io/fserr';
import * as fs from 'fs';
import { ChaiqError } from '../errors';
import { accumulateAbsHistogram, histogramEdges, sqrtRuleBins } from './numpy';
import {
  AbsHistogram, ThresholdMethod, ThresholdResult, THRESHOLD_METHODS, checkBw,
  computeThresholdEntropyFromHist, computeThresholdKLFromHist, computeThresholdMSEFromHist,
} from './threshold';

export const STATS_FORMAT = 'chaiq-stats';
export const STATS_VERSION = 1;
export const DEFAULT_FINE_BINS = 8192;

const f32 = Math.fround;

/** Fine histogram of |x| over [0, range) with `bins` equal bins; range is a power of two (0 = only zeros seen). */
export interface FineHistogram {
  range: number;
  bins: number;
  counts: Float64Array;
}

/** The exact sqrt-rule histogram of pass 2, planned from the merged pass-1 stats. */
export interface ExactHistogram {
  /** pass-1 N, min|x|, max|x| it was planned from (merging requires equality). */
  plannedCount: number;
  mx: number;
  nbins: number;
  counts: Float64Array;
  /** values seen in pass 2 (complete when equal to plannedCount). */
  seen: number;
}

export interface BlobStats {
  count: number;
  min: number;
  max: number;
  absMin: number;
  absMax: number;
  sum: number;
  sumSq: number;
  fine: FineHistogram;
  exact?: ExactHistogram;
}

/** Settings recorded in a stats file; files merge only when these agree. */
export interface StatsSettings {
  /** activation bit width the stats are meant for (informational; KL takes bw at threshold time). */
  bw?: number;
  fineBins?: number;
  /** shard-invariant calibration settings (dims, mean, raw_scale, model hash, method…). */
  calibration?: Record<string, unknown>;
}

/** Sparse counts: `nz` is a flat [index, count, index, count, …] list of the non-zero bins. */
interface SparseCounts { n: number; nz: number[] }

export interface StatsFileBlob {
  count: number; min: number | null; max: number | null; absMin: number | null; absMax: number | null;
  sum: number; sumSq: number;
  fine: { range: number; bins: number; counts: SparseCounts };
  exact?: { plannedCount: number; mx: number; nbins: number; seen: number; counts: SparseCounts };
}

export interface StatsFile {
  format: typeof STATS_FORMAT;
  version: number;
  /** 1 = pass-1 stats only; 2 = pass-1 stats (frozen) + exact KL histograms. */
  pass: 1 | 2;
  settings: StatsSettings;
  /** shard-specific info (seed, indices, image count); never compared when merging. */
  shards: Record<string, unknown>[];
  blobs: Record<string, StatsFileBlob>;
}

function emptyBlob(fineBins: number): BlobStats {
  return {
    count: 0, min: Infinity, max: -Infinity, absMin: Infinity, absMax: 0, sum: 0, sumSq: 0,
    fine: { range: 0, bins: fineBins, counts: new Float64Array(fineBins) },
  };
}

/** Smallest power of two strictly greater than v (> 0). */
function pow2Above(v: number): number {
  let r = 2 ** Math.floor(Math.log2(v));
  while (r <= v) r *= 2;
  while (r / 2 > v) r /= 2;
  return r;
}

/** Grow a fine histogram's range to `range` (a power of two ≥ current) by summing aligned bin groups. */
function growFine(h: FineHistogram, range: number): void {
  if (h.range === 0) { h.range = range; return; }
  if (range <= h.range) return;
  const factor = Math.round(range / h.range);
  const out = new Float64Array(h.bins);
  if (factor < h.bins) {
    for (let k = 0; k < h.bins; k++) out[Math.floor(k / factor)] += h.counts[k];
  } else {
    for (let k = 0; k < h.bins; k++) out[0] += h.counts[k];
  }
  h.counts = out;
  h.range = range;
}

/** Add |x| to the fine histogram; returns the running min|x| (computed in the same loop). */
function fineAdd(h: FineHistogram, x: Float32Array, absMax: number, absMin: number): number {
  if (absMax > 0) growFine(h, pow2Above(absMax));
  const c = h.counts;
  let amn = absMin;
  if (h.range === 0) {
    c[0] += x.length;
    return x.length ? 0 : amn;
  }
  const scale = h.bins / h.range; // power of two: |x|·scale is exact, and < bins ≤ 2^24 so |0 floors
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const a = v < 0 ? -v : v;
    amn = a < amn ? a : amn;
    c[(a * scale) | 0] += 1;
  }
  return amn;
}

/** min, max, Σx, Σx² of a batch (branch-light: this loop dominates pass 1). */
function scanBatch(x: Float32Array, mn: number, mx: number): [number, number, number, number] {
  let sum = 0, sumSq = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    mn = v < mn ? v : mn;
    mx = v > mx ? v : mx;
    sum += v;
    sumSq += v * v;
  }
  return [mn, mx, sum, sumSq];
}

/** `layer "conv1" top "conv1"` for a version key `top@layer`, else the blob name. */
function blobLabel(key: string): string {
  const at = key.lastIndexOf('@');
  return at > 0 ? `layer "${key.slice(at + 1)}" top "${key.slice(0, at)}"` : `blob "${key}"`;
}

export class StatsCollector {
  readonly settings: StatsSettings;
  readonly fineBins: number;
  readonly blobs = new Map<string, BlobStats>();
  shards: Record<string, unknown>[] = [];
  private pass: 1 | 2 = 1;

  constructor(settings: StatsSettings = {}) {
    this.fineBins = settings.fineBins ?? DEFAULT_FINE_BINS;
    if (!Number.isInteger(this.fineBins) || this.fineBins < 2 || this.fineBins > 2 ** 24 || (this.fineBins & (this.fineBins - 1)) !== 0) {
      throw new ChaiqError(`fine histogram bins must be a power of two in [2, 2^24], got ${this.fineBins}`);
    }
    this.settings = { ...settings, fineBins: this.fineBins };
  }

  get currentPass(): 1 | 2 {
    return this.pass;
  }

  /** Pass 1: add a batch of values of `blob` (float32 activations). */
  observe(blob: string, x: Float32Array): void {
    if (this.pass !== 1) throw new ChaiqError(`stats: observe('${blob}') after the exact pass began`);
    let s = this.blobs.get(blob);
    if (!s) this.blobs.set(blob, (s = emptyBlob(this.fineBins)));
    const [mn, mx, sum, sumSq] = scanBatch(x, s.min, s.max);
    if (!Number.isFinite(sum) || !Number.isFinite(sumSq)) {
      for (let i = 0; i < x.length; i++) {
        if (!Number.isFinite(x[i])) throw new ChaiqError(`statistics: ${blobLabel(blob)} holds ${Number.isNaN(x[i]) ? 'NaN' : 'infinite'} values (first at index ${i})`);
      }
    }
    const amx = x.length ? Math.max(-mn, mx) : s.absMax;
    s.count += x.length;
    s.min = mn; s.max = mx; s.absMax = amx;
    s.sum += sum; s.sumSq += sumSq;
    s.absMin = fineAdd(s.fine, x, amx, s.absMin);
  }

  /** Freeze pass-1 stats and plan each blob's exact sqrt-rule histogram (numpy's bins for N, min|x|, max|x|). */
  beginExactPass(): void {
    if (this.pass === 2) return;
    for (const s of this.blobs.values()) {
      const mx = f32(s.absMax);
      const nbins = s.count > 0 && mx > 0 ? sqrtRuleBins(s.count, s.absMin, mx) : 1;
      s.exact = { plannedCount: s.count, mx, nbins, counts: new Float64Array(nbins), seen: 0 };
    }
    this.pass = 2;
  }

  /** Pass 2: add the same values again (any batching / sharding) to the exact histogram. */
  observeExact(blob: string, x: Float32Array): void {
    if (this.pass !== 2) throw new ChaiqError(`stats: observeExact('${blob}') before beginExactPass()`);
    const s = this.blobs.get(blob);
    if (!s || !s.exact) throw new ChaiqError(`stats: blob '${blob}' was not seen in pass 1`);
    const e = s.exact;
    if (e.mx > 0) accumulateAbsHistogram(x, e.mx, e.nbins, histogramEdges(e.mx, e.nbins), e.counts);
    e.seen += x.length;
    if (e.seen > e.plannedCount) {
      throw new ChaiqError(`stats: blob '${blob}' got ${e.seen} values in the exact pass but ${e.plannedCount} in pass 1`);
    }
  }

  get(blob: string): BlobStats {
    const s = this.blobs.get(blob);
    if (!s) throw new ChaiqError(`stats: no statistics for blob '${blob}'`);
    return s;
  }

  /** Fold another collector (another shard) into this one. */
  merge(other: StatsCollector, what = 'stats'): this {
    checkCompatible(this.settings, other.settings, what);
    if (this.pass !== other.pass) throw new ChaiqError(`${what}: cannot merge pass-${this.pass} with pass-${other.pass} statistics`);
    if (this.pass === 1) {
      for (const [name, o] of other.blobs) {
        const s = this.blobs.get(name);
        if (!s) { this.blobs.set(name, cloneBlob(o)); continue; }
        s.count += o.count;
        s.min = Math.min(s.min, o.min); s.max = Math.max(s.max, o.max);
        s.absMin = Math.min(s.absMin, o.absMin); s.absMax = Math.max(s.absMax, o.absMax);
        s.sum += o.sum; s.sumSq += o.sumSq;
        const oh = { ...o.fine, counts: o.fine.counts.slice() };
        const range = Math.max(s.fine.range, oh.range);
        if (range > 0) { growFine(s.fine, range); growFine(oh, range); }
        for (let k = 0; k < s.fine.bins; k++) s.fine.counts[k] += oh.counts[k];
      }
    } else {
      // pass 2: pass-1 parts are the same merged file in every shard; only the exact counts add up.
      for (const [name, o] of other.blobs) {
        const s = this.blobs.get(name);
        if (!s || !s.exact || !o.exact || s.count !== o.count || s.absMax !== o.absMax || s.absMin !== o.absMin
          || s.exact.nbins !== o.exact.nbins || s.exact.mx !== o.exact.mx) {
          throw new ChaiqError(`${what}: exact-pass shards were planned from different pass-1 statistics (blob '${name}')`);
        }
        for (let k = 0; k < s.exact.nbins; k++) s.exact.counts[k] += o.exact.counts[k];
        s.exact.seen += o.exact.seen;
        if (s.exact.seen > s.exact.plannedCount) {
          throw new ChaiqError(`${what}: blob '${name}' has more exact-pass values (${s.exact.seen}) than pass-1 values (${s.exact.plannedCount}); a shard was merged twice?`);
        }
      }
      if (other.blobs.size !== this.blobs.size) throw new ChaiqError(`${what}: exact-pass shards have different blob sets`);
      return this;
    }
    this.shards.push(...other.shards);
    return this;
  }

  toJSON(): StatsFile {
    const blobs: Record<string, StatsFileBlob> = {};
    for (const [name, s] of this.blobs) {
      const empty = s.count === 0;
      blobs[name] = {
        count: s.count,
        min: empty ? null : s.min, max: empty ? null : s.max,
        absMin: empty ? null : s.absMin, absMax: empty ? null : s.absMax,
        sum: s.sum, sumSq: s.sumSq,
        fine: { range: s.fine.range, bins: s.fine.bins, counts: sparse(s.fine.counts) },
        ...(s.exact ? { exact: { plannedCount: s.exact.plannedCount, mx: s.exact.mx, nbins: s.exact.nbins, seen: s.exact.seen, counts: sparse(s.exact.counts) } } : {}),
      };
    }
    return { format: STATS_FORMAT, version: STATS_VERSION, pass: this.pass, settings: this.settings, shards: this.shards, blobs };
  }

  static fromJSON(json: unknown, file = '<stats>'): StatsCollector {
    const bad = (m: string): never => { throw new ChaiqError(`not a chaiq stats file: ${m}`, { file }); };
    const j = json as StatsFile;
    if (!j || typeof j !== 'object' || j.format !== STATS_FORMAT) bad('missing format "chaiq-stats"');
    if (j.version !== STATS_VERSION) bad(`unsupported version ${String(j.version)} (expected ${STATS_VERSION})`);
    if (j.pass !== 1 && j.pass !== 2) bad('pass must be 1 or 2');
    if (!j.settings || typeof j.settings !== 'object' || !j.blobs || typeof j.blobs !== 'object') bad('missing settings/blobs');
    const c = new StatsCollector(j.settings);
    c.shards = Array.isArray(j.shards) ? j.shards : [];
    for (const [name, b] of Object.entries(j.blobs)) {
      if (!b || typeof b.count !== 'number' || !b.fine) bad(`blob '${name}' is malformed`);
      const empty = b.count === 0;
      const s: BlobStats = {
        count: b.count,
        min: empty ? Infinity : Number(b.min), max: empty ? -Infinity : Number(b.max),
        absMin: empty ? Infinity : Number(b.absMin), absMax: empty ? 0 : Number(b.absMax),
        sum: b.sum, sumSq: b.sumSq,
        fine: { range: b.fine.range, bins: b.fine.bins, counts: dense(b.fine.counts, b.fine.bins, name, bad) },
      };
      if (s.fine.bins !== c.fineBins) bad(`blob '${name}' fine histogram has ${s.fine.bins} bins, settings say ${c.fineBins}`);
      if (b.exact) {
        s.exact = { plannedCount: b.exact.plannedCount, mx: b.exact.mx, nbins: b.exact.nbins, seen: b.exact.seen, counts: dense(b.exact.counts, b.exact.nbins, name, bad) };
      } else if (j.pass === 2) bad(`blob '${name}' has no exact histogram in a pass-2 file`);
      c.blobs.set(name, s);
    }
    c.pass = j.pass;
    return c;
  }
}

function cloneBlob(o: BlobStats): BlobStats {
  return { ...o, fine: { ...o.fine, counts: o.fine.counts.slice() }, exact: o.exact ? { ...o.exact, counts: o.exact.counts.slice() } : undefined };
}

function sparse(c: Float64Array): SparseCounts {
  const nz: number[] = [];
  for (let k = 0; k < c.length; k++) if (c[k] !== 0) nz.push(k, c[k]);
  return { n: c.length, nz };
}

function dense(s: SparseCounts, n: number, name: string, bad: (m: string) => never): Float64Array {
  if (!s || s.n !== n || !Array.isArray(s.nz) || s.nz.length % 2 !== 0) bad(`blob '${name}' histogram is malformed`);
  const out = new Float64Array(n);
  const nz = s.nz;
  for (let i = 0; i < nz.length; i += 2) {
    const k = nz[i];
    if (!Number.isInteger(k) || k < 0 || k >= n) bad(`blob '${name}' histogram index ${k} out of range`);
    out[k] = nz[i + 1];
  }
  return out;
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function checkCompatible(a: StatsSettings, b: StatsSettings, what: string): void {
  if (stable(a) !== stable(b)) {
    throw new ChaiqError(`${what}: incompatible statistics (settings differ: ${stable(a)} vs ${stable(b)})`);
  }
}

export function saveStats(file: string, stats: StatsCollector | StatsFile): void {
  const json = stats instanceof StatsCollector ? stats.toJSON() : stats;
  writeFileAtomic(file, JSON.stringify(json) + '\n');
}

export function loadStats(file: string): StatsCollector {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ChaiqError(`cannot read stats file: ${fsErrorWords(e)}`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ChaiqError(`stats file is not valid JSON: ${(e as Error).message}`, { file });
  }
  return StatsCollector.fromJSON(json, file);
}

/** Merge shard files (all pass 1, or all pass 2 planned from the same merged pass-1 file). */
export function mergeStats(files: string[]): StatsFile {
  if (files.length === 0) throw new ChaiqError('merge: no stats files given');
  const acc = loadStats(files[0]);
  for (const f of files.slice(1)) {
    const next = loadStats(f);
    try {
      acc.merge(next, `merge ${f}`);
    } catch (e) {
      if (e instanceof ChaiqError && !e.loc.file) e.loc = { file: f };
      throw e;
    }
  }
  return acc.toJSON();
}

/** The fine histogram as an AbsHistogram trimmed to its used range (for mse / entropy / percentile). */
export function fineToAbsHistogram(s: BlobStats, maxBins = 4096): AbsHistogram {
  const h = s.fine;
  let last = -1;
  for (let k = h.bins - 1; k >= 0; k--) if (h.counts[k] > 0) { last = k; break; }
  if (last < 0 || h.range === 0) return { counts: new Float64Array(1).fill(s.count), binWidth: 0, absMax: 0 };
  let counts = h.counts.slice(0, last + 1);
  let width = h.range / h.bins;
  while (counts.length > maxBins) {
    const half = new Float64Array(Math.ceil(counts.length / 2));
    for (let k = 0; k < counts.length; k++) half[k >> 1] += counts[k];
    counts = half;
    width *= 2;
  }
  return { counts, binWidth: width, absMax: s.absMax };
}

/**
 * Percentile of |x| from the fine histogram: the bin holding numpy's order statistic
 * (rank p/100·(N-1), 0-based), linear within the bin — within one fine bin of np.percentile.
 */
function percentileFromFine(s: BlobStats, percentile: number): number {
  const h = s.fine;
  if (s.count === 0 || h.range === 0) return 0;
  const target = (percentile / 100) * (s.count - 1) + 1;
  const w = h.range / h.bins;
  let cum = 0;
  for (let k = 0; k < h.bins; k++) {
    const c = h.counts[k];
    if (c > 0 && cum + c >= target) return Math.min(s.absMax, (k + (target - cum) / c) * w);
    cum += c;
  }
  return s.absMax;
}

export interface StatsThresholdOptions {
  percentile?: number;
}

/** Threshold of a blob from its statistics; `kl` needs the complete exact (pass-2) histogram. */
export function thresholdFromStatsDetailed(stats: BlobStats, method: ThresholdMethod, bw: number, opts: StatsThresholdOptions = {}): ThresholdResult {
  checkBw(bw);
  if (stats.count === 0) return { th: 0, fallback: 'no values observed' };
  switch (method) {
    case 'max':
      return { th: f32(stats.absMax) };
    case 'kl': {
      const e = stats.exact;
      if (!e) throw new ChaiqError('kl threshold needs the exact second calibration pass (no exact histogram in the statistics)');
      if (e.seen !== e.plannedCount) throw new ChaiqError(`kl threshold: exact pass saw ${e.seen} of ${e.plannedCount} values (missing shards?)`);
      if (Math.abs(e.mx) <= 1e-8) return { th: 0 };
      return computeThresholdKLFromHist({ counts: e.counts, mx: e.mx }, bw);
    }
    case 'percentile':
      return { th: percentileFromFine(stats, opts.percentile ?? 99.99) };
    case 'mse':
      return computeThresholdMSEFromHist(fineToAbsHistogram(stats, 2048), bw);
    case 'entropy':
      return computeThresholdEntropyFromHist(fineToAbsHistogram(stats, 2048), bw);
    default:
      throw new ChaiqError(`unknown threshold method '${method as string}' (expected ${THRESHOLD_METHODS.join(', ')})`);
  }
}

export function thresholdFromStats(stats: BlobStats, method: ThresholdMethod, bw: number, opts: StatsThresholdOptions = {}): number {
  return thresholdFromStatsDetailed(stats, method, bw, opts).th;
}

/** Only KL needs the exact second pass; the other methods work from pass-1 statistics. */
export function needsExactPass(method: ThresholdMethod): boolean {
  return method === 'kl';
}

/**
 * Run the calibration forward loop once (pass 1) and, when `exact` (KL), a second time feeding the exact
 * histograms. `forward(emit)` must emit the same values in both runs (any batching).
 */
export async function collectStats(
  forward: (emit: (blob: string, x: Float32Array) => void, pass: 1 | 2) => Promise<void> | void,
  opts: { exact: boolean; settings?: StatsSettings },
): Promise<StatsCollector> {
  const c = new StatsCollector(opts.settings ?? {});
  await forward((blob, x) => c.observe(blob, x), 1);
  if (opts.exact) {
    c.beginExactPass();
    await forward((blob, x) => c.observeExact(blob, x), 2);
    for (const [name, s] of c.blobs) {
      if (s.exact && s.exact.seen !== s.exact.plannedCount) {
        throw new ChaiqError(`stats: blob '${name}' got ${s.exact.seen} values in the exact pass but ${s.exact.plannedCount} in pass 1 (non-deterministic forward?)`);
      }
    }
  }
  return c;
}
