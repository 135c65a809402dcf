/**
 * Cross-layer equalization (Nagel et al. 2019, "Data-free quantization"): for a convolution A whose output
 * reaches only a convolution B, directly or through a ReLU (positively homogeneous: relu(x/s) = relu(x)/s for
 * s > 0), output channel c of A is divided by s_c and B's weights reading channel c are multiplied by s_c.
 * With s_c = sqrt(r1_c/r2_c) (r1: max|W_A[c]|, r2: max|W_B[:,c]|) both ranges become sqrt(r1·r2), so one
 * per-layer weight format (DynamicFixed fl) wastes fewer bits on small channels. Chains such as
 * conv → depthwise conv → conv are pairs sharing a layer; a few sweeps bring them to balance.
 * The float net computes the same function up to float rounding.
 */
import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import type { NetParam } from '../proto/message';
import { blobsOf } from '../quant/rewrite';
import type { Rewritten } from '../quant/rewrite';

export interface EqualizedPair {
  /** the layer whose output channels are divided by s */
  first: string;
  /** the layer whose input channels are multiplied by s */
  second: string;
  /** min and max over the channels of the factor applied in all sweeps together */
  minFactor: number;
  maxFactor: number;
}

/** Per-channel, positively homogeneous layers CLE may pass (declared per type: ReLU, MAX and AVE pooling). */
function isHomogeneous(l: LayerNode): boolean {
  if (l.bottoms.length !== 1 || l.tops.length !== 1) return false;
  return l.def?.channelHomogeneous?.(l) ?? false;
}

function isConv(l: LayerNode): boolean {
  return l.def?.fixed === 'conv' && l.bottoms.length === 1 && l.tops.length === 1 && l.blobs.length >= 1 && l.blobs[0].shape.length === 4;
}

/** Where the walk from conv A ends: its partner B, or why A has none (in words, naming the layer in the way). */
function partnerOf(net: Net, a: LayerNode): { b: number } | { why: string } {
  let cons = net.consumers(a.index, 0);
  let at = a;
  for (;;) {
    if (cons.length === 0) return { why: at === a ? `${a.name}'s output is a net output` : `${at.type} '${at.name}' after ${a.name} ends the net` };
    if (cons.length > 1) return { why: `${at === a ? a.name : `'${at.name}' after ${a.name}`} is read by ${cons.length} layers` };
    const next = net.layers[cons[0]];
    if (isConv(next)) {
      if (next.index === a.index) return { why: `${a.name} reads its own output` };
      // the channel count B sees must be A's output channels
      const group = Number(next.param.convolution_param?.group ?? 1);
      if (next.blobs[0].shape[1] * group !== a.blobs[0].shape[0]) return { why: `${a.name} → ${next.name}: the channels do not match` };
      return { b: next.index };
    }
    if (!isHomogeneous(next)) return { why: `${next.type} '${next.name}' after ${a.name}` };
    at = next;
    cons = net.consumers(next.index, 0);
  }
}

/**
 * The convolution pairs (A, B) that equalization may rescale: A's only reader is B, or a chain of ReLU and
 * pooling layers, each the only reader of the one before, ending in B; B reads nothing else, and A's output is no net output.
 */
export function equalizablePairs(net: Net): [number, number][] {
  const pairs: [number, number][] = [];
  for (const a of net.layers) {
    if (!isConv(a)) continue;
    const p = partnerOf(net, a);
    if ('b' in p) pairs.push([a.index, p.b]);
  }
  return pairs;
}

/** Per convolution that starts no pair, why (in net order): what --equalize says when it finds none. */
export function unpairedConvolutions(net: Net): string[] {
  const out: string[] = [];
  for (const a of net.layers) {
    if (!isConv(a)) continue;
    const p = partnerOf(net, a);
    if ('why' in p) out.push(p.why);
  }
  return out;
}

/** Per input channel c of conv B (weights O×(C/g)×k): the indices of the weights that read c. */
function forInputChannel(W: Tensor, group: number, c: number, fn: (i: number) => void): void {
  const [O, Cg] = W.shape;
  const k = W.shape[2] * W.shape[3];
  const gi = Math.floor(c / Cg);
  const j = c % Cg;
  const og = O / group;
  for (let o = gi * og; o < (gi + 1) * og; o++) {
    const base = (o * Cg + j) * k;
    for (let t = 0; t < k; t++) fn(base + t);
  }
}

function outRanges(W: Tensor): Float64Array {
  const O = W.shape[0];
  const per = W.data.length / O;
  const r = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    let m = 0;
    for (let t = o * per; t < (o + 1) * per; t++) m = Math.max(m, Math.abs(W.data[t]));
    r[o] = m;
  }
  return r;
}

function inRanges(W: Tensor, group: number, C: number): Float64Array {
  const r = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let m = 0;
    forInputChannel(W, group, c, (i) => (m = Math.max(m, Math.abs(W.data[i]))));
    r[c] = m;
  }
  return r;
}

export interface EqualizeOptions {
  /** passes over all pairs (chains need more than one) */
  sweeps?: number;
}

/**
 * Equalizes every pair of `equalizablePairs`, in prototxt order, `sweeps` times (default 4). Returns the
 * rewritten weights (the NetParameter is unchanged) and, per pair, the range of the factors applied last.
 */
export function equalizeNet(graph: Net, param: NetParam, opts: EqualizeOptions = {}): Rewritten & { pairs: EqualizedPair[] } {
  const weights = blobsOf(graph);
  const copy = (name: string) => {
    const bs = weights.get(name)!;
    const c = bs.map((b) => ({ shape: [...b.shape], data: Float32Array.from(b.data) }));
    weights.set(name, c);
    return c;
  };
  const pairs = equalizablePairs(graph);
  const copied = new Set<string>();
  const own = (name: string) => {
    if (!copied.has(name)) {
      copy(name);
      copied.add(name);
    }
    return weights.get(name)!;
  };
  const total = pairs.map(([ai]) => new Float64Array(graph.layers[ai].blobs[0].shape[0]).fill(1));
  const sweeps = opts.sweeps ?? 4;
  for (let s = 0; s < sweeps; s++) {
    for (const [pi, [ai, bi]] of pairs.entries()) {
      const a = graph.layers[ai];
      const b = graph.layers[bi];
      const [WA, bA] = own(a.name);
      const [WB] = own(b.name);
      const C = WA.shape[0];
      const group = Number(b.param.convolution_param?.group ?? 1);
      const r1 = outRanges(WA);
      const r2 = inRanges(WB, group, C);
      const biasOn = a.param.convolution_param?.bias_term !== false && bA;
      const per = WA.data.length / C;
      for (let c = 0; c < C; c++) {
        // a dead channel on either side stays as it is
        const f = r1[c] > 0 && r2[c] > 0 && Number.isFinite(r1[c] / r2[c]) ? Math.sqrt(r1[c] / r2[c]) : 1;
        total[pi][c] *= f;
        if (f === 1) continue;
        for (let t = c * per; t < (c + 1) * per; t++) WA.data[t] = WA.data[t] / f;
        if (biasOn) bA.data[c] = bA.data[c] / f;
        forInputChannel(WB, group, c, (i) => (WB.data[i] = WB.data[i] * f));
      }
    }
  }
  const report = pairs.map(([ai, bi], pi) => ({
    first: graph.layers[ai].name, second: graph.layers[bi].name, minFactor: Math.min(...total[pi]), maxFactor: Math.max(...total[pi]),
  }));
  return { net: param, weights, pairs: report };
}
