/**
 * Mergeable simulation results: the accumulators of a run (image count, top-k counters, agreement, per-layer
 * error sums, input clipping), summed exactly (exact-sum.ts) so that any split of the inputs (worker threads,
 * `--shard K/N` runs on other machines) merges to the report of one run, byte for byte. `--save_results`
 * writes them with the run's identity (net and weights hashes, options, input list) so that `merge-results`
 * refuses runs that do not belong together.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import { ChaiqError } from '../errors';
import { fsErrorWords } from '../io/fserr';
import { newClassStats, topK } from './metrics';
import type { ClassStats, ErrorAcc } from './metrics';
import type { InputClip } from './input-range';
import type { SimStats } from './simulate';
import { ExactSum } from './exact-sum';
import { detectionStatsFromJSON, detectionStatsJSON, mergeDetectionStats, newDetectionStats } from './detection';
import type { DetectionStats, DetectorOutputs } from './detection';

export const RESULTS_FORMAT = 'chaiq-sim-results';
export const RESULTS_VERSION = 1;

/** What a run measures: the per-layer table (default), the float net's top-k agreement only, or the fixed chain alone. */
export type MetricsLevel = 'layers' | 'agreement' | 'none';
export const METRICS_LEVELS: MetricsLevel[] = ['layers', 'agreement', 'none'];

export function parseMetrics(v: string | undefined): MetricsLevel {
  const m = v ?? 'layers';
  if (!(METRICS_LEVELS as string[]).includes(m)) throw new ChaiqError(`--metrics must be one of ${METRICS_LEVELS.join(', ')}, got '${m}'`, {}, 2);
  return m as MetricsLevel;
}

/** `--shard K/N`: the K-th (0-based, as Kubernetes' JOB_COMPLETION_INDEX) of N slices. */
export interface Shard {
  index: number;
  count: number;
}

export function parseShard(v: string | undefined): Shard | undefined {
  if (v === undefined) return undefined;
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(String(v));
  const bad = () => new ChaiqError(`--shard must be K/N with 0 ≤ K < N (K counts from 0), got '${v}'`, {}, 2);
  if (!m) throw bad();
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (!(count >= 1) || !(index < count)) throw bad();
  return { index, count };
}

/** The shard's contiguous slice of the (sorted) inputs: [⌊K·M/N⌋, ⌊(K+1)·M/N⌋). */
export function shardSlice<T>(items: T[], shard: Shard | undefined): T[] {
  if (!shard) return items;
  const m = items.length;
  return items.slice(Math.floor((shard.index * m) / shard.count), Math.floor(((shard.index + 1) * m) / shard.count));
}

interface ExactErrorAcc {
  n: number;
  sumRef2: ExactSum;
  sumFix2: ExactSum;
  sumDot: ExactSum;
  sumErr2: ExactSum;
  maxAbsErr: number;
  saturated: number;
  nFixed: number;
}

function newExactErrorAcc(): ExactErrorAcc {
  return { n: 0, sumRef2: new ExactSum(), sumFix2: new ExactSum(), sumDot: new ExactSum(), sumErr2: new ExactSum(), maxAbsErr: 0, saturated: 0, nFixed: 0 };
}

const SUMS = ['sumRef2', 'sumFix2', 'sumDot', 'sumErr2'] as const;

function addErrorAcc(into: ExactErrorAcc, from: ErrorAcc): void {
  into.n += from.n;
  for (const k of SUMS) into[k].add(from[k]);
  into.maxAbsErr = Math.max(into.maxAbsErr, from.maxAbsErr);
  into.saturated += from.saturated;
  into.nFixed += from.nFixed;
}

function mergeExactErrorAcc(into: ExactErrorAcc, from: ExactErrorAcc): void {
  into.n += from.n;
  for (const k of SUMS) into[k].addSum(from[k]);
  into.maxAbsErr = Math.max(into.maxAbsErr, from.maxAbsErr);
  into.saturated += from.saturated;
  into.nFixed += from.nFixed;
}

