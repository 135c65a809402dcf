/**
 * Layer fusion for runNet (only when nothing watches individual layers, i.e. no onLayer): a Convolution
 * followed by in-place BatchNorm / Scale / ReLU layers on its top, and optionally by a two-bottom Eltwise SUM
 * of that top with another blob (ResNet's residual add) and an in-place ReLU on the sum, runs as one conv
 * call whose kernel applies those layers to its outputs while they are in cache, on every thread
 * (kernels/index.ts ConvEpilogue). The arithmetic is the layers' own (double BatchNorm/Scale, f32 add), so
 * every blob value is what the unfused layers give, bit for bit. Anything unusual (other parameters,
 * unexpected shapes, a layer def with its own forward) is left to the layers themselves.
 */
import type { LayerNode, Net } from '../graph/types';
import type { LayerDef } from '../layers/types';
import { forwardOf } from '../layers/registry';
import { bool, num, nums, sub } from '../layers/params';
import { eltwiseOperation } from '../layers/eltwise';
import type { ConvEpilogue } from '../kernels';
import type { Tensor } from '../tensor';

export interface FusionCandidate {
  /** index of the Convolution */
  conv: number;
  bn?: LayerNode;
  scale?: LayerNode;
  relu?: LayerNode;
  /** an Eltwise SUM of the conv's top and `residualBlob`, written to its own top */
  eltwise?: LayerNode;
  residualBlob?: string;
  reluAfter?: LayerNode;
}

const plans = new WeakMap<Net, { layers: LayerNode[]; byConv: Map<number, FusionCandidate> }>();

const fwdOf = (n: LayerNode) => n.def?.forward;

type ConvFusionRole = NonNullable<LayerDef['convFusion']>;

/** A layer that declares `role` and runs its type's own forward (a def with another forward is left alone). */
function hasRole(n: LayerNode | undefined, role: ConvFusionRole): n is LayerNode {
  return !!n && n.def?.convFusion === role && fwdOf(n) === forwardOf(n.type);
}

/** in-place single-bottom layer of `role` on blob t at index i */
function inPlace(net: Net, i: number, role: ConvFusionRole, t: string): LayerNode | undefined {
  const n = net.layers[i];
  if (!hasRole(n, role)) return undefined;
  if (n.bottoms.length !== 1 || n.tops.length !== 1 || n.bottoms[0] !== t || n.tops[0] !== t) return undefined;
  return n;
}

function plainRelu(n: LayerNode | undefined): LayerNode | undefined {
  return n && num(sub(n, 'relu_param'), 'negative_slope', 0) === 0 ? n : undefined;
}

function plainBn(n: LayerNode | undefined): LayerNode | undefined {
  return n && bool(sub(n, 'batch_norm_param'), 'use_global_stats', true) ? n : undefined;
}

function plainScale(n: LayerNode | undefined): LayerNode | undefined {
  if (!n) return undefined;
  const sp = sub(n, 'scale_param');
  return num(sp, 'axis', 1) === 1 && num(sp, 'num_axes', 1) === 1 ? n : undefined;
}

/** Fusion candidates of a net, by conv index (computed once per Net and layer list). */
export function fusionPlan(net: Net): Map<number, FusionCandidate> {
  const have = plans.get(net);
  if (have && have.layers === net.layers) return have.byConv;
  const byConv = new Map<number, FusionCandidate>();
  const L = net.layers;
  for (let i = 0; i < L.length; i++) {
    const c = L[i];
    if (!hasRole(c, 'conv')) continue;
    if (c.bottoms.length !== 1 || c.tops.length !== 1 || c.tops[0] === c.bottoms[0]) continue;
    const t = c.tops[0];
    const cand: FusionCandidate = { conv: i };
    let j = i + 1;
    if ((cand.bn = plainBn(inPlace(net, j, 'batchnorm', t)))) j++;
    if ((cand.scale = plainScale(inPlace(net, j, 'scale', t)))) j++;
    if ((cand.relu = plainRelu(inPlace(net, j, 'relu', t)))) j++;
    const e = L[j];
    if (e && e.def?.residualAdd && fwdOf(e) === forwardOf(e.type) && e.bottoms.length === 2 && e.tops.length === 1) {
      const ep = sub(e, 'eltwise_param');
      const sum = eltwiseOperation(e) === 'SUM';
      const k = e.bottoms.indexOf(t);
      const other = e.bottoms[1 - k];
      const u = e.tops[0];
      if (sum && nums(ep, 'coeff').length === 0 && k >= 0 && other !== t && u !== t && u !== other) {
        cand.eltwise = e;
        cand.residualBlob = other;
        cand.reluAfter = plainRelu(inPlace(net, j + 1, 'relu', u));
      }
    }
    if (cand.bn || cand.scale || cand.relu || cand.eltwise) byConv.set(i, cand);
  }
  plans.set(net, { layers: L, byConv });
  return byConv;
}

