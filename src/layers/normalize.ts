import { defineLayer } from './define';
import { bool, count, likeBottom, num, sub, bottom } from './params';
import { X_PARAMS } from './precision';
import { alloc, blob, need, type Forward } from './forward';

// module-level alias: global lookups are slow inside jest's vm context
const { sqrt: M_sqrt } = Math;

/** SSD Normalize: L2 over C·H·W (across_spatial) or over C per position, eps inside the sqrt, then scale. */
const normalizeForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const np = sub(node, 'norm_param');
  const across = bool(np, 'across_spatial', true);
  const shared = bool(np, 'channel_shared', true);
  const eps = num(np, 'eps', 1e-10);
  const n = x.shape[0];
  const c = x.shape[1] ?? 1;
  const sp = count(x.shape, 2);
  const scale = blob(node, 0, 'scale', shared ? 1 : c).data;
  const out = alloc(ctx, [...x.shape]);
  const X = x.data;
  for (let b = 0; b < n; b++) {
    const off = b * c * sp;
    if (across) {
      let s = 0;
      for (let i = 0; i < c * sp; i++) s += X[off + i] * X[off + i];
      const norm = M_sqrt(s + eps);
      for (let ch = 0; ch < c; ch++) {
        const f = scale[shared ? 0 : ch] / norm;
        for (let i = 0; i < sp; i++) out.data[off + ch * sp + i] = X[off + ch * sp + i] * f;
      }
    } else {
      for (let p = 0; p < sp; p++) {
        let s = 0;
        for (let ch = 0; ch < c; ch++) s += X[off + ch * sp + p] ** 2;
        const norm = M_sqrt(s + eps);
        for (let ch = 0; ch < c; ch++) out.data[off + ch * sp + p] = (X[off + ch * sp + p] / norm) * scale[shared ? 0 : ch];
      }
    }
  }
  return [out];
};

/** SSD Normalize (L2 over channels, then a learned scale: 1 value if channel_shared, else C). */
export const normalize = defineLayer({
  type: 'Normalize',
  forward: normalizeForward,
  aliases: ['NormalizeRistretto'],
  chaidnn: 'sw',
  plan: 'none',
  thParams: 'abs',
  precision: { Xilinx: X_PARAMS, DynamicFixed: [] },
  shape: likeBottom,
  /** channel_shared: a 0-axis (scalar) blob, as SSD's NormalizeLayer::LayerSetUp makes it */
  blobShapes(node, bottoms) {
    const shared = bool(sub(node, 'norm_param'), 'channel_shared', true);
    return [shared ? [] : [bottom(node, bottoms, 0)[1]]];
  },
  params(node, bottoms) {
    return bool(sub(node, 'norm_param'), 'channel_shared', true) ? 1 : bottom(node, bottoms, 0)[1];
  },
  /** one multiply-add per element for the sum of squares, one multiply for the scale */
  macs: (node, bottoms) => 2 * count(bottom(node, bottoms, 0)),
});
