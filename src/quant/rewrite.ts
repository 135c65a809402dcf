/**
 * Function-preserving rewrites of a float model that CHaiDNN then quantizes better:
 * - BatchNorm/Scale folded into their convolution offline, as the CHaiDNN docs advise (§3.5): the runtime
 *   then uses our data-chosen fl_params instead of deriving the fl from max|W'| (DynamicFixed), and has no
 *   threshold to truncate (Xilinx, `int final_op_th`);
 * - activations rescaled per group by factors the weights absorb, so that a calibrated threshold lands on the
 *   DynamicFixed grid with fl >= 0 (CHaiDNN rejects negative fl, §3.4).
 * Each returns a new V2 NetParameter and the blobs by layer name; the caller rebuilds the graph.
 */
import type { Net } from '../graph/types';
import type { LayerParam, NetParam } from '../proto/message';
import type { Tensor } from '../tensor';
import { ChaiqError } from '../errors';
import { foldBatchNorm } from '../chaidnn/arith';
import { fusionRole } from '../chaidnn/fusion';
import { foldTarget, bnFoldParams, scaleFoldParams } from '../chaidnn/weights';
import { bottomVersion, versionKey } from './xilinx';
import type { PrecisionPlan } from './plan';
import { planRole } from '../layers/registry';

export interface Rewritten {
  net: NetParam;
  weights: Map<string, Tensor[]>;
}

export interface FoldedConv {
  conv: string;
  /** the BatchNorm / Scale layers folded into it, in order */
  folded: string[];
}

const clone = <T>(x: T): T => structuredClone(x);

/** The blobs of every layer that has any, by layer name. */
export function blobsOf(net: Net): Map<string, Tensor[]> {
  const m = new Map<string, Tensor[]>();
  for (const l of net.layers) if (l.blobs.length) m.set(l.name, l.blobs);
  return m;
}

/** A copy of the bound NetParameter without location bookkeeping (plain data). */
function copyNet(p: NetParam): NetParam {
  const { layer, ...rest } = p;
  return { ...clone(rest), layer: layer.map((l) => clone(l)) };
}

/**
 * Folds every BatchNorm/Scale that CHaiDNN would fuse (in place on a convolution's top, §3.5) into that
 * convolution: W' = W·S, b' = S·(b − mean) + beta with S = gamma/sqrt(var+eps), the same float arithmetic
 * as the simulator's runtime model. The BN/Scale layers leave the net and the conv gets `bias_term: true`.
 */
export function foldBatchNormOffline(graph: Net, param: NetParam): Rewritten & { folded: FoldedConv[] } {
  const chains = new Map<number, number[]>();
  for (const l of graph.layers) {
    if (planRole(l) !== 'fold') continue;
    const c = foldTarget(graph, l.index);
    if (c < 0) continue;
    const chain = chains.get(c) ?? [];
    chain.push(l.index);
    chains.set(c, chain);
  }
  const weights = blobsOf(graph);
  const drop = new Set<string>();
  const folded: FoldedConv[] = [];
  const biasOn = new Set<string>();
  for (const [ci, chain] of [...chains].sort((a, b) => a[0] - b[0])) {
    const conv = graph.layers[ci];
    let [W, b] = conv.blobs;
    if (!W) throw new ChaiqError(`layer "${conv.name}" has no weights to fold BatchNorm/Scale into`, conv.loc ?? {});
    const outC = W.shape[0];
    let Wd = W.data;
    let bd: Float32Array | null = conv.param.convolution_param?.bias_term === false ? null : b?.data ?? null;
    // one BN then one Scale is the runtime's pattern; longer chains compose the same way
    for (const li of chain) {
      const n = graph.layers[li];
      const r = fusionRole(n) === 'batchnorm' ? foldBatchNorm(Wd, bd, outC, bnFoldParams(n), null) : foldBatchNorm(Wd, bd, outC, null, scaleFoldParams(n));
      Wd = r.W;
      bd = r.b;
      drop.add(n.name);
    }
    weights.set(conv.name, [{ shape: [...W.shape], data: Wd }, { shape: [outC], data: bd! }]);
    biasOn.add(conv.name);
    folded.push({ conv: conv.name, folded: chain.map((li) => graph.layers[li].name) });
  }
  for (const n of drop) weights.delete(n);
  const net = copyNet(param);
  net.layer = net.layer.filter((l) => !drop.has(String(l.name)));
  for (const l of net.layer) {
    if (!biasOn.has(String(l.name))) continue;
    const cp = (l.convolution_param ??= {});
    delete cp.bias_term; // default true
    // ParamSpecs (lr_mult ...) for a bias the layer did not have: one per blob at most
    if (Array.isArray(l.param) && l.param.length === 1) l.param.push(clone(l.param[0]));
  }
  return { net, weights, folded };
}

