/**
 * Which layers the CHaiDNN runtime fuses into a convolution (chaidnn-semantics §3.5, `opt_conv_bn_scale`,
 * `opt_relu`): BatchNorm, Scale and ReLU written in place on the conv's top blob, each the only reader of the
 * value before it. BN and Scale fold into the weights (at most one of each, BN first); a ReLU becomes the conv's
 * ReLU flag wherever it sits in the chain. The one rule lint, the planner, rewrite and the simulator read.
 */
import { lookupLayer } from '../layers/registry';
import type { LayerDef } from '../layers/types';

/** The little of a layer the rule needs: canonical type (aliases resolved), bottoms, tops. */
export interface FusionLayer {
  readonly type: string;
  readonly bottoms: readonly string[];
  readonly tops: readonly string[];
}

export interface ConvFusion {
  conv: number;
  /** the BatchNorm / Scale layers folded into the weights, in order */
  folded: number[];
  /** every layer of the chain up to the last folded one (ReLUs between them included) */
  absorbed: number[];
  /** a ReLU runs before a folded BN/Scale in Caffe; the runtime applies it after the fused conv */
  reluMoved: boolean;
}

export interface Fusions {
  /** conv index → its fusion, for convs with at least one BN/Scale folded */
  byConv: Map<number, ConvFusion>;
  /** layer index → the conv it is absorbed into, or -1 */
  into: Int32Array;
}

/** A layer type's part in the fusion, from its declaration (src/layers/); aliases resolved. */
export function fusionRole(l: { readonly type: string }): LayerDef['convFusion'] {
  return lookupLayer(l.type)?.convFusion;
}

const role = fusionRole;

/** Folds into the conv's weights (BatchNorm, Scale). */
function folds(l: FusionLayer): boolean {
  const r = role(l);
  return r === 'batchnorm' || r === 'scale';
}

/** The single layer after `li` reading `blob` before it is rewritten, or -1 (none or several). */
function soleReader(layers: readonly FusionLayer[], li: number, blob: string): number {
  let reader = -1;
  for (let j = li + 1; j < layers.length; j++) {
    const l = layers[j];
    if (l.bottoms.includes(blob)) {
      if (reader >= 0) return -1;
      reader = j;
    }
    if (l.tops.includes(blob)) break;
  }
  return reader;
}

function isInPlaceOn(l: FusionLayer, blob: string): boolean {
  return l.bottoms.length === 1 && l.tops.length === 1 && l.bottoms[0] === blob && l.tops[0] === blob;
}

/** The fusion of the conv at `ci`, or undefined when nothing folds into it. */
export function convFusion(layers: readonly FusionLayer[], ci: number): ConvFusion | undefined {
  const conv = layers[ci];
  if (role(conv) !== 'conv' || conv.tops.length !== 1) return undefined;
  const blob = conv.tops[0];
  const chain: number[] = [];
  let sawBn = false;
  let sawScale = false;
  for (let cur = ci; ; ) {
    const j = soleReader(layers, cur, blob);
    if (j < 0 || !isInPlaceOn(layers[j], blob)) break;
    const r = role(layers[j]);
    if (r === 'batchnorm' && !sawBn && !sawScale) sawBn = true;
    else if (r === 'scale' && !sawScale) sawScale = true;
    else if (r !== 'relu') break;
    chain.push(j);
    cur = j;
  }
  let last = chain.length - 1;
  while (last >= 0 && !folds(layers[chain[last]])) last--;
  if (last < 0) return undefined;
  const absorbed = chain.slice(0, last + 1);
  return {
    conv: ci,
    folded: absorbed.filter((j) => folds(layers[j])),
    absorbed,
    reluMoved: absorbed.some((j) => role(layers[j]) === 'relu'),
  };
}

/** Every conv fusion of the net. */
export function convFusions(layers: readonly FusionLayer[]): Fusions {
  const byConv = new Map<number, ConvFusion>();
  const into = new Int32Array(layers.length).fill(-1);
  layers.forEach((_, ci) => {
    const f = convFusion(layers, ci);
    if (!f) return;
    byConv.set(ci, f);
    for (const j of f.absorbed) into[j] = ci;
  });
  return { byConv, into };
}

const cache = new WeakMap<object, Fusions>();

/** convFusions of a built net, computed once per net. */
export function netFusions(net: { layers: readonly FusionLayer[] }): Fusions {
  let f = cache.get(net);
  if (!f) {
    f = convFusions(net.layers);
    cache.set(net, f);
  }
  return f;
}

/** For a BatchNorm or Scale layer: the convolution it folds into, or -1. */
export function foldTarget(net: { layers: readonly FusionLayer[] }, li: number): number {
  const c = netFusions(net).into[li];
  return c >= 0 && folds(net.layers[li]) ? c : -1;
}
