import * as fs from 'fs';
import * as path from 'path';
import { loadNetText, loadModel } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { expectedBlobShapes } from '../src/graph/blobs';
import { readCaffemodel } from '../src/proto/caffemodel';
import { ChaiqError } from '../src/errors';
import { numel } from '../src/tensor';
import type { Net } from '../src/graph/types';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const C = (f: string) => path.join(CORPUS, f);
const idx = (net: Net, name: string) => net.layers.findIndex((l) => l.name === name);

function build(file: string, opts: Parameters<typeof buildNet>[1] = {}) {
  const warnings: string[] = [];
  const t = loadNetText(C(file));
  const net = buildNet(t.net, { file: C(file), warn: (m) => warnings.push(m), ...opts });
  return { net, warnings };
}

describe('shapes match the goldens (protobuf + torch meta ops) for every golden net', () => {
  const dir = path.join(__dirname, 'fixtures/shapes');
  const goldens = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  test.each(goldens)('%s', (g) => {
    const gold = JSON.parse(fs.readFileSync(path.join(dir, g), 'utf8'));
    const { net } = build(gold.source, gold.input_shape ? { inputShape: gold.input_shape } : {});
    const byName = new Map(net.layers.map((l) => [l.name, l]));
    for (const gl of gold.layers) {
      const node = byName.get(gl.name);
      if (!node) throw new Error(`${g}: layer ${gl.name} missing`);
      expect([gl.name, node.topShapes]).toEqual([gl.name, gl.tops]);
    }
    if (gold.inputs) {
      expect(net.inputs.map((i) => ({ name: i.name, shape: i.shape }))).toEqual(gold.inputs);
    }
    // only the upgraded Input layer may be extra
    const extra = net.layers.filter((l) => !gold.layers.some((gl: any) => gl.name === l.name));
    expect(extra.every((l) => l.type === 'Input')).toBe(true);
  });
});

test('resnet20: producer/consumers on in-place chains and residual fan-out', () => {
  const { net } = build('models/cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', { inputShape: [1, 3, 32, 32] });
  expect(net.inputs).toEqual([{ name: 'data', shape: [1, 3, 32, 32], layer: 'Data1' }]);
  const conv1 = idx(net, 'conv1');
  const bn = idx(net, 'conv1/bn');
  const sc = idx(net, 'conv1/scale');
  expect(net.producer(conv1, 0)).toBe(idx(net, 'Data1'));
  expect(net.producer(bn, 0)).toBe(conv1);
  expect(net.producer(sc, 0)).toBe(bn);
  expect(net.consumers(conv1, 0)).toEqual([bn]);
  expect(net.consumers(bn, 0)).toEqual([sc]);
  // every (layer, top) version that someone reads appears in exactly those readers' producer()
  for (const l of net.layers) {
    l.bottoms.forEach((_, bi) => {
      const p = net.producer(l.index, bi);
      expect(p).toBeLessThan(l.index);
      const ti = net.layers[p].tops.lastIndexOf(l.bottoms[bi]);
      expect(net.consumers(p, ti)).toContain(l.index);
    });
  }
  // an Eltwise sum reads two different versions; some value feeds 2 layers (Caffe would insert a Split)
  const elt = net.layers.find((l) => l.type === 'Eltwise')!;
  expect(new Set(elt.bottoms.map((_, bi) => net.producer(elt.index, bi))).size).toBe(2);
  expect(net.layers.some((l) => l.tops.some((_, ti) => net.consumers(l.index, ti).length === 2))).toBe(true);
  expect(net.layers.map((l) => l.type)).not.toContain('SoftmaxWithLoss');
  expect(net.layers.map((l) => l.type)).not.toContain('Accuracy');
  expect(net.outputs).toEqual([net.layers[net.layers.length - 1].tops[0]]);
});

