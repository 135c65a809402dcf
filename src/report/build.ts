/**
 * ReportData from what quantize and simulate produce: calibration statistics (histograms of |x|),
 * the precision plan (thresholds / fractional lengths), the trained weights, and the simulator's
 * per-layer error summaries. Pure functions; the CLI writes the file.
 */
import type { Net, LayerNode } from '../graph/types';
import type { Msg } from '../proto/message';
import type { PrecisionPlan } from '../quant/plan';
import type { BlobStats, StatsCollector } from '../calib/stats';
import { versionStatsKey } from '../quant/calibrate';
import { foldFactors } from '../chaidnn/weights';
import type { LayerReport } from '../sim/simulate';
import type { ReportData, ReportHistogram, ReportLayer } from './html';
import { planRole } from '../layers/registry';

/** bins of the drawn histogram */
export const REPORT_BINS = 120;

/** The fine |x| histogram regrouped into at most `bins` equal bins over [0, ≥ max|x|] (exact: whole fine bins). */
export function reportHistogram(s: BlobStats, bins = REPORT_BINS): ReportHistogram | undefined {
  const h = s.fine;
  if (s.count === 0) return undefined;
  if (h.range === 0) return { counts: [s.count], max: 0, absMax: s.absMax };
  let last = -1;
  for (let k = h.bins - 1; k >= 0; k--) if (h.counts[k] > 0) { last = k; break; }
  if (last < 0) return { counts: [s.count], max: 0, absMax: s.absMax };
  const group = Math.max(1, Math.ceil((last + 1) / bins));
  const n = Math.ceil((last + 1) / group);
  const counts = new Array<number>(n).fill(0);
  for (let k = 0; k <= last; k++) counts[Math.floor(k / group)] += h.counts[k];
  return { counts, max: (n * group * h.range) / h.bins, absMax: s.absMax };
}

/** Fraction of the values with |x| > th, from the fine histogram (the bin holding th counted pro rata). */
export function clippedFraction(s: BlobStats, th: number): number {
  if (s.count === 0 || !(th >= 0)) return 0;
  if (s.absMax <= th) return 0;
  const h = s.fine;
  if (h.range === 0) return 0;
  const w = h.range / h.bins;
  let above = 0;
  for (let k = 0; k < h.bins; k++) {
    const c = h.counts[k];
    if (c === 0) continue;
    const lo = k * w;
    if (lo >= th) above += c;
    else if (lo + w > th) above += (c * (lo + w - th)) / w;
  }
  return Math.min(1, above / s.count);
}

/**
 * The statistics behind a layer's th_layer_out: its own output version, or, when an in-place ReLU
 * follows (fused on CHaiDNN, §4.4), the post-ReLU version.
 */
export function layerOutputStats(net: Net, stats: StatsCollector, li: number): BlobStats | undefined {
  const l = net.layers[li];
  if (l.tops.length === 0) return undefined;
  let key = versionStatsKey(net, li, 0);
  const cons = net.consumers(li, 0);
  if (planRole(l) !== 'producer' && cons.length === 1) {
    const c = net.layers[cons[0]];
    if (planRole(c) === 'producer' && c.tops[0] === l.tops[0]) key = versionStatsKey(net, c.index, 0);
  }
  return stats.blobs.has(key) ? stats.get(key) : undefined;
}

