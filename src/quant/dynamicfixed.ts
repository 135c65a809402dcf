import type { Net, LayerNode } from '../graph/types';
import type { PrecisionPlan, PrecisionBlock } from './plan';
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import { blockFromFields, precisionFields } from './fields';
import { PASS_THROUGH, bottomVersion, isActivation, versionKey } from './xilinx';
import type { Bitwidths } from './xilinx';
import { batchNormInvStd, batchNormMean, batchNormVariance, foldFactors, perChannelAbsMax } from '../chaidnn/weights';
import { foldedWeightFl } from '../chaidnn/arith';

const f32 = Math.fround;

/** Ristretto's rule: integer length il = ceil(log2(max|x|)) + 1 (sign included), fl = bw - il. */
export function ristrettoFl(maxAbs: number, bw: number): number {
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs)) return bw - 1;
  return bw - 1 - Math.ceil(Math.log2(maxAbs));
}

function absMax(d: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i]));
  return m;
}

export interface FlTriple {
  in: number;
  params: number;
  out: number;
}

/**
 * XportDNN writes `--fl_bitwidths I,P,O` on every layer, so with I ≠ O each consumer reads its producer's
 * output (written at fl O) as if it had fl I. The message says so, or undefined when I = O.
 */
export function uniformFlMismatch(fl: FlTriple, given: string): string | undefined {
  if (fl.in === fl.out) return undefined;
  const d = fl.out - fl.in;
  const f = `${d > 0 ? '' : '1/'}${2 ** Math.abs(d)}`;
  return `--fl_bitwidths ${given} writes fl_layer_in ${fl.in} and fl_layer_out ${fl.out} on every layer, as XportDNN did: ` +
    `CHaiDNN will read each activation at the wrong scale (×${f}, 2^(${fl.out}−${fl.in})); chaiq lint reports it (fl-mismatch); ` +
    'give equal input and output fl, or --fl_bitwidths auto';
}

export interface DynamicFixedOptions {
  bitwidths: Bitwidths;
  /** uniform fractional lengths (XportDNN `--fl_bitwidths I,P,O`), or 'auto' from weights and calibration */
  fl: FlTriple | 'auto';
  /** auto: the fractional length of the blob version written by layers[li].tops[ti] (from calibration statistics) */
  actFl?: (li: number, ti: number) => number;
  /** fractional length for a weight array (auto mode and BN/Scale fields); default Ristretto's rule */
  weightFl?: (data: Float32Array, bw: number) => number;
  /** negative fractional lengths are an error instead of a warning */
  strict?: boolean;
  warn?: WarnFn;
}

export interface DynamicFixedRow {
  layer: string;
  type: string;
  flIn?: number;
  flOut?: number;
  flParams?: number;
}

/**
 * DynamicFixed plan (chaidnn-semantics §3.4, §5): the same bw/fl on every layer that needs a block
 * (uniform, as XportDNN), or per-layer fl (auto) with the integer datapath kept valid: one fl per
 * group of blob versions tied by pass-through layers, ReLU, Concat and Eltwise, so a producer's
 * fl_layer_out is its consumers' fl_layer_in. BatchNorm/Scale parameter fields come from the weights.
 */
