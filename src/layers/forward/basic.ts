import type { LayerNode } from '../types';
import type { Tensor } from '../../tensor';
import type { ForwardContext } from '../types';
import { alloc, allocFull, arr, blob, bool, canonAxis, fail, need, num, pm, prod, view } from './util';
import { fastAdd2, fastChannelAffine, fastLrnAcross075, fastRelu } from '../../kernels/fastops';
// module-level aliases: global lookups are slow inside jest's vm context
const { abs: M_abs, exp: M_exp, log: M_log, max: M_max, min: M_min, pow: M_pow, sqrt: M_sqrt, tanh: M_tanh } = Math;
const NEG_INF = -Infinity;

type Fwd = (node: LayerNode, bottoms: Tensor[], ctx: ForwardContext) => Tensor[];

function unary(f: (node: LayerNode) => (x: number) => number): Fwd {
  return (node, bottoms) => {
    need(node, bottoms, 1);
    const x = bottoms[0];
    const fn = f(node);
    const out = alloc([...x.shape]);
    const X = x.data;
    const Y = out.data;
    for (let i = 0; i < X.length; i++) Y[i] = fn(X[i]);
    return [out];
  };
}

export const reluForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const s = num(pm(node, 'relu_param').negative_slope, 0);
  const X = bottoms[0].data;
  const out = allocFull([...bottoms[0].shape]);
  const Y = out.data;
  const n = X.length;
  // same values as max(x,0) + s·min(x,0); a plain loop is ~5x faster than a per-element closure
  if (s === 0) {
    if (!fastRelu(X, Y)) for (let i = 0; i < n; i++) { const v = X[i]; Y[i] = v > 0 ? v : 0; }
  }
  else for (let i = 0; i < n; i++) { const v = X[i]; Y[i] = (v > 0 ? v : 0) + s * (v < 0 ? v : 0); }
  return [out];
};
export const sigmoidForward = unary(() => (x) => 1 / (1 + M_exp(-x)));
export const tanhForward = unary(() => (x) => M_tanh(x));
export const absValForward = unary(() => (x) => M_abs(x));
export const bnllForward = unary(() => (x) => (x > 0 ? x + M_log(1 + M_exp(-x)) : M_log(1 + M_exp(x))));
export const eluForward = unary((node) => {
  const a = num(pm(node, 'elu_param').alpha, 1);
  return (x) => (x > 0 ? x : a * (M_exp(x) - 1));
});
export const expForward = unary((node) => {
  const p = pm(node, 'exp_param');
  const base = num(p.base, -1);
  const scale = num(p.scale, 1);
  const shift = num(p.shift, 0);
  if (base !== -1 && !(base > 0)) fail(node, 'exp_param.base must be > 0 or -1 (e)');
  const lnb = base === -1 ? 1 : M_log(base);
  return (x) => M_exp(lnb * (shift + scale * x));
});
export const powerForward = unary((node) => {
  const p = pm(node, 'power_param');
  const power = num(p.power, 1);
  const scale = num(p.scale, 1);
  const shift = num(p.shift, 0);
  return (x) => M_pow(shift + scale * x, power);
});

export const identityForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  return [bottoms[0]];
};

export const splitForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  return node.tops.map(() => bottoms[0]);
};

export const silenceForward: Fwd = () => [];

export const preluForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const shared = bool(pm(node, 'prelu_param').channel_shared, false);
  const c = x.shape.length >= 2 ? x.shape[1] : 1;
  const slope = blob(node, 0, 'slopes', shared ? 1 : c).data;
  const n = x.shape[0];
  const dim = prod(x.shape, 2);
  const out = alloc([...x.shape]);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++) {
      const a = slope[shared ? 0 : ch];
      const off = (b * c + ch) * dim;
      for (let i = off; i < off + dim; i++) {
        const v = x.data[i];
        out.data[i] = v > 0 ? v : a * v;
      }
    }
  return [out];
};

