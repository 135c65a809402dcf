import { defineLayer } from './define';
import { check, count, layerError, poolGeometry, pooledSize, bottom, fmt } from './params';
import { D_ACT, X_ACT } from './precision';
import type { LayerNode } from './types';
import { allocFull, need, type Forward } from './forward';
import { fastPool, type PoolGeom } from '../kernels/fastops';

// module-level aliases: global lookups are slow inside jest's vm context
const { max: M_max, min: M_min } = Math;
const NEG_INF = -Infinity;

/**
 * PoolingLayer::Reshape: 4-D only; ceil rounding (default) or floor; with padding the last window must
 * start inside the image. A second top (the MAX mask) has the same shape.
 */
function poolShape(node: LayerNode, bottoms: number[][]): number[][] {
  const b = bottom(node, bottoms, 0);
  check(node, b.length === 4, `input must have 4 axes (num, channels, height, width), got ${fmt(b)}`);
  const g = poolGeometry(node, b);
  const anyPad = g.pad[0] !== 0 || g.pad[1] !== 0;
  const h = pooledSize(b[2], g.kernel[0], g.stride[0], g.pad[0], g.ceil, anyPad);
  const w = pooledSize(b[3], g.kernel[1], g.stride[1], g.pad[1], g.ceil, anyPad);
  if (h <= 0 || w <= 0) throw layerError(node, `kernel larger than padded input ${fmt(b)}`);
  const top = [b[0], b[1], h, w];
  return node.tops.map(() => top.slice());
}

const poolingForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  if (x.shape.length !== 4) throw layerError(node, `expects a 4-D (N,C,H,W) bottom, got (${x.shape})`);
  const [n, c, h, w] = x.shape;
  const p = poolGeometry(node, x.shape);
  const anyPad = p.pad[0] !== 0 || p.pad[1] !== 0;
  const oh = pooledSize(h, p.kernel[0], p.stride[0], p.pad[0], p.ceil, anyPad);
  const ow = pooledSize(w, p.kernel[1], p.stride[1], p.pad[1], p.ceil, anyPad);
  if (oh <= 0 || ow <= 0) throw layerError(node, `pooling output would be empty for a ${h}x${w} input`);
  const g: PoolGeom = { kh: p.kernel[0], kw: p.kernel[1], ph: p.pad[0], pw: p.pad[1], sh: p.stride[0], sw: p.stride[1], oh, ow };
  const method = p.pool;
  if (method !== 'MAX' && method !== 'AVE' && method !== 'STOCHASTIC') throw layerError(node, `unknown pooling method ${method}`);
  const out = allocFull(ctx, [n, c, oh, ow]); // every output is written
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
};

let rowMax = new Float32Array(0);

function maxPlane(X: Float32Array, xo: number, Y: Float32Array, yo: number, h: number, w: number, g: PoolGeom): void {
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

function avePlane(X: Float32Array, xo: number, Y: Float32Array, yo: number, h: number, w: number, g: PoolGeom): void {
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
function stochasticPlane(X: Float32Array, xo: number, Y: Float32Array, yo: number, h: number, w: number, g: PoolGeom): void {
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

/** Pooling MAX / AVE / STOCHASTIC, global_pooling. */
export const pooling = defineLayer({
  type: 'Pooling',
  forward: poolingForward,
  chaidnn: 'hw',
  fixed: 'pool',
  progressive: 'bottom',
  plan: 'pass',
  /** MAX and AVE (not STOCHASTIC), once the bottom shape is known */
  channelHomogeneous(node) {
    if (!node.bottomShapes[0]) return false;
    const pool = poolGeometry(node, node.bottomShapes[0]).pool;
    return pool === 'MAX' || pool === 'AVE';
  },
  rescale: { kind: 'equivariant' },
  precision: { Xilinx: X_ACT, DynamicFixed: D_ACT },
  shape: poolShape,
  /** AVE: one accumulate per window element (kh×kw per output); MAX/STOCHASTIC: 0 (comparisons) */
  macs(node, bottoms, tops) {
    const g = poolGeometry(node, bottom(node, bottoms, 0));
    return g.pool === 'AVE' && tops[0] ? count(tops[0]) * g.kernel[0] * g.kernel[1] : 0;
  },
});