export function buildDynamicFixedPlan(net: Net, opts: DynamicFixedOptions): { plan: PrecisionPlan; rows: DynamicFixedRow[] } {
  const warn: WarnFn = opts.warn ?? (() => undefined);
  const bw = opts.bitwidths;
  const wFl = opts.weightFl ?? ((d: Float32Array, b: number) => ristrettoFl(absMax(d), b));
  const clamp = (fl: number, what: string, l: LayerNode, b: number): number => {
    if (fl >= 0) return fl;
    const why = `${what} of layer "${l.name}" would be ${fl} (CHaiDNN does not accept negative fractional lengths)`;
    const sat = `values beyond ±${2 ** (b - 1) - 1} saturate (up to ${2 ** -fl}× of the range lost)`;
    if (opts.strict) throw new ChaiqError(`${why}; clamping it to 0 would make ${sat} (--strict)`, l.loc ?? {});
    const msg = `${why}; clamped to 0, so ${sat}`;
    warn(msg, l.loc ?? {});
    return 0;
  };

  // auto: fl per group of blob versions
  const groupFl = new Map<string, number>();
  /** the writer layer whose statistics set the group's fl (named in warnings) */
  const cause = new Map<string, number>();
  /** roots of groups that joined several producers (Concat / Eltwise) */
  const merged = new Set<string>();
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    const p = parent.get(k);
    if (p === undefined || p === k) return k;
    const r = find(p);
    parent.set(k, r);
    return r;
  };
  const union = (a: string, b: string) => {
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return;
    parent.set(rb, ra);
    if (merged.has(rb)) merged.add(ra);
    const fa = groupFl.get(ra);
    const fb = groupFl.get(rb);
    if (fb !== undefined && (fa === undefined || fb < fa)) {
      groupFl.set(ra, fb);
      cause.set(ra, cause.get(rb)!);
    }
  };
  const setMin = (k: string, fl: number, writer: number) => {
    const r = find(k);
    const cur = groupFl.get(r);
    if (cur === undefined || fl < cur) {
      groupFl.set(r, fl);
      cause.set(r, writer);
    }
  };
  const auto = opts.fl === 'auto';
  if (auto) {
    if (!opts.actFl) throw new ChaiqError('--fl_bitwidths auto needs calibration statistics');
    const actFl = opts.actFl;
    for (const l of net.layers) {
      const li = l.index;
      const bv = l.bottoms.map((_, bi) => bottomVersion(net, li, bi));
      const in0 = bv[0];
      if (PASS_THROUGH.has(l.type) && in0 !== undefined) {
        l.tops.forEach((_, ti) => union(in0, versionKey(li, ti)));
      } else if (l.type === 'ReLU' && in0 !== undefined) {
        // the producer's output is the post-ReLU value on CHaiDNN (ReLU fused): its range decides
        union(in0, versionKey(li, 0));
        // after a Concat/Eltwise the group carries other inputs too: only ever narrow it then
        if (merged.has(find(in0))) setMin(in0, actFl(li, 0), net.producer(li, 0));
        else {
          groupFl.set(find(in0), actFl(li, 0));
          cause.set(find(in0), net.producer(li, 0));
        }
      } else if ((l.type === 'Concat' || l.type === 'Eltwise') && bv.every((v) => v !== undefined)) {
        const out = versionKey(li, 0);
        setMin(out, actFl(li, 0), li);
        for (const v of bv) union(out, v!);
        merged.add(find(out));
      } else {
        l.tops.forEach((_, ti) => {
          if (isActivation(net, li, ti)) setMin(versionKey(li, ti), actFl(li, ti), li);
        });
      }
    }
  }
  const flOfVersion = (k: string | undefined): number | undefined => (k === undefined ? undefined : groupFl.get(find(k)));

  const plan: PrecisionPlan = new Map();
  const rows: DynamicFixedRow[] = [];
  const clamped = new Set<string>();
  for (const l of net.layers) {
    const fields = precisionFields(l, 'DynamicFixed').filter(
      // the seed doc's DynamicFixed BatchNorm/Scale snippets carry no quant_type (CHaiDNN reads empty as DynamicFixed)
      (f) => !(f === 'quant_type' && (l.type === 'BatchNorm' || l.type === 'Scale')),
    );
    if (fields.length === 0) continue;
    const li = l.index;
    let flIn: number | undefined;
    let flOut: number | undefined;
    let flP: number | undefined;
    if (auto) {
      const vin = l.bottoms.length ? bottomVersion(net, li, 0) : undefined;
      const vout = l.tops.length ? versionKey(li, 0) : undefined;
      flIn = flOfVersion(vin);
      flOut = flOfVersion(vout);
      // clamp once per group, warn naming the writer
      for (const [v, fl] of [[vin, flIn], [vout, flOut]] as [string | undefined, number | undefined][]) {
        if (v === undefined || fl === undefined || fl >= 0) continue;
        const r = find(v);
        if (!clamped.has(r)) {
          groupFl.set(r, clamp(fl, 'fl_layer_out', net.layers[cause.get(r)!], bw.out));
          clamped.add(r);
        }
      }
      flIn = flOfVersion(vin);
      flOut = flOfVersion(vout);
      if (fields.includes('fl_params')) {
        const W = l.blobs[0];
        if (!W) throw new ChaiqError(`layer "${l.name}" (${l.type}) has no weights: give --weights with a caffemodel that has them`, l.loc ?? {});
        // with BN/Scale folded in, CHaiDNN ignores fl_params and derives the fl from max|W'| (§3.5): write that one
        const S = foldFactors(net, l.index);
        flP = S ? foldedWeightFl(perChannelAbsMax(l, W, S), bw.params) : clamp(wFl(W.data, bw.params), 'fl_params', l, bw.params);
      }
    } else {
      const u = opts.fl as FlTriple;
      flIn = u.in;
      flOut = u.out;
      flP = u.params;
    }
    const block: PrecisionBlock = blockFromFields(fields, {
      bw_layer_in: () => (auto ? bw.out : bw.in),
      bw_layer_out: () => bw.out,
      bw_params: () => bw.params,
      fl_layer_in: () => flIn,
      fl_layer_out: () => flOut,
      fl_params: () => flP,
      quant_type: () => 'DynamicFixed',
    });
    if (l.type === 'BatchNorm') Object.assign(block, batchNormFields(l, bw.params, wFl, clamp));
    if (l.type === 'Scale') Object.assign(block, scaleFields(net, l, bw.params, wFl, clamp));
    // keep only requested fields (a registry may list fewer)
    for (const k of Object.keys(block)) if (!fields.includes(k)) delete block[k];
    plan.set(l.name, block);
    rows.push({ layer: l.name, type: l.type, flIn: block.fl_layer_in, flOut: block.fl_layer_out, flParams: block.fl_params });
  }
  return { plan, rows };
}

