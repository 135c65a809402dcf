/**
 * Rewrite for the board (quantize's optimized weights): the same function, in the form CHaiDNN quantizes best.
 * BatchNorm/Scale folded offline, the input scale folded into the first layers, the input recentred on 127, and
 * (DynamicFixed auto) each activation group scaled onto the fixed-point grid. Each step returns the rebuilt net.
 */
import type { WarnFn } from '../errors';
import { buildNet } from '../graph/build';
import type { Net } from '../graph/types';
import type { Preprocess } from '../io/images';
import { formatPy2Float } from '../io/floatfmt';
import type { NetParam } from '../proto/message';
import { copyLocations, locations } from '../proto/schema';
import { foldBatchNormOffline, foldInputScale, gridFactors, recenterInput, rescaleActivations } from '../quant/rewrite';
import type { Rewritten } from '../quant/rewrite';
import { buildXilinxPlan } from '../quant/xilinx';
import type { PrecisionPlan } from '../quant/plan';
import { boardScale } from './board';

/** A net with the NetParameter it was built from (what the printer writes). */
export interface NetWithParam {
  net: Net;
  netParam: NetParam;
}

/** How the rewritten nets are rebuilt: the prototxt (for messages) and the input shape asked for. */
export interface RebuildContext {
  deploy: string;
  dims?: readonly number[];
  warn: WarnFn;
  /** the NetParameter as read: its layers' source locations go to the rewritten layers of the same name */
  source?: NetParam;
}

/** The executable net of a rewritten model. */
export function rebuild(r: Rewritten, ctx: RebuildContext): NetWithParam {
  if (ctx.source) carryLayerLocations(ctx.source, r.net);
  const net = buildNet(r.net, { file: ctx.deploy, weights: r.weights, warn: ctx.warn, ...(ctx.dims ? { inputShape: [1, ...ctx.dims] } : {}) });
  return { net, netParam: r.net };
}

/** Errors in a rewritten net name the line of the layer in the user's prototxt, as they do before the rewrite. */
function carryLayerLocations(from: NetParam, to: NetParam): void {
  const byName = new Map<string, object>();
  for (const l of from.layer ?? []) if (l.name !== undefined && !byName.has(l.name)) byName.set(l.name, l);
  for (const l of to.layer ?? []) {
    const src = l.name !== undefined ? byName.get(l.name) : undefined;
    if (src && src !== l && !locations.has(l)) copyLocations(src, l);
  }
}

/** BatchNorm/Scale in place after a convolution folded into it; `info` says how many. */
export function foldBatchNormForBoard(m: NetWithParam, ctx: RebuildContext, info: (msg: string) => void): NetWithParam {
  const f = foldBatchNormOffline(m.net, m.netParam);
  if (!f.folded.length) return m;
  const out = rebuild(f, ctx);
  info(`folded ${f.folded.reduce((a, c) => a + c.folded.length, 0)} BatchNorm/Scale layers into ${f.folded.length} convolutions`);
  return out;
}

/**
 * The input scale folded into the layers that read the input, so the net takes pixels (0..255) minus the mean as
 * CHaiDNN's image reader feeds them; undefined when the input feeds a layer that does not scale.
 */
export function foldInputScaleForBoard(m: NetWithParam, pre: Preprocess, ctx: RebuildContext, info: (msg: string) => void): (NetWithParam & { pre: Preprocess }) | undefined {
  const f = foldInputScale(m.net, m.netParam, boardScale(pre));
  if (!f) return undefined;
  const out = rebuild(f, ctx);
  const k = 255 / pre.rawScale;
  // per-channel values stay a plain array (a Float32Array is read as a mean image)
  const mean = Array.isArray(pre.mean) ? pre.mean.map((v) => v * k) : Float32Array.from(pre.mean, (v) => v * k);
  info(`folded the input scale ${formatPy2Float(boardScale(pre))} into the first layers: the net now takes pixels (0..255) minus the mean, as CHaiDNN's image reader feeds it`);
  return { ...out, pre: { ...pre, rawScale: 255, inputScale: 1, mean } };
}

/**
 * Pixels minus a per-channel mean span up to 0..255: recentred on 127 they fill the signed 8-bit range (fl 0 /
 * th 127, only 255 clips, by 1) instead of saturating; the first layers' biases take the difference back.
 * Per-channel means only (CHaiDNN's reader subtracts one value per channel); undefined when nothing changes.
 */
export function recenterInputForBoard(m: NetWithParam, pre: Preprocess, ctx: RebuildContext, info: (msg: string) => void): (NetWithParam & { pre: Preprocess }) | undefined {
  const C = pre.dims[0];
  if (boardScale(pre) !== 1 || !Array.isArray(pre.mean) || !Array.from(pre.mean).some((v) => v !== 127)) return undefined;
  const mean = pre.mean.length === 1 ? new Array(C).fill(pre.mean[0]) : Array.from(pre.mean);
  const r = recenterInput(m.net, m.netParam, mean.map((v) => 127 - v));
  if (!r) return undefined;
  const out = rebuild(r, ctx);
  info('recentred the input on 127 (pixels − 127 fill the signed 8-bit range); the first layers\' biases absorb the change of mean');
  return { ...out, pre: { ...pre, mean: new Array(C).fill(127) } };
}

/**
 * DynamicFixed auto: each group of activations that shares one fl scaled so its threshold T lands on the grid,
 * T·f = (2^(bw-1)-1)·2^-fl with fl >= 0 (CHaiDNN rejects negative fl); undefined when no group moves.
 */
export function rescaleOntoGrid(m: NetWithParam, thOf: Parameters<typeof buildXilinxPlan>[1], bitwidths: Parameters<typeof buildXilinxPlan>[2]['bitwidths'], ctx: RebuildContext, info: (msg: string) => void): NetWithParam | undefined {
  const xp: PrecisionPlan = buildXilinxPlan(m.net, thOf, { bitwidths, pow2: false, warn: () => undefined }).plan;
  const factor = gridFactors(m.net, xp, bitwidths.out);
  const r = rescaleActivations(m.net, m.netParam, (v) => factor.get(v) ?? 1);
  if (!r.rescaled.length) return undefined;
  const out = rebuild(r, ctx);
  const fa = r.rescaled.map((x) => x.factor);
  info(`rescaled the outputs of ${fa.length} layers (factors ${formatPy2Float(Math.min(...fa))} to ${formatPy2Float(Math.max(...fa))}) onto the fixed-point grid`);
  return out;
}
