/**
 * The layer facts the passes outside src/layers/ read instead of naming types (issue 13 acceptance 2): which
 * types declare them. They replace hard-coded type sets; these are those sets.
 */
import { allLayers, isInputLayer, lookupLayer } from '../src/layers/registry';
import type { LayerDef } from '../src/layers/types';
import type { LayerNode } from '../src/graph/types';
import { convFusion } from '../src/chaidnn/fusion';

const declaring = (has: (d: LayerDef) => boolean) => allLayers().filter(has).map((d) => d.type).sort();

test('the declared facts name the types the passes used to list', () => {
  expect(declaring((d) => d.convFusion !== undefined).map((t) => `${t}:${lookupLayer(t)!.convFusion}`))
    .toEqual(['BatchNorm:batchnorm', 'Convolution:conv', 'ReLU:relu', 'Scale:scale']);
  expect(declaring((d) => !!d.keepsValues)).toEqual(['Dropout', 'Flatten', 'Reshape', 'Split']);
  expect(declaring((d) => !!d.channelHomogeneous)).toEqual(['Pooling', 'ReLU']);
  expect(declaring((d) => !!d.absorbOffset)).toEqual(['Convolution', 'InnerProduct']);
  expect(declaring((d) => !!d.outputChannels)).toEqual(['Deconvolution', 'InnerProduct']);
  expect(declaring((d) => !!d.detections)).toEqual(['DetectionOutput']);
  expect(declaring((d) => d.fixed === 'conv')).toEqual(['Convolution']);
  expect(allLayers().map((d) => d.type).filter(isInputLayer)).toEqual(['Input']);
  expect(isInputLayer('AnnotatedData')).toBe(false);
});

test('the fusion rule reads the roles; a type without one breaks the chain', () => {
  const l = (type: string, b: string, t: string) => ({ type, bottoms: [b], tops: [t] });
  const net = [l('Input', 'x', 'x'), l('Convolution', 'x', 'c'), l('BatchNorm', 'c', 'c'), l('ReLU', 'c', 'c'), l('Scale', 'c', 'c')];
  expect(convFusion(net, 1)).toEqual({ conv: 1, folded: [2, 4], absorbed: [2, 3, 4], reluMoved: true });
  const withTanh = [net[0], net[1], l('TanH', 'c', 'c'), net[2]];
  expect(convFusion(withTanh, 1)).toBeUndefined();
});

test('pooling is homogeneous per channel for MAX and AVE only, once its bottom shape is known', () => {
  const pool = (p: string, shape?: number[]) =>
    ({ name: 'p', type: 'Pooling', bottoms: ['x'], tops: ['y'], param: { pooling_param: { pool: p, kernel_size: 2 } }, bottomShapes: [shape] }) as unknown as LayerNode;
  const h = lookupLayer('Pooling')!.channelHomogeneous!;
  expect(h(pool('MAX', [1, 2, 4, 4]))).toBe(true);
  expect(h(pool('AVE', [1, 2, 4, 4]))).toBe(true);
  expect(h(pool('STOCHASTIC', [1, 2, 4, 4]))).toBe(false);
  expect(h(pool('MAX'))).toBe(false);
});
