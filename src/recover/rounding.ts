/**
 * Optimized weight rounding, AdaRound's objective (Nagel et al. 2020) solved greedily: per convolution and
 * output channel, each weight goes to the floor or the ceiling of w/sf on the runtime's own grid (Xilinx: per
 * channel sf = th_params[c]/(2^(bw-1)−1); DynamicFixed: 2^-fl_params for the layer), chosen to minimise the
 * layer's output error on sampled patches of the calibration images. Asymmetric reconstruction (AdaRound §4):
 * layer by layer in net order, the error is ‖X_q·(q·sf) − X·w‖², X_q the layer's input as CHaiDNN computes it
 * with the layers before already quantized and rounded, X the float net's, so a layer also makes up for what
 * its predecessors lost. (Without the prototxt: ‖X·(q·sf − w)‖² on the float inputs.) Starting from the
 * runtime's round-to-nearest, one weight flips at a time when that lowers the error, so the error never
 * grows. The result is written as float weights q·sf, which the runtime's rounding turns back into exactly q;
 * the plan (th_params / fl_params) is kept as it is.
 * With `centered` (bias correction follows), the error is taken about its mean, as AdaQuant fits weights and bias
 * jointly: the flips do not chase a mean shift the bias then removes exactly.
 * Greedy flips, rather than AdaRound's gradient descent on a relaxed variable, keep it deterministic and fast
 * without a training loop; the sampled patches depend only on the seed.
 */
import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';
import type { PrecisionBlock, PrecisionPlan } from '../quant/plan';
import type { NetParam } from '../proto/message';
import { buildNet } from '../graph/build';
import { runNet } from '../exec/executor';
import { compileSim, runSim } from '../sim/simulate';
import { applyPlanToNetParam } from '../print/precision';
import { convGeometry } from '../layers/params';
import { qmax, quantizeDynamicFixed, quantizeXilinx, scaleFactor } from '../chaidnn/arith';
import { blobsOf } from '../quant/rewrite';

/** The weight grid of one output channel: q·step with q in [lo, hi]. */
export interface ChannelGrid {
  step: number;
  lo: number;
  hi: number;
  /** the runtime's integer for a float weight */
  quantize(w: number): number;
}

/** Per output channel, the grids a conv's plan block puts its weights on (§3.3 Xilinx, §3.4 DynamicFixed). */
export function weightGrids(block: PrecisionBlock, outC: number): ChannelGrid[] | undefined {
  const bw = Number(block.bw_params ?? 8);
  if (Array.isArray(block.th_params) && block.th_params.length === outC) {
    const m = qmax(bw);
    return (block.th_params as number[]).map((th) => ({ step: scaleFactor(th, bw), lo: -m, hi: m, quantize: (w: number) => quantizeXilinx([w], th, bw)[0] }));
  }
  if (block.fl_params !== undefined && !Array.isArray(block.fl_params)) {
    const fl = Number(block.fl_params);
    const g = { step: 2 ** -fl, lo: -(2 ** (bw - 1)), hi: 2 ** (bw - 1) - 1, quantize: (w: number) => quantizeDynamicFixed([w], bw, fl)[0] };
    return new Array(outC).fill(g);
  }
  return undefined;
}

