import { defineLayer } from './define';
import { check, convGeometry, count, layerError, sameShape, fmt, bottom } from './params';
import { X_PARAMS } from './precision';
import type { LayerNode } from './types';
import { deconvolutionForward } from './forward/conv';

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