export const batchNormForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const bp = pm(node, 'batch_norm_param');
  const eps = num(bp.eps, 1e-5);
  const n = x.shape[0];
  const c = x.shape.length >= 2 ? x.shape[1] : 1;
  const dim = prod(x.shape, 2);
  const mean = new Float64Array(c);
  const vari = new Float64Array(c);
  // deploy nets run in TEST phase: global stats unless explicitly turned off
  if (bool(bp.use_global_stats, true)) {
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
  const out = allocFull([...x.shape]);
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

/** outer/inner sizes for Scale/Bias: the parameter blob covers axes [axis, axis+numAxes). */
function broadcastDims(node: LayerNode, x: Tensor, axisP: number, pShapeLen: number, pCount: number) {
  const axis = pShapeLen === 0 && pCount === 1 ? 0 : canonAxis(node, axisP, x.shape.length);
  const end = axis + pShapeLen;
  if (end > x.shape.length) fail(node, `parameter blob spans axes beyond the bottom (${x.shape})`);
  const outer = prod(x.shape, 0, axis);
  const mid = prod(x.shape, axis, end);
  const inner = prod(x.shape, end);
  if (mid !== pCount) fail(node, `parameter has ${pCount} values but bottom axes [${axis},${end}) of (${x.shape}) hold ${mid}`);
  return { outer, mid, inner };
}

function paramShapeLen(node: LayerNode, x: Tensor, axis: number, numAxes: number): number {
  const a = canonAxis(node, axis, x.shape.length);
  return numAxes === -1 ? x.shape.length - a : numAxes;
}

export const scaleForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const sp = pm(node, 'scale_param');
  const axisP = num(sp.axis, 1);
  let scale: Float32Array;
  let len: number;
  let biasBlobIdx: number;
  if (bottoms.length >= 2) {
    scale = bottoms[1].data;
    len = bottoms[1].shape.length;
    biasBlobIdx = 0;
  } else {
    len = paramShapeLen(node, x, axisP, num(sp.num_axes, 1));
    scale = blob(node, 0, 'scale').data;
    biasBlobIdx = 1;
  }
  const { outer, mid, inner } = broadcastDims(node, x, axisP, len, scale.length);
  const bias = bool(sp.bias_term, false) ? blob(node, biasBlobIdx, 'bias', mid).data : undefined;
  const out = allocFull([...x.shape]);
  const X = x.data;
  const Y = out.data;
  if (fastChannelAffine(X, Y, outer, mid, inner, scale, bias ?? new Float64Array(mid), 'muladd')) return [out];
  for (let o = 0; o < outer; o++)
    for (let m = 0; m < mid; m++) {
      const s = scale[m];
      const bv = bias ? bias[m] : 0;
      const off = (o * mid + m) * inner;
      const end = off + inner;
      for (let i = off; i < end; i++) Y[i] = X[i] * s + bv;
    }
  return [out];
};

export const biasForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const bp = pm(node, 'bias_param');
  const axisP = num(bp.axis, 1);
  let bias: Float32Array;
  let len: number;
  if (bottoms.length >= 2) {
    bias = bottoms[1].data;
    len = bottoms[1].shape.length;
  } else {
    len = paramShapeLen(node, x, axisP, num(bp.num_axes, 1));
    bias = blob(node, 0, 'bias').data;
  }
  const { outer, mid, inner } = broadcastDims(node, x, axisP, len, bias.length);
  const out = alloc([...x.shape]);
  const X = x.data;
  const Y = out.data;
  for (let o = 0; o < outer; o++)
    for (let m = 0; m < mid; m++) {
      const off = (o * mid + m) * inner;
      const end = off + inner;
      const bv = bias[m];
      for (let i = off; i < end; i++) Y[i] = X[i] + bv;
    }
  return [out];
};