/** vᵀ H v − 2 vᵀ b + c: the asymmetric error of weights v (c = Σ y², so that it is ‖X_q v − y‖²). */
export function asymmetricError(H: Float64Array, b: ArrayLike<number>, c: number, v: ArrayLike<number>): number {
  return quadError(H, v) - 2 * dot(v, b) + c;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Δᵀ H Δ for a K×K row-major H. */
export function quadError(H: Float64Array, d: ArrayLike<number>): number {
  const K = d.length;
  let e = 0;
  for (let i = 0; i < K; i++) {
    let s = 0;
    for (let j = 0; j < K; j++) s += H[i * K + j] * d[j];
    e += d[i] * s;
  }
  return e;
}

/**
 * The integers of one output channel: round to nearest (the runtime's), then greedy flips to the other
 * neighbour of w/step while the error strictly decreases, `sweeps` passes at most. The error is
 * vᵀ H v − 2 vᵀ b (+ a constant) of the written weights v = q·step: with b = H w (the default) that is
 * Δᵀ H Δ, the error on the layer's float inputs; with H = Σ x_q x_qᵀ and b = Σ x_q y_float it is the
 * asymmetric ‖X_q v − y‖², the output error on the inputs the quantized predecessors produce.
 */
export function optimizeChannel(w: ArrayLike<number>, H: Float64Array, grid: ChannelGrid, sweeps = 4, b?: ArrayLike<number>): Int32Array {
  const K = w.length;
  const q = Int32Array.from({ length: K }, (_, k) => grid.quantize(w[k]));
  // g = H v − b, the half-gradient of the error at v
  const g = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    let s = 0;
    for (let j = 0; j < K; j++) s += H[i * K + j] * (b ? q[j] * grid.step : q[j] * grid.step - w[j]);
    g[i] = b ? s - b[i] : s;
  }
  for (let s = 0; s < sweeps; s++) {
    let changed = false;
    for (let k = 0; k < K; k++) {
      const r = w[k] / grid.step;
      // the other neighbour of r (floor or ceil); none when r is on the grid
      const alt = q[k] > r ? Math.floor(r) : q[k] < r ? Math.ceil(r) : q[k];
      if (alt === q[k] || alt < grid.lo || alt > grid.hi || Math.abs(alt - r) >= 1) continue;
      const delta = (alt - q[k]) * grid.step;
      const de = 2 * delta * g[k] + delta * delta * H[k * K + k];
      if (!(de < 0)) continue;
      q[k] = alt;
      for (let i = 0; i < K; i++) g[i] += delta * H[i * K + k];
      changed = true;
    }
    if (!changed) break;
  }
  return q;
}

/** A small deterministic PRNG (LCG), so that the sampled patches depend only on the seed. */
function lcg(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The sampled output positions of one layer on one image: the same in the float and the quantized pass. */
function positions(seed: number, layer: number, image: number, count: number, samples: number): Int32Array {
  const n = Math.min(samples, count);
  if (n === count) return Int32Array.from({ length: n }, (_, i) => i);
  const rnd = lcg((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(layer + 1, 0x85ebca6b) ^ Math.imul(image + 1, 0xc2b2ae35)) >>> 0);
  return Int32Array.from({ length: n }, () => Math.floor(rnd() * count));
}

interface Target {
  node: LayerNode;
  grids: ChannelGrid[];
  group: number;
  /** Cg·kh·kw: one output channel's weights */
  K: number;
  /** per group: K×K, Σ x xᵀ over the sampled patches (of the quantized inputs in the asymmetric objective) */
  H: Float64Array[];
  /** asymmetric objective: per output channel, Σ x_q · y_float (O×K), and Σ y_float² (O) */
  b?: Float64Array;
  c?: Float64Array;
  /** asymmetric objective: per image, the float outputs y (samples × O) at the sampled positions */
  y?: Float64Array[];
  /** centred objective: per group Σ x (K), per output channel Σ y (O), and the number of patches */
  sx?: Float64Array[];
  sy?: Float64Array;
  n: number;
}

/** im2col of one input (1,C,H,W) at output position pos, group gi, into p (K). */
function patchAt(node: LayerNode, x: Tensor, pos: number, gi: number, p: Float64Array): void {
  const g = convGeometry(node, x.shape);
  const [, C, IH, IW] = x.shape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.pad;
  const [dh, dw] = g.dilation;
  const OW = Math.floor((IW + 2 * pw - (dw * (kw - 1) + 1)) / sw) + 1;
  const Cg = C / g.group;
  const oy = Math.floor(pos / OW);
  const ox = pos % OW;
  let k = 0;
  for (let c = 0; c < Cg; c++)
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++, k++) {
        const y = oy * sh - ph + i * dh;
        const xx = ox * sw - pw + j * dw;
        p[k] = y >= 0 && y < IH && xx >= 0 && xx < IW ? x.data[((gi * Cg + c) * IH + y) * IW + xx] : 0;
      }
}

