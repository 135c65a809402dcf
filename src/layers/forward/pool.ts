import type { LayerNode } from '../types';
import type { Tensor } from '../../tensor';
import type { ForwardContext } from '../types';
import { allocFull, arr, bool, fail, need, num, pm } from './util';
import { fastPool } from '../../kernels/fastops';
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
  const { oh, ow, method } = g;
  if (method !== 'MAX' && method !== 'AVE' && method !== 'STOCHASTIC') fail(node, `unknown pooling method ${method}`);
  const out = allocFull([n, c, oh, ow]); // every output is written
  const X = x.data;
  const Y = out.data;
  if (method !== 'STOCHASTIC' && fastPool(method, X, Y, n * c, h, w, g)) return [out];
  // one method per call: monomorphic loops (the method test per output cost ~4x)
  for (let nc = 0; nc < n * c; nc++) {
    if (method === 'MAX') maxPlane(X, nc * h * w, Y, nc * oh * ow, h, w, g);
    else if (method === 'AVE') avePlane(X, nc * h * w, Y, nc * oh * ow, h, w, g);
    else stochasticPlane(X, nc * h * w, Y, nc * oh * ow, h, w, g);
  }
  return [out];
}

type Geom = ReturnType<typeof poolGeom>;

let rowMax = new Float32Array(0);

function maxPlane(X: Float32Array, xo: number, Y: Float32Array, yo: number, h: number, w: number, g: Geom): void {
  const { kh, kw, ph, pw, sh, sw, oh, ow } = g;
  if (sh < kh) {
    // overlapping windows (3x3 stride 1 in every Inception block): separable, window max over each input
    // row first, then over kh rows; max is order-free, so the values are the same
    if (rowMax.length < h * ow) rowMax = new Float32Array(h * ow);
    const R = rowMax;
    for (let yy = 0; yy < h; yy++) {
      const r = xo + yy * w;
      for (let px = 0; px < ow; px++) {
        let ws = px * sw - pw;
        const we = M_min(ws + kw, w);
        ws = M_max(ws, 0);
        let v = NEG_INF;
        for (let i = r + ws, e = r + we; i < e; i++) {
          const t = X[i];
          if (t > v) v = t;
        }
        R[yy * ow + px] = v;
      }
    }
    for (let py = 0; py < oh; py++) {
      let hs = py * sh - ph;
      const he = M_min(hs + kh, h);
      hs = M_max(hs, 0);
      const yr = yo + py * ow;
      for (let px = 0; px < ow; px++) {
        let v = NEG_INF;
        for (let yy = hs; yy < he; yy++) {
          const t = R[yy * ow + px];
          if (t > v) v = t;
        }
        Y[yr + px] = v === NEG_INF ? -3.4028234663852886e38 : v;
      }
    }
    return;
  }
  for (let py = 0; py < oh; py++) {
    let hs = py * sh - ph;
    const he = M_min(hs + kh, h);
    hs = M_max(hs, 0);
    const yr = yo + py * ow;
    for (let px = 0; px < ow; px++) {
      let ws = px * sw - pw;
      const we = M_min(ws + kw, w);
      ws = M_max(ws, 0);
      let v = NEG_INF;
      for (let yy = hs; yy < he; yy++) {
        const r = xo + yy * w;
        for (let i = r + ws, e = r + we; i < e; i++) {
          const t = X[i];
          if (t > v) v = t;
        }
      }
      Y[yr + px] = v === NEG_INF ? -3.4028234663852886e38 : v; // Caffe initialises with -FLT_MAX
    }
  }
}

function avePlane(X: Float32Array, xo: number, Y: Float32Array, yo: number, h: number, w: number, g: Geom): void {
  const { kh, kw, ph, pw, sh, sw, oh, ow } = g;
  for (let py = 0; py < oh; py++) {
    let hs = py * sh - ph;
    let he = M_min(hs + kh, h + ph);
    const hsize = he - hs;
    hs = M_max(hs, 0);
    he = M_min(he, h);
    const yr = yo + py * ow;
    for (let px = 0; px < ow; px++) {
      let ws = px * sw - pw;
      let we = M_min(ws + kw, w + pw);
      // divisor counts the padded window, computed BEFORE clipping to the image (Caffe)
      const size = hsize * (we - ws);
      ws = M_max(ws, 0);
      we = M_min(we, w);
      let s = 0;
      for (let yy = hs; yy < he; yy++) {
        const r = xo + yy * w;
        for (let i = r + ws, e = r + we; i < e; i++) s += X[i];
      }
      Y[yr + px] = s / size;
    }
  }
}

/** test-time stochastic pooling: probability-weighted average sum(x²)/sum(x) */
function stochasticPlane(X: Float32Array, xo: number, Y: Float32Array, yo: number, h: number, w: number, g: Geom): void {
  const { kh, kw, ph, pw, sh, sw, oh, ow } = g;
  for (let py = 0; py < oh; py++)
    for (let px = 0; px < ow; px++) {
      const hs = py * sh - ph;
      const ws = px * sw - pw;
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
      Y[yo + py * ow + px] = s > 0 ? s2 / s : 0;
    }
}