const sameShape = (a: readonly number[] | undefined, b: readonly number[] | undefined): boolean =>
  !!a && !!b && a.length === b.length && a.every((v, i) => v === b[i]);

export interface Fused {
  ep: ConvEpilogue;
  /** the layers after the conv that the epilogue does (their tops are the conv's output) */
  layers: number[];
}

/**
 * What buildFusion reads of a candidate's layer parameters, and the per-channel arrays it refills on every call
 * (allocated once: a forward of ResNet-50 at batch 1 otherwise allocates ~200 small off-heap Float64Arrays, and
 * the values are recomputed from the blobs each time, so weights changed in place are still seen).
 */
interface CandidateParams {
  outC: number;
  eps: number;
  hasBias: boolean;
  mean: Float64Array;
  sd: Float64Array;
  a: Float64Array;
  b: Float64Array;
}
const candidateParams = new WeakMap<FusionCandidate, CandidateParams>();

function paramsOf(net: Net, c: FusionCandidate): CandidateParams {
  let q = candidateParams.get(c);
  if (!q) {
    const outC = num(sub(net.layers[c.conv], 'convolution_param'), 'num_output', 0);
    const n = outC > 0 ? outC : 0;
    q = {
      outC,
      eps: c.bn ? num(sub(c.bn, 'batch_norm_param'), 'eps', 1e-5) : 0,
      hasBias: c.scale ? bool(sub(c.scale, 'scale_param'), 'bias_term', false) : false,
      mean: new Float64Array(c.bn ? n : 0),
      sd: new Float64Array(c.bn ? n : 0),
      a: new Float64Array(c.scale ? n : 0),
      b: new Float64Array(c.scale ? n : 0),
    };
    candidateParams.set(c, q);
  }
  return q;
}

/**
 * The epilogue for one call of candidate `c` (conv bottom x), or null. `mayDropTop`: whether the conv's top
 * may stop existing as a separate blob (an Eltwise is fused only then: its value becomes the sum). Its arrays are
 * the candidate's own, refilled here: valid until the next call for the same candidate.
 */
export function buildFusion(net: Net, c: FusionCandidate, x: Tensor, blobs: Map<string, Tensor>, mayDropTop: (t: string, eltwiseIndex: number) => boolean): Fused | null {
  const conv = net.layers[c.conv];
  const q = paramsOf(net, c);
  const outC = q.outC;
  if (!(outC > 0) || x.shape.length !== 4) return null;
  const ep: ConvEpilogue = {};
  const layers: number[] = [];
  if (c.bn) {
    const n = c.bn;
    const [m, v, f] = n.blobs;
    if (!m || !v || !f || m.data.length !== outC || v.data.length !== outC || f.data.length < 1) return null;
    const eps = q.eps;
    const f0 = f.data[0];
    const sf = f0 === 0 ? 0 : 1 / f0;
    const { mean, sd } = q;
    for (let i = 0; i < outC; i++) {
      mean[i] = m.data[i] * sf;
      sd[i] = Math.sqrt(v.data[i] * sf + eps);
    }
    ep.bn = { mean, sd };
    layers.push(n.index);
  }
  if (c.scale) {
    const n = c.scale;
    const s = n.blobs[0];
    const hasBias = q.hasBias;
    const b = hasBias ? n.blobs[1] : undefined;
    if (!s || s.data.length !== outC || (hasBias && (!b || b.data.length !== outC))) return null;
    const { a: sa, b: sb } = q;
    for (let i = 0; i < outC; i++) {
      sa[i] = s.data[i];
      sb[i] = b ? b.data[i] : 0;
    }
    ep.scale = { a: sa, b: sb };
    layers.push(n.index);
  }
  if (c.relu) {
    ep.relu = true;
    layers.push(c.relu.index);
  }
  if (c.eltwise && c.residualBlob) {
    // the conv runs with the shapes the net was built for, and the residual has the output's shape
    const res = blobs.get(c.residualBlob);
    const top = conv.topShapes[0];
    const bot = conv.bottomShapes[0];
    const t = conv.tops[0];
    if (res && top && bot && sameShape(x.shape.slice(1), bot.slice(1)) && sameShape(res.shape, [x.shape[0], ...top.slice(1)]) &&
      res.data.length === res.shape.reduce((a, b) => a * b, 1) && mayDropTop(t, c.eltwise.index)) {
      ep.residual = res.data;
      layers.push(c.eltwise.index);
      if (c.reluAfter) {
        ep.reluAfterResidual = true;
        layers.push(c.reluAfter.index);
      }
    }
  }
  return layers.length ? { ep, layers } : null;
}
