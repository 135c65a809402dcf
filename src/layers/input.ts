import { defineLayer } from './define';
import type { LayerParam, Msg } from '../proto/message';
import { check, rep, sub } from './params';
import { X_INPUT } from './precision';
import type { LayerNode } from './types';

/** input_param.shape (one for all tops, or one per top), InputLayer::LayerSetUp; undefined when absent. */
export function inputParamShapes(node: LayerNode): number[][] | undefined {
  const shapes = rep<any>(sub(node, 'input_param').shape).map((s) => rep<number>(s?.dim).map(Number));
  if (shapes.length === 0) return undefined;
  check(node, shapes.length === 1 || shapes.length === node.tops.length,
    'input_param.shape must be specified once, or once per top blob');
  for (const s of shapes) check(node, s.every((d) => Number.isInteger(d) && d >= 0), `bad input shape (${s.join(',')})`);
  return node.tops.map((_, i) => shapes[shapes.length === 1 ? 0 : i].slice());
}

/** input_param.shape dims, one list per top (-1-free; [] when the shape is not given); undefined without input_param.shape. */
export function injectedInputShapes(l: LayerParam): number[][] | undefined {
  const shapes = list<Msg>(l.input_param?.shape);
  if (shapes.length === 0) return undefined;
  return list<string>(l.top).map((_, i) => list<number>((shapes.length === 1 ? shapes[0] : shapes[i])?.dim).map(Number));
}

function list<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** Input: the net's input blob(s); the input quantizer in CHaiDNN (bw/th_layer_out only). */
export const input = defineLayer({
  type: 'Input',
  chaidnn: 'hw',
  plan: 'none',
  source: { shapes: (l) => injectedInputShapes(l) ?? list<string>(l.top).map(() => []), allTopsInputs: true },
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
  shape(node) {
    const s = inputParamShapes(node);
    check(node, s !== undefined, 'Input layer without input_param.shape');
    return s!;
  },
});
