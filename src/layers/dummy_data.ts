import { defineLayer } from './define';
import type { Msg } from '../proto/message';
import { list } from './data';
import { check, rep, sub } from './params';
import { X_INPUT } from './precision';

/** DummyData: shape (once or per top), or the legacy num/channels/height/width lists. */
export const dummyData = defineLayer({
  type: 'DummyData',
  chaidnn: 'hw',
  plan: 'none',
  source: {
    shapes(l) {
      const p = l.dummy_data_param ?? {};
      const tops = list<string>(l.top);
      const dims = (m: Msg | undefined) => list<number>(m?.dim).map(Number);
      const shapes = list<Msg>(p.shape);
      if (shapes.length) return tops.map((_, i) => dims(shapes.length === 1 ? shapes[0] : shapes[i]));
      const legacy = ['num', 'channels', 'height', 'width'].map((f) => list<number>(p[f]).map(Number));
      return tops.map((_, i) => legacy.map((v) => (v.length === 1 ? v[0] : (v[i] ?? -1))));
    },
  },
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
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
});
