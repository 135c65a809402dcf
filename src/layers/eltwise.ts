import { defineLayer } from './define';
import { check, count, sameShape, bottom, fmt, sub, enumName } from './params';
import { D_ACT, X_ACT } from './precision';
import { eltwiseForward } from './forward/basic';

/** Eltwise PROD / SUM (with coeff) / MAX; all bottoms have one shape. */
export const eltwise = defineLayer({
  type: 'Eltwise',
  forward: eltwiseForward,
  aliases: ['EltwiseRistretto'],
  chaidnn: 'hw',
  fixed: 'eltwise',
  residualAdd: true,
  plan: 'shared-max',
  rescale: { kind: 'equivariant', when: (node) => enumName(sub(node, 'eltwise_param'), 'operation', ['PROD', 'SUM', 'MAX'], 'SUM') !== 'PROD' },
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
    const op = enumName(sub(node, 'eltwise_param'), 'operation', ['PROD', 'SUM', 'MAX'], 'SUM');
    return op === 'PROD' && tops[0] ? count(tops[0]) * Math.max(0, bottoms.length - 1) : 0;
  },
});
