/**
 * Activation thresholds chosen end to end (`--th_search layer|net`, Xilinx mode): each calibrated threshold
 * is picked among the `--th_method` candidates (kl when the statistics have its exact pass, max, percentile,
 * mse, entropy, on the same statistics) by the error it causes downstream, not by the tensor's own error:
 * `layer`, the output of the layers that read the tensor; `net`, the net's outputs. Greedy in net order: each
 * threshold is settled with those before it already chosen, so a later layer sees the choices its inputs
 * got. The error is Σ ‖fixed − float‖² / Σ ‖float‖² over the search images, in CHaiDNN's arithmetic (the
 * simulator, with the float net run alongside on the same cut net); a candidate replaces the current one only
 * when it lowers that strictly, so the search never ends worse on the images it measures, and is
 * deterministic.
 */
import type { Net } from '../graph/types';
import type { NetParam } from '../proto/message';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';
import type { PrecisionPlan } from '../quant/plan';
import type { StatsCollector } from '../calib/stats';
import { THRESHOLD_METHODS, type ThresholdMethod } from '../calib/threshold';
import { thresholdFromStatsDetailed } from '../calib/stats';
import { versionStats } from '../quant/calibrate';
import { versionStatsKey } from '../quant/calibrate-image';
import { buildXilinxPlan, type VersionThreshold } from '../quant/xilinx';
import type { Bitwidths } from '../quant/xilinx';
import { buildNet } from '../graph/build';
import { compileSim, runSim } from '../sim/simulate';
import { applyPlanToNetParam } from '../print/precision';
import { blobsOf } from '../quant/rewrite';

export type ThresholdSearch = 'layer' | 'net' | 'group';
export const THRESHOLD_SEARCHES: readonly ThresholdSearch[] = ['layer', 'net', 'group'];

export interface ThresholdSearchInput {
  net: Net;
  netParam: NetParam;
  stats: StatsCollector;
  /** the thresholds of --th_method (the starting point) */
  thOf: VersionThreshold;
  method: ThresholdMethod;
  bitwidths: Bitwidths;
  pow2: boolean;
  images: Tensor[];
  objective: ThresholdSearch;
  warn?: WarnFn;
  /** after each threshold is settled, with how many there are */
  onThreshold?: (key: string, total: number) => void;
}

export interface SearchedThreshold {
  /** blob@layer of the calibrated version */
  key: string;
  method: string;
  th: number;
  /** the error measured with --th_method's threshold, and with the chosen one */
  before: number;
  after: number;
}

/** The candidates of one calibrated blob: --th_method's first, then the other methods' distinct values. */
export function thresholdCandidates(stats: ReturnType<typeof versionStats>, method: ThresholdMethod, base: number, bw: number, haveExact: boolean): { method: string; th: number }[] {
  const out = [{ method, th: base }];
  for (const m of THRESHOLD_METHODS) {
    if (m === method || (m === 'kl' && !haveExact)) continue;
    const r = thresholdFromStatsDetailed(stats, m, bw);
    if (r.fallback || !(r.th > 0) || out.some((c) => c.th === r.th)) continue;
    out.push({ method: m, th: r.th });
  }
  return out;
}

/** Where a candidate is measured: the cut net's last layer and the blobs compared. */
interface Probe {
  end: number;
  blobs: string[];
}

function probeOf(net: Net, annotated: NetParam, li: number, ti: number, objective: ThresholdSearch): Probe {
  const at = (name: string) => annotated.layer.findIndex((x) => x.name === name);
  if (objective === 'net') return { end: annotated.layer.length - 1, blobs: [...net.outputs] };
  const blob = net.layers[li].tops[ti];
  const readers = [];
  let end = at(net.layers[li].name);
  // the layers that read this version of the blob; an in-place layer on it (a ReLU) keeps the version
  for (let j = li + 1; j < net.layers.length; j++) {
    const l = net.layers[j];
    const reads = l.bottoms.includes(blob);
    const writes = l.tops.includes(blob);
    if (reads && writes) end = Math.max(end, at(l.name));
    else if (reads) readers.push(l);
    else if (writes) break;
  }
  if (!readers.length) return { end, blobs: [blob] };
  return { end: Math.max(...readers.map((l) => at(l.name))), blobs: [...new Set(readers.flatMap((l) => l.tops))] };
}

/** Σ‖fixed − float‖² / Σ‖float‖² of the probe's blobs on the images, with the plan given. */
async function probeError(annotated: NetParam, weights: Map<string, Tensor[]>, probe: Probe, images: Tensor[]): Promise<number> {
  const cut: NetParam = { ...annotated, layer: annotated.layer.slice(0, probe.end + 1) };
  const net = buildNet(cut, { weights, warn: () => undefined });
  const prog = compileSim(net, { reference: true, warn: () => undefined });
  let err = 0;
  let ref = 0;
  for (const x of images) {
    const r = await runSim(prog, x, { reference: true, keep: probe.blobs, warn: () => undefined });
    for (const b of probe.blobs) {
      const q = r.outputs.get(b);
      const f = r.reference.get(b);
      if (!q || !f) continue;
      for (let i = 0; i < f.data.length; i++) {
        const d = q.data[i] - f.data[i];
        err += d * d;
        ref += f.data[i] * f.data[i];
      }
    }
  }
  return ref > 0 ? err / ref : err;
}

function samePlan(a: PrecisionPlan, b: PrecisionPlan): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (JSON.stringify(v) !== JSON.stringify(b.get(k))) return false;
  return true;
}

