import { defineLayer } from './define';
import { bool, count, likeBottom, bottom, num, sub } from './params';
import { D_BATCHNORM, X_ACT } from './precision';
import { allocFull, blob, need, type Forward } from './forward';
import { fastChannelAffine } from '../kernels/fastops';

// module-level alias: global lookups are slow inside jest's vm context
const { sqrt: M_sqrt } = Math;

const batchNormForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const bp = sub(node, 'batch_norm_param');
  const eps = num(bp, 'eps', 1e-5);
  const n = x.shape[0];
  const c = x.shape.length >= 2 ? x.shape[1] : 1;
  const dim = count(x.shape, 2);
  const mean = new Float64Array(c);
  const vari = new Float64Array(c);
  // deploy nets run in TEST phase: global stats unless explicitly turned off
  if (bool(bp, 'use_global_stats', true)) {
    const m = blob(node, 0, 'mean', c).data;
    const v = blob(node, 1, 'variance', c).data;
    const f = blob(node, 2, 'moving-average factor').data[0];
    const sf = f === 0 ? 0 : 1 / f;
    for (let i = 0; i < c; i++) {
      mean[i] = m[i] * sf;
      vari[i] = v[i] * sf;
    }
  } else {
    const cnt = n * dim;
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < c; ch++) {
        const off = (b * c + ch) * dim;
        for (let i = 0; i < dim; i++) mean[ch] += x.data[off + i];
      }
    for (let ch = 0; ch < c; ch++) mean[ch] /= cnt;
    for (let b = 0; b < n; b++)
      for (let ch = 0; ch < c; ch++) {
        const off = (b * c + ch) * dim;
        for (let i = 0; i < dim; i++) {
          const d = x.data[off + i] - mean[ch];
          vari[ch] += d * d;
        }
      }
    for (let ch = 0; ch < c; ch++) vari[ch] /= cnt;
  }
  const out = allocFull(ctx, [...x.shape]);
  for (let ch = 0; ch < c; ch++) vari[ch] = M_sqrt(vari[ch] + eps);
  const X = x.data;
  const Y = out.data;
  if (fastChannelAffine(X, Y, n, c, dim, mean, vari, 'div')) return [out];
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const off = (b * c + ch) * dim;
      const end = off + dim;
      const mu = mean[ch];
      const sd = vari[ch];
      for (let i = off; i < end; i++) Y[i] = (X[i] - mu) / sd;
    }
  return [out];
};

/** BatchNorm: mean (C), variance (C), moving-average factor (1). Same shape. */
export const batchNorm = defineLayer({
  type: 'BatchNorm',
  forward: batchNormForward,
  aliases: ['BatchNormRistretto'],
  chaidnn: 'hw',
  fixed: 'affine',
  plan: 'fold',
  convFusion: 'batchnorm',
  precision: { Xilinx: X_ACT, DynamicFixed: D_BATCHNORM },
  shape: likeBottom,
  blobShapes: (node, bottoms) => {
    const c = bottom(node, bottoms, 0).length > 1 ? bottom(node, bottoms, 0)[1] : 1;
    return [[c], [c], [1]];
  },
  params: (node, bottoms) => {
    const b = bottom(node, bottoms, 0);
    return 2 * (b.length > 1 ? b[1] : 1) + 1;
  },
  /** one multiply per element (x - mean) * inv_std */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)),
});