function roundErrorAcc(a: ExactErrorAcc): ErrorAcc {
  return {
    n: a.n, sumRef2: a.sumRef2.value(), sumFix2: a.sumFix2.value(), sumDot: a.sumDot.value(), sumErr2: a.sumErr2.value(),
    maxAbsErr: a.maxAbsErr, saturated: a.saturated, nFixed: a.nFixed,
  };
}

interface LayerAcc {
  index: number;
  name: string;
  type: string;
  blob: string;
  where: 'hw' | 'sw';
  cumulative: ExactErrorAcc;
  local?: ExactErrorAcc;
}

/** Everything a report is made of, over any set of images. */
export interface SimAccumulators {
  images: number;
  classification: ClassStats;
  layers: Map<number, LayerAcc>;
  input?: InputClip;
  /** detectors: the float/fixed detection agreement (how the outputs are read, and the counts) */
  detection?: { outputs: DetectorOutputs; stats: DetectionStats };
}

export function newSimAccumulators(): SimAccumulators {
  return { images: 0, classification: newClassStats(), layers: new Map() };
}

/** Adds one image's per-layer statistics (a fresh SimStats per image: its sums are that image's alone). */
export function addImageStats(acc: SimAccumulators, s: SimStats): void {
  for (const [i, l] of s.layers) {
    let a = acc.layers.get(i);
    if (!a) acc.layers.set(i, (a = { index: l.index, name: l.name, type: l.type, blob: l.blob, where: l.where, cumulative: newExactErrorAcc() }));
    addErrorAcc(a.cumulative, l.cumulative);
    if (l.local) addErrorAcc((a.local ??= newExactErrorAcc()), l.local);
  }
  if (s.input) mergeInputClip(acc, s.input);
}

function mergeInputClip(acc: SimAccumulators, c: InputClip): void {
  if (!acc.input) acc.input = { ...c };
  else {
    acc.input.clipped += c.clipped;
    acc.input.total += c.total;
  }
}

/** Top-k of the fixed chain against the label alone (no float net: `--metrics none`). */
export function addFixedClassification(s: ClassStats, fixedScores: ArrayLike<number>, label: number | undefined, k: number): void {
  s.images++;
  if (label === undefined || label < 0) return;
  const tq = topK(fixedScores, k);
  s.labelled++;
  if (tq[0] === label) s.fixedTop1++;
  if (tq.includes(label)) s.fixedTop5++;
}

const CLASS_KEYS = ['images', 'top1Agree', 'top5Agree', 'labelled', 'floatTop1', 'floatTop5', 'fixedTop1', 'fixedTop5'] as const;

export function mergeAccumulators(into: SimAccumulators, from: SimAccumulators): void {
  into.images += from.images;
  for (const k of CLASS_KEYS) into.classification[k] += from.classification[k];
  for (const [i, l] of from.layers) {
    const a = into.layers.get(i);
    if (!a) {
      into.layers.set(i, { ...l, cumulative: cloneExact(l.cumulative), local: l.local && cloneExact(l.local) });
      continue;
    }
    mergeExactErrorAcc(a.cumulative, l.cumulative);
    if (l.local) mergeExactErrorAcc((a.local ??= newExactErrorAcc()), l.local);
  }
  if (from.input) mergeInputClip(into, from.input);
  if (from.detection) {
    into.detection ??= { outputs: from.detection.outputs, stats: newDetectionStats(from.detection.stats.scoreThreshold, from.detection.stats.iouThreshold) };
    mergeDetectionStats(into.detection.stats, from.detection.stats);
  }
}

function cloneExact(a: ExactErrorAcc): ExactErrorAcc {
  const c = newExactErrorAcc();
  mergeExactErrorAcc(c, a);
  return c;
}

