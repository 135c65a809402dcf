/**
 * Iterative bias correction (Hailo's IBC; Finkelstein et al. 2019, "Fighting quantization bias with bias"):
 * convolution by convolution in net order, the mean over the calibration images of (fixed − float) output,
 * per output channel, is subtracted from the float bias. Each layer is measured in CHaiDNN's arithmetic (the
 * simulator) with the layers before it quantized and already corrected, so it also removes the mean shift
 * they pass on. The runtime quantizes the written float bias itself (chaidnn-semantics §3.3: Xilinx at the
 * output scale th_out/(2^(bw-1)−1), DynamicFixed at 2^-fl_out), so the mean error left is within that step.
 */
import type { LayerNode, Net } from '../graph/types';
import type { NetParam } from '../proto/message';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';
import type { PrecisionPlan } from '../quant/plan';
import { buildNet } from '../graph/build';
import { runNet } from '../exec/executor';
import { compileSim, runSim } from '../sim/simulate';
import { applyPlanToNetParam } from '../print/precision';
import { blobsOf } from '../quant/rewrite';
import { qmax, quantizeDynamicFixed, quantizeXilinx, scaleFactor } from '../chaidnn/arith';
import type { PrecisionBlock } from '../quant/plan';

export interface CorrectedLayer {
  layer: string;
  /** per output channel: the mean error measured before the correction (fixed − float) */
  meanError: Float64Array;
}

export interface BiasCorrectionInput {
  /** the float net the plan was made for (its blobs are the float weights) */
  net: Net;
  netParam: NetParam;
  plan: PrecisionPlan;
  images: Tensor[];
  /**
   * The float net whose outputs the fixed net should match (default `net`): after --optimize_rounding, `net`
   * holds the rounded weights and the reference stays the original float net, so the correction also
   * removes the mean error of the rounding rather than aiming at the rounded net's float output.
   */
  reference?: Net;
  warn?: WarnFn;
  /** called once per corrected layer (progress) */
  onLayer?: (name: string) => void;
}

/** Convolutions CHaiDNN runs in HW with a bias the correction can move. */
function targets(net: Net, plan: PrecisionPlan): LayerNode[] {
  return net.layers.filter((l) => l.def?.fixed === 'conv' && plan.has(l.name) && l.blobs.length >= 2 && l.tops.length === 1 && l.param.convolution_param?.bias_term !== false);
}

/** Per-channel means of a (1,C,H,W) blob, added into acc. */
function addChannelMeans(acc: Float64Array, t: ArrayLike<number>, n: number): void {
  const C = acc.length;
  const plane = t.length / C;
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let j = c * plane; j < (c + 1) * plane; j++) s += t[j];
    acc[c] += s / plane / n;
  }
}

/** The float net's per-channel output means of each target layer (before any in-place layer after it). */
async function floatMeans(net: Net, layers: LayerNode[], images: Tensor[], warn: WarnFn): Promise<Map<string, Float64Array>> {
  const want = new Map(layers.map((l) => [l.name, new Float64Array(l.blobs[0].shape[0])]));
  for (const x of images) {
    await runNet(net, x, {
      warn,
      fuse: false,
      onLayer: (node, tops) => {
        const acc = want.get(node.name);
        if (acc) addChannelMeans(acc, tops[0].data, images.length);
      },
    });
  }
  return want;
}

/**
 * The corrected weights (a copy: the input net is unchanged) and, per corrected layer, the mean error it had.
 * The plan is unchanged: Xilinx th_params and DynamicFixed fl_params depend on the weights, not the bias.
 */
export async function correctBiases(inp: BiasCorrectionInput): Promise<{ weights: Map<string, Tensor[]>; corrected: CorrectedLayer[] }> {
  const weights = blobsOf(inp.net);
  const bc = await biasCorrector(inp);
  await bc.run(weights);
  return { weights, corrected: bc.corrected };
}

