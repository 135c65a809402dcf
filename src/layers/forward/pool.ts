import type { LayerNode } from '../../graph/types';
import type { Tensor } from '../../tensor';
import type { ForwardContext } from '../types';
import { alloc, arr, bool, fail, need, num, pm } from './util';
// module-level aliases: global lookups are slow inside jest's vm context
const { ceil: M_ceil, floor: M_floor, max: M_max, min: M_min } = Math;
const NEG_INF = -Infinity;

/** Caffe's pooling geometry: ceil-mode output, minus one when the last window starts in the padding. */
export function poolGeom(node: LayerNode, h: number, w: number) {
  const pp = pm(node, 'pooling_param');
  const global = bool(pp.global_pooling, false);
  let kh: number, kw: number;
  if (global) {
    kh = h;
    kw = w;
  } else if (pp.kernel_h !== undefined || pp.kernel_w !== undefined) {
    kh = num(pp.kernel_h, 0);
    kw = num(pp.kernel_w, 0);
  } else {
    const k = arr(pp.kernel_size);
    kh = k[0] ?? 0;
    kw = k[1] ?? k[0] ?? 0;
  }
  if (!(kh > 0 && kw > 0)) fail(node, 'pooling kernel size must be > 0');
  const padL = arr(pp.pad);
  const ph = global ? 0 : pp.pad_h !== undefined ? num(pp.pad_h, 0) : padL[0] ?? 0;
  const pw = global ? 0 : pp.pad_w !== undefined ? num(pp.pad_w, 0) : padL[1] ?? padL[0] ?? 0;
  const stL = arr(pp.stride);
  const sh = global ? 1 : pp.stride_h !== undefined ? num(pp.stride_h, 1) : stL[0] ?? 1;
  const sw = global ? 1 : pp.stride_w !== undefined ? num(pp.stride_w, 1) : stL[1] ?? stL[0] ?? 1;
  // fork field (densenet/resnext ports): ceil_mode: false → floor rounding
  const ceil = bool(pp.ceil_mode, true);
  const round = ceil ? Math.ceil : Math.floor;
  let oh = round((h + 2 * ph - kh) / sh) + 1;
  let ow = round((w + 2 * pw - kw) / sw) + 1;
  if (ph || pw) {
    if ((oh - 1) * sh >= h + ph) oh--;
    if ((ow - 1) * sw >= w + pw) ow--;
  }
  if (oh <= 0 || ow <= 0) fail(node, `pooling output would be empty for a ${h}x${w} input`);
  const method = String(pp.pool ?? 'MAX');
  return { kh, kw, ph, pw, sh, sw, oh, ow, method };
}

export function poolingForward(node: LayerNode, bottoms: Tensor[], _ctx: ForwardContext): Tensor[] {
  need(node, bottoms, 1);
  const x = bottoms[0];
  if (x.shape.length !== 4) fail(node, `expects a 4-D (N,C,H,W) bottom, got (${x.shape})`);
  const [n, c, h, w] = x.shape;
  const g = poolGeom(node, h, w);
  const { kh, kw, ph, pw, sh, sw, oh, ow, method } = g;
  const out = alloc([n, c, oh, ow]);
  const X = x.data;
  const Y = out.data;
  for (let nc = 0; nc < n * c; nc++) {
    const xo = nc * h * w;
    const yo = nc * oh * ow;
    for (let py = 0; py < oh; py++) {
      for (let px = 0; px < ow; px++) {
        let hs = py * sh - ph;
        let ws = px * sw - pw;
        let v: number;
        if (method === 'MAX') {
          const he = M_min(hs + kh, h);
          const we = M_min(ws + kw, w);
          hs = M_max(hs, 0);
          ws = M_max(ws, 0);
          v = NEG_INF;
          for (let yy = hs; yy < he; yy++) for (let xx = ws; xx < we; xx++) if (X[xo + yy * w + xx] > v) v = X[xo + yy * w + xx];
          if (v === NEG_INF) v = -3.4028234663852886e38; // Caffe initialises with -FLT_MAX
        } else if (method === 'AVE') {
          let he = M_min(hs + kh, h + ph);
          let we = M_min(ws + kw, w + pw);
          // divisor counts the padded window, computed BEFORE clipping to the image (Caffe)
          const size = (he - hs) * (we - ws);
          hs = M_max(hs, 0);
          ws = M_max(ws, 0);
          he = M_min(he, h);
          we = M_min(we, w);
          let s = 0;
          for (let yy = hs; yy < he; yy++) for (let xx = ws; xx < we; xx++) s += X[xo + yy * w + xx];
          v = s / size;
        } else if (method === 'STOCHASTIC') {
          // test-time stochastic pooling: probability-weighted average sum(x²)/sum(x)
          const he = M_min(hs + kh, h);
          const we = M_min(ws + kw, w);
          let s = 0;
          let s2 = 0;
          for (let yy = hs; yy < he; yy++)
            for (let xx = ws; xx < we; xx++) {
              const t = X[xo + yy * w + xx];
              s += t;
              s2 += t * t;
            }
          v = s > 0 ? s2 / s : 0;
        } else return fail(node, `unknown pooling method ${method}`);
        Y[yo + py * ow + px] = v;
      }
    }
  }
  return [out];
}