/** The accumulators as the simulator's SimStats (sums rounded once), for layerReports. */
export function toSimStats(acc: SimAccumulators): SimStats {
  const s: SimStats = { layers: new Map(), input: acc.input && { ...acc.input } };
  for (const i of [...acc.layers.keys()].sort((a, b) => a - b)) {
    const l = acc.layers.get(i)!;
    s.layers.set(i, { index: l.index, name: l.name, type: l.type, blob: l.blob, where: l.where, cumulative: roundErrorAcc(l.cumulative), local: l.local && roundErrorAcc(l.local) });
  }
  return s;
}

// ---- serialisation --------------------------------------------------------------------------------------

const jnum = (v: number) => (Number.isFinite(v) ? v : Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf');
const unjnum = (v: unknown) => (typeof v === 'number' ? v : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v === 'nan' ? NaN : undefined);

function exactJSON(a: ExactErrorAcc) {
  return {
    n: a.n, sumRef2: a.sumRef2.toJSON(), sumFix2: a.sumFix2.toJSON(), sumDot: a.sumDot.toJSON(), sumErr2: a.sumErr2.toJSON(),
    maxAbsErr: jnum(a.maxAbsErr), saturated: a.saturated, nFixed: a.nFixed,
  };
}

/** Accumulators as plain JSON (worker messages, results files). */
export function accumulatorsJSON(acc: SimAccumulators) {
  return {
    images: acc.images,
    classification: { ...acc.classification },
    input_clip: acc.input ?? null,
    layers: [...acc.layers.values()].sort((a, b) => a.index - b.index).map((l) => ({
      index: l.index, name: l.name, type: l.type, blob: l.blob, where: l.where, cumulative: exactJSON(l.cumulative), local: l.local ? exactJSON(l.local) : null,
    })),
    ...(acc.detection ? { detection: { outputs: acc.detection.outputs, ...detectionStatsJSON(acc.detection.stats) } } : {}),
  };
}

function corrupt(file: string | undefined, what: string): ChaiqError {
  return new ChaiqError(`not a chaiq simulate results file (${what})`, { file });
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

function exactFromJSON(j: any, file: string | undefined, where: string): ExactErrorAcc {
  if (!j || typeof j !== 'object') throw corrupt(file, `${where} is not an object`);
  const a = newExactErrorAcc();
  for (const k of ['n', 'saturated', 'nFixed'] as const) {
    if (!isCount(j[k])) throw corrupt(file, `${where}.${k} is not a count`);
    a[k] = j[k];
  }
  for (const k of SUMS) {
    const e = ExactSum.fromJSON(j[k]);
    if (!e) throw corrupt(file, `${where}.${k} is not an exact sum`);
    a[k] = e;
  }
  const mx = unjnum(j.maxAbsErr);
  if (mx === undefined) throw corrupt(file, `${where}.maxAbsErr is not a number`);
  a.maxAbsErr = mx;
  return a;
}

export function accumulatorsFromJSON(j: any, file?: string): SimAccumulators {
  if (!j || typeof j !== 'object') throw corrupt(file, 'no accumulators');
  const acc = newSimAccumulators();
  if (!isCount(j.images)) throw corrupt(file, 'images is not a count');
  acc.images = j.images;
  for (const k of CLASS_KEYS) {
    if (!isCount(j.classification?.[k])) throw corrupt(file, `classification.${k} is not a count`);
    acc.classification[k] = j.classification[k];
  }
  if (j.input_clip) {
    const c = j.input_clip;
    if (!isCount(c.clipped) || !isCount(c.total) || typeof c.blob !== 'string' || typeof c.layer !== 'string' || !c.fmt) throw corrupt(file, 'input_clip is malformed');
    acc.input = { blob: c.blob, layer: c.layer, fmt: c.fmt, clipped: c.clipped, total: c.total };
  }
  if (!Array.isArray(j.layers)) throw corrupt(file, 'layers is not a list');
  for (const l of j.layers) {
    if (!l || !isCount(l.index) || typeof l.name !== 'string' || typeof l.type !== 'string' || typeof l.blob !== 'string' || (l.where !== 'hw' && l.where !== 'sw')) {
      throw corrupt(file, 'a layer entry is malformed');
    }
    acc.layers.set(l.index, {
      index: l.index, name: l.name, type: l.type, blob: l.blob, where: l.where,
      cumulative: exactFromJSON(l.cumulative, file, `layer '${l.name}' cumulative`),
      local: l.local ? exactFromJSON(l.local, file, `layer '${l.name}' local`) : undefined,
    });
  }
  if (j.detection !== undefined) {
    const stats = detectionStatsFromJSON(j.detection);
    if (typeof stats === 'string') throw corrupt(file, stats);
    const o = j.detection.outputs;
    const outputs: DetectorOutputs | undefined = o?.kind === 'ssd' && typeof o.blob === 'string' ? { kind: 'ssd', blob: o.blob }
      : o?.kind === 'boxes-scores' && typeof o.scores === 'string' && typeof o.boxes === 'string' && o.decoding === 'ultraface' ? { kind: 'boxes-scores', scores: o.scores, boxes: o.boxes, decoding: 'ultraface' }
      : undefined;
    if (!outputs) throw corrupt(file, 'detection.outputs is malformed');
    acc.detection = { outputs, stats };
  }
  return acc;
}

// ---- results files --------------------------------------------------------------------------------------

/** What a run was: files merge only when this is equal (shards of one run). */
export interface RunIdentity {
  deploy_sha256: string;
  weights_sha256: string;
  /** options that change the figures (preprocessing, simulation what-ifs, top-k, metrics) */
  options: Record<string, unknown>;
  /** the whole input list before sharding: its length and a hash of the names and labels */
  inputs: { count: number; sha256: string };
  /** what the report prints besides the accumulators */
  report: { mode: string; psum18: boolean; output_blob: string; top: number; metrics: MetricsLevel };
}

export interface ResultsFile {
  format: typeof RESULTS_FORMAT;
  version: number;
  identity: RunIdentity;
  /** the shards this file holds (one run: its own; a merged file: all it was made of) */
  shards: Shard[] | null;
  accumulators: ReturnType<typeof accumulatorsJSON>;
}

export function fileSha256(file: string): string {
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch (e) {
    throw new ChaiqError(`cannot read: ${fsErrorWords(e)}`, { file }, 2);
  }
}

export function inputListHash(samples: { name: string; label: number }[]): { count: number; sha256: string } {
  const h = crypto.createHash('sha256');
  for (const s of samples) h.update(`${s.name}\t${s.label}\n`);
  return { count: samples.length, sha256: h.digest('hex') };
}

/** Canonical JSON (sorted keys): the comparison key of identities. */
export function stableJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJSON).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v as object).sort().map((k) => `${JSON.stringify(k)}:${stableJSON((v as any)[k])}`).join(',')}}`;
  return JSON.stringify(v === undefined ? null : v);
}

export function resultsFile(identity: RunIdentity, shard: Shard | undefined, acc: SimAccumulators): ResultsFile {
  return { format: RESULTS_FORMAT, version: RESULTS_VERSION, identity, shards: shard ? [shard] : null, accumulators: accumulatorsJSON(acc) };
}

export function readResultsFile(file: string): { identity: RunIdentity; shards: Shard[] | null; acc: SimAccumulators } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ChaiqError(`cannot read results file: ${fsErrorWords(e)}`, { file }, 2);
  }
  let j: any;
  try {
    j = JSON.parse(text);
  } catch (e) {
    throw new ChaiqError(`results file is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (!j || j.format !== RESULTS_FORMAT) throw corrupt(file, `format is not "${RESULTS_FORMAT}"`);
  if (j.version !== RESULTS_VERSION) throw new ChaiqError(`results file version ${j.version} is not ${RESULTS_VERSION} (written by another chaiq)`, { file });
  const id = j.identity;
  if (!id || typeof id.deploy_sha256 !== 'string' || typeof id.weights_sha256 !== 'string' || !id.options || !id.inputs || !id.report) throw corrupt(file, 'identity is malformed');
  const shards = j.shards === null ? null : Array.isArray(j.shards) && j.shards.every((s: any) => isCount(s?.index) && isCount(s?.count) && s.index < s.count) ? (j.shards as Shard[]) : undefined;
  if (shards === undefined) throw corrupt(file, 'shards is malformed');
  return { identity: id, shards, acc: accumulatorsFromJSON(j.accumulators, file) };
}

