import * as path from 'path';
import * as fs from 'fs';
import { loadNetText } from '../src/graph/load';
import { upgradeNet, sourceVersionOf, originOf } from '../src/proto/upgrade';
import { readCaffemodel } from '../src/proto/caffemodel';
import { locOf } from '../src/proto/bind';
import type { LayerParam } from '../src/proto/message';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const P = (f: string) => path.join(CORPUS, 'prototxt', f);

/** what must survive an upgrade: names, types, wiring and the key geometry params */
function summary(layers: LayerParam[]) {
  const arr = (v: any) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  return layers.map((l) => {
    const c = l.convolution_param ?? {};
    const p = l.pooling_param ?? {};
    return {
      name: l.name,
      type: l.type,
      bottom: arr(l.bottom),
      top: arr(l.top),
      num_output: c.num_output ?? l.inner_product_param?.num_output,
      kernel: arr(c.kernel_size).concat(arr(p.kernel_size)),
      stride: arr(c.stride).concat(arr(p.stride)),
      pad: arr(c.pad).concat(arr(p.pad)),
      group: c.group,
      pool: p.pool,
      lrn: l.lrn_param && { local_size: l.lrn_param.local_size, alpha: l.lrn_param.alpha, beta: l.lrn_param.beta },
      dropout: l.dropout_param?.dropout_ratio,
      input: l.input_param?.shape?.map((s: any) => arr(s.dim)),
    };
  });
}

const pairs: [string, string, string][] = [
  ['old_v1_lenet.prototxt', 'lenet.prototxt', 'V1'],
  ['old_v1_bvlc_reference_caffenet.prototxt', 'bvlc_reference_caffenet.prototxt', 'V1'],
  ['old_v1_bvlc_googlenet.prototxt', 'bvlc_googlenet.prototxt', 'V1'],
  ['old_v1_cifar10_quick.prototxt', 'cifar10_quick.prototxt', 'V1'],
  ['old_inputdim_lenet.prototxt', 'lenet.prototxt', 'V2'],
  ['old_inputdim_bvlc_alexnet.prototxt', 'bvlc_alexnet.prototxt', 'V2'],
  ['old_inputshape_bvlc_reference_caffenet.prototxt', 'bvlc_reference_caffenet.prototxt', 'V2'],
];

describe('old nets upgrade to the same layer list as their modern counterpart', () => {
  test.each(pairs)('%s ≡ %s', (oldF, newF, ver) => {
    const o = loadNetText(P(oldF));
    const n = loadNetText(P(newF));
    expect(o.sourceVersion).toBe(ver);
    expect(sourceVersionOf(o.net)).toBe(ver);
    expect(o.inputUpgraded).toBe(true);
    expect(o.net.layers).toBeUndefined();
    expect(o.net.input).toBeUndefined();
    const so = summary(o.net.layer);
    const sn = summary(n.net.layer);
    // the made-up Input layer is called "input"; the modern files call theirs "data"
    so[0].name = sn[0].name;
    expect(so).toEqual(sn);
  });
});

test('every old_* file in the corpus upgrades', () => {
  const olds = fs.readdirSync(path.join(CORPUS, 'prototxt')).filter((f) => f.startsWith('old_'));
  expect(olds.length).toBeGreaterThanOrEqual(10);
  for (const f of olds) {
    const r = loadNetText(P(f));
    expect(r.net.layer.length).toBeGreaterThan(3);
    expect(r.net.layer[0].type).toBe('Input');
    for (const l of r.net.layer) {
      expect(typeof l.type).toBe('string');
      expect(l.type).toMatch(/^[A-Z]/);
    }
    expect(r.sourceVersion).toBe(f.startsWith('old_v0') ? 'V0' : f.startsWith('old_v1') ? 'V1' : 'V2');
  }
});

