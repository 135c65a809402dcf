import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import { ChaiqError } from '../errors';
import { quantizeXilinx, qmax } from './arith';
import { foldTarget, fusionRole, netFusions } from './fusion';
import { lookupLayer } from '../layers/registry';
import { num } from '../layers/params';

export { foldTarget };

const f32 = Math.fround;

/** BatchNorm per-channel 1/sqrt(var+eps) with Caffe's moving-average factor (blobs[2][0]); float32. */
export function batchNormInvStd(l: LayerNode): Float32Array {
  const [, varB, factorB] = l.blobs;
  if (!varB) throw new ChaiqError(`BatchNorm layer "${l.name}" has no trained blobs (mean, variance, factor)`, l.loc ?? {});
  const eps = num(l.param.batch_norm_param, 'eps', 1e-5);
  const fac = factorB && factorB.data.length > 0 ? factorB.data[0] : 1;
  const k = fac === 0 ? 0 : f32(1 / fac);
  const out = new Float32Array(varB.data.length);
  for (let c = 0; c < out.length; c++) {
    const v = f32(varB.data[c] * k);
    out[c] = k === 0 ? 0 : f32(1 / f32(Math.sqrt(f32(v + eps))));
  }
  return out;
}

/** The trained blobs and params of a BN or Scale layer, from a graph node or a bare LayerParameter + blobs (lint). */
export type FoldSource = Pick<LayerNode, 'name' | 'type' | 'blobs' | 'param'> & { loc?: LayerNode['loc'] };

function foldBlob(l: FoldSource, i: number, what: string): Float32Array {
  const b = l.blobs[i];
  if (!b) throw new ChaiqError(`layer '${l.name}' (${l.type}): ${what} missing (no weights loaded for this layer?)`, l.loc ?? {});
  return b.data;
}

/** BatchNorm as foldBatchNorm (arith.ts) takes it: raw mean/variance, moving-average factor, eps (CHaiDNN §3.5). */
export function bnFoldParams(l: FoldSource) {
  const mean = foldBlob(l, 0, 'BatchNorm mean');
  const variance = foldBlob(l, 1, 'BatchNorm variance');
  const factor = l.blobs[2] ? l.blobs[2].data[0] : 1;
  const eps = num(l.param.batch_norm_param, 'eps', 1e-5);
  return { mean, variance, factor, eps };
}

/** Scale as foldBatchNorm takes it: gamma, and beta when the layer has it. */
export function scaleFoldParams(l: FoldSource) {
  const gamma = foldBlob(l, 0, 'Scale gamma');
  const beta = l.blobs[1] ? l.blobs[1].data : null;
  return { gamma, beta };
}

/** BatchNorm per-channel mean (blobs[0] / blobs[2][0]). */
export function batchNormMean(l: FoldSource): Float32Array {
  const [meanB, , factorB] = l.blobs;
  if (!meanB) throw new ChaiqError(`BatchNorm layer "${l.name}" has no trained blobs (mean, variance, factor)`, l.loc ?? {});
  const fac = factorB && factorB.data.length > 0 ? factorB.data[0] : 1;
  const k = fac === 0 ? 0 : f32(1 / fac);
  return Float32Array.from(meanB.data, (m) => f32(m * k));
}

/** BatchNorm per-channel variance (blobs[1] / blobs[2][0]). */
export function batchNormVariance(l: FoldSource): Float32Array {
  const [, varB, factorB] = l.blobs;
  if (!varB) throw new ChaiqError(`BatchNorm layer "${l.name}" has no trained blobs (mean, variance, factor)`, l.loc ?? {});
  const fac = factorB && factorB.data.length > 0 ? factorB.data[0] : 1;
  const k = fac === 0 ? 0 : f32(1 / fac);
  return Float32Array.from(varB.data, (v) => f32(v * k));
}

/**
 * Per-output-channel multipliers of a conv after folding the in-place BN/Scale chain that follows it
 * (W' = W·S, S = gamma/sqrt(var+eps); §3.5). undefined = nothing to fold.
 */
export function foldFactors(net: Net, convLi: number): Float32Array | undefined {
  let S: Float32Array | undefined;
  for (const li of netFusions(net).byConv.get(convLi)?.folded ?? []) {
    const l = net.layers[li];
    let m: Float32Array;
    if (fusionRole(l) === 'batchnorm') m = batchNormInvStd(l);
    else {
      if (!l.blobs[0]) throw new ChaiqError(`Scale layer "${l.name}" has no gamma blob`, l.loc ?? {});
      m = l.blobs[0].data;
    }
    if (!S) S = Float32Array.from(m);
    else for (let c = 0; c < S.length; c++) S[c] = f32(S[c] * m[c]);
  }
  return S;
}