/** Which part of the identity differs, in words. */
function identityDifference(a: RunIdentity, b: RunIdentity): string | undefined {
  if (a.deploy_sha256 !== b.deploy_sha256) return 'another deploy prototxt (its SHA-256 differs)';
  if (a.weights_sha256 !== b.weights_sha256) return 'other weights (the caffemodel\'s SHA-256 differs)';
  if (a.inputs.count !== b.inputs.count || a.inputs.sha256 !== b.inputs.sha256) return `another input list (${b.inputs.count} inputs vs ${a.inputs.count}, or other names/labels)`;
  for (const k of new Set([...Object.keys(a.options), ...Object.keys(b.options)])) {
    if (stableJSON(a.options[k]) !== stableJSON(b.options[k])) return `another --${k} (${stableJSON(b.options[k])} vs ${stableJSON(a.options[k])})`;
  }
  if (stableJSON(a.report) !== stableJSON(b.report)) return `another run setup (${stableJSON(b.report)} vs ${stableJSON(a.report)})`;
  return undefined;
}

/**
 * Merges results files of one run's shards (or of one-shard runs). Refused: files of different runs, a shard
 * given twice, a mix of sharded and whole runs, different shard counts; missing shards are warned about.
 */
export function mergeResultsFiles(files: string[], warn: (msg: string) => void): { identity: RunIdentity; shards: Shard[] | null; acc: SimAccumulators; missing: number[] } {
  if (files.length === 0) throw new ChaiqError('merge-results: no results files given', {}, 2);
  const first = readResultsFile(files[0]);
  const acc = newSimAccumulators();
  const seen = new Map<number, string>();
  let count: number | undefined;
  let whole = 0;
  for (const [i, f] of files.entries()) {
    const r = i === 0 ? first : readResultsFile(f);
    const diff = i === 0 ? undefined : identityDifference(first.identity, r.identity);
    if (diff) throw new ChaiqError(`not a shard of the same run as ${files[0]}: ${diff}`, { file: f });
    if (!!r.acc.detection !== !!first.acc.detection) throw new ChaiqError(`not a shard of the same run as ${files[0]}: one of them has detection figures and the other none (written by another chaiq?)`, { file: f });
    if (r.shards === null) {
      whole++;
      if (files.length > 1) throw new ChaiqError('this file holds a run over all inputs (no --shard); merging it with others would count images twice', { file: f });
    } else {
      for (const s of r.shards) {
        if (count !== undefined && s.count !== count) throw new ChaiqError(`shard ${s.index}/${s.count} does not belong to a run cut into ${count} shards`, { file: f });
        count = s.count;
        const dup = seen.get(s.index);
        if (dup !== undefined) throw new ChaiqError(`shard ${s.index}/${s.count} is already in ${dup}`, { file: f });
        seen.set(s.index, f);
      }
    }
    mergeAccumulators(acc, r.acc);
  }
  const missing: number[] = [];
  if (!whole && count !== undefined) for (let k = 0; k < count; k++) if (!seen.has(k)) missing.push(k);
  if (missing.length) warn(`merge-results: shard(s) ${missing.map((k) => `${k}/${count}`).join(', ')} missing: the report covers ${acc.images} of the ${first.identity.inputs.count} inputs`);
  const shards = whole ? null : [...seen.keys()].sort((a, b) => a - b).map((index) => ({ index, count: count! }));
  return { identity: first.identity, shards, acc, missing };
}