describe('train/test nets: phase filtering, Data layer as input, losses dropped', () => {
  const cases = [
    'models/lenet_mnist_v1_everpeace/lenet_train_test.prototxt',
    'models/cifar10_quick_v1_everpeace/cifar10_quick_train_test.prototxt',
    'models/cifar10_full_v1_everpeace/cifar10_full_train_test.prototxt',
  ];
  test.each(cases)('%s', (f) => {
    const t = loadNetText(C(f));
    const dataLayers = t.net.layer.filter((l) => l.type === 'Data');
    expect(dataLayers.length).toBe(2);
    const test = dataLayers.find((l) => JSON.stringify(l.include).includes('TEST'))!;
    const { net, warnings } = build(f);
    expect(net.phase).toBe('TEST');
    expect(net.layers[0].name).toBe(test.name);
    expect(net.layers.filter((l) => l.type === 'Data').length).toBe(1);
    expect(net.layers.some((l) => /Loss|Accuracy/.test(l.type))).toBe(false);
    expect(net.dropped!.filter((d) => d.reason === 'phase').length).toBeGreaterThanOrEqual(1);
    expect(net.dropped!.some((d) => d.reason === 'training')).toBe(true);
    const batch = Number(test.data_param.batch_size);
    expect(net.inputs).toEqual([{ name: 'data', shape: [batch, -1, -1, -1], partial: true, layer: test.name }]);
    expect(warnings.some((w) => /unknown dimensions/.test(w))).toBe(true);
    expect(net.layers.slice(1).every((l) => l.topShapes.every((s) => s === undefined))).toBe(true);
    const last = net.layers[net.layers.length - 1];
    expect(net.outputs).toEqual([last.tops[0]]);
    // with the input shape given, every shape is known
    const dims = f.includes('lenet') ? [1, 1, 28, 28] : [1, 3, 32, 32];
    const full = build(f, { inputShape: dims }).net;
    expect(full.inputs[0]).toEqual({ name: 'data', shape: dims, layer: test.name });
    expect(full.layers.every((l) => l.topShapes.every((s) => s !== undefined))).toBe(true);
    expect(full.layers[full.layers.length - 1].topShapes[0]).toEqual([1, 10]);
    // TRAIN phase keeps the TRAIN data layer instead
    const train = build(f, { phase: 'TRAIN' }).net;
    expect(JSON.stringify(train.layers[0].param.include)).toContain('TRAIN');
    expect(JSON.stringify(full.layers[0].param.include)).toContain('TEST');
  });
});

describe('every corpus caffemodel loads against its prototxt', () => {
  const pairs: [string, string][] = [
    ['models/lenet_mnist_v1_everpeace/lenet.prototxt', 'models/lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel'],
    ['models/lenet_mnist_v1_everpeace/lenet_train_test.prototxt', 'models/lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel'],
    ['models/lenet_mnist_ahmdtaha/mnist_deploy.prototxt', 'models/lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel'],
    ['models/cifar10_quick_v1_everpeace/cifar10_quick.prototxt', 'models/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel'],
    ['models/cifar10_quick_v1_everpeace/cifar10_quick_train_test.prototxt', 'models/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel'],
    ['models/cifar10_full_v1_everpeace/cifar10_full.prototxt', 'models/cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel'],
    ['models/cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', 'models/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel'],
    ['models/cifar10_se_resnet20_lijianfei/test_SE-ResNet_20.prototxt', 'models/cifar10_se_resnet20_lijianfei/cifar10_SE-ResNet_20_iter_53000.caffemodel'],
    ['models/mtcnn_kpzhang93/det1.prototxt', 'models/mtcnn_kpzhang93/det1.caffemodel'],
    ['models/mtcnn_kpzhang93/det2.prototxt', 'models/mtcnn_kpzhang93/det2.caffemodel'],
    ['models/mtcnn_kpzhang93/det3.prototxt', 'models/mtcnn_kpzhang93/det3.caffemodel'],
    ['models/mtcnn_kpzhang93/det4.prototxt', 'models/mtcnn_kpzhang93/det4.caffemodel'],
    ['models/ultraface_rfb320_linzaer/RFB-320.prototxt', 'models/ultraface_rfb320_linzaer/RFB-320.caffemodel'],
    ['models/ultraface_slim320_linzaer/slim-320.prototxt', 'models/ultraface_slim320_linzaer/slim-320.caffemodel'],
    ['models/yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.prototxt', 'models/yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.caffemodel'],
  ];
  test('the list covers every caffemodel in the corpus', () => {
    const all = require('child_process').execSync(`find ${CORPUS} -name '*.caffemodel'`).toString().trim().split('\n').map((f: string) => path.relative(CORPUS, f));
    expect(new Set(pairs.map((p) => p[1]))).toEqual(new Set(all));
  });
  test.each(pairs)('%s + caffemodel', (proto, model) => {
    const warnings: string[] = [];
    const dims = /cifar|resnet/i.test(proto) ? [1, 3, 32, 32] : /lenet/.test(proto) ? [1, 1, 28, 28] : undefined;
    const m = loadModel(C(proto), C(model), { warn: (w) => warnings.push(w), inputShape: dims });
    let weighted = 0;
    for (const node of m.graph.layers) {
      const want = expectedBlobShapes(node);
      if (!want || want.length === 0) continue;
      weighted++;
      expect([node.name, node.blobs.length]).toEqual([node.name, want.length]);
      node.blobs.forEach((b, i) => {
        expect(b.data.length).toBe(numel(b.shape));
        if (want[i].every((d) => d >= 0)) expect([node.name, i, b.shape]).toEqual([node.name, i, want[i]]);
      });
    }
    expect(weighted).toBeGreaterThan(0);
    expect(warnings.filter((w) => /no trained blobs/.test(w))).toEqual([]);
  });
});

