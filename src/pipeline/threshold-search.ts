/** --th_search: the Xilinx plan's activation thresholds chosen end to end (src/recover/threshold-search.ts). */
import type { Net } from '../graph/types';
import type { NetParam } from '../proto/message';
import type { StatsCollector } from '../calib/stats';
import type { ThresholdMethod } from '../calib/threshold';
import type { WarnFn } from '../errors';
import type { Tensor } from '../tensor';
import type { Bitwidths } from '../quant/xilinx';
import { searchGroupThresholds, searchThresholds, type ThresholdSearch } from '../recover/threshold-search';
import { formatPy2Float } from '../io/floatfmt';
import { thresholdsOf } from './calibrate';
import { planXilinx, type PlanResult } from './plan';
import type { ProgressFactory } from './types';
import { noProgress } from './types';

/** The plan (and its summary) with the searched thresholds; the summary's method column names the choice. */
export async function thresholdSearchPlan(
  net: Net, netParam: NetParam, stats: StatsCollector, images: Tensor[],
  o: { objective: ThresholdSearch; method: ThresholdMethod; bitwidths: Bitwidths; pow2: boolean; warn: WarnFn; info: (msg: string) => void; progress?: ProgressFactory },
): Promise<PlanResult> {
  const base = thresholdsOf(net, stats, o.method, o.bitwidths.out, o.warn);
  if (o.objective === 'group') return groupSearchPlan(net, netParam, base, images, o);
  let bar: ReturnType<ProgressFactory> | undefined;
  let r;
  try {
    r = await searchThresholds({
      net, netParam, stats, thOf: base.thOf, method: o.method, bitwidths: o.bitwidths, pow2: o.pow2, images, objective: o.objective, warn: o.warn,
      onThreshold: (_, total) => (bar ??= (o.progress ?? noProgress)(total, `choosing thresholds (${o.objective} error)`, 'thresholds')).tick(1),
    });
  } finally {
    bar?.stop();
  }
  const method = new Map(base.report.method);
  const changed = r.chosen.filter((c) => c.method !== o.method);
  for (const c of changed) method.set(c.key, `${c.method} (${o.objective} search)`);
  const by = new Map<string, number>();
  for (const c of changed) by.set(c.method, (by.get(c.method) ?? 0) + 1);
  const list = [...by].map(([m, n]) => `${m} ${n}`).join(', ');
  o.info(`threshold search (${o.objective} error, ${images.length} images): ${changed.length} of ${r.chosen.length} thresholds changed from ${o.method}${list ? ` (${list})` : ''}`);
  return planXilinx(net, { thOf: r.thOf, report: { method } }, { bitwidths: o.bitwidths, method: o.method, pow2: o.pow2, warn: o.warn });
}

/** --th_search group: the shared groups' thresholds chosen by the net-output error. */
async function groupSearchPlan(
  net: Net, netParam: NetParam, base: ReturnType<typeof thresholdsOf>, images: Tensor[],
  o: { method: ThresholdMethod; bitwidths: Bitwidths; pow2: boolean; warn: WarnFn; info: (msg: string) => void; progress?: ProgressFactory },
): Promise<PlanResult> {
  let bar: ReturnType<ProgressFactory> | undefined;
  let r;
  try {
    r = await searchGroupThresholds({
      net, netParam, thOf: base.thOf, bitwidths: o.bitwidths, pow2: o.pow2, images, warn: o.warn,
      onThreshold: (_, total) => (bar ??= (o.progress ?? noProgress)(total, 'choosing shared thresholds (net error)', 'groups')).tick(1),
    });
  } finally {
    bar?.stop();
  }
  const changed = r.chosen.filter((c) => c.th !== c.base);
  const list = changed.map((c) => `${c.blobs[0]}… ${formatPy2Float(c.base)} → ${formatPy2Float(c.th)}`).join(', ');
  o.info(`threshold search (group, net error, ${images.length} images): ${changed.length} of ${r.chosen.length} shared thresholds lowered${list ? ` (${list})` : ''}`);
  return planXilinx(net, { ...base, groupTh: r.groupTh }, { bitwidths: o.bitwidths, method: o.method, pow2: o.pow2, warn: o.warn });
}