function outputPositions(node: LayerNode, shape: number[]): number {
  const g = convGeometry(node, shape);
  const [, , IH, IW] = shape;
  const OH = Math.floor((IH + 2 * g.pad[0] - (g.dilation[0] * (g.kernel[0] - 1) + 1)) / g.stride[0]) + 1;
  const OW = Math.floor((IW + 2 * g.pad[1] - (g.dilation[1] * (g.kernel[1] - 1) + 1)) / g.stride[1]) + 1;
  return OH * OW;
}

/** H += p pᵀ (upper triangle). */
function addOuter(H: Float64Array, p: Float64Array, K: number): void {
  for (let a = 0; a < K; a++) {
    const pa = p[a];
    if (pa === 0) continue;
    const row = a * K;
    for (let b = a; b < K; b++) H[row + b] += pa * p[b];
  }
}

/** Σ x of the centred objective (group 0 also counts the patches). */
function addPatchSum(t: Target, gi: number, p: Float64Array): void {
  if (gi === 0) t.n++;
  const sx = t.sx?.[gi];
  if (sx) for (let k = 0; k < t.K; k++) sx[k] += p[k];
}

/**
 * The centred statistics, in place: H − sx sxᵀ/n, b − sx sy/n, c − sy²/n, the second moments about the
 * means, so that the error optimised is the variance of the output error, whose mean the bias removes.
 */
function centre(t: Target): void {
  if (!t.sx || t.n === 0) return;
  const K = t.K;
  const og = (t.b ? t.b.length / K : 0) / t.group;
  for (let gi = 0; gi < t.group; gi++) {
    const H = t.H[gi];
    const sx = t.sx[gi];
    for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) H[a * K + b] -= (sx[a] * sx[b]) / t.n;
    if (!t.b) continue;
    for (let o = gi * og; o < (gi + 1) * og; o++) {
      const sy = t.sy![o];
      for (let k = 0; k < K; k++) t.b[o * K + k] -= (sx[k] * sy) / t.n;
      t.c![o] -= (sy * sy) / t.n;
    }
  }
}

/** The float input of target ti on one image: its patches go into H (float objective) or give y = W·x (asymmetric). */
function addFloatInput(t: Target, ti: number, image: number, x: Tensor, seed: number, samples: number, W: Tensor): void {
  const pos = positions(seed, ti, image, outputPositions(t.node, x.shape), samples);
  const O = W.shape[0];
  const og = O / t.group;
  const p = new Float64Array(t.K);
  const y = t.y ? new Float64Array(pos.length * O) : undefined;
  for (let s = 0; s < pos.length; s++)
    for (let gi = 0; gi < t.group; gi++) {
      patchAt(t.node, x, pos[s], gi, p);
      if (!y) {
        addOuter(t.H[gi], p, t.K);
        addPatchSum(t, gi, p);
        continue;
      }
      for (let o = gi * og; o < (gi + 1) * og; o++) y[s * O + o] = dot(W.data.subarray(o * t.K, (o + 1) * t.K), p);
    }
  if (y) t.y!.push(y);
}