test('weights: V1 legacy (1,1,N,K) InnerProduct blobs are reshaped; a wrong shape names layer and shapes', () => {
  const proto = 'models/lenet_mnist_v1_everpeace/lenet.prototxt';
  const cm = C('models/lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel');
  const w = readCaffemodel(cm).weights;
  expect(w.get('ip1')![0].shape).toEqual([1, 1, 500, 800]);
  const { net } = build(proto, { weights: w });
  expect(net.layers[idx(net, 'ip1')].blobs.map((b) => b.shape)).toEqual([[500, 800], [500]]);
  // a conv with another kernel size: mismatch error naming both shapes
  const t = loadNetText(C(proto));
  t.net.layer.find((l) => l.name === 'conv2')!.convolution_param.kernel_size = [3];
  let err: any;
  try {
    buildNet(t.net, { file: C(proto), weights: w, weightsFile: 'lenet.caffemodel' });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ChaiqError);
  expect(err.message).toBe("layer 'conv2' (Convolution): blob 0 has shape (50,20,5,5) in lenet.caffemodel, expected (50,20,3,3)");
  expect(err.loc.line).toBeGreaterThan(1);
  // a missing bias blob
  const w2 = new Map(w);
  w2.set('ip2', w.get('ip2')!.slice(0, 1));
  expect(() => buildNet(loadNetText(C(proto)).net, { weights: w2 })).toThrow("layer 'ip2' (InnerProduct): the caffemodel has 1 blob(s) (1,1,10,500), expected 2: (10,500) (10)");
});

test('undefined bottom is a ChaiqError at the layer line:col; unknown types warn once', () => {
  const net = { name: 'x', layer: [
    { name: 'in', type: 'Input', top: ['data'], input_param: { shape: [{ dim: [1, 3, 8, 8] }] } },
    { name: 'w1', type: 'Weird', bottom: ['data'], top: ['a'] },
    { name: 'w2', type: 'Weird', bottom: ['a'], top: ['b'] },
    { name: 'r', type: 'ReLU', bottom: ['b'], top: ['b'] },
  ] };
  const warnings: string[] = [];
  const g = buildNet(net as any, { warn: (m) => warnings.push(m) });
  expect(warnings.filter((w) => /Weird/.test(w)).length).toBe(1);
  expect(g.layers[3].topShapes).toEqual([undefined]);
  expect(g.outputs).toEqual(['b']);

  const text = 'name: "x"\nlayer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } } }\nlayer {\n  name: "c" type: "ReLU" bottom: "dta" top: "c"\n}\n';
  const tmp = path.join(require('os').tmpdir(), `chaiq-graph-${process.pid}.prototxt`);
  fs.writeFileSync(tmp, text);
  try {
    const t = loadNetText(tmp);
    expect(() => buildNet(t.net, { file: tmp })).toThrow(/layer 'c' \(ReLU\): bottom 'dta' is not produced by any earlier layer/);
    try {
      buildNet(t.net, { file: tmp });
    } catch (e) {
      expect((e as ChaiqError).loc).toMatchObject({ file: tmp, line: 3 });
    }
  } finally {
    fs.unlinkSync(tmp);
  }
});

test('Ristretto aliases resolve to the canonical type', () => {
  const net = { layer: [
    { name: 'in', type: 'Input', top: ['data'], input_param: { shape: [{ dim: [1, 3, 8, 8] }] } },
    { name: 'c', type: 'ConvolutionRistretto', bottom: ['data'], top: ['c'], convolution_param: { num_output: 4, kernel_size: [3] } },
    { name: 'f', type: 'FcRistretto', bottom: ['c'], top: ['f'], inner_product_param: { num_output: 2 } },
  ] };
  const g = buildNet(net as any);
  expect(g.layers.map((l) => l.type)).toEqual(['Input', 'Convolution', 'InnerProduct']);
  expect(g.layers[2].topShapes).toEqual([[1, 2]]);
});
