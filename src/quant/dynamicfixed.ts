import type { Net, LayerNode } from '../graph/types';
import type { PrecisionPlan, PrecisionBlock } from './plan';
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import { blockFromFields, precisionFields } from '../chaidnn/precision-fields';
import { bottomVersion, isActivation, versionKey } from './xilinx';
import { planRole, sharesInputs } from '../layers/registry';
import type { Bitwidths } from './xilinx';
import { batchNormInvStd, batchNormMean, batchNormVariance, foldFactors, perChannelAbsMax } from '../chaidnn/weights';
import { dynamicFixedBiasOverflows, foldedWeightFl } from '../chaidnn/arith';
import { ristrettoFl } from '../calib/fl';
import { absMaxOf } from '../calib/threshold';

const f32 = Math.fround;

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
  /** auto: the net input is read in Xilinx mode (--df_input xilinx), so its fl is neither used nor clamped */
  xilinxInput?: boolean;
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
  const clamp = fractionalLengthClamp(opts);
  const wFl = opts.weightFl ?? ((d: Float32Array, b: number) => ristrettoFl(absMaxOf(d), b, 'weights'));
  const groups = opts.fl === 'auto' ? activationFlGroups(net, requireActFl(opts)) : undefined;
  const plan: PrecisionPlan = new Map();
  const rows: DynamicFixedRow[] = [];
  for (const l of net.layers) {
    const fields = precisionFields(l, 'DynamicFixed');
    if (fields.length === 0) continue;
    const fl = groups ? autoLayerFl(net, l, fields, groups, opts.bitwidths, wFl, clamp, opts.xilinxInput) : uniformLayerFl(opts.fl as FlTriple);
    const block = dynamicFixedBlock(net, l, fields, fl, opts.bitwidths, groups !== undefined, wFl, clamp);
    plan.set(l.name, block);
    rows.push({ layer: l.name, type: l.type, flIn: block.fl_layer_in, flOut: block.fl_layer_out, flParams: block.fl_params });
  }
  return { plan, rows };
}

type LayerFl = { in?: number; out?: number; params?: number };

/** Negative fractional lengths: clamped to 0 with a warning, or an error with `strict`. */
function fractionalLengthClamp(opts: DynamicFixedOptions): Clamp {
  const warn: WarnFn = opts.warn ?? (() => undefined);
  return (fl, what, l, b) => {
    if (fl >= 0) return fl;
    const why = `${what} of layer "${l.name}" would be ${fl} (CHaiDNN does not accept negative fractional lengths)`;
    const sat = `values beyond ±${2 ** (b - 1) - 1} saturate (up to ${2 ** -fl}× of the range lost)`;
    if (opts.strict) throw new ChaiqError(`${why}; clamping it to 0 would make ${sat} (--strict)`, l.loc ?? {});
    // the net input: the image reader of a DynamicFixed first layer has no other scale; a Xilinx one has
    const hint = l.bottoms.length === 0 ? '; --df_input xilinx reads the input in Xilinx mode, at any threshold' : '';
    warn(`${why}; clamped to 0, so ${sat}${hint}`, l.loc ?? {});
    return 0;
  };
}

function requireActFl(opts: DynamicFixedOptions): (li: number, ti: number) => number {
  if (!opts.actFl) throw new ChaiqError('--fl_bitwidths auto needs calibration statistics');
  return opts.actFl;
}

/** Union-find over blob versions, each group keeping the smallest fl asked of it and the layer that asked. */
class FlGroups {
  private parent = new Map<string, string>();
  private fl = new Map<string, number>();
  /** the writer layer whose statistics set the group's fl (named in warnings) */
  private cause = new Map<string, number>();
  /** roots of groups that joined several producers (Concat / Eltwise) */
  private merged = new Set<string>();
  private clamped = new Set<string>();
  find(k: string): string {
    const p = this.parent.get(k);
    if (p === undefined || p === k) return k;
    const r = this.find(p);
    this.parent.set(k, r);
    return r;
  }
  union(a: string, b: string) {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    this.parent.set(rb, ra);
    if (this.merged.has(rb)) this.merged.add(ra);
    const fa = this.fl.get(ra);
    const fb = this.fl.get(rb);
    if (fb !== undefined && (fa === undefined || fb < fa)) this.set(ra, fb, this.cause.get(rb)!);
  }
  set(k: string, fl: number, writer: number) {
    const r = this.find(k);
    this.fl.set(r, fl);
    this.cause.set(r, writer);
  }
  setMin(k: string, fl: number, writer: number) {
    const cur = this.fl.get(this.find(k));
    if (cur === undefined || fl < cur) this.set(k, fl, writer);
  }
  isMerged(k: string): boolean {
    return this.merged.has(this.find(k));
  }
  markMerged(k: string) {
    this.merged.add(this.find(k));
  }
  flOf(k: string | undefined): number | undefined {
    return k === undefined ? undefined : this.fl.get(this.find(k));
  }
  /** a negative group fl clamped once per group, the warning naming the writer */
  clampOnce(net: Net, k: string | undefined, clamp: Clamp, bw: number) {
    const fl = this.flOf(k);
    if (k === undefined || fl === undefined || fl >= 0) return;
    const r = this.find(k);
    if (this.clamped.has(r)) return;
    this.fl.set(r, clamp(fl, 'fl_layer_out', net.layers[this.cause.get(r)!], bw));
    this.clamped.add(r);
  }
}

