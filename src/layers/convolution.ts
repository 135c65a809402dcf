import { defineLayer } from './define';
import { biasTerm, rep, check, convGeometry, count, layerError, num, sameShape, fmt, bottom, spatialParam } from './params';
import { D_CONV, X_PARAMS } from './precision';
import type { LayerNode } from './types';
import type { LayerParam } from '../proto/message';
import type { ForwardContext } from './types';
import type { Tensor } from '../tensor';
import { allocFull, blob, need, planarConv } from './forward';
import { conv2dBatch, type Conv2dParams } from '../kernels';

// module-level alias: global lookups are slow inside jest's vm context
const { floor: M_floor } = Math;

async function convolutionForward(node: LayerNode, bottoms: Tensor[], ctx: ForwardContext): Promise<Tensor[]> {
  need(node, bottoms, 1);
  const tops: Tensor[] = [];
  for (const x of bottoms) {
    const { n, c, h, w, g } = planarConv(node, x);
    const [kh, kw] = g.kernel;
    const [ph, pw] = g.pad;
    const [sh, sw] = g.stride;
    const [dh, dw] = g.dilation;
    const o = g.numOutput;
    const oh = M_floor((h + 2 * ph - (dh * (kh - 1) + 1)) / sh) + 1;
    const ow = M_floor((w + 2 * pw - (dw * (kw - 1) + 1)) / sw) + 1;
    if (oh <= 0 || ow <= 0) throw layerError(node, `kernel larger than the padded input (${h}x${w})`);
    const wt = blob(node, 0, 'weights', o * (c / g.group) * kh * kw);
    const bias = g.biasTerm ? blob(node, 1, 'bias', o).data : undefined;
    const kp: Conv2dParams = {
      inC: c, inH: h, inW: w, outC: o, outH: oh, outW: ow, kH: kh, kW: kw,
      strideH: sh, strideW: sw, padH: ph, padW: pw, dilH: dh, dilW: dw, group: g.group,
    };
    const out = allocFull(ctx, [n, o, oh, ow]); // the kernels write every output
    // a fused epilogue (one bottom only: it was built for that bottom's output)
    const fused = bottoms.length === 1 ? ctx.convEpilogue : undefined;
    await conv2dBatch(x.data, n, wt.data, bias ?? null, kp, out.data, fused?.ep);
    if (fused) fused.taken = true;
    tops.push(out);
  }
  return tops;
}

/** Top shape of a convolution (BaseConvolutionLayer::Reshape + ConvolutionLayer::compute_output_shape). */
function convShape(node: LayerNode, bottoms: number[][]): number[][] {
  const b = bottom(node, bottoms, 0);
  const g = convGeometry(node, b);
  for (let i = 1; i < bottoms.length; i++) {
    check(node, sameShape(bottoms[i], b), `all bottoms must have the same shape: ${fmt(bottoms[i])} vs ${fmt(b)}`);
  }
  const top = b.slice(0, g.axis);
  top.push(g.numOutput);
  for (let i = 0; i < g.numSpatial; i++) {
    const extent = g.dilation[i] * (g.kernel[i] - 1) + 1;
    // C++ int division truncates toward zero
    const out = Math.trunc((b[g.axis + 1 + i] + 2 * g.pad[i] - extent) / g.stride[i]) + 1;
    if (out <= 0) {
      throw layerError(node, `kernel extent ${extent} larger than padded input ${b[g.axis + 1 + i] + 2 * g.pad[i]} (bottom ${fmt(b)})`);
    }
    top.push(out);
  }
  return node.tops.map(() => top.slice());
}

/** Kernel sizes CHaiDNN's convolution hardware takes. */
const HW_KERNELS = new Set([1, 3, 5, 7, 11]);

/** CHaiDNN's convolution limits: kernel sizes, equal h/w strides, fewer than 4096 output maps. */
function convLimits(l: LayerParam): string[] {
  const out: string[] = [];
  const c = l.convolution_param ?? {};
  // the readings of convGeometry; lint does not judge what Caffe would refuse, only what the hardware takes
  const [kh, kw] = spatialParam(c, 'kernel_size', 'kernel_h', 'kernel_w', 2, undefined).values ?? [];
  if ([kh, kw].some((k) => k !== undefined && !HW_KERNELS.has(k))) {
    out.push(`convolution '${l.name}' has a ${kh}x${kw} kernel; CHaiDNN's hardware takes 1, 3, 5, 7 or 11`);
  }
  const [sh, sw] = spatialParam(c, 'stride', 'stride_h', 'stride_w', 2, 1).values ?? [1, 1];
  if (sh !== sw) out.push(`convolution '${l.name}' has strides ${sh}x${sw}; CHaiDNN needs equal h/w strides`);
  const maps = num(c, 'num_output', 0);
  if (maps >= 4096) out.push(`convolution '${l.name}' has ${maps} output maps; CHaiDNN supports fewer than 4096`);
  return out;
}

/** W·d per output channel for an input offset d; only without padding, where every tap reads the offset. */
function convAbsorbOffset(node: LayerNode, W: Tensor, shape: number[], offset: (c: number) => number): Float64Array | undefined {
  const g = convGeometry(node, shape);
  if (g.pad.some((x) => x !== 0) || g.axis !== 1) return undefined;
  const C = shape[1];
  const O = W.shape[0];
  const Cg = W.shape[1];
  const per = W.data.length / (O * Cg);
  const groups = C / Cg;
  const add = new Float64Array(O);
  for (let o = 0; o < O; o++) {
    const gi = Math.floor(o / (O / groups));
    for (let j = 0; j < Cg; j++) {
      let sum = 0;
      for (let t = 0; t < per; t++) sum += W.data[(o * Cg + j) * per + t];
      add[o] += offset(gi * Cg + j) * sum;
    }
  }
  return add;
}

/** Convolution (also depthwise: group = channels), N-D, with dilation. Weights (O, C/g, k...), bias (O). */
export const convolution = defineLayer({
  type: 'Convolution',
  forward: convolutionForward,
  aliases: ['ConvolutionRistretto'],
  chaidnn: 'hw',
  fixed: 'conv',
  convFusion: 'conv',
  progressive: 'weights',
  lint: { limits: convLimits, channelThresholds: true },
  outputRows: () => true,
  plan: 'none',
  rescale: { kind: 'weighted' },
  absorbOffset: { biasParam: 'convolution_param', add: convAbsorbOffset },
  precision: { Xilinx: X_PARAMS, DynamicFixed: D_CONV },
  shape: convShape,
  blobShapes(node, bottoms) {
    const g = convGeometry(node, bottom(node, bottoms, 0));
    const w = [g.numOutput, g.channels / g.group, ...g.kernel];
    return g.biasTerm ? [w, [g.numOutput]] : [w];
  },
  blobShapesFromParams(l) {
    const c = l.convolution_param ?? {};
    const n = Number(rep(c.num_output)[0] ?? 0);
    return biasTerm(c) ? [[n, -1, -1, -1], [n]] : [[n, -1, -1, -1]];
  },
  params(node, bottoms) {
    const g = convGeometry(node, bottom(node, bottoms, 0));
    return g.numOutput * (g.channels / g.group) * count(g.kernel) + (g.biasTerm ? g.numOutput : 0);
  },
  /** out elements × (C/g) × prod(kernel), per bottom/top pair (bias adds not counted) */
  macs(node, bottoms, tops) {
    const g = convGeometry(node, bottom(node, bottoms, 0));
    return tops.reduce((s, t) => s + count(t) * (g.channels / g.group) * count(g.kernel), 0);
  },
});
