import { snapPow2 } from '../calib/threshold';
import { formatPy2Float } from '../io/floatfmt';
import type { Net, LayerNode } from '../graph/types';
import type { PrecisionPlan, PrecisionBlock } from './plan';
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import { blockFromFields, precisionFields } from '../chaidnn/precision-fields';
import { foldTarget, foldFactors, weightThresholds } from '../chaidnn/weights';
import { planRole } from '../layers/registry';

const f32 = Math.fround;

export interface Bitwidths {
  /** ignored by the original (bw_layer_in is copied from the producer's bw_layer_out, §4.4) */
  in: number;
  params: number;
  out: number;
}

export interface XilinxOptions {
  bitwidths: Bitwidths;
  /** snap thresholds to (2^(bw-1)-1)·2^k (§4.8) */
  pow2?: boolean;
  warn?: WarnFn;
  /** thresholds that replace shared groups' own (Concat/Eltwise), keyed by the group's id (XilinxGroup) */
  groupTh?: ReadonlyMap<string, number>;
}

/** A threshold shared by several producers (a Concat's or an Eltwise's inputs and output). */
export interface XilinxGroup {
  /** the first member in net order (`${li}/${ti}`) */
  id: string;
  members: string[];
  th: number;
}

/**
 * The calibrated threshold of the blob version written by `layers[li].tops[ti]` (KL by default),
 * i.e. statistics collected per writer layer, so an in-place ReLU's version is the post-ReLU data.
 */
export type VersionThreshold = (li: number, ti: number) => number;

/** th = 2^ceil(log2(th/(2^(bw-1)-1)))·(2^(bw-1)-1) (§4.8). */
export { snapPow2 };

export interface XilinxRow {
  layer: string;
  type: string;
  thIn?: number;
  thOut?: number;
  /** where th_out came from: 'kl' (the calibration method), 'relu', 'concat', 'eltwise-max', 'pass', 'fold' */
  source: string;
}

export interface XilinxResult {
  plan: PrecisionPlan;
  rows: XilinxRow[];
  /** group threshold per blob version key `${li}/${ti}` */
  versionTh: Map<string, number>;
  /** the shared groups in net order (of their first member), with the threshold each got */
  groups: XilinxGroup[];
}

/** Union-find over blob versions; every group carries one threshold (the invariants of §3.3 by construction). */
class Groups {
  private parent = new Map<string, string>();
  private value = new Map<string, number>();
  private source = new Map<string, string>();
  /** roots of groups that joined several producers (Concat / Eltwise) */
  private merged = new Set<string>();
  keys(): string[] {
    return [...this.parent.keys()];
  }
  isMerged(k: string): boolean {
    return this.merged.has(this.find(k));
  }
  markMerged(k: string) {
    this.merged.add(this.find(k));
  }
  find(k: string): string {
    let p = this.parent.get(k);
    if (p === undefined) {
      this.parent.set(k, k);
      return k;
    }
    if (p === k) return k;
    p = this.find(p);
    this.parent.set(k, p);
    return p;
  }
  get(k: string): number | undefined {
    return this.value.get(this.find(k));
  }
  src(k: string): string | undefined {
    return this.source.get(this.find(k));
  }
  set(k: string, v: number, src: string) {
    const r = this.find(k);
    this.value.set(r, v);
    this.source.set(r, src);
  }
  /** union keeping `a`'s value */
  union(a: string, b: string) {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return;
    this.parent.set(rb, ra);
    if (this.merged.has(rb)) this.merged.add(ra);
  }
}

export const versionKey = (li: number, ti: number) => `${li}/${ti}`;

/** False for a data layer's tops other than the net input (the label): no activation, no statistics, no block. */
export function isActivation(net: Net, li: number, ti: number): boolean {
  const l = net.layers[li];
  return l.bottoms.length > 0 || net.inputs.some((x) => x.name === l.tops[ti] && (x.layer === undefined || x.layer === l.name));
}

