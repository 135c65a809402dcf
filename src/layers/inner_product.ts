import { defineLayer } from './define';
import { biasTerm, bool, canonicalAxis, check, count, num, sub, bottom } from './params';
import type { LayerNode } from './types';
import { alloc, blob, need, type Forward } from './forward';
import { sgemm } from '../kernels';

function geom(node: LayerNode, b: number[]) {
  const p = sub(node, 'inner_product_param');
  const axis = canonicalAxis(node, num(p, 'axis', 1), b.length);
  const N = num(p, 'num_output', 0);
  check(node, N > 0, 'num_output must be > 0');
  return { axis, N, K: count(b, axis), M: count(b, 0, axis), bias: bool(p, 'bias_term', true), transpose: bool(p, 'transpose', false) };
}

const innerProductForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 1);
  const x = bottoms[0];
  const { axis, N, M, K, transpose, bias } = geom(node, x.shape);
  const wt = blob(node, 0, 'weights', N * K);
  const out = alloc(ctx, [...x.shape.slice(0, axis), N]);
  // weights [N,K] (or [K,N] with transpose): y = x · Wᵀ
  sgemm(M, N, K, x.data, wt.data, out.data, { transB: !transpose });
  if (bias) {
    const b = blob(node, 1, 'bias', N).data;
    for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) out.data[i * N + j] += b[j];
  }
  return [out];
};

/**
 * InnerProduct: flattens axes [axis, end) into K and writes shape[0..axis) + [N].
 * Runs in software (float CBLAS GEMV on the ARM), so no precision block (chaidnn-semantics §3.1).
 */
export const innerProduct = defineLayer({
  type: 'InnerProduct',
  forward: innerProductForward,
  aliases: ['FcRistretto'],
  chaidnn: 'sw',
  progressive: 'weights',
  outputRows: (l) => !l.inner_product_param?.transpose,
  outputChannels: (l) => (l.inner_product_param?.transpose ? 'columns' : 'rows'),
  rescale: { kind: 'weighted' },
  absorbOffset: {
    biasParam: 'inner_product_param',
    /** W·d per output, d spread over each channel's spatial positions; only on axis 1 */
    add(node, W, shape, offset) {
      const ip = node.param.inner_product_param ?? {};
      if ((ip.axis ?? 1) !== 1) return undefined;
      const spatial = shape.slice(2).reduce((a, b) => a * b, 1);
      const K = shape[1] * spatial;
      const N = W.data.length / K;
      const at = ip.transpose ? (n: number, k: number) => W.data[k * N + n] : (n: number, k: number) => W.data[n * K + k];
      const add = new Float64Array(N);
      for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) add[n] += offset(Math.floor(k / spatial)) * at(n, k);
      return add;
    },
  },
  shape(node, bottoms) {
    const b = bottom(node, bottoms, 0);
    const g = geom(node, b);
    return node.tops.map(() => [...b.slice(0, g.axis), g.N]);
  },
  blobShapes(node, bottoms) {
    const g = geom(node, bottom(node, bottoms, 0));
    const w = g.transpose ? [g.K, g.N] : [g.N, g.K];
    return g.bias ? [w, [g.N]] : [w];
  },
  blobShapesFromParams(l) {
    const c = l.inner_product_param ?? {};
    const n = Number(c.num_output ?? 0);
    const t = c.transpose === true || c.transpose === 'true';
    const w = t ? [-1, n] : [n, -1];
    return biasTerm(c) ? [w, [n]] : [w];
  },
  params(node, bottoms) {
    const g = geom(node, bottom(node, bottoms, 0));
    return g.N * g.K + (g.bias ? g.N : 0);
  },
  /** M × N × K */
  macs(node, bottoms) {
    const g = geom(node, bottom(node, bottoms, 0));
    return g.M * g.N * g.K;
  },
});