/**
 * The thresholds after the search (a VersionThreshold for planXilinx) and, per calibrated blob, what was
 * chosen. The plan built from them is what the caller writes.
 */
export async function searchThresholds(inp: ThresholdSearchInput): Promise<{ thOf: VersionThreshold; chosen: SearchedThreshold[]; plan: PrecisionPlan }> {
  const net = inp.net;
  const warn = inp.warn ?? (() => undefined);
  const bw = inp.bitwidths.out;
  const chosen = new Map<string, number>();
  const order: [number, number][] = [];
  const seen = new Set<string>();
  const thOf: VersionThreshold = (li, ti) => {
    const key = versionStatsKey(net, li, ti);
    if (!seen.has(key)) {
      seen.add(key);
      order.push([li, ti]);
    }
    return chosen.get(key) ?? inp.thOf(li, ti);
  };
  const planWith = () => buildXilinxPlan(net, thOf, { bitwidths: inp.bitwidths, pow2: inp.pow2, warn: () => undefined }).plan;
  planWith();
  order.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const weights = blobsOf(net);
  const haveExact = [...inp.stats.blobs.values()].some((s) => !!s.exact);
  const result: SearchedThreshold[] = [];
  for (const [li, ti] of order) {
    const key = versionStatsKey(net, li, ti);
    const base = inp.thOf(li, ti);
    const cands = thresholdCandidates(versionStats(net, inp.stats, li, ti), inp.method, base, bw, haveExact);
    const probe = probeOf(net, inp.netParam, li, ti, inp.objective);
    // a version whose threshold the plan does not use (a conv's output before its in-place ReLU) is not searched
    const plans = cands.map((c) => {
      chosen.set(key, c.th);
      return planWith();
    });
    const same = plans.map((p) => samePlan(p, plans[0]));
    let best = { method: inp.method as string, th: base, err: Infinity };
    let before = NaN;
    if (same.every((x) => x)) chosen.delete(key);
    else {
      for (const [i, c] of cands.entries()) {
        if (i > 0 && same[i]) continue;
        const err = await probeError(applyPlanToNetParam(inp.netParam, plans[i]), weights, probe, inp.images);
        if (i === 0) before = err;
        if (err < best.err) best = { ...c, err };
      }
      chosen.set(key, best.th);
      result.push({ key, method: best.method, th: best.th, before, after: best.err });
    }
    inp.onThreshold?.(key, order.length);
  }
  const plan = buildXilinxPlan(net, thOf, { bitwidths: inp.bitwidths, pow2: inp.pow2, warn }).plan;
  return { thOf, chosen: result, plan };
}

/** The factors of a shared group's threshold tried by the group search (1 first: the current one wins ties). */
export const GROUP_FACTORS: readonly number[] = [1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5];

export interface SearchedGroup {
  id: string;
  /** the blob names of the group's members */
  blobs: string[];
  /** the max-rule threshold, and the one chosen */
  base: number;
  th: number;
  before: number;
  after: number;
}

/**
 * `--th_search group`: the threshold each shared group carries (an Eltwise's inputs and output, a Concat's,
 * CHaiDNN's plain integer add or copy needs them equal, §3.3) is the max (Eltwise) or the output's (Concat)
 * calibrated threshold, which a per-member search cannot lower. Here each group in net order tries factors of
 * its threshold, judged by the net-output error on the images with the earlier groups' choices in place; a
 * factor replaces the current threshold only when it lowers that error strictly.
 */
export async function searchGroupThresholds(inp: Omit<ThresholdSearchInput, 'objective' | 'stats' | 'method'> & { factors?: readonly number[] }): Promise<{ groupTh: Map<string, number>; chosen: SearchedGroup[]; plan: PrecisionPlan }> {
  const net = inp.net;
  const opts = (groupTh: Map<string, number>) => ({ bitwidths: inp.bitwidths, pow2: inp.pow2, warn: () => undefined, groupTh });
  const groupTh = new Map<string, number>();
  const groups = buildXilinxPlan(net, inp.thOf, opts(groupTh)).groups;
  const weights = blobsOf(net);
  const probe = probeOf(net, inp.netParam, 0, 0, 'net');
  const blobName = (k: string) => {
    const [li, ti] = k.split('/').map(Number);
    return net.layers[li].tops[ti];
  };
  const chosen: SearchedGroup[] = [];
  for (const gr of groups) {
    const tried: PrecisionPlan[] = [];
    let best = { th: gr.th, err: Infinity };
    let before = NaN;
    for (const f of inp.factors ?? GROUP_FACTORS) {
      const th = Math.fround(gr.th * f);
      if (!(th > 0)) continue;
      const trial = new Map(groupTh).set(gr.id, th);
      const plan = buildXilinxPlan(net, inp.thOf, opts(trial)).plan;
      // a factor the plan does not see (pow2 snapping, integer rounding) is measured once
      if (tried.some((p) => samePlan(p, plan))) continue;
      tried.push(plan);
      const err = await probeError(applyPlanToNetParam(inp.netParam, plan), weights, probe, inp.images);
      if (tried.length === 1) before = err;
      if (err < best.err) best = { th, err };
    }
    if (best.th !== gr.th) groupTh.set(gr.id, best.th);
    chosen.push({ id: gr.id, blobs: [...new Set(gr.members.map(blobName))], base: gr.th, th: best.th, before, after: best.err });
    inp.onThreshold?.(gr.id, groups.length);
  }
  const plan = buildXilinxPlan(net, inp.thOf, { ...opts(groupTh), warn: inp.warn ?? (() => undefined) }).plan;
  return { groupTh, chosen, plan };
}
