import type { LayerDef } from './types';
import { check, rep, sub } from './params';
import { X_INPUT, NO_PRECISION } from './precision';

/** DummyData: shape (once or per top), or the legacy num/channels/height/width lists. */
export const dummyData: LayerDef = {
  type: 'DummyData',
  chaidnn: 'hw',
  precision: { Xilinx: X_INPUT, DynamicFixed: NO_PRECISION.DynamicFixed },
  shape(node) {
    const p = sub(node, 'dummy_data_param');
    const n = node.tops.length;
    const shapes = rep<any>(p.shape).map((s) => rep<number>(s?.dim).map(Number));
    if (shapes.length > 0) {
      check(node, shapes.length === 1 || shapes.length === n, 'shape must be specified once, or once per top blob');
      return node.tops.map((_, i) => shapes[shapes.length === 1 ? 0 : i].slice());
    }
    const legacy = ['num', 'channels', 'height', 'width'].map((f) => rep<number>(p[f]).map(Number));
    for (const l of legacy) check(node, l.length === 1 || l.length === n, 'num/channels/height/width must be given once, or once per top');
    return node.tops.map((_, i) => legacy.map((l) => l[l.length === 1 ? 0 : i]));
  },
  params: () => 0,
  macs: () => 0,
};
