import { defineLayer } from './define';
import { check, convGeometry, count, layerError, sameShape, fmt, bottom } from './params';
import { X_PARAMS } from './precision';
import type { LayerNode } from './types';
import { alloc, blob, need, planarConv, type Forward } from './forward';
import { deconv2dRef, type ConvGeom } from '../kernels/reference';
import type { Tensor } from '../tensor';

const deconvolutionForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const tops: Tensor[] = [];
  for (const x of bottoms) {
    const { n, c, h, w, g } = planarConv(node, x);
    const [kh, kw] = g.kernel;
    const [ph, pw] = g.pad;
    const [sh, sw] = g.stride;
    const [dh, dw] = g.dilation;
    const o = g.numOutput;
    const oh = sh * (h - 1) + (dh * (kh - 1) + 1) - 2 * ph;
    const ow = sw * (w - 1) + (dw * (kw - 1) + 1) - 2 * pw;
    if (oh <= 0 || ow <= 0) throw layerError(node, 'output size would be <= 0');
    const wt = blob(node, 0, 'weights', c * (o / g.group) * kh * kw);
    const bias = g.biasTerm ? blob(node, 1, 'bias', o).data : undefined;
    const geom: ConvGeom = { c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw, group: g.group, oh, ow };
    const out = alloc(ctx, [n, o, oh, ow]);
    deconv2dRef(n, x.data, wt.data, bias, geom, out.data);
    tops.push(out);
  }
  return tops;
};

/** DeconvolutionLayer::compute_output_shape: stride*(in-1) + extent - 2*pad. */
function deconvShape(node: LayerNode, bottoms: number[][]): number[][] {
  const b = bottom(node, bottoms, 0);
  const g = convGeometry(node, b);
  for (let i = 1; i < bottoms.length; i++) {
    check(node, sameShape(bottoms[i], b), `all bottoms must have the same shape: ${fmt(bottoms[i])} vs ${fmt(b)}`);
  }
  const top = b.slice(0, g.axis);
  top.push(g.numOutput);
  for (let i = 0; i < g.numSpatial; i++) {
    const extent = g.dilation[i] * (g.kernel[i] - 1) + 1;
    const out = g.stride[i] * (b[g.axis + 1 + i] - 1) + extent - 2 * g.pad[i];
    if (out <= 0) throw layerError(node, `output size ${out} <= 0 (bottom ${fmt(b)})`);
    top.push(out);
  }
  return node.tops.map(() => top.slice());
}

/** Deconvolution (transposed convolution). Weights (C, O/g, k...), bias (O). DynamicFixed: no block (seed table). */
export const deconvolution = defineLayer({
  type: 'Deconvolution',
  forward: deconvolutionForward,
  aliases: ['DeconvolutionRistretto'],
  chaidnn: 'hw',
  plan: 'none',
  outputChannels: () => 'grouped',
  rescale: { kind: 'weighted' },
  precision: { Xilinx: X_PARAMS, DynamicFixed: [] },
  shape: deconvShape,
  blobShapes(node, bottoms) {
    const g = convGeometry(node, bottom(node, bottoms, 0));
    const w = [g.channels, g.numOutput / g.group, ...g.kernel];
    return g.biasTerm ? [w, [g.numOutput]] : [w];
  },
  params(node, bottoms) {
    const g = convGeometry(node, bottom(node, bottoms, 0));
    return g.channels * (g.numOutput / g.group) * count(g.kernel) + (g.biasTerm ? g.numOutput : 0);
  },
  /** in elements × (O/g) × prod(kernel) */
  macs(node, bottoms) {
    const g = convGeometry(node, bottom(node, bottoms, 0));
    return bottoms.reduce((s, b) => s + count(b) * (g.numOutput / g.group) * count(g.kernel), 0);
  },
});
