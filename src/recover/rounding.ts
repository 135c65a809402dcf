/**
 * Optimized weight rounding, AdaRound's objective (Nagel et al. 2020) solved greedily: per convolution and
 * output channel, each weight goes to the floor or the ceiling of w/sf on the runtime's own grid (Xilinx: per
 * channel sf = th_params[c]/(2^(bw-1)−1); DynamicFixed: 2^-fl_params for the layer), chosen to minimise the
 * layer's output error on the calibration images, ‖X·(q·sf − w)‖² = Δᵀ H Δ with H = XᵀX over sampled input
 * patches. Starting from the runtime's round-to-nearest, one weight flips at a time when that lowers the
 * error, so the error never grows. The result is written as float weights q·sf, which the runtime's rounding
 * turns back into exactly q; the plan (th_params / fl_params) is kept as it is.
 * Greedy flips on H, rather than AdaRound's gradient descent on a relaxed variable, keep it deterministic
 * and fast without a training loop; the sampled patches depend only on the seed.
 */
import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';
import type { PrecisionBlock, PrecisionPlan } from '../quant/plan';
import { runNet } from '../exec/executor';
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
 * neighbour of w/step while Δᵀ H Δ strictly decreases, `sweeps` passes at most.
 */
export function optimizeChannel(w: ArrayLike<number>, H: Float64Array, grid: ChannelGrid, sweeps = 4): Int32Array {
  const K = w.length;
  const q = Int32Array.from({ length: K }, (_, k) => grid.quantize(w[k]));
  const d = Float64Array.from({ length: K }, (_, k) => q[k] * grid.step - w[k]);
  const g = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    let s = 0;
    for (let j = 0; j < K; j++) s += H[i * K + j] * d[j];
    g[i] = s;
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
      d[k] += delta;
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

interface Target {
  node: LayerNode;
  grids: ChannelGrid[];
  /** per group: Cg·kh·kw × Cg·kh·kw */
  H: Float64Array[];
  K: number;
}

/** Adds sampled im2col patches of one input (1,C,H,W) to every group's H. */
function addPatches(t: Target, x: Tensor, samples: number, rnd: () => number): void {
  const g = convGeometry(t.node, x.shape);
  const [, C, IH, IW] = x.shape;
  const [kh, kw] = g.kernel;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.pad;
  const [dh, dw] = g.dilation;
  const OH = Math.floor((IH + 2 * ph - (dh * (kh - 1) + 1)) / sh) + 1;
  const OW = Math.floor((IW + 2 * pw - (dw * (kw - 1) + 1)) / sw) + 1;
  const Cg = C / g.group;
  const K = t.K;
  const p = new Float64Array(K);
  const n = Math.min(samples, OH * OW);
  for (let s = 0; s < n; s++) {
    const pos = n === OH * OW ? s : Math.floor(rnd() * OH * OW);
    const oy = Math.floor(pos / OW);
    const ox = pos % OW;
    for (let gi = 0; gi < g.group; gi++) {
      let k = 0;
      for (let c = 0; c < Cg; c++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++, k++) {
            const y = oy * sh - ph + i * dh;
            const xx = ox * sw - pw + j * dw;
            p[k] = y >= 0 && y < IH && xx >= 0 && xx < IW ? x.data[((gi * Cg + c) * IH + y) * IW + xx] : 0;
          }
      const H = t.H[gi];
      for (let a = 0; a < K; a++) {
        const pa = p[a];
        if (pa === 0) continue;
        const row = a * K;
        for (let b = a; b < K; b++) H[row + b] += pa * p[b];
      }
    }
  }
}

export interface RoundingInput {
  net: Net;
  plan: PrecisionPlan;
  images: Tensor[];
  seed?: number;
  /** sampled output positions per image and layer */
  samples?: number;
  warn?: WarnFn;
  onLayer?: (name: string) => void;
}

export interface RoundedLayer {
  layer: string;
  /** Σ over channels of Δᵀ H Δ / samples: round to nearest, then the chosen rounding */
  before: number;
  after: number;
  /** weights whose integer differs from round to nearest */
  flipped: number;
}

/**
 * Optimized rounding of every HW convolution the plan gives a weight format (th_params or fl_params), with H
 * from the float net's inputs of that layer on the images. Returns new weights and per-layer errors.
 */
export async function optimizeRounding(inp: RoundingInput): Promise<{ weights: Map<string, Tensor[]>; layers: RoundedLayer[] }> {
  const net = inp.net;
  const samples = inp.samples ?? 16;
  const targets = new Map<number, Target[]>();
  const all: Target[] = [];
  for (const l of net.layers) {
    const blk = inp.plan.get(l.name);
    const W = l.blobs[0];
    if (l.def?.fixed !== 'conv' || !blk || !W || W.shape.length !== 4 || l.bottoms.length !== 1) continue;
    const grids = weightGrids(blk, W.shape[0]);
    if (!grids) continue;
    const group = Number(l.param.convolution_param?.group ?? 1);
    const K = W.shape[1] * W.shape[2] * W.shape[3];
    const t: Target = { node: l, grids, K, H: Array.from({ length: group }, () => new Float64Array(K * K)) };
    const p = net.producer(l.index, 0);
    if (p < 0) continue;
    const list = targets.get(p) ?? [];
    list.push(t);
    targets.set(p, list);
    all.push(t);
  }
  const rnd = lcg(inp.seed ?? 0);
  const feed = (li: number, name: string, x: Tensor) => {
    for (const t of targets.get(li) ?? []) if (t.node.bottoms[0] === name) addPatches(t, x, samples, rnd);
  };
  for (const x of inp.images) {
    // the net input has no layer run before it: its readers take the image itself
    const src = net.layers.find((l) => l.bottoms.length === 0 && l.tops.includes(net.inputs[0]?.name));
    if (src) feed(src.index, net.inputs[0].name, x);
    await runNet(net, x, {
      warn: inp.warn,
      fuse: false,
      onLayer: (node, tops) => {
        if (node !== src) node.tops.forEach((name, ti) => feed(node.index, name, tops[ti]));
      },
    });
  }
  const weights = blobsOf(net);
  const layers: RoundedLayer[] = [];
  const nSamples = Math.max(1, inp.images.length * samples);
  for (const t of all) {
    const [W, ...rest] = weights.get(t.node.name)!;
    for (const H of t.H) for (let a = 0; a < t.K; a++) for (let b = a + 1; b < t.K; b++) H[b * t.K + a] = H[a * t.K + b];
    const O = W.shape[0];
    const og = O / t.H.length;
    const out = new Float32Array(W.data.length);
    let before = 0;
    let after = 0;
    let flipped = 0;
    for (let o = 0; o < O; o++) {
      const w = W.data.subarray(o * t.K, (o + 1) * t.K);
      const H = t.H[Math.floor(o / og)];
      const grid = t.grids[o];
      const q = optimizeChannel(w, H, grid);
      const near = Float64Array.from(w, (v) => grid.quantize(v) * grid.step - v);
      before += quadError(H, near);
      after += quadError(H, Float64Array.from(w, (v, k) => q[k] * grid.step - v));
      for (let k = 0; k < t.K; k++) {
        out[o * t.K + k] = Math.fround(q[k] * grid.step);
        if (q[k] !== grid.quantize(w[k])) flipped++;
      }
    }
    weights.set(t.node.name, [{ shape: [...W.shape], data: out }, ...rest]);
    layers.push({ layer: t.node.name, before: before / nSamples, after: after / nSamples, flipped });
    inp.onLayer?.(t.node.name);
  }
  return { weights, layers };
}