/** max(m, |x|) over finite x: NaN/Inf weights (kept only with --allow_nonfinite) do not make the threshold NaN/Inf. */
function absMaxStep(m: number, x: number): number {
  const a = x < 0 ? -x : x;
  return a > m && a !== Infinity ? a : m;
}

/**
 * th_params: max|W| per OUTPUT channel (ThresholdWeights, §4.3), values ~0 (isclose, atol 1e-8) → 0.
 * Convolution/InnerProduct: axis 0 (IP honours `transpose`); Deconvolution: weights are
 * (Cin, Cout/group, kh, kw), so output channel g·(Cout/g)+j gathers W[g's inputs, j].
 */
export function perChannelAbsMax(l: LayerNode, W: Tensor, fold?: Float32Array, isclose = true): Float32Array {
  const shape = W.shape;
  const d = W.data;
  let out: Float32Array;
  const layout = (l.def ?? lookupLayer(l.type))?.outputChannels?.(l.param) ?? 'rows';
  if (layout === 'grouped') {
    const group = num(l.param.convolution_param, 'group', 1);
    const cin = shape[0];
    const coutG = shape[1];
    const k = shape.slice(2).reduce((a, b) => a * b, 1);
    out = new Float32Array(coutG * group);
    const cinG = cin / group;
    for (let g = 0; g < group; g++)
      for (let i = g * cinG; i < (g + 1) * cinG; i++)
        for (let j = 0; j < coutG; j++) {
          const o = g * coutG + j;
          const base = (i * coutG + j) * k;
          let m = out[o];
          for (let t = 0; t < k; t++) m = absMaxStep(m, d[base + t]);
          out[o] = m;
        }
  } else if (layout === 'columns') {
    // weights stored (K, N)
    const K = shape[0];
    const N = d.length / K;
    out = new Float32Array(N);
    for (let kk = 0; kk < K; kk++)
      for (let n = 0; n < N; n++) out[n] = absMaxStep(out[n], d[kk * N + n]);
  } else {
    const n = shape[0];
    const k = d.length / n;
    out = new Float32Array(n);
    for (let o = 0; o < n; o++) {
      let m = 0;
      for (let t = o * k; t < (o + 1) * k; t++) m = absMaxStep(m, d[t]);
      out[o] = m;
    }
  }
  if (fold) for (let o = 0; o < out.length; o++) out[o] = f32(out[o] * Math.abs(fold[o] ?? 1));
  if (isclose) for (let o = 0; o < out.length; o++) if (Math.abs(out[o]) <= 1e-8) out[o] = 0;
  return out;
}

/** XportDNN's isclose rule: a channel whose max|W| is at most this quantizes to 0. */
export const NEGLIGIBLE_WEIGHT = 1e-8;

const FLT_MIN = 2 ** -126;

function nextUp32(x: number): number {
  const b = new Float32Array([x]);
  const u = new Uint32Array(b.buffer);
  u[0] += 1; // x is positive and finite here
  return b[0];
}

/**
 * The smallest positive th_params for a channel whose weights (max|W| = maxAbs ≤ NEGLIGIBLE_WEIGHT) must all
 * quantize to 0: Trim2FixedPoint_Offline clamps to ±th and rounds w/sf, so th > 2·(2^(bw-1)-1)·maxAbs, and
 * sf = th/(2^(bw-1)-1) must be a normal float (0 or a denormal, which ARM may flush, gives 0/0). Checked with
 * the simulator's own quantizer; 0 (XportDNN's answer) would be a zero scale on the board.
 */
export function zeroingThreshold(maxAbs: number, bw: number): number {
  const m = qmax(bw);
  let th = f32(Math.max(2 * m * maxAbs, m * FLT_MIN));
  // start a few ulps below the estimate and walk up to the first threshold that works
  for (let i = 0; i < 4 && th > m * FLT_MIN; i++) th = f32(th * (1 - 2 ** -23));
  const probe = [maxAbs, -maxAbs];
  const q = new Int32Array(2);
  for (;;) {
    if (f32(th / m) >= FLT_MIN) {
      quantizeXilinx(probe, th, bw, q);
      if (q[0] === 0 && q[1] === 0) return th;
    }
    th = nextUp32(th);
  }
}

/**
 * Xilinx th_params of a weighted layer: max|W| per output channel (after the BN/Scale fold), and for the
 * channels XportDNN zeroes (max|W| ≤ 1e-8, all-zero included) the smallest threshold that quantizes them to 0.
 */
export function weightThresholds(l: LayerNode, W: Tensor, bw: number, fold?: Float32Array): Float32Array {
  const raw = perChannelAbsMax(l, W, fold, false);
  return raw.map((m) => (m <= NEGLIGIBLE_WEIGHT ? zeroingThreshold(m, bw) : m));
}