/** Bias correction run in steps, so that another layer-by-layer technique can interleave with it. */
export interface BiasCorrector {
  /** correct, in net order, every target before net layer index `before` (all when omitted) not done yet, in `weights` */
  run(weights: Map<string, Tensor[]>, before?: number): Promise<void>;
  corrected: CorrectedLayer[];
}

/** The float reference means are taken once; each `run` measures with the weights it is given at that time. */
export async function biasCorrector(inp: BiasCorrectionInput): Promise<BiasCorrector> {
  const warn = inp.warn ?? (() => undefined);
  const layers = targets(inp.net, inp.plan);
  const ref = await floatMeans(inp.reference ?? inp.net, layers, inp.images, warn);
  const annotated = applyPlanToNetParam(inp.netParam, inp.plan);
  const corrected: CorrectedLayer[] = [];
  let next = 0;
  return {
    corrected,
    async run(weights, before = Infinity) {
      for (; next < layers.length && layers[next].index < before; next++) {
        const l = layers[next];
        const err = await meanFixedError(annotated, weights, l.name, l.tops[0], inp.images, ref.get(l.name)!);
        const [W, b, ...rest] = weights.get(l.name)!;
        weights.set(l.name, [W, { shape: [...b.shape], data: correctedBias(b.data, err, biasFormat(inp.plan.get(l.name)!)) }, ...rest]);
        corrected.push({ layer: l.name, meanError: err });
        inp.onLayer?.(l.name);
      }
    },
  };
}

/** The grid the runtime puts a conv's bias on: its output format (§3.3, §3.4). */
export interface BiasFormat {
  step: number;
  /** the integer range of the bias */
  lo: number;
  hi: number;
  /** the runtime's bias integer of a float bias */
  quantize(b: number): number;
}

export function biasFormat(block: PrecisionBlock): BiasFormat {
  const bw = Number(block.bw_layer_out ?? block.bw_layer_in ?? 8);
  if (block.quant_type === 'DynamicFixed' || block.fl_layer_out !== undefined) {
    const fl = Number(block.fl_layer_out);
    return { step: 2 ** -fl, lo: -(2 ** (bw - 1)), hi: 2 ** (bw - 1) - 1, quantize: (b) => quantizeDynamicFixed([b], bw, fl)[0] };
  }
  const th = Number(block.th_layer_out);
  const m = qmax(bw);
  return { step: scaleFactor(th, bw), lo: -m, hi: m, quantize: (b) => quantizeXilinx([b], th, bw)[0] };
}

/**
 * The bias moved by whole steps of its format: an integer shift k of the bias shifts every (unsaturated)
 * output integer by exactly k in both modes, so k = round(−err/step) leaves |err| ≤ step/2. Written on the
 * grid (k·step) so that the runtime's own rounding gives back exactly that integer.
 */
export function correctedBias(b: Float32Array, err: ArrayLike<number>, fmt: BiasFormat): Float32Array {
  return Float32Array.from(b, (v, c) => {
    const q = fmt.quantize(v);
    const k = Math.min(fmt.hi, Math.max(fmt.lo, q + Math.round(-err[c] / fmt.step)));
    return k === q ? v : Math.fround(k * fmt.step);
  });
}

/**
 * Mean (fixed − float) output per channel of layer `name` on the images: the annotated net cut after that
 * layer (so an in-place ReLU after it does not hide its negative outputs), simulated with `weights`.
 */
export async function meanFixedError(annotated: NetParam, weights: Map<string, Tensor[]>, name: string, top: string, images: Tensor[], floatMean: Float64Array): Promise<Float64Array> {
  const end = annotated.layer.findIndex((x) => x.name === name);
  const probe: NetParam = { ...annotated, layer: annotated.layer.slice(0, end + 1) };
  const net = buildNet(probe, { weights, warn: () => undefined });
  const prog = compileSim(net, { reference: false, warn: () => undefined });
  const q = new Float64Array(floatMean.length);
  for (const x of images) {
    const r = await runSim(prog, x, { reference: false, keep: [top], warn: () => undefined });
    addChannelMeans(q, r.outputs.get(top)!.data, images.length);
  }
  return q.map((v, c) => v - floatMean[c]);
}
