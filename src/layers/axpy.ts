import { defineLayer } from './define';
import { check, count, bottom, fmt, fail } from './params';
import { alloc } from './forward';
import type { ForwardContext, LayerNode } from './types';
import type { Tensor } from '../tensor';

/** SENet's Axpy (hujie-frank/SENet axpy_layer.cpp): top = a ⊙ x + y, a one scale per (n, c). */
function axpyForward(node: LayerNode, bottoms: Tensor[], ctx: ForwardContext): Tensor[] {
  if (bottoms.length !== 3) fail(node, `takes 3 bottoms (scale, x, y), got ${bottoms.length}`);
  const [a, x, y] = bottoms;
  const [N, C] = x.shape;
  const spatial = x.data.length / (N * C);
  if (a.data.length !== N * C || y.data.length !== x.data.length) fail(node, `scale ${fmt(a.shape)}, x ${fmt(x.shape)} and y ${fmt(y.shape)} do not fit`);
  const out = alloc(ctx, [...x.shape]);
  for (let nc = 0; nc < N * C; nc++) {
    const s = a.data[nc];
    for (let i = nc * spatial, e = i + spatial; i < e; i++) out.data[i] = Math.fround(s * x.data[i]) + y.data[i];
  }
  return [out];
}

/** Axpy (SENet custom layer): y = a * x + b with a (N, C, 1, 1), x and b (N, C, H, W); shape of bottom 1. */
export const axpy = defineLayer({
  type: 'Axpy',
  forward: axpyForward,
  chaidnn: 'unsupported',
  shape(node, bottoms) {
    const a = bottom(node, bottoms, 0);
    const x = bottom(node, bottoms, 1);
    const y = bottom(node, bottoms, 2);
    check(node, x.length === y.length && x.every((d, i) => d === y[i]), `x ${fmt(x)} and y ${fmt(y)} must have one shape`);
    check(node, a[0] === x[0] && a[1] === x[1], `scale ${fmt(a)} does not match x ${fmt(x)}`);
    return node.tops.map(() => x.slice());
  },
  macs: (node, bottoms) => count(bottom(node, bottoms, 1)),
});