export const eltwiseForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 2);
  const ep = pm(node, 'eltwise_param');
  const op = String(ep.operation ?? 'SUM');
  const coeff = arr(ep.coeff);
  if (coeff.length && (op !== 'SUM' || coeff.length !== bottoms.length)) {
    fail(node, 'eltwise coeff needs operation SUM and one coefficient per bottom');
  }
  const n = bottoms[0].data.length;
  for (const b of bottoms)
    if (b.data.length !== n || b.shape.join() !== bottoms[0].shape.join()) fail(node, `bottom shapes differ: (${bottoms[0].shape}) vs (${b.shape})`);
  const out = allocFull([...bottoms[0].shape]); // every path writes all of it
  const Y = out.data;
  if (op === 'SUM') {
    // double accumulation in bottom order, as before; two bottoms (ResNet) without a temporary
    const cf = (k: number): number => (coeff.length ? coeff[k] : 1);
    if (bottoms.length === 2) {
      const A = bottoms[0].data;
      const B = bottoms[1].data;
      const ca = cf(0);
      const cb = cf(1);
      if (ca === 1 && cb === 1) {
        if (!fastAdd2(A, B, Y)) for (let i = 0; i < n; i++) Y[i] = A[i] + B[i];
      }
      else for (let i = 0; i < n; i++) Y[i] = ca * A[i] + cb * B[i];
    } else {
      const acc = new Float64Array(n);
      for (let k = 0; k < bottoms.length; k++) {
        const c = cf(k);
        const D = bottoms[k].data;
        for (let i = 0; i < n; i++) acc[i] += c * D[i];
      }
      Y.set(acc);
    }
  } else if (op === 'PROD') {
    Y.set(bottoms[0].data);
    for (let k = 1; k < bottoms.length; k++) for (let i = 0; i < n; i++) Y[i] *= bottoms[k].data[i];
  } else if (op === 'MAX') {
    Y.set(bottoms[0].data);
    for (let k = 1; k < bottoms.length; k++) for (let i = 0; i < n; i++) if (bottoms[k].data[i] > Y[i]) Y[i] = bottoms[k].data[i];
  } else fail(node, `unknown eltwise operation ${op}`);
  return [out];
};

export const concatForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const cp = pm(node, 'concat_param');
  const s0 = bottoms[0].shape;
  const axis = cp.concat_dim !== undefined && cp.axis === undefined ? num(cp.concat_dim, 1) : canonAxis(node, num(cp.axis, 1), s0.length);
  const shape = [...s0];
  shape[axis] = 0;
  for (const b of bottoms) {
    if (b.shape.length !== s0.length || b.shape.some((d, i) => i !== axis && d !== s0[i])) {
      fail(node, `bottom shapes (${s0}) and (${b.shape}) differ outside the concat axis ${axis}`);
    }
    shape[axis] += b.shape[axis];
  }
  const out = alloc(shape);
  const outer = prod(s0, 0, axis);
  const inner = prod(s0, axis + 1);
  const rowOut = shape[axis] * inner;
  let offAx = 0;
  for (const b of bottoms) {
    const rowIn = b.shape[axis] * inner;
    for (let o = 0; o < outer; o++) out.data.set(b.data.subarray(o * rowIn, (o + 1) * rowIn), o * rowOut + offAx * inner);
    offAx += b.shape[axis];
  }
  return [out];
};

export const sliceForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const sp = pm(node, 'slice_param');
  const axis = sp.slice_dim !== undefined && sp.axis === undefined ? num(sp.slice_dim, 1) : canonAxis(node, num(sp.axis, 1), x.shape.length);
  const dimAx = x.shape[axis];
  const nTop = node.tops.length;
  const points = arr(sp.slice_point);
  const sizes: number[] = [];
  if (points.length) {
    if (points.length !== nTop - 1) fail(node, `${points.length} slice_point(s) for ${nTop} tops`);
    let prev = 0;
    for (const p of points) {
      if (p <= prev && sizes.length > 0) fail(node, 'slice_point values must increase');
      sizes.push(p - prev);
      prev = p;
    }
    sizes.push(dimAx - prev);
  } else {
    if (dimAx % nTop !== 0) fail(node, `axis ${axis} size ${dimAx} not divisible into ${nTop} tops`);
    for (let i = 0; i < nTop; i++) sizes.push(dimAx / nTop);
  }
  if (sizes.some((s) => s <= 0)) fail(node, `slice points out of range for axis size ${dimAx}`);
  const outer = prod(x.shape, 0, axis);
  const inner = prod(x.shape, axis + 1);
  const tops: Tensor[] = [];
  let off = 0;
  for (const s of sizes) {
    const shape = [...x.shape];
    shape[axis] = s;
    const t = alloc(shape);
    for (let oo = 0; oo < outer; oo++) t.data.set(x.data.subarray((oo * dimAx + off) * inner, (oo * dimAx + off + s) * inner), oo * s * inner);
    off += s;
    tops.push(t);
  }
  return tops;
};

