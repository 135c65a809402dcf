import { defineLayer } from './define';
import { count, enumName, fail, likeBottom, bottom, num, sub } from './params';
import { alloc, need, type Forward } from './forward';
import { fastLrnAcross075 } from '../kernels/fastops';

// module-level aliases: global lookups are slow inside jest's vm context
const { max: M_max, min: M_min, pow: M_pow, sqrt: M_sqrt } = Math;

const lrnForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  if (x.shape.length !== 4) fail(node, `expects a 4-D bottom, got (${x.shape})`);
  const lp = sub(node, 'lrn_param');
  const size = num(lp, 'local_size', 5);
  const alpha = num(lp, 'alpha', 1);
  const beta = num(lp, 'beta', 0.75);
  const k = num(lp, 'k', 1);
  if (size % 2 !== 1) fail(node, 'LRN local_size must be odd');
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const out = alloc(ctx, [...x.shape]);
  const X = x.data;
  if (enumName(lp, 'norm_region', ['ACROSS_CHANNELS', 'WITHIN_CHANNEL'], 'ACROSS_CHANNELS') === 'ACROSS_CHANNELS') {
    const pre = (size - 1) / 2;
    const Y = out.data;
    const a = alpha / size;
    // squares once (exact in double), window sums row-wise in the same channel order: same values,
    // sequential memory instead of `size` strided loads per output
    if (beta === 0.75 && fastLrnAcross075(X, Y, n, c, hw, size, k, a)) return [out];
    const sq = new Float64Array(c * hw);
    const acc = new Float64Array(hw);
    for (let b = 0; b < n; b++) {
      const xo = b * c * hw;
      for (let i = 0; i < c * hw; i++) {
        const v = X[xo + i];
        sq[i] = v * v;
      }
      for (let ch = 0; ch < c; ch++) {
        const lo = M_max(0, ch - pre);
        const hi = M_min(c, ch - pre + size);
        acc.fill(0);
        for (let cc = lo; cc < hi; cc++) {
          const so = cc * hw;
          for (let p = 0; p < hw; p++) acc[p] += sq[so + p];
        }
        const o = xo + ch * hw;
        if (beta === 0.75) {
          // x^-0.75 = 1/(√x·√√x): ~10x cheaper than pow, within an ulp of it in double
          for (let p = 0; p < hw; p++) {
            const t = k + a * acc[p];
            const r = M_sqrt(t);
            Y[o + p] = X[o + p] / (r * M_sqrt(r));
          }
        } else for (let p = 0; p < hw; p++) Y[o + p] = X[o + p] * M_pow(k + a * acc[p], -beta);
      }
    }
  } else {
    // WITHIN_CHANNEL (Caffe builds it from Power/Pooling layers): AVE pool of x² over size×size with
    // pad (size-1)/2 divides by size² everywhere, then (1 + alpha·avg)^-beta (shift 1, not k)
    const pad = (size - 1) / 2;
    for (let bc = 0; bc < n * c; bc++) {
      const off = bc * hw;
      for (let yy = 0; yy < h; yy++)
        for (let xx = 0; xx < w; xx++) {
          let hs = yy - pad;
          let ws = xx - pad;
          let he = M_min(hs + size, h + pad);
          let we = M_min(ws + size, w + pad);
          const cnt = (he - hs) * (we - ws);
          hs = M_max(hs, 0);
          ws = M_max(ws, 0);
          he = M_min(he, h);
          we = M_min(we, w);
          let s = 0;
          for (let a = hs; a < he; a++)
            for (let bb = ws; bb < we; bb++) {
              const v = X[off + a * w + bb];
              s += v * v;
            }
          const i = off + yy * w + xx;
          out.data[i] = X[i] * M_pow(1 + alpha * (s / cnt), -beta);
        }
    }
  }
  return [out];
};

/** LRN ACROSS_CHANNELS / WITHIN_CHANNEL; same shape. CHaiDNN has LRN commented out (chaidnn-semantics §3.1). */
export const lrn = defineLayer({
  type: 'LRN',
  forward: lrnForward,
  aliases: ['LRNRistretto'],
  chaidnn: 'unsupported',
  progressive: 'bottom',
  plan: 'pass',
  // the denominator k + alpha·avg(x²) is unchanged for f·x when alpha becomes alpha/f²
  rescale: {
    kind: 'equivariant',
    adjust(param, f) {
      const lp = (param.lrn_param ??= {});
      lp.alpha = Math.fround((lp.alpha ?? 1) / (f * f));
    },
  },
  shape: likeBottom,
  /** local_size squares accumulated per element */
  macs: (node, bottoms) => count(bottom(node, bottoms, 0)) * num(sub(node, 'lrn_param'), 'local_size', 5),
});
