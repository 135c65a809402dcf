import type { Net } from '../graph/types';
import type { PrecisionPlan, PrecisionBlock } from './plan';
import { keepsScale, planRole, sharesInputs } from '../layers/registry';
import { modeBoundaryMismatch } from '../chaidnn/format';

export interface InvariantViolation {
  layer: string;
  /** 'error': CHaiDNN computes wrong values; 'warning': legal but unusual (non-uniform bitwidths) */
  severity: 'error' | 'warning';
  message: string;
  /** the precision the violation is about (th, fl or bw); absent for whole-block checks */
  kind?: 'th' | 'fl' | 'bw';
}


const eqF32 = (a: number, b: number) => Math.fround(a) === Math.fround(b);

/**
 * The layers with a precision block whose output a bottom really carries, looking through
 * block-less pass-through layers (Dropout, Flatten, a DynamicFixed Concat or ReLU, ...).
 */
function blockProducers(net: Net, plan: PrecisionPlan, li: number, bi: number, seen = new Set<number>()): number[] {
  const p = net.producer(li, bi);
  if (p < 0 || seen.has(p)) return [];
  seen.add(p);
  const pl = net.layers[p];
  if (plan.has(pl.name)) return [p];
  // block-less layers that do not rescale are traced through (every input of a shared-threshold one)
  const role = planRole(pl);
  if (!keepsScale(role)) return [];
  const bis = sharesInputs(role) ? pl.bottoms.map((_, i) => i) : pl.bottoms.length ? [0] : [];
  return bis.flatMap((b) => blockProducers(net, plan, p, b, seen));
}

/** A Xilinx producer read by a DynamicFixed consumer (or the other way round) must write at the scale it is read at. */
function modeBoundaryViolations(net: Net, plan: PrecisionPlan, li: number, b: PrecisionBlock): InvariantViolation[] {
  const l = net.layers[li];
  const out: InvariantViolation[] = [];
  for (let bi = 0; bi < l.bottoms.length; bi++) {
    for (const p of blockProducers(net, plan, li, bi)) {
      const m = modeBoundaryMismatch(plan.get(net.layers[p].name)!, b);
      if (m) out.push({ layer: l.name, severity: 'error', kind: m.field === 'th_layer_in' ? 'th' : 'fl', message: `"${l.name}" ${m.message} of its producer "${net.layers[p].name}"` });
    }
  }
  return out;
}

/**
 * The runtime invariants of chaidnn-semantics §3.3 (Xilinx: thresholds; DynamicFixed: fractional
 * lengths; both: bitwidths): every producer's *_out equals every consumer's *_in exactly as float32;
 * Pooling/Concat/Eltwise/ReLU in == out; the inputs of a Concat or Eltwise share one value.
 * Returns [] when the plan is consistent.
 */
export function checkInvariants(net: Net, plan: PrecisionPlan): InvariantViolation[] {
  const out: InvariantViolation[] = [];
  const bws = new Set<number>();
  const pairs: [string, string][] = [
    ['th_layer_out', 'th_layer_in'],
    ['fl_layer_out', 'fl_layer_in'],
    ['bw_layer_out', 'bw_layer_in'],
  ];
  for (const l of net.layers) {
    const b: PrecisionBlock | undefined = plan.get(l.name);
    if (!b) continue;
    for (const k of ['bw_layer_in', 'bw_layer_out', 'bw_params']) if (typeof b[k] === 'number') bws.add(b[k]);
    if (b.quant_type !== undefined && b.quant_type !== 'Xilinx' && b.quant_type !== 'DynamicFixed')
      out.push({ layer: l.name, severity: 'error', message: `quant_type "${b.quant_type}" is neither "Xilinx" nor "DynamicFixed"` });
    for (const [fo, fi] of pairs) {
      if (b[fi] === undefined) continue;
      const isFloat = fi.startsWith('th');
      const kind = fi.slice(0, 2) as 'th' | 'fl' | 'bw';
      for (let bi = 0; bi < l.bottoms.length; bi++) {
        for (const p of blockProducers(net, plan, l.index, bi)) {
          const pb = plan.get(net.layers[p].name)!;
          if (pb[fo] === undefined) continue;
          const ok = isFloat ? eqF32(pb[fo], b[fi]) : pb[fo] === b[fi];
          if (!ok)
            out.push({
              layer: l.name,
              severity: 'error',
              kind,
              message: `${fi} ${b[fi]} of "${l.name}" differs from ${fo} ${pb[fo]} of its producer "${net.layers[p].name}" (blob "${l.bottoms[bi]}")`,
            });
        }
      }
      if (keepsScale(planRole(l)) && b[fo] !== undefined) {
        const ok = isFloat ? eqF32(b[fo], b[fi]) : b[fo] === b[fi];
        if (!ok)
          out.push({ layer: l.name, severity: 'error', kind, message: `${l.type} "${l.name}" must have ${fi} == ${fo} (${b[fi]} vs ${b[fo]}): it does not rescale` });
      }
    }
    out.push(...modeBoundaryViolations(net, plan, l.index, b));
    if (Array.isArray(b.th_params) && b.th_params.some((x: number) => !(x >= 0) || !Number.isFinite(x)))
      out.push({ layer: l.name, severity: 'error', message: `th_params of "${l.name}" must be finite and >= 0` });
    for (const k of ['th_layer_in', 'th_layer_out'])
      if (b[k] !== undefined && !(b[k] >= 0 && Number.isFinite(b[k])))
        out.push({ layer: l.name, severity: 'error', message: `${k} of "${l.name}" must be finite and >= 0 (got ${b[k]})` });
  }
  for (const bw of bws)
    if (bw !== 6 && bw !== 8) out.push({ layer: '', severity: 'error', message: `bitwidth ${bw}: CHaiDNN supports only 6 or 8` });
  if (bws.size > 1)
    out.push({ layer: '', severity: 'warning', message: `bitwidths ${[...bws].sort().join(', ')} are mixed: CHaiDNN needs one bitwidth network-wide (§3.3)` });
  return out;
}