/** Per output channel min and max of a Convolution/InnerProduct weight blob (BN/Scale folded in, as th_params). */
export function weightRanges(net: Net, l: LayerNode): { min: number[]; max: number[] } | undefined {
  if (!l.def?.outputRows?.(l.param)) return undefined;
  const W = l.blobs[0];
  if (!W || W.shape.length === 0) return undefined;
  const O = W.shape[0];
  const per = W.data.length / O;
  let fold: Float32Array | undefined;
  try {
    fold = foldFactors(net, l.index);
  } catch {
    fold = undefined;
  }
  const min: number[] = [];
  const max: number[] = [];
  for (let o = 0; o < O; o++) {
    let mn = Infinity;
    let mx = -Infinity;
    for (let i = o * per; i < (o + 1) * per; i++) {
      const v = W.data[i];
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const f = fold && fold.length === O ? fold[o] : 1;
    const a = mn * f;
    const b = mx * f;
    min.push(Math.min(a, b));
    max.push(Math.max(a, b));
  }
  return { min, max };
}

const numOf = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Largest value a DynamicFixed (bw, fl) code represents: (2^(bw-1)-1)·2^-fl. */
export const dynamicFixedRange = (bw: number, fl: number) => (2 ** (bw - 1) - 1) * 2 ** -fl;

/** The plan as written in an annotated net (precision_param, or Ristretto's quantization_param). */
export function planFromNet(net: Net): PrecisionPlan {
  const plan: PrecisionPlan = new Map();
  for (const l of net.layers) {
    const b = l.param.precision_param ?? l.param.quantization_param;
    if (b) plan.set(l.name, b);
  }
  return plan;
}

function blockFacts(r: ReportLayer, b: Msg | undefined) {
  if (!b) return;
  r.thIn = numOf(b.th_layer_in);
  r.thOut = numOf(b.th_layer_out);
  r.flIn = numOf(b.fl_layer_in);
  r.flOut = numOf(b.fl_layer_out);
  if (Array.isArray(b.th_params) && b.th_params.length) r.thParams = b.th_params.map(Number);
  const bwOut = numOf(b.bw_layer_out);
  if (r.thOut === undefined && r.flOut !== undefined && bwOut !== undefined) r.rangeOut = dynamicFixedRange(bwOut, r.flOut);
  const flP = numOf(b.fl_params);
  const bwP = numOf(b.bw_params);
  if (flP !== undefined && bwP !== undefined) r.paramRange = dynamicFixedRange(bwP, flP);
}

export interface ReportOptions {
  title: string;
  subtitle?: string;
  mode?: string;
  summary?: [string, string][];
}

/**
 * One entry per layer of the net, in net order: the block's thresholds / fl, the histogram of the
 * calibration values behind th_layer_out with the clipped fraction, per-channel weight ranges.
 */
export function quantizeReportLayers(net: Net, plan: PrecisionPlan | undefined, stats?: StatsCollector): ReportLayer[] {
  return net.layers.map((l) => {
    const r: ReportLayer = { name: l.name, type: l.type };
    const b = plan?.get(l.name);
    blockFacts(r, b);
    if (!b) r.note = 'no precision block';
    if (stats) {
      const s = layerOutputStats(net, stats, l.index);
      if (s) {
        r.histogram = reportHistogram(s);
        const clip = r.thOut ?? r.rangeOut;
        if (clip !== undefined) r.clippedFraction = clippedFraction(s, clip);
      }
    }
    const w = weightRanges(net, l);
    if (w) {
      r.weightMin = w.min;
      r.weightMax = w.max;
    }
    return r;
  });
}

export function quantizeReportData(net: Net, plan: PrecisionPlan | undefined, stats: StatsCollector | undefined, o: ReportOptions): ReportData {
  const layers = quantizeReportLayers(net, plan, stats);
  const summary: [string, string][] = [...(o.summary ?? [])];
  if (o.mode) summary.unshift(['mode', o.mode]);
  return { title: o.title, subtitle: o.subtitle, summary, layers };
}

/** Adds the simulator's figures (fixed chain vs float, local SQNR of HW layers) to report layers, by name. */
export function addSimulation(layers: ReportLayer[], sim: LayerReport[]): ReportLayer[] {
  const byName = new Map(sim.map((x) => [x.name, x]));
  return layers.map((x) => {
    const s = byName.get(x.name);
    if (!s) return x;
    const r: ReportLayer = { ...x, sqnrDb: s.cumulative.sqnrDb, cosine: s.cumulative.cosine, where: s.where };
    if (s.cumulative.satFraction !== null) r.saturation = s.cumulative.satFraction;
    if (s.local) r.localSqnrDb = s.local.sqnrDb;
    return r;
  });
}

/**
 * simulate --report: thresholds read from the annotated file, the float activations the simulator
 * saw (when collected) against them, weight ranges, and the per-layer error figures.
 */
export function simulateReportLayers(net: Net, sim: LayerReport[], stats?: StatsCollector): ReportLayer[] {
  return addSimulation(quantizeReportLayers(net, planFromNet(net), stats), sim);
}