export interface RescaleGroup {
  /** blob versions (`versionKey`) that carry one common scale factor */
  versions: string[];
  /** the net input, a net output, or read by a layer that is not scale-equivariant: factor 1 */
  fixed: boolean;
}

/**
 * The groups of blob versions a rescale must treat alike: a weighted layer's output starts a group,
 * scale-equivariant layers (ReLU, pooling, Concat, Eltwise SUM, LRN with its alpha adjusted, ...) carry it
 * on, and all inputs of a layer share one group. The net input, the net outputs and the inputs and outputs
 * of every other layer are fixed (factor 1).
 */
export function rescaleGroups(graph: Net, opts: { inputFree?: boolean } = {}): RescaleGroup[] {
  const FIXED = '#fixed';
  const parent = new Map<string, string>([[FIXED, FIXED]]);
  const find = (k: string): string => {
    let r = k;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r)!;
    if (r !== k) parent.set(k, r);
    return r;
  };
  const join = (a: string, b: string) => {
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return;
    // FIXED stays the root of its group
    if (rb === FIXED) parent.set(ra, rb);
    else parent.set(rb, ra);
  };
  const all: string[] = [];
  for (const l of graph.layers) {
    const rs = l.def?.rescale;
    const bv = l.bottoms.map((_, bi) => bottomVersion(graph, l.index, bi));
    l.tops.forEach((_, ti) => {
      const v = versionKey(l.index, ti);
      all.push(v);
      if (graph.consumers(l.index, ti).length === 0) join(FIXED, v);
    });
    if (l.bottoms.length === 0) {
      if (!opts.inputFree) l.tops.forEach((_, ti) => join(FIXED, versionKey(l.index, ti)));
    } else if (!rs || (rs.when && !rs.when(l))) {
      // nothing rewrites such a layer: its inputs and its outputs keep their scale
      for (const v of bv) if (v) join(FIXED, v);
      l.tops.forEach((_, ti) => join(FIXED, versionKey(l.index, ti)));
    } else if (rs.kind === 'equivariant') {
      const first = bv[0];
      if (first) {
        for (const v of bv) if (v) join(first, v);
        l.tops.forEach((_, ti) => join(first, versionKey(l.index, ti)));
      }
    }
    // weighted: inputs and outputs are separate groups
  }
  const groups = new Map<string, RescaleGroup>();
  for (const v of all) {
    const r = find(v);
    const g = groups.get(r) ?? { versions: [], fixed: r === FIXED };
    g.versions.push(v);
    groups.set(r, g);
  }
  return [...groups.values()];
}

export interface Rescaled {
  /** the weighted layer whose output is scaled */
  layer: string;
  factor: number;
}

/**
 * Rescales activations: blob version v becomes factor(v)·v (one factor per `rescaleGroups` group, 1 for
 * fixed groups). Weighted layers absorb it (W·fout/fin, b·fout), equivariant ones adjust their params
 * (LRN alpha). The net's outputs and so its function are unchanged up to float rounding (exactly, for
 * powers of two barring overflow).
 */
export function rescaleActivations(graph: Net, param: NetParam, factor: (version: string) => number): Rewritten & { rescaled: Rescaled[] } {
  const f = (v: string | undefined) => (v === undefined ? 1 : factor(v));
  const weights = blobsOf(graph);
  const net = copyNet(param);
  const byName = new Map(net.layer.map((l) => [String(l.name), l] as [string, LayerParam]));
  const rescaled: Rescaled[] = [];
  for (const l of graph.layers) {
    const rs = l.def?.rescale;
    if (!rs || !l.bottoms.length) continue;
    const fin = f(bottomVersion(graph, l.index, 0));
    if (rs.kind === 'weighted') {
      const fout = f(versionKey(l.index, 0));
      if (fout === 1 && fin === 1) continue;
      const [W, b, ...rest] = l.blobs;
      if (!W) throw new ChaiqError(`layer "${l.name}" has no weights to rescale`, l.loc ?? {});
      const sw = fout / fin;
      weights.set(l.name, [
        { shape: [...W.shape], data: W.data.map((x) => x * sw) },
        ...(b ? [{ shape: [...b.shape], data: b.data.map((x) => x * fout) }] : []),
        ...rest,
      ]);
      if (fout !== 1) rescaled.push({ layer: l.name, factor: fout });
    } else if (rs.adjust && fin !== 1) {
      const p = byName.get(l.name);
      if (p) rs.adjust(p, fin);
    }
  }
  return { net, weights, rescaled };
}