type Clamp = (fl: number, what: string, l: LayerNode, bw: number) => number;
type WFl = (d: Float32Array, bw: number) => number;

function batchNormFields(l: LayerNode, bw: number, wFl: WFl, clamp: Clamp): PrecisionBlock {
  return {
    batchnorm_mean_bw: bw,
    batchnorm_mean_fl: clamp(wFl(batchNormMean(l), bw), 'batchnorm_mean_fl', l, bw),
    batchnorm_variance_bw: bw,
    batchnorm_variance_fl: clamp(wFl(batchNormVariance(l), bw), 'batchnorm_variance_fl', l, bw),
  };
}

/**
 * Scale: gamma, beta, and gamma/sqrt(var+eps) with the BatchNorm feeding it (its eps and
 * moving-average factor); a Scale without a BatchNorm before it gets gamma alone for the last
 * (the seed doc says any value is accepted there).
 */
function scaleFields(net: Net, l: LayerNode, bw: number, wFl: WFl, clamp: Clamp): PrecisionBlock {
  const gamma = l.blobs[0];
  if (!gamma) throw new ChaiqError(`Scale layer "${l.name}" has no gamma blob`, l.loc ?? {});
  const beta = l.blobs[1]?.data ?? new Float32Array(0);
  const p = l.bottoms.length ? net.producer(l.index, 0) : -1;
  let byStd = gamma.data;
  if (p >= 0 && net.layers[p].type === 'BatchNorm' && net.layers[p].blobs.length >= 2) {
    const inv = batchNormInvStd(net.layers[p]);
    byStd = Float32Array.from(gamma.data, (g, c) => f32(g * (inv[c] ?? 1)));
  }
  return {
    scale_gamma_bw: bw,
    scale_gamma_fl: clamp(wFl(gamma.data, bw), 'scale_gamma_fl', l, bw),
    scale_beta_bw: bw,
    scale_beta_fl: clamp(wFl(beta, bw), 'scale_beta_fl', l, bw),
    scale_gamma_by_std_bw: bw,
    scale_gamma_by_std_fl: clamp(wFl(byStd, bw), 'scale_gamma_by_std_fl', l, bw),
  };
}