/** The blob version a bottom reads: `${producer}/${top index}`; undefined for an undefined bottom. */
export function bottomVersion(net: Net, li: number, bi: number): string | undefined {
  const p = net.producer(li, bi);
  if (p < 0) return undefined;
  const ti = net.layers[p].tops.lastIndexOf(net.layers[li].bottoms[bi]);
  return versionKey(p, ti);
}

/**
 * Xilinx-mode plan: the §4.4 per-layer walk with its overwrites made explicit as threshold groups
 * (conv→ReLU share, pass-through chains share, Concat = KL of its output shared back to producers,
 * Eltwise = max of its inputs shared by inputs and output), then blocks read from the groups, so a
 * consumer's th_layer_in is the very float32 of its producer's th_layer_out.
 */
export function buildXilinxPlan(net: Net, thOf: VersionThreshold, opts: XilinxOptions): XilinxResult {
  const warn: WarnFn = opts.warn ?? (() => undefined);
  const bw = opts.bitwidths;
  const snapA = (th: number) => (opts.pow2 ? snapPow2(f32(th), bw.out) : f32(th));
  const g = new Groups();
  /** outputs of BN/Scale that CHaiDNN fuses into their conv */
  const fusedOut: string[] = [];
  const calib = (li: number, ti: number): number => {
    const v = thOf(li, ti);
    if (v === undefined || Number.isNaN(v)) {
      const l = net.layers[li];
      throw new ChaiqError(`no calibration statistics for blob "${l.tops[ti]}" written by layer "${l.name}"`, l.loc ?? {});
    }
    return snapA(v);
  };

  for (const l of net.layers) {
    const li = l.index;
    const bv = l.bottoms.map((_, bi) => bottomVersion(net, li, bi));
    const in0 = bv[0];
    const type = l.type;
    const role = planRole(l);
    if (l.bottoms.length === 0) {
      l.tops.forEach((_, ti) => {
        if (isActivation(net, li, ti)) g.set(versionKey(li, ti), calib(li, ti), 'calib');
      });
    } else if (role === 'pass' && in0 !== undefined) {
      l.tops.forEach((_, ti) => g.union(in0, versionKey(li, ti)));
    } else if (role === 'producer' && in0 !== undefined) {
      // in-place ReLU: the producer's th_out becomes the post-ReLU threshold (§4.4). After a Concat/Eltwise
      // the group also carries the other inputs, so it keeps the larger of the two (the Eltwise max rule).
      g.union(in0, versionKey(li, 0));
      const th = calib(li, 0);
      if (g.isMerged(in0)) g.set(in0, Math.max(th, g.get(in0) ?? 0), 'relu-max');
      else g.set(in0, th, 'relu');
    } else if (role === 'fold' && in0 !== undefined && foldTarget(net, li) >= 0) {
      g.union(in0, versionKey(li, 0));
      g.set(in0, calib(li, 0), 'fold');
      fusedOut.push(versionKey(li, 0));
    } else if (role === 'shared-output' && bv.every((v) => v !== undefined)) {
      const out = versionKey(li, 0);
      for (const v of bv) g.union(out, v!);
      g.set(out, calib(li, 0), 'concat');
      g.markMerged(out);
    } else if (role === 'shared-max' && bv.every((v) => v !== undefined)) {
      let th = 0;
      for (const v of bv) th = Math.max(th, g.get(v!) ?? 0);
      const out = versionKey(li, 0);
      for (const v of bv) g.union(out, v!);
      g.set(out, f32(th), 'eltwise-max');
      g.markMerged(out);
    } else {
      if (role === 'fold')
        warn(`${type} layer "${l.name}" is not in place after a Convolution: CHaiDNN cannot run a standalone ${type} in Xilinx mode (fuse it into the conv first)`, l.loc ?? {});
      l.tops.forEach((_, ti) => g.set(versionKey(li, ti), calib(li, ti), 'calib'));
    }
    if (l.def && l.def.chaidnn === 'unsupported') warn(`layer "${l.name}" (${type}) is not supported by CHaiDNN`, l.loc ?? {});
  }

  const groups = sharedGroups(g);
  for (const gr of groups) {
    const th = opts.groupTh?.get(gr.id);
    if (th === undefined) continue;
    g.set(gr.members[0], snapA(th), `${g.src(gr.members[0])}+search`);
    gr.th = g.get(gr.members[0])!;
  }

  // CHaiDNN keeps a fused conv's th_layer_out in `int final_op_th` (xtract_opt.cpp, §3.5), truncating it while
  // its consumers keep the float: round those groups up to integers so the truncation changes nothing
  const rounded: string[] = [];
  for (const root of new Set(fusedOut.map((v) => g.find(v)))) {
    const v = g.get(root);
    if (v === undefined || v === Math.ceil(v)) continue;
    const up = Math.max(1, Math.ceil(v));
    rounded.push(`${formatPy2Float(v)} → ${up}`);
    g.set(root, up, `${g.src(root)}+int`);
  }
  if (rounded.length)
    warn(`${rounded.length} threshold(s) of convolutions with BatchNorm/Scale fused rounded up to integers (${rounded.slice(0, 3).join(', ')}${rounded.length > 3 ? ', ...' : ''}): ` +
      'CHaiDNN truncates them (int final_op_th); --optimized_weights folds offline and keeps them exact', { file: net.file });

  const plan: PrecisionPlan = new Map();
  const rows: XilinxRow[] = [];
  const versionTh = new Map<string, number>();
  for (const l of net.layers) {
    const li = l.index;
    l.tops.forEach((_, ti) => {
      const v = g.get(versionKey(li, ti));
      if (v !== undefined) versionTh.set(versionKey(li, ti), v);
    });
    const fields = precisionFields(l, 'Xilinx');
    const in0 = l.bottoms.length ? bottomVersion(net, li, 0) : undefined;
    const thIn = in0 !== undefined ? g.get(in0) : undefined;
    const thOut = l.tops.length ? g.get(versionKey(li, 0)) : undefined;
    rows.push({ layer: l.name, type: l.type, thIn, thOut, source: l.tops.length ? g.src(versionKey(li, 0)) ?? 'pass' : '-' });
    if (fields.length === 0) continue;
    const block: PrecisionBlock = blockFromFields(fields, {
      bw_layer_in: () => bw.out,
      bw_layer_out: () => bw.out,
      bw_params: () => bw.params,
      th_layer_in: () => thIn,
      th_layer_out: () => thOut,
      th_params: () => thParams(net, l, opts),
      quant_type: () => 'Xilinx',
    });
    plan.set(l.name, block);
  }
  return { plan, rows, versionTh, groups };
}

