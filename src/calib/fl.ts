/**
 * DynamicFixed fractional-length choice (calibration-algorithms.md §1.2, §2.8): Ristretto's integer-length
 * rule, then a search of fl ± `search` for the smallest quantization MSE under Trim2FixedPoint
 * (saturate to [-2^(bw-1), 2^(bw-1)-1]·2^-fl first, then round half away from zero; §1.3).
 */
import { ChaiqError } from '../errors';
import { trim2FixedPoint } from '../chaidnn/arith';
import type { BlobStats } from './stats';
import { fineToAbsHistogram } from './stats';
import type { AbsHistogram } from './threshold';

export type FlKind = 'weights' | 'activations';

export interface FlChoice {
  /** the chosen fractional length */
  fl: number;
  /** Ristretto's rule fl = bw − IL (the search centre) */
  ruleFl: number;
  /** integer length incl. sign used by the rule */
  il: number;
  /** searched fl values, ascending, and their mean squared quantization errors */
  candidates: number[];
  mse: number[];
}

export { trim2FixedPoint };

export interface FlOptions {
  kind?: FlKind;
  /** search radius around the rule (default 2; 0 = rule only) */
  search?: number;
}

/**
 * Ristretto's integer length incl. the sign bit (quantization.cpp `Quantize2DynamicFixedPoint`): weights
 * ceil(log2 max|w|) + 1, no saturation but up to one LSB at an exact power of two; activations ceil(log2 max|x|),
 * one bit less, so the top octave saturates on purpose. Ristretto writes the weights' rule ceil(log2(max) + 1) on
 * a float max, where the + 1 is exact; on a double just above a power of two (2.0000000000000004) that sum rounds
 * onto the power and loses a bit, so the + 1 comes after the ceil here. A max of 0 or a non-finite one (no
 * finite range) gives IL 1, so the fl stays defined.
 */
export function ristrettoIl(maxAbs: number, kind: FlKind): number {
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs)) return 1;
  const il = Math.ceil(Math.log2(maxAbs));
  return kind === 'weights' ? il + 1 : il;
}

/** Ristretto's fractional length fl = bw − IL. */
export function ristrettoFl(maxAbs: number, bw: number, kind: FlKind): number {
  return bw - ristrettoIl(maxAbs, kind);
}

/** Mean squared Trim2FixedPoint error over the finite raw values (NaN/Inf ones, kept when non-finite weights are allowed, are left out). */
export function quantMseValues(x: ArrayLike<number>, bw: number, fl: number): number {
  let e = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) continue;
    const d = trim2FixedPoint(x[i], bw, fl) - x[i];
    e += d * d;
    n++;
  }
  return n ? e / n : 0;
}

function finiteAbsMax(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) if (Number.isFinite(x[i])) m = Math.max(m, Math.abs(x[i]));
  return m;
}

/**
 * Mean squared error over a |x| histogram (bin centres weighted by counts). The sign is not kept, so
 * every value is treated as positive (the tighter, 2^(bw-1)-1 side of the range).
 */
export function quantMseHistogram(h: AbsHistogram, bw: number, fl: number): number {
  let e = 0;
  let n = 0;
  for (let k = 0; k < h.counts.length; k++) {
    const c = h.counts[k];
    if (c === 0) continue;
    const v = Math.min((k + 0.5) * h.binWidth, h.absMax);
    const d = trim2FixedPoint(v, bw, fl) - v;
    e += c * d * d;
    n += c;
  }
  return n ? e / n : 0;
}

function isStats(v: unknown): v is BlobStats {
  return !!v && typeof v === 'object' && 'fine' in (v as object) && 'count' in (v as object);
}
function isHist(v: unknown): v is AbsHistogram {
  return !!v && typeof v === 'object' && 'binWidth' in (v as object) && 'counts' in (v as object);
}

/**
 * Choose fl for one blob (weights or activations) from raw values, a |x| histogram or streaming stats.
 * Ties keep the candidate closest to the rule, then the smaller fl (wider range).
 */
export function chooseFl(input: Float32Array | number[] | AbsHistogram | BlobStats, bw: number, opts: FlOptions = {}): FlChoice {
  if (!Number.isInteger(bw) || bw < 2 || bw > 32) throw new ChaiqError(`bit width must be an integer in [2, 32], got ${bw}`);
  const kind = opts.kind ?? 'activations';
  const search = opts.search ?? 2;
  if (!Number.isInteger(search) || search < 0) throw new ChaiqError(`fl search radius must be a non-negative integer, got ${search}`);
  let maxAbs: number;
  let mseOf: (fl: number) => number;
  if (isStats(input)) {
    maxAbs = input.count ? input.absMax : 0;
    const h = fineToAbsHistogram(input, 4096);
    mseOf = (fl) => quantMseHistogram(h, bw, fl);
  } else if (isHist(input)) {
    maxAbs = input.absMax;
    mseOf = (fl) => quantMseHistogram(input, bw, fl);
  } else {
    maxAbs = finiteAbsMax(input);
    mseOf = (fl) => quantMseValues(input, bw, fl);
  }
  const il = ristrettoIl(maxAbs, kind);
  const ruleFl = bw - il;
  const candidates: number[] = [];
  const mse: number[] = [];
  for (let fl = ruleFl - search; fl <= ruleFl + search; fl++) {
    candidates.push(fl);
    mse.push(mseOf(fl));
  }
  const order = candidates.map((_, i) => i).sort((a, b) =>
    Math.abs(candidates[a] - ruleFl) - Math.abs(candidates[b] - ruleFl) || candidates[a] - candidates[b]);
  let best = order[0];
  for (const i of order) if (mse[i] < mse[best]) best = i;
  return { fl: candidates[best], ruleFl, il, candidates, mse };
}
