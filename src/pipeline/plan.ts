/**
 * Plan: the precision fields of every layer, Xilinx (thresholds from calibration, quant/xilinx) or DynamicFixed
 * (bw/fl, quant/dynamicfixed), with the summary rows the CLI prints.
 */
import type { WarnFn } from '../errors';
import type { Net } from '../graph/types';
import { chooseFl } from '../calib/fl';
import type { StatsCollector } from '../calib/stats';
import { formatPy2Float } from '../io/floatfmt';
import { versionStats } from '../quant/calibrate';
import { buildDynamicFixedPlan } from '../quant/dynamicfixed';
import type { FlTriple } from '../quant/dynamicfixed';
import type { PrecisionPlan } from '../quant/plan';
import { buildXilinxPlan } from '../quant/xilinx';
import type { Bitwidths } from '../quant/xilinx';
import type { Thresholds } from './calibrate';

/** A plan and its summary table (a header row, then one row per layer). */
export interface PlanResult {
  plan: PrecisionPlan;
  summary: string[][];
}

/**
 * Xilinx mode: th_layer_in/out from the thresholds; the summary's last column says where each th_layer_out comes
 * from (the method, `relu`, `concat`, `fold`...; `+pow2` when snapped).
 */
export function planXilinx(net: Net, th: Thresholds, o: { bitwidths: Bitwidths; method: string; pow2: boolean; warn: WarnFn }): PlanResult {
  const r = buildXilinxPlan(net, th.thOf, { bitwidths: o.bitwidths, pow2: o.pow2, warn: o.warn, groupTh: th.groupTh });
  const summary = [['layer', 'type', 'th_in', 'th_out', 'method']];
  for (const row of r.rows) {
    if (!r.plan.has(row.layer)) continue;
    const l = net.layers.find((x) => x.name === row.layer)!;
    const key = l.tops.length ? `${l.tops[0]}@${l.name}` : '';
    const how = row.source === 'calib' ? th.report.method.get(key) ?? o.method : row.source;
    summary.push([row.layer, row.type, row.thIn !== undefined ? formatPy2Float(row.thIn) : '-', row.thOut !== undefined ? formatPy2Float(row.thOut) : '-', how + (o.pow2 ? '+pow2' : '')]);
  }
  return { plan: r.plan, summary };
}

/** DynamicFixed mode: one fl triple everywhere, or `auto` (activations' fl from the statistics, weights' from their values). */
export function planDynamicFixed(net: Net, o: { bitwidths: Bitwidths; fl: FlTriple | 'auto'; stats?: StatsCollector; strict: boolean; warn: WarnFn; xilinxInput?: boolean }): PlanResult {
  const auto = o.fl === 'auto';
  const bw = o.bitwidths;
  const r = buildDynamicFixedPlan(net, {
    bitwidths: bw,
    fl: o.fl,
    actFl: auto ? (li, ti) => chooseFl(versionStats(net, o.stats!, li, ti), bw.out, { kind: 'activations' }).fl : undefined,
    weightFl: auto ? (d, b) => chooseFl(d, b, { kind: 'weights' }).fl : undefined,
    strict: o.strict,
    warn: o.warn,
    xilinxInput: o.xilinxInput,
  });
  const summary = [['layer', 'type', 'fl_in', 'fl_out', 'fl_params']];
  for (const row of r.rows) summary.push([row.layer, row.type, String(row.flIn ?? '-'), String(row.flOut ?? '-'), String(row.flParams ?? '-')]);
  return { plan: r.plan, summary };
}