export const softmaxForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const axis = canonAxis(node, num(pm(node, 'softmax_param').axis, 1), x.shape.length);
  const outer = prod(x.shape, 0, axis);
  const ch = x.shape[axis];
  const inner = prod(x.shape, axis + 1);
  const out = alloc([...x.shape]);
  const e = new Float64Array(ch);
  for (let oo = 0; oo < outer; oo++)
    for (let i = 0; i < inner; i++) {
      const base = oo * ch * inner + i;
      let m = NEG_INF;
      for (let c = 0; c < ch; c++) m = M_max(m, x.data[base + c * inner]);
      let s = 0;
      for (let c = 0; c < ch; c++) s += e[c] = M_exp(x.data[base + c * inner] - m);
      for (let c = 0; c < ch; c++) out.data[base + c * inner] = e[c] / s;
    }
  return [out];
};

export const flattenForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const fp = pm(node, 'flatten_param');
  const a = canonAxis(node, num(fp.axis, 1), x.shape.length);
  const e = canonAxis(node, num(fp.end_axis, -1), x.shape.length);
  return [view(x, [...x.shape.slice(0, a), prod(x.shape, a, e + 1), ...x.shape.slice(e + 1)])];
};

export const reshapeForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const rp = pm(node, 'reshape_param');
  const dims = arr(rp.shape?.dim);
  const nAx = x.shape.length;
  const axisP = num(rp.axis, 0);
  const start = axisP < 0 ? nAx + axisP + 1 : axisP;
  if (start < 0 || start > nAx) fail(node, `reshape axis ${axisP} out of range`);
  const numAxes = num(rp.num_axes, -1);
  const end = numAxes === -1 ? nAx : start + numAxes;
  if (end > nAx) fail(node, 'reshape num_axes out of range');
  const mid: number[] = [];
  let infer = -1;
  dims.forEach((d, i) => {
    if (d === 0) {
      if (start + i >= nAx) fail(node, `dim ${i} is 0 (copy) but the bottom has no axis ${start + i}`);
      mid.push(x.shape[start + i]);
    } else if (d === -1) {
      if (infer >= 0) fail(node, 'at most one -1 in reshape_param.shape');
      infer = mid.length;
      mid.push(1);
    } else mid.push(d);
  });
  const shape = [...x.shape.slice(0, start), ...mid, ...x.shape.slice(end)];
  const known = prod(shape);
  if (infer >= 0) {
    if (known === 0 || x.data.length % known !== 0) fail(node, `cannot infer -1: ${x.data.length} values into (${shape})`);
    shape[start + infer] = x.data.length / known;
  }
  if (prod(shape) !== x.data.length) fail(node, `cannot reshape (${x.shape}) to (${shape})`);
  return [view(x, shape)];
};

export const permuteForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const nAx = x.shape.length;
  const order: number[] = [];
  for (const o of arr(pm(node, 'permute_param').order)) {
    const a = canonAxis(node, o, nAx);
    if (order.includes(a)) fail(node, `permute order repeats axis ${a}`);
    order.push(a);
  }
  for (let i = 0; i < nAx; i++) if (!order.includes(i)) order.push(i);
  const shape = order.map((a) => x.shape[a]);
  if (order.every((a, i) => a === i)) return [view(x, shape)];
  const out = alloc(shape);
  const inStride = new Array(nAx).fill(1);
  for (let i = nAx - 2; i >= 0; i--) inStride[i] = inStride[i + 1] * x.shape[i + 1];
  const st = order.map((a) => inStride[a]);
  const idx = new Array(nAx).fill(0);
  const n = out.data.length;
  let src = 0;
  for (let i = 0; i < n; i++) {
    out.data[i] = x.data[src];
    for (let d = nAx - 1; d >= 0; d--) {
      idx[d]++;
      src += st[d];
      if (idx[d] < shape[d]) break;
      src -= st[d] * shape[d];
      idx[d] = 0;
    }
  }
  return [out];
};