/** The quantized input of target ti on one image: H += x_q x_qᵀ, b += x_q·y, c += y². */
function addQuantizedInput(t: Target, ti: number, image: number, x: Tensor, seed: number, samples: number, O: number): void {
  const pos = positions(seed, ti, image, outputPositions(t.node, x.shape), samples);
  const y = t.y![image];
  const og = O / t.group;
  const p = new Float64Array(t.K);
  for (let s = 0; s < pos.length; s++)
    for (let gi = 0; gi < t.group; gi++) {
      patchAt(t.node, x, pos[s], gi, p);
      addOuter(t.H[gi], p, t.K);
      addPatchSum(t, gi, p);
      for (let o = gi * og; o < (gi + 1) * og; o++) {
        const v = y[s * O + o];
        if (t.sy) t.sy[o] += v;
        const row = t.b!.subarray(o * t.K, (o + 1) * t.K);
        for (let k = 0; k < t.K; k++) row[k] += p[k] * v;
        t.c![o] += v * v;
      }
    }
}

export interface RoundingInput {
  net: Net;
  plan: PrecisionPlan;
  images: Tensor[];
  /**
   * The prototxt of `net`: given, each layer is fitted on the inputs its quantized (and already rounded)
   * predecessors produce in CHaiDNN's arithmetic, to the float layer's output (AdaRound's asymmetric
   * reconstruction); without it, on the float net's inputs.
   */
  netParam?: NetParam;
  seed?: number;
  /** sampled output positions per image and layer (default 64: with 16, 200 images give too few patches for a 576-weight channel) */
  samples?: number;
  /**
   * Fit the output error about its mean (AdaQuant's joint weights and bias, with the bias left to the bias
   * correction that follows): the rounding does not spend flips on a mean shift the bias removes exactly.
   */
  centered?: boolean;
  /** called before each layer is fitted, with the weights so far (the bias correction of the layers before it) */
  beforeLayer?: (node: LayerNode, weights: Map<string, Tensor[]>) => Promise<void>;
  warn?: WarnFn;
  onLayer?: (name: string) => void;
}

export interface RoundedLayer {
  layer: string;
  /** Σ over channels of the error optimised / samples: round to nearest, then the chosen rounding */
  before: number;
  after: number;
  /** weights whose integer differs from round to nearest */
  flipped: number;
}

/**
 * Optimized rounding of every HW convolution the plan gives a weight format (th_params or fl_params), in net
 * order. Returns new weights (the input net is unchanged) and per-layer errors.
 */