/** The merged groups, each with its members in net order, ordered by their first member. */
function sharedGroups(g: Groups): XilinxGroup[] {
  const order = (k: string) => k.split('/').map(Number);
  const byRoot = new Map<string, string[]>();
  for (const k of g.keys()) {
    if (!g.isMerged(k)) continue;
    const r = g.find(k);
    const list = byRoot.get(r) ?? [];
    list.push(k);
    byRoot.set(r, list);
  }
  const cmp = (a: string, b: string) => {
    const [al, at] = order(a);
    const [bl, bt] = order(b);
    return al - bl || at - bt;
  };
  const out = [...byRoot.values()].map((m) => {
    m.sort(cmp);
    return { id: m[0], members: m, th: g.get(m[0]) ?? 0 };
  });
  return out.sort((a, b) => cmp(a.id, b.id));
}

/** Per-output-channel th_params from the (BN/Scale-folded) weights; Normalize: |gamma| (CHaiDNN's fallback). */
function thParams(net: Net, l: LayerNode, opts: XilinxOptions): number[] | undefined {
  const W = l.blobs[0];
  if (!W) {
    throw new ChaiqError(`layer "${l.name}" (${l.type}) has no weights: give --weights with a caffemodel that has them`, l.loc ?? {});
  }
  let th: Float32Array;
  if (l.def?.thParams === 'abs') th = Float32Array.from(W.data, (x) => (Number.isFinite(x) ? Math.abs(x) : 0)); // NaN only with --allow_nonfinite
  else th = weightThresholds(l, W, opts.bitwidths.params, foldFactors(net, l.index));
  return Array.from(th, (x) => (opts.pow2 ? snapPow2(x, opts.bitwidths.params) : f32(x)));
}