export const cropForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 2);
  const [x, ref] = bottoms;
  const cp = pm(node, 'crop_param');
  const nAx = x.shape.length;
  const axis = canonAxis(node, num(cp.axis, 2), nAx);
  const offs = arr(cp.offset);
  if (offs.length > 1 && offs.length !== nAx - axis) fail(node, `crop offset has ${offs.length} values, expected 1 or ${nAx - axis}`);
  const shape = [...x.shape];
  const off = new Array(nAx).fill(0);
  for (let i = axis; i < nAx; i++) {
    shape[i] = ref.shape[i];
    off[i] = offs.length === 0 ? 0 : offs.length === 1 ? offs[0] : offs[i - axis];
    if (off[i] + shape[i] > x.shape[i]) fail(node, `crop of axis ${i} (offset ${off[i]} + ${shape[i]}) exceeds bottom size ${x.shape[i]}`);
  }
  const out = alloc(shape);
  const inStride = new Array(nAx).fill(1);
  for (let i = nAx - 2; i >= 0; i--) inStride[i] = inStride[i + 1] * x.shape[i + 1];
  const last = shape[nAx - 1];
  const rows = out.data.length / last;
  const idx = new Array(nAx - 1).fill(0);
  for (let r = 0; r < rows; r++) {
    let src = off[nAx - 1];
    for (let d = 0; d < nAx - 1; d++) src += (idx[d] + off[d]) * inStride[d];
    out.data.set(x.data.subarray(src, src + last), r * last);
    for (let d = nAx - 2; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return [out];
};

export const argMaxForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const ap = pm(node, 'argmax_param');
  const outMax = bool(ap.out_max_val, false);
  const topK = num(ap.top_k, 1);
  const hasAxis = ap.axis !== undefined;
  const nAx = x.shape.length;
  let outer: number, dim: number, inner: number;
  let shape: number[];
  if (hasAxis) {
    const a = canonAxis(node, num(ap.axis, 0), nAx);
    outer = prod(x.shape, 0, a);
    dim = x.shape[a];
    inner = prod(x.shape, a + 1);
    shape = [...x.shape];
    shape[a] = topK;
  } else {
    outer = x.shape[0];
    dim = x.data.length / outer;
    inner = 1;
    shape = new Array(M_max(3, nAx)).fill(1);
    shape[0] = outer;
    shape[2] = topK;
    if (outMax) shape[1] = 2;
  }
  if (topK < 1 || topK > dim) fail(node, `top_k ${topK} must be in [1, ${dim}]`);
  const out = alloc(shape);
  const pairs: [number, number][] = new Array(dim);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      for (let j = 0; j < dim; j++) pairs[j] = [x.data[(o * dim + j) * inner + i], j];
      // std::greater on (value, index) pairs: larger value first, ties → larger index first
      pairs.sort((a, b) => b[0] - a[0] || b[1] - a[1]);
      for (let k = 0; k < topK; k++) {
        if (hasAxis) out.data[(o * topK + k) * inner + i] = outMax ? pairs[k][0] : pairs[k][1];
        else if (outMax) {
          out.data[o * 2 * topK + k] = pairs[k][1];
          out.data[o * 2 * topK + topK + k] = pairs[k][0];
        } else out.data[o * topK + k] = pairs[k][1];
      }
    }
  return [out];
};

export const lrnForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  if (x.shape.length !== 4) fail(node, `expects a 4-D bottom, got (${x.shape})`);
  const lp = pm(node, 'lrn_param');
  const size = num(lp.local_size, 5);
  const alpha = num(lp.alpha, 1);
  const beta = num(lp.beta, 0.75);
  const k = num(lp.k, 1);
  if (size % 2 !== 1) fail(node, 'LRN local_size must be odd');
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const out = alloc([...x.shape]);
  const X = x.data;
  if (String(lp.norm_region ?? 'ACROSS_CHANNELS') === 'ACROSS_CHANNELS') {
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

/** SSD Normalize: L2 over C·H·W (across_spatial) or over C per position, eps inside the sqrt, then scale. */
export const normalizeForward: Fwd = (node, bottoms) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const np = pm(node, 'norm_param');
  const across = bool(np.across_spatial, true);
  const shared = bool(np.channel_shared, true);
  const eps = num(np.eps, 1e-10);
  const n = x.shape[0];
  const c = x.shape[1] ?? 1;
  const sp = prod(x.shape, 2);
  const scale = blob(node, 0, 'scale', shared ? 1 : c).data;
  const out = alloc([...x.shape]);
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