export async function optimizeRounding(inp: RoundingInput): Promise<{ weights: Map<string, Tensor[]>; layers: RoundedLayer[] }> {
  const net = inp.net;
  const samples = inp.samples ?? 64;
  const seed = inp.seed ?? 0;
  const asymmetric = !!inp.netParam;
  const byProducer = new Map<number, number[]>();
  const all: Target[] = [];
  for (const l of net.layers) {
    const blk = inp.plan.get(l.name);
    const W = l.blobs[0];
    if (l.def?.fixed !== 'conv' || !blk || !W || W.shape.length !== 4 || l.bottoms.length !== 1) continue;
    const grids = weightGrids(blk, W.shape[0]);
    if (!grids) continue;
    const p = net.producer(l.index, 0);
    if (p < 0) continue;
    const group = Number(l.param.convolution_param?.group ?? 1);
    const K = W.shape[1] * W.shape[2] * W.shape[3];
    const O = W.shape[0];
    const t: Target = {
      node: l, grids, group, K, H: Array.from({ length: group }, () => new Float64Array(K * K)), n: 0,
      ...(asymmetric ? { b: new Float64Array(O * K), c: new Float64Array(O), y: [] } : {}),
      ...(inp.centered ? { sx: Array.from({ length: group }, () => new Float64Array(K)), sy: asymmetric ? new Float64Array(O) : undefined } : {}),
    };
    byProducer.set(p, [...(byProducer.get(p) ?? []), all.length]);
    all.push(t);
  }
  // the float pass: every target's float input, image by image
  const src = net.layers.find((l) => l.bottoms.length === 0 && l.tops.includes(net.inputs[0]?.name));
  const feed = (li: number, name: string, x: Tensor, image: number) => {
    for (const ti of byProducer.get(li) ?? []) {
      const t = all[ti];
      if (t.node.bottoms[0] === name) addFloatInput(t, ti, image, x, seed, samples, t.node.blobs[0]);
    }
  };
  for (let i = 0; i < inp.images.length; i++) {
    const x = inp.images[i];
    // the net input has no layer run before it: its readers take the image itself
    if (src) feed(src.index, net.inputs[0].name, x, i);
    await runNet(net, x, {
      warn: inp.warn,
      fuse: false,
      onLayer: (node, tops) => {
        if (node !== src) node.tops.forEach((name, ti) => feed(node.index, name, tops[ti], i));
      },
    });
  }
  const weights = blobsOf(net);
  const annotated = inp.netParam ? applyPlanToNetParam(inp.netParam, inp.plan) : undefined;
  const layers: RoundedLayer[] = [];
  const nSamples = Math.max(1, inp.images.length * samples);
  for (let ti = 0; ti < all.length; ti++) {
    const t = all[ti];
    await inp.beforeLayer?.(t.node, weights);
    const [W, ...rest] = weights.get(t.node.name)!;
    if (annotated) await addQuantizedInputs(annotated, weights, t, ti, inp.images, seed, samples);
    for (const H of t.H) for (let a = 0; a < t.K; a++) for (let b = a + 1; b < t.K; b++) H[b * t.K + a] = H[a * t.K + b];
    centre(t);
    const O = W.shape[0];
    const og = O / t.group;
    const out = new Float32Array(W.data.length);
    let before = 0;
    let after = 0;
    let flipped = 0;
    for (let o = 0; o < O; o++) {
      const w = W.data.subarray(o * t.K, (o + 1) * t.K);
      const H = t.H[Math.floor(o / og)];
      const grid = t.grids[o];
      const b = t.b?.subarray(o * t.K, (o + 1) * t.K);
      const q = optimizeChannel(w, H, grid, 4, b);
      const near = Float64Array.from(w, (v) => grid.quantize(v) * grid.step);
      const chosen = Float64Array.from(q, (v) => v * grid.step);
      if (b) {
        before += asymmetricError(H, b, t.c![o], near);
        after += asymmetricError(H, b, t.c![o], chosen);
      } else {
        before += quadError(H, near.map((v, k) => v - w[k]));
        after += quadError(H, chosen.map((v, k) => v - w[k]));
      }
      for (let k = 0; k < t.K; k++) {
        out[o * t.K + k] = Math.fround(q[k] * grid.step);
        if (q[k] !== grid.quantize(w[k])) flipped++;
      }
    }
    weights.set(t.node.name, [{ shape: [...W.shape], data: out }, ...rest]);
    // the patches' statistics are done with
    t.H = [];
    t.y = undefined;
    t.sx = undefined;
    layers.push({ layer: t.node.name, before: before / nSamples, after: after / nSamples, flipped });
    inp.onLayer?.(t.node.name);
  }
  return { weights, layers };
}

/**
 * The input of target t as CHaiDNN computes it with the weights rounded so far: the annotated net cut after
 * t (so its input is quantized in t's own input format), simulated image by image.
 */
async function addQuantizedInputs(annotated: NetParam, weights: Map<string, Tensor[]>, t: Target, ti: number, images: Tensor[], seed: number, samples: number): Promise<void> {
  const end = annotated.layer.findIndex((x) => x.name === t.node.name);
  const probe: NetParam = { ...annotated, layer: annotated.layer.slice(0, end + 1) };
  const net = buildNet(probe, { weights, warn: () => undefined });
  const prog = compileSim(net, { reference: false, warn: () => undefined });
  const bottom = t.node.bottoms[0];
  const O = t.node.blobs[0].shape[0];
  for (let i = 0; i < images.length; i++) {
    const r = await runSim(prog, images[i], { reference: false, keep: [bottom], warn: () => undefined });
    addQuantizedInput(t, ti, i, r.outputs.get(bottom)!, seed, samples, O);
  }
}