/**
 * DynamicFixed: the factor of each free rescale group that puts its threshold T (the largest of its versions
 * in `xilinxPlan`, a Xilinx plan of the same net, so ReLU-fused and shared per group) exactly on the grid:
 * T·f = (2^(bw-1)−1)·2^-fl with fl = max(0, floor(log2((2^(bw-1)−1)/T))). Versions not listed keep 1.
 */
export function gridFactors(graph: Net, xilinxPlan: PrecisionPlan, bw: number): Map<string, number> {
  const th = new Map<string, number>();
  const note = (v: string | undefined, t: unknown) => {
    if (v !== undefined && typeof t === 'number' && t > 0) th.set(v, Math.max(th.get(v) ?? 0, t));
  };
  for (const l of graph.layers) {
    const b = xilinxPlan.get(l.name);
    if (!b) continue;
    note(l.bottoms.length ? bottomVersion(graph, l.index, 0) : undefined, b.th_layer_in);
    note(l.tops.length ? versionKey(l.index, 0) : undefined, b.th_layer_out);
  }
  const factor = new Map<string, number>();
  const top = 2 ** (bw - 1) - 1;
  for (const g of rescaleGroups(graph)) {
    const T = Math.max(0, ...g.versions.map((v) => th.get(v) ?? 0));
    if (g.fixed || !(T > 0)) continue;
    const fl = Math.max(0, Math.floor(Math.log2(top / T)));
    for (const v of g.versions) factor.set(v, (top * 2 ** -fl) / T);
  }
  return factor;
}

/** The layer providing the net's input (the first source layer). */
function inputLayer(graph: Net) {
  return graph.layers.find((l) => l.bottoms.length === 0 && l.tops.length > 0);
}

/**
 * Folds an input scale s into the layers that read the input (x_net = s·x_board): the input group gets
 * factor 1/s, absorbed like any rescale, so the rewritten net takes what CHaiDNN's image reader feeds
 * (pixels minus the mean, no scale, §3.3). undefined when the input reaches a layer that cannot scale.
 */
export function foldInputScale(graph: Net, param: NetParam, s: number): (Rewritten & { rescaled: Rescaled[] }) | undefined {
  const src = inputLayer(graph);
  if (!src) return undefined;
  const inV = versionKey(src.index, 0);
  const g = rescaleGroups(graph, { inputFree: true }).find((x) => x.versions.includes(inV));
  if (!g || g.fixed) return undefined;
  const members = new Set(g.versions);
  return rescaleActivations(graph, param, (v) => (members.has(v) ? 1 / s : 1));
}

/**
 * Shifts the input by a per-channel constant: the rewritten net takes x − delta[c] (e.g. pixels − 127, which
 * fill the signed 8-bit range, where pixels − 0 would saturate at 127) and its first layers add
 * delta back through their bias, b[o] += Σ delta[c]·ΣW[o,c,…]. Exact only when every reader of the input is a
 * layer that declares absorbOffset (a Convolution without padding, an InnerProduct); undefined otherwise.
 */
export function recenterInput(graph: Net, param: NetParam, delta: readonly number[]): Rewritten | undefined {
  const src = inputLayer(graph);
  if (!src) return undefined;
  const readers = graph.consumers(src.index, 0).map((li) => graph.layers[li]);
  if (!readers.length) return undefined;
  const weights = blobsOf(graph);
  const net = copyNet(param);
  for (const l of readers) {
    const shape = l.bottomShapes[0];
    const W = l.blobs[0];
    if (!shape || !W || l.bottoms.length !== 1) return undefined;
    const absorb = l.def?.absorbOffset;
    if (!absorb) return undefined;
    const add = absorb.add(l, W, shape, (c) => delta[delta.length === 1 ? 0 : c] ?? 0);
    if (!add) return undefined;
    const biasOn = l.param[absorb.biasParam]?.bias_term !== false;
    const old = biasOn && l.blobs[1] ? l.blobs[1].data : new Float32Array(add.length);
    weights.set(l.name, [W, { shape: [add.length], data: Float32Array.from(old, (b, o) => b + add[o]) }, ...l.blobs.slice(2)]);
    const p = net.layer.find((x) => x.name === l.name)!;
    if (p[absorb.biasParam]) delete p[absorb.biasParam].bias_term;
  }
  return { net, weights };
}