/** auto: one fl per group of blob versions the runtime reads at one scale (plan roles, §3.3). */
function activationFlGroups(net: Net, actFl: (li: number, ti: number) => number): FlGroups {
  const g = new FlGroups();
  for (const l of net.layers) {
    const li = l.index;
    const bv = l.bottoms.map((_, bi) => bottomVersion(net, li, bi));
    const in0 = bv[0];
    const role = planRole(l);
    if (role === 'pass' && in0 !== undefined) {
      l.tops.forEach((_, ti) => g.union(in0, versionKey(li, ti)));
    } else if (role === 'producer' && in0 !== undefined) {
      // the producer's output is the post-ReLU value on CHaiDNN (ReLU fused): its range decides
      g.union(in0, versionKey(li, 0));
      // after a Concat/Eltwise the group carries other inputs too: only ever narrow it then
      if (g.isMerged(in0)) g.setMin(in0, actFl(li, 0), net.producer(li, 0));
      else g.set(in0, actFl(li, 0), net.producer(li, 0));
    } else if (sharesInputs(role) && bv.every((v) => v !== undefined)) {
      const out = versionKey(li, 0);
      g.setMin(out, actFl(li, 0), li);
      for (const v of bv) g.union(out, v!);
      g.markMerged(out);
    } else {
      l.tops.forEach((_, ti) => {
        if (isActivation(net, li, ti)) g.setMin(versionKey(li, ti), actFl(li, ti), li);
      });
    }
  }
  return g;
}

function uniformLayerFl(u: FlTriple): LayerFl {
  return { in: u.in, out: u.out, params: u.params };
}

/** auto: the layer's activation fl from its groups (negative ones clamped), fl_params from its weights. */
function autoLayerFl(net: Net, l: LayerNode, fields: readonly string[], groups: FlGroups, bw: Bitwidths, wFl: WFl, clamp: Clamp, xilinxInput = false): LayerFl {
  const li = l.index;
  const vin = l.bottoms.length ? bottomVersion(net, li, 0) : undefined;
  const vout = l.tops.length ? versionKey(li, 0) : undefined;
  if (!(xilinxInput && l.bottoms[0] === net.inputs[0]?.name)) groups.clampOnce(net, vin, clamp, bw.out);
  groups.clampOnce(net, vout, clamp, bw.out);
  const fl: LayerFl = { in: groups.flOf(vin), out: groups.flOf(vout) };
  if (fields.includes('fl_params')) {
    const W = l.blobs[0];
    if (!W) throw new ChaiqError(`layer "${l.name}" (${l.type}) has no weights: give --weights with a caffemodel that has them`, l.loc ?? {});
    // with BN/Scale folded in, CHaiDNN ignores fl_params and derives the fl from max|W'| (§3.5): write that one
    const S = foldFactors(net, l.index);
    fl.params = S ? foldedWeightFl(perChannelAbsMax(l, W, S), bw.params) : clamp(wFl(W.data, bw.params), 'fl_params', l, bw.params);
    if (!S) fl.params = biasFittingFl(l, fl, bw.out);
  }
  return fl;
}

/**
 * The largest fl_params ≤ the chosen one at which every bias fits CHaiDNN's 16-bit bias word (it is stored at
 * 2^(fl_layer_in + fl_params) and would wrap); never below 0.
 */
function biasFittingFl(l: LayerNode, fl: LayerFl, bwOut: number): number {
  const b = l.blobs[1]?.data;
  let p = fl.params!;
  if (!b || fl.in === undefined || fl.out === undefined) return p;
  while (p > 0 && dynamicFixedBiasOverflows(b, bwOut, fl.out, fl.in, p).length) p--;
  return p;
}

/** The block of the requested fields: bitwidths, fractional lengths, and BatchNorm/Scale parameter fields. */
function dynamicFixedBlock(net: Net, l: LayerNode, fields: readonly string[], fl: LayerFl, bw: Bitwidths, auto: boolean, wFl: WFl, clamp: Clamp): PrecisionBlock {
  const block: PrecisionBlock = blockFromFields(fields, {
    bw_layer_in: () => (auto ? bw.out : bw.in),
    bw_layer_out: () => bw.out,
    bw_params: () => bw.params,
    fl_layer_in: () => fl.in,
    fl_layer_out: () => fl.out,
    fl_params: () => fl.params,
    quant_type: () => 'DynamicFixed',
  });
  if (fields.includes('batchnorm_mean_fl')) Object.assign(block, batchNormFields(l, bw.params, wFl, clamp));
  if (fields.includes('scale_gamma_fl')) Object.assign(block, scaleFields(net, l, bw.params, wFl, clamp));
  // keep only requested fields (a registry may list fewer)
  for (const k of Object.keys(block)) if (!fields.includes(k)) delete block[k];
  return block;
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
  if (p >= 0 && precisionFields(net.layers[p], 'DynamicFixed').includes('batchnorm_variance_fl') && net.layers[p].blobs.length >= 2) {
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

