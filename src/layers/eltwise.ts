import { defineLayer } from './define';
import { check, count, fail, nums, sameShape, bottom, fmt, sub, enumName } from './params';
import { D_ACT, X_ACT } from './precision';
import type { LayerNode } from './types';
import { allocFull, need, type Forward } from './forward';
import { fastAdd2 } from '../kernels/fastops';

const OPERATIONS = ['PROD', 'SUM', 'MAX'];

/** eltwise_param.operation by name (default SUM). */
export function eltwiseOperation(node: LayerNode): string {
  return enumName(sub(node, 'eltwise_param'), 'operation', OPERATIONS, 'SUM');
}

const eltwiseForward: Forward = (node, bottoms, ctx) => {
  need(node, bottoms, 2);
  const ep = sub(node, 'eltwise_param');
  const op = eltwiseOperation(node);
  const coeff = nums(ep, 'coeff');
  if (coeff.length && (op !== 'SUM' || coeff.length !== bottoms.length)) {
    fail(node, 'eltwise coeff needs operation SUM and one coefficient per bottom');
  }
  const n = bottoms[0].data.length;
  for (const b of bottoms)
    if (b.data.length !== n || b.shape.join() !== bottoms[0].shape.join()) fail(node, `bottom shapes differ: (${bottoms[0].shape}) vs (${b.shape})`);
  const out = allocFull(ctx, [...bottoms[0].shape]); // every path writes all of it
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

/** Eltwise PROD / SUM (with coeff) / MAX; all bottoms have one shape. */
export const eltwise = defineLayer({
  type: 'Eltwise',
  forward: eltwiseForward,
  aliases: ['EltwiseRistretto'],
  chaidnn: 'hw',
  fixed: 'eltwise',
  residualAdd: true,
  plan: 'shared-max',
  rescale: { kind: 'equivariant', when: (node) => eltwiseOperation(node) !== 'PROD' },
  precision: { Xilinx: X_ACT, DynamicFixed: D_ACT },
  shape(node, bottoms) {
    const b0 = bottom(node, bottoms, 0);
    for (let i = 1; i < bottoms.length; i++) {
      check(node, sameShape(bottoms[i], b0), `bottom[${i}] has shape ${fmt(bottoms[i])}, bottom[0] has ${fmt(b0)}`);
    }
    return node.tops.map(() => b0.slice());
  },
  /** PROD: one multiply per element per extra bottom; SUM/MAX: 0 (adds/compares) */
  macs(node, bottoms, tops) {
    const op = eltwiseOperation(node);
    return op === 'PROD' && tops[0] ? count(tops[0]) * Math.max(0, bottoms.length - 1) : 0;
  },
});