test('V0 lenet: conv/pool/innerproduct params land in V2 params, blobs_lr → param.lr_mult', () => {
  const r = loadNetText(P('old_v0_lenet.prototxt'));
  const byName = new Map(r.net.layer.map((l) => [l.name, l]));
  expect(r.net.layer.map((l) => l.type)).toEqual(['Input', 'Convolution', 'Pooling', 'Convolution', 'Pooling', 'InnerProduct', 'ReLU', 'InnerProduct', 'Softmax']);
  expect(byName.get('conv1')!.convolution_param).toMatchObject({ num_output: 20, kernel_size: [5], stride: [1] });
  expect(byName.get('conv1')!.param).toEqual([{ lr_mult: 1 }, { lr_mult: 2 }]);
  expect(byName.get('pool1')!.pooling_param).toMatchObject({ kernel_size: 2, stride: 2, pool: 'MAX' });
  expect(byName.get('ip1')!.inner_product_param).toMatchObject({ num_output: 500 });
  expect(r.net.layer[0].input_param).toEqual({ shape: [{ dim: [64, 1, 28, 28] }] });
  // the upgraded layer keeps its source position
  expect(locOf(byName.get('conv1')!)?.line).toBe(8);
});

test('V0 imagenet: padding layers fold into the next conv', () => {
  const r = loadNetText(P('old_v0_imagenet_caffenet.prototxt'));
  expect(r.net.layer.some((l) => l.type === 'padding' || /pad/.test(String(l.name)) && l.type !== 'Convolution')).toBe(false);
  const conv2 = r.net.layer.find((l) => l.name === 'conv2')!;
  expect(conv2.convolution_param.pad).toEqual([2]);
  expect(conv2.bottom).toEqual(['norm1']);
});

test('V1 layers inside a caffemodel upgrade too', () => {
  const f = path.join(CORPUS, 'models/lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel');
  const c = readCaffemodel(f, { structure: true });
  const up = upgradeNet(c.net!);
  expect(up.sourceVersion).toBe('V1');
  expect(up.net.layer.map((l) => l.type)).toEqual(['Data', 'Convolution', 'Pooling', 'Convolution', 'Pooling', 'InnerProduct', 'ReLU', 'InnerProduct', 'SoftmaxWithLoss']);
  expect(originOf(up.net.layer[1])).toBe(c.net!.layers[1]);
});

test('upgrade does not modify its input; a V2 net passes through', () => {
  const v1 = { name: 'n', input: ['data'], input_dim: [1, 3, 8, 8], layers: [{ name: 'c', type: 'CONVOLUTION', bottom: ['data'], top: ['c'], blobs_lr: [1, 2], weight_decay: [1, 0], convolution_param: { num_output: 4, kernel_size: [3] } }] };
  const copy = JSON.parse(JSON.stringify(v1));
  const up = upgradeNet(v1);
  expect(v1).toEqual(copy);
  expect(up.net.layer[1]).toEqual({ name: 'c', type: 'Convolution', bottom: ['data'], top: ['c'], param: [{ lr_mult: 1, decay_mult: 1 }, { lr_mult: 2, decay_mult: 0 }], convolution_param: { num_output: 4, kernel_size: [3] } });
  const v2 = upgradeNet(up.net);
  expect(v2.sourceVersion).toBe('V2');
  expect(v2.net.layer).toEqual(up.net.layer);
  // numeric V1 enum values are understood too
  expect(upgradeNet({ layers: [{ name: 'r', type: 18 }] }).net.layer[0].type).toBe('ReLU');
});

test('unknown V0 type and a short input_dim are clean errors', () => {
  expect(() => upgradeNet({ layers: [{ layer: { name: 'x', type: 'warp' } }] }, { file: 'f.prototxt' })).toThrow(/unknown V0 layer type 'warp'/);
  expect(() => upgradeNet({ input: ['data'], input_dim: [1, 3] })).toThrow(/needs 4 input_dim values/);
});

test('a shapeless input: becomes an Input layer without shape; the graph takes the shape from inputShape', () => {
  const { buildNet } = require('../src/graph/build');
  const up = upgradeNet({ input: ['data'], layer: [{ name: 'r', type: 'ReLU', bottom: ['data'], top: ['r'] }] });
  expect(up.net.layer[0]).toEqual({ name: 'input', type: 'Input', top: ['data'] });
  const warnings: string[] = [];
  const g = buildNet(up.net, { warn: (m: string) => warnings.push(m) });
  expect(g.inputs).toEqual([{ name: 'data', shape: [], partial: true, layer: 'input' }]);
  expect(warnings.length).toBe(1);
  expect(buildNet(up.net, { inputShape: [1, 2, 3, 4] }).layers[1].topShapes).toEqual([[1, 2, 3, 4]]);
});
