/**
 * src/quant/rewrite.ts: the function-preserving rewrites behind `quantize --optimized_weights`.
 * BatchNorm/Scale folded offline (ResNet-20 and hand-computed small nets), the rescale groups, and
 * activation rescaling (cifar10_full with LRN, folded ResNet-20, a conv-only net with powers of two):
 * the float outputs of the rewritten nets are compared with the originals on real CIFAR images.
 */
import * as path from 'path';
import { loadModel } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { runNet } from '../src/exec/executor';
import { foldBatchNormOffline, foldInputScale, gridFactors, recenterInput, rescaleActivations, rescaleGroups, type RescaleGroup } from '../src/quant/rewrite';
import { versionKey } from '../src/quant/xilinx';
import { loadImageBatch, loadMeanFile, meanForDims, type Preprocess } from '../src/io/images';
import { setThreads } from '../src/kernels';
import type { Net } from '../src/graph/types';
import type { LayerParam, NetParam } from '../src/proto/message';
import type { Tensor } from '../src/tensor';
import { randTensor } from './quant-net';

// small convs: one thread avoids waiting on workers when the machine is busy
setThreads(1);

const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const R20_PROTO = path.resolve(__dirname, 'fixtures/quant/resnet20_deploy.prototxt');
const R20_WEIGHTS = `${CORPUS}/models/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel`;
const FULL = `${CORPUS}/models/cifar10_full_v1_everpeace`;
const CIFAR = `${CORPUS}/data/cifar10_test_jpg_subset`;
const IMAGES = ['airplane/0000.jpg', 'cat/0001.jpg', 'ship/0002.jpg', 'truck/0003.jpg'].map((f) => `${CIFAR}/${f}`);
const quiet = () => undefined;

const R20_PRE: Preprocess = {
  dims: [3, 32, 32], transpose: [2, 0, 1], channelSwap: [0, 1, 2], rawScale: 255, mean: [125.3, 122.9, 113.8], inputScale: 0.00390625,
};
const fullPre = (): Preprocess => ({
  dims: [3, 32, 32], transpose: [2, 0, 1], channelSwap: [0, 1, 2], rawScale: 255,
  mean: meanForDims(loadMeanFile(`${CORPUS}/models/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto`), [3, 32, 32]), inputScale: 1,
});

/** every |got − want| ≤ abs + rel·|want|, else a description of the worst offender */
function expectClose(got: Tensor, want: Tensor, rel: number, abs: number, what = '') {
  expect(got.shape).toEqual(want.shape);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.data.length; i++) {
    const excess = Math.abs(got.data[i] - want.data[i]) - (abs + rel * Math.abs(want.data[i]));
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) throw new Error(`${what}[${worst}]: got ${got.data[worst]}, want ${want.data[worst]} (rel ${rel}, abs ${abs})`);
}

const bits = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** A NetParam + weights for a small net (a 1×C×H×W Input first), built with the real layer registry. */
function small(layers: (LayerParam & { blobs?: Tensor[] })[], input: number[]): { param: NetParam; graph: Net; weights: Map<string, Tensor[]> } {
  const weights = new Map<string, Tensor[]>();
  const layer: LayerParam[] = [{ name: 'data', type: 'Input', top: ['data'], input_param: { shape: [{ dim: input }] } }];
  for (const { blobs, ...l } of layers) {
    if (blobs) weights.set(String(l.name), blobs);
    layer.push(l);
  }
  const param: NetParam = { name: 'small', layer };
  return { param, weights, graph: buildNet(param, { weights, warn: quiet }) };
}

const rebuild = (r: { net: NetParam; weights: Map<string, Tensor[]> }, inputShape?: number[]) =>
  buildNet(r.net, { weights: r.weights, warn: quiet, ...(inputShape ? { inputShape } : {}) });

/** the group holding blob version v */
function groupOf(groups: RescaleGroup[], v: string): RescaleGroup {
  const g = groups.filter((x) => x.versions.includes(v));
  if (g.length !== 1) throw new Error(`version ${v} is in ${g.length} groups`);
  return g[0];
}

/** the version a layer's top ti writes */
const top = (net: Net, name: string, ti = 0) => versionKey(net.layers.findIndex((l) => l.name === name), ti);

/** a factor in [0.3, 3] per non-fixed group, alternately below and above 1, never a power of two */
function arbitraryFactors(groups: RescaleGroup[]): Map<string, number> {
  const FACTORS = [0.3, 2.7, 0.55, 1.9, 0.8, 3, 0.41, 1.3, 0.67, 2.2, 0.93];
  const m = new Map<string, number>();
  groups.filter((g) => !g.fixed).forEach((g, i) => {
    for (const v of g.versions) m.set(v, FACTORS[i % FACTORS.length]);
  });
  return m;
}

describe('foldBatchNormOffline on ResNet-20', () => {
  const m = loadModel(R20_PROTO, R20_WEIGHTS, { warn: quiet });
  const before = JSON.stringify(m.net);
  const f = foldBatchNormOffline(m.graph, m.net);
  const bnScale = m.graph.layers.filter((l) => l.type === 'BatchNorm' || l.type === 'Scale');

  test('every BatchNorm and Scale leaves the net; each folded conv has W and b and no bias_term: false', () => {
    expect(bnScale.length).toBe(42); // 19 convs + 2 projection shortcuts, each with BN + Scale
    expect(f.net.layer.filter((l) => l.type === 'BatchNorm' || l.type === 'Scale')).toEqual([]);
    expect(f.net.layer.length).toBe(m.net.layer.length - bnScale.length);
    for (const l of bnScale) expect(f.weights.has(l.name)).toBe(false);
    expect(f.folded.length).toBe(21);
    expect(f.folded.map((c) => c.conv).sort()).toEqual(m.graph.layers.filter((l) => l.type === 'Convolution').map((l) => l.name).sort());
    expect(f.folded.flatMap((c) => c.folded).sort()).toEqual(bnScale.map((l) => l.name).sort());
    for (const c of f.folded) {
      const orig = m.graph.layers.find((l) => l.name === c.conv)!;
      expect(orig.type).toBe('Convolution');
      // the runtime's order: the BN first, then its Scale
      expect(c.folded.map((n) => m.graph.layers.find((l) => l.name === n)!.type)).toEqual(['BatchNorm', 'Scale']);
      const p = f.net.layer.find((l) => l.name === c.conv)!;
      expect(p.convolution_param?.bias_term).not.toBe(false);
      expect((p.param ?? []).length).toBeLessThanOrEqual(2);
      const blobs = f.weights.get(c.conv)!;
      expect(blobs.map((b) => b.shape)).toEqual([orig.blobs[0].shape, [orig.blobs[0].shape[0]]]);
      expect(blobs[0].shape.length).toBe(4);
      expect(blobs[0].data.length).toBe(orig.blobs[0].data.length);
      expect(blobs[1].data.length).toBe(orig.blobs[0].shape[0]);
    }
    // the input NetParameter and graph weights are left alone
    expect(JSON.stringify(m.net)).toBe(before);
    expect(m.graph.layers.filter((l) => l.type === 'BatchNorm').length).toBe(21);
  });

  test('the folded net computes the same fc1 and prob on 4 CIFAR images', async () => {
    const x = await loadImageBatch(IMAGES, R20_PRE);
    const g = rebuild(f);
    expect(g.layers.some((l) => l.type === 'BatchNorm' || l.type === 'Scale')).toBe(false);
    const want = await runNet(m.graph, x, { keep: ['fc1'], warn: quiet });
    const got = await runNet(g, x, { keep: ['fc1'], warn: quiet });
    expect(want.get('prob')!.shape).toEqual([4, 10]);
    expectClose(got.get('fc1')!, want.get('fc1')!, 1e-4, 1e-5, 'fc1');
    expectClose(got.get('prob')!, want.get('prob')!, 1e-4, 1e-5, 'prob');
    // not a trivially flat output: the images get different classes with some confidence
    expect(Math.max(...want.get('prob')!.data)).toBeGreaterThan(0.5);
  });
});

describe('foldBatchNormOffline on a hand-built net', () => {
  const C = 2, O = 3;
  const W = randTensor([O, C, 3, 3], 11, 0.5);
  const b = randTensor([O], 12);
  const factor = 2.5; // Caffe's moving-average factor: blobs hold mean·f, var·f
  const eps = 1e-3;
  const mean = Float32Array.from([0.7, -1.3, 0.05]);
  const variance = Float32Array.from([0.5, 2, 9]);
  const gamma = Float32Array.from([1.5, -0.4, 0.9]);
  const beta = Float32Array.from([0.25, -2, 0.1]);
  const bnBlobs = (): Tensor[] => [
    { shape: [O], data: mean.map((v) => v * factor) },
    { shape: [O], data: variance.map((v) => v * factor) },
    { shape: [1], data: Float32Array.from([factor]) },
  ];
  const scaleBlobs = (): Tensor[] => [{ shape: [O], data: Float32Array.from(gamma) }, { shape: [O], data: Float32Array.from(beta) }];
  const x = randTensor([1, C, 5, 5], 99, 3);

  const chain = (bias: boolean) => small([
    {
      name: 'conv', type: 'Convolution', bottom: ['data'], top: ['c'],
      param: [{ lr_mult: 1 }, ...(bias ? [{ lr_mult: 2 }] : [])],
      convolution_param: { num_output: O, kernel_size: [3], pad: [1], ...(bias ? {} : { bias_term: false }) },
      blobs: bias ? [W, b] : [W],
    },
    { name: 'bn', type: 'BatchNorm', bottom: ['c'], top: ['c'], batch_norm_param: { use_global_stats: true, eps }, blobs: bnBlobs() },
    { name: 'sc', type: 'Scale', bottom: ['c'], top: ['c'], scale_param: { bias_term: true }, blobs: scaleBlobs() },
    { name: 'relu', type: 'ReLU', bottom: ['c'], top: ['c'] },
  ], [1, C, 5, 5]);

  test.each([[true], [false]])('conv (bias %s) → BN (factor 2.5, eps 1e-3) → Scale with bias: W and b as computed by hand', async (bias) => {
    const s = chain(bias);
    const f = foldBatchNormOffline(s.graph, s.param);
    expect(f.folded).toEqual([{ conv: 'conv', folded: ['bn', 'sc'] }]);
    expect(f.net.layer.map((l) => l.name)).toEqual(['data', 'conv', 'relu']);
    const conv = f.net.layer[1];
    expect(conv.convolution_param.bias_term).not.toBe(false);
    expect(conv.convolution_param.num_output).toBe(O);
    expect(conv.param.length).toBe(2);
    const [W2, b2] = f.weights.get('conv')!;
    expect(W2.shape).toEqual([O, C, 3, 3]);
    expect(b2.shape).toEqual([O]);
    const per = C * 9;
    const u = 2 ** -24;
    for (let o = 0; o < O; o++) {
      const inv = 1 / Math.sqrt(variance[o] + eps); // var/f of the stored var·f
      const sc = gamma[o] * inv;
      for (let i = 0; i < per; i++) {
        const want = W.data[o * per + i] * sc;
        expect(Math.abs(W2.data[o * per + i] - want)).toBeLessThanOrEqual(4 * u * Math.abs(want));
      }
      const b0 = bias ? b.data[o] : 0;
      const want = sc * (b0 - mean[o]) + beta[o];
      // a few roundings of terms that may cancel
      const tol = 8 * u * (Math.abs(sc * b0) + Math.abs(sc * mean[o]) + Math.abs(beta[o]));
      expect(Math.abs(b2.data[o] - want)).toBeLessThanOrEqual(tol);
    }
    // and the rebuilt net computes what the original one does
    const want = (await runNet(s.graph, x, { warn: quiet })).get('c')!;
    const got = (await runNet(rebuild(f), x, { warn: quiet })).get('c')!;
    expect(want.data.some((v) => v > 0)).toBe(true);
    expectClose(got, want, 1e-5, 1e-5, 'c');
  });

  test('a BatchNorm that is not in place is not folded (nor the Scale after it)', () => {
    const s = small([
      { name: 'conv', type: 'Convolution', bottom: ['data'], top: ['c'], convolution_param: { num_output: O, kernel_size: [3] }, blobs: [W, b] },
      { name: 'bn', type: 'BatchNorm', bottom: ['c'], top: ['n'], batch_norm_param: { eps }, blobs: bnBlobs() },
      { name: 'sc', type: 'Scale', bottom: ['n'], top: ['n'], scale_param: { bias_term: true }, blobs: scaleBlobs() },
      { name: 'relu', type: 'ReLU', bottom: ['n'], top: ['n'] },
    ], [1, C, 5, 5]);
    const f = foldBatchNormOffline(s.graph, s.param);
    expect(f.folded).toEqual([]);
    expect(f.net).toEqual(s.param);
    expect(f.weights.get('conv')).toEqual([W, b]);
    expect([...f.weights.keys()].sort()).toEqual(['bn', 'conv', 'sc']);
  });

  test('a conv whose output has another reader before the BN is not folded; a second, clean conv is', () => {
    const W3 = randTensor([O, O, 1, 1], 21);
    const s = small([
      { name: 'conv', type: 'Convolution', bottom: ['data'], top: ['c'], convolution_param: { num_output: O, kernel_size: [3], pad: [1] }, blobs: [W, b] },
      { name: 'spy', type: 'Pooling', bottom: ['c'], top: ['p'], pooling_param: { pool: 'MAX', kernel_size: 1 } },
      { name: 'bn', type: 'BatchNorm', bottom: ['c'], top: ['c'], batch_norm_param: { eps }, blobs: bnBlobs() },
      { name: 'sc', type: 'Scale', bottom: ['c'], top: ['c'], scale_param: { bias_term: true }, blobs: scaleBlobs() },
      { name: 'conv3', type: 'Convolution', bottom: ['c'], top: ['d'], convolution_param: { num_output: O, kernel_size: [1], bias_term: false }, blobs: [W3] },
      { name: 'bn3', type: 'BatchNorm', bottom: ['d'], top: ['d'], batch_norm_param: { eps }, blobs: bnBlobs() },
      { name: 'sum', type: 'Eltwise', bottom: ['d', 'p'], top: ['e'] },
    ], [1, C, 5, 5]);
    const f = foldBatchNormOffline(s.graph, s.param);
    expect(f.folded).toEqual([{ conv: 'conv3', folded: ['bn3'] }]);
    expect(f.net.layer.map((l) => l.name)).toEqual(['data', 'conv', 'spy', 'bn', 'sc', 'conv3', 'sum']);
    expect(f.weights.get('conv')).toEqual([W, b]);
    expect(f.weights.get('conv3')!.map((t) => t.shape)).toEqual([[O, O, 1, 1], [O]]);
    expect(f.net.layer[5].convolution_param.bias_term).not.toBe(false);
  });
});

describe('rescaleGroups', () => {
  const conv = (name: string, bottom: string, topName: string, k: number, seed: number, n = 4, cin = 4): LayerParam & { blobs: Tensor[] } => ({
    name, type: 'Convolution', bottom: [bottom], top: [topName], convolution_param: { num_output: n, kernel_size: [k], pad: [(k - 1) / 2] },
    blobs: [randTensor([n, cin, k, k], seed, 0.3), randTensor([n], seed + 1, 0.1)],
  });
  /** conv1 → ReLU → pool → {conv2, conv3} → Eltwise(op) → [ReLU → fc] → Softmax */
  const net = (op: 'SUM' | 'PROD' | 'MAX', withFc: boolean) => small([
    conv('conv1', 'data', 'c1', 3, 1, 4, 3),
    { name: 'relu1', type: 'ReLU', bottom: ['c1'], top: ['c1'] },
    { name: 'pool1', type: 'Pooling', bottom: ['c1'], top: ['p1'], pooling_param: { pool: 'MAX', kernel_size: 2, stride: 2 } },
    conv('conv2', 'p1', 'c2', 3, 3),
    conv('conv3', 'p1', 'c3', 1, 5),
    { name: 'elt', type: 'Eltwise', bottom: ['c2', 'c3'], top: ['e'], eltwise_param: { operation: op } },
    ...(withFc
      ? [
        { name: 'relu2', type: 'ReLU', bottom: ['e'], top: ['e'] },
        { name: 'fc', type: 'InnerProduct', bottom: ['e'], top: ['fc'], inner_product_param: { num_output: 5 }, blobs: [randTensor([5, 64], 7, 0.2), randTensor([5], 8)] },
      ]
      : []),
    { name: 'prob', type: 'Softmax', bottom: [withFc ? 'fc' : 'e'], top: ['prob'] },
  ], [1, 3, 8, 8]);

  test('conv → ReLU → pool → conv + branch → Eltwise SUM → Softmax: SUM joins its inputs, Softmax pins them', () => {
    const { graph } = net('SUM', false);
    const gs = rescaleGroups(graph);
    // every version of the net in exactly one group
    const all = gs.flatMap((g) => g.versions).sort();
    expect(all).toEqual(graph.layers.flatMap((l) => l.tops.map((_, ti) => versionKey(l.index, ti))).sort());
    expect(new Set(all).size).toBe(all.length);
    const g1 = groupOf(gs, top(graph, 'conv1'));
    expect(g1.fixed).toBe(false);
    expect(g1.versions.sort()).toEqual([top(graph, 'conv1'), top(graph, 'relu1'), top(graph, 'pool1')].sort());
    expect(groupOf(gs, top(graph, 'data')).fixed).toBe(true);
    const ge = groupOf(gs, top(graph, 'elt'));
    expect(ge.fixed).toBe(true); // Softmax reads it
    for (const n of ['conv2', 'conv3']) expect(groupOf(gs, top(graph, n))).toBe(ge);
    expect(groupOf(gs, top(graph, 'prob')).fixed).toBe(true);
    // the only non-fixed versions are conv1's chain
    expect(gs.filter((g) => !g.fixed).flatMap((g) => g.versions).sort()).toEqual(g1.versions.sort());
  });

  test('with a ReLU and an InnerProduct before the Softmax the SUM group is free; fc (Softmax input) is fixed', () => {
    const { graph } = net('SUM', true);
    const gs = rescaleGroups(graph);
    const ge = groupOf(gs, top(graph, 'elt'));
    expect(ge.fixed).toBe(false);
    expect(ge.versions.sort()).toEqual(['conv2', 'conv3', 'elt', 'relu2'].map((n) => top(graph, n)).sort());
    expect(groupOf(gs, top(graph, 'conv1'))).not.toBe(ge);
    expect(groupOf(gs, top(graph, 'conv1')).fixed).toBe(false);
    expect(groupOf(gs, top(graph, 'fc')).fixed).toBe(true);
    expect(groupOf(gs, top(graph, 'data')).fixed).toBe(true);
    expect(gs.filter((g) => !g.fixed).length).toBe(2);
  });

  test('Eltwise MAX joins its inputs like SUM', () => {
    const { graph } = net('MAX', true);
    const gs = rescaleGroups(graph);
    expect(groupOf(gs, top(graph, 'conv2'))).toBe(groupOf(gs, top(graph, 'conv3')));
    expect(groupOf(gs, top(graph, 'conv2')).fixed).toBe(false);
  });

  test('Eltwise PROD pins its inputs', () => {
    const { graph } = net('PROD', true);
    const gs = rescaleGroups(graph);
    expect(groupOf(gs, top(graph, 'conv2')).fixed).toBe(true);
    expect(groupOf(gs, top(graph, 'conv3')).fixed).toBe(true);
    expect(groupOf(gs, top(graph, 'conv1')).fixed).toBe(false);
  });

  // BUG: a layer that cannot carry a scale (Eltwise PROD, Sigmoid, TanH, an unfolded BatchNorm/Scale, ...)
  // fixes its inputs, but its OUTPUT starts a free group; nothing scales that output, yet rescaleActivations
  // divides the next weighted layer's W by the group's factor, so the net's function changes.
  test('the output of a layer that cannot carry a scale (Eltwise PROD) is fixed too', () => {
    const { graph } = net('PROD', true);
    const gs = rescaleGroups(graph);
    expect(groupOf(gs, top(graph, 'elt')).fixed).toBe(true);
  });

  const freeTimes2KeepsFunction = async (s: ReturnType<typeof small>) => {
    const gs = rescaleGroups(s.graph);
    const free = new Set(gs.filter((g) => !g.fixed).flatMap((g) => g.versions));
    const r = rescaleActivations(s.graph, s.param, (v) => (free.has(v) ? 2 : 1));
    const x = randTensor([1, 3, 8, 8], 5, 2);
    const want = await runNet(s.graph, x, { warn: quiet });
    const got = await runNet(rebuild(r), x, { warn: quiet });
    for (const o of s.graph.outputs) expectClose(got.get(o)!, want.get(o)!, 1e-5, 1e-6, o);
  };
  test('rescaling every free group by 2 keeps the function (Eltwise SUM)', () => freeTimes2KeepsFunction(net('SUM', true)));
  test('rescaling every free group by 2 keeps the function (Eltwise PROD)', () => freeTimes2KeepsFunction(net('PROD', true)));
  test('rescaling every free group by 2 keeps the function (Sigmoid between two convs)', () => freeTimes2KeepsFunction(small([
    conv('conv1', 'data', 'c1', 3, 1, 4, 3),
    { name: 'sig', type: 'Sigmoid', bottom: ['c1'], top: ['s'] },
    conv('conv2', 's', 'c2', 3, 3),
  ], [1, 3, 8, 8])));
  test('rescaling every free group by 2 keeps the function (BatchNorm that cannot be folded, before a conv)', () => freeTimes2KeepsFunction(small([
    conv('conv1', 'data', 'c1', 3, 1, 4, 3),
    { name: 'bn', type: 'BatchNorm', bottom: ['c1'], top: ['n'], batch_norm_param: { eps: 1e-5 },
      blobs: [randTensor([4], 31, 0.5), { shape: [4], data: Float32Array.from([1, 2, 0.5, 3]) }, { shape: [1], data: Float32Array.from([1]) }] },
    conv('conv2', 'n', 'c2', 3, 3),
  ], [1, 3, 8, 8])));
});

describe('rescaleActivations', () => {
  test('cifar10_full (LRN): arbitrary factors per group keep ip1 and prob; LRN alpha becomes alpha/f²', async () => {
    const m = loadModel(`${FULL}/cifar10_full.prototxt`, `${FULL}/cifar10_full_iter_70000.caffemodel`, { warn: quiet });
    const gs = rescaleGroups(m.graph);
    const factor = arbitraryFactors(gs);
    const free = gs.filter((g) => !g.fixed);
    expect(free.length).toBe(3); // conv1 → pool1 → relu1 → norm1; conv2 → relu2 → pool2 → norm2; conv3 → relu3 → pool3
    const r = rescaleActivations(m.graph, m.net, (v) => factor.get(v) ?? 1);
    // ip1 (Softmax input) stays fixed; the weighted layers with a free output are listed with their factor
    expect(r.rescaled.map((x) => x.layer).sort()).toEqual(
      m.graph.layers.filter((l) => factor.has(versionKey(l.index, 0)) && l.def?.rescale?.kind === 'weighted').map((l) => l.name).sort());
    expect(r.rescaled.length).toBeGreaterThanOrEqual(2);
    for (const x of r.rescaled) expect(Number.isInteger(Math.log2(x.factor))).toBe(false);
    const lrns = m.graph.layers.filter((l) => l.type === 'LRN');
    expect(lrns.length).toBe(2);
    for (const l of lrns) {
      const f = factor.get(top(m.graph, l.name))!;
      expect(f).toBeDefined();
      const old = m.net.layer.find((p) => p.name === l.name)!.lrn_param.alpha;
      expect(old).toBeCloseTo(5e-5, 10);
      const now = r.net.layer.find((p) => p.name === l.name)!.lrn_param.alpha;
      expect(now).toBe(Math.fround(old / (f * f)));
      expect(r.net.layer.find((p) => p.name === l.name)!.lrn_param.beta).toBe(m.net.layer.find((p) => p.name === l.name)!.lrn_param.beta);
    }
    // the original param is untouched
    expect(m.net.layer.find((p) => p.type === 'LRN')!.lrn_param.alpha).toBeCloseTo(5e-5, 10);
    // a weighted layer: W·fout/fin, b·fout
    const conv2 = m.graph.layers.find((l) => l.name === 'conv2')!;
    const fin = factor.get(top(m.graph, 'norm1'))!;
    const fout = factor.get(top(m.graph, 'conv2'))!;
    const [W2, b2] = r.weights.get('conv2')!;
    for (const i of [0, 17, W2.data.length - 1]) expect(W2.data[i]).toBe(Math.fround(conv2.blobs[0].data[i] * (fout / fin)));
    expect(b2.data[3]).toBe(Math.fround(conv2.blobs[1].data[3] * fout));

    const x = await loadImageBatch(IMAGES, fullPre());
    const want = await runNet(m.graph, x, { keep: ['ip1', 'norm1'], warn: quiet });
    const g = rebuild(r);
    const got = await runNet(g, x, { keep: ['ip1', 'norm1'], warn: quiet });
    // inside the net the activations really are scaled
    const f1 = factor.get(top(m.graph, 'norm1'))!;
    // (conv1 sums inputs of ±130: values near 0 carry the rounding of the large terms, hence abs ∝ max)
    const n1 = want.get('norm1')!.data.map((v) => v * f1);
    expectClose(got.get('norm1')!, { shape: want.get('norm1')!.shape, data: n1 }, 1e-4, 1e-5 * Math.max(...n1.map(Math.abs)), 'norm1·f');
    expectClose(got.get('ip1')!, want.get('ip1')!, 1e-4, 1e-4, 'ip1');
    expectClose(got.get('prob')!, want.get('prob')!, 1e-4, 1e-6, 'prob');
  });

  test('folded ResNet-20: arbitrary factors per group keep fc1 and prob; powers of two are bit-identical', async () => {
    const m = loadModel(R20_PROTO, R20_WEIGHTS, { warn: quiet });
    const f = foldBatchNormOffline(m.graph, m.net);
    const g = rebuild(f);
    const gs = rescaleGroups(g);
    const free = gs.filter((x) => !x.fixed);
    // conv1's group joins every residual sum of stage 1 etc.: far fewer groups than convs
    expect(free.length).toBeGreaterThan(3);
    expect(free.length).toBeLessThan(19);
    // the global pool feeds fc1; fc1 feeds Softmax
    expect(groupOf(gs, top(g, 'fc1')).fixed).toBe(true);
    const x = await loadImageBatch(IMAGES, R20_PRE);
    const want = await runNet(m.graph, x, { keep: ['fc1'], warn: quiet });
    const folded = await runNet(g, x, { keep: ['fc1'], warn: quiet });

    const factor = arbitraryFactors(gs);
    const r = rescaleActivations(g, f.net, (v) => factor.get(v) ?? 1);
    expect(r.rescaled.length).toBe(g.layers.filter((l) => l.type === 'Convolution').length);
    const got = await runNet(rebuild(r), x, { keep: ['fc1'], warn: quiet });
    expectClose(got.get('fc1')!, want.get('fc1')!, 1e-4, 1e-4, 'fc1');
    expectClose(got.get('prob')!, want.get('prob')!, 1e-4, 1e-5, 'prob');

    const p2 = new Map<string, number>();
    free.forEach((grp, i) => grp.versions.forEach((v) => p2.set(v, 2 ** ([-3, 2, -1, 1, 3, -2][i % 6]))));
    const r2 = rescaleActivations(g, f.net, (v) => p2.get(v) ?? 1);
    const got2 = await runNet(rebuild(r2), x, { keep: ['fc1'], warn: quiet });
    expect(bits(got2.get('fc1')!).equals(bits(folded.get('fc1')!))).toBe(true);
    expect(bits(got2.get('prob')!).equals(bits(folded.get('prob')!))).toBe(true);
  });

  test('conv-only net with power-of-two factors: outputs bit-identical, weights scaled exactly', async () => {
    const conv = (name: string, bottom: string, topName: string, n: number, cin: number, seed: number): LayerParam & { blobs: Tensor[] } => ({
      name, type: 'Convolution', bottom: [bottom], top: [topName], convolution_param: { num_output: n, kernel_size: [3], pad: [1] },
      blobs: [randTensor([n, cin, 3, 3], seed, 0.4), randTensor([n], seed + 1, 0.3)],
    });
    const s = small([
      conv('c1', 'data', 'a', 6, 3, 1),
      { name: 'r1', type: 'ReLU', bottom: ['a'], top: ['a'] },
      { name: 'p1', type: 'Pooling', bottom: ['a'], top: ['p'], pooling_param: { pool: 'AVE', kernel_size: 2, stride: 2 } },
      conv('c2', 'p', 'b', 5, 6, 3),
      { name: 'r2', type: 'ReLU', bottom: ['b'], top: ['b'] },
      conv('c3', 'b', 'c', 4, 5, 5),
      { name: 'r3', type: 'ReLU', bottom: ['c'], top: ['c'] },
      conv('c4', 'c', 'out', 2, 4, 7),
    ], [1, 3, 12, 12]);
    const gs = rescaleGroups(s.graph);
    expect(gs.filter((g) => !g.fixed).length).toBe(3);
    const pf = new Map<string, number>([['c1', 8], ['c2', 0.25], ['c3', 2 ** 5]]);
    const factor = new Map<string, number>();
    for (const [n, f] of pf) for (const v of groupOf(gs, top(s.graph, n)).versions) factor.set(v, f);
    const r = rescaleActivations(s.graph, s.param, (v) => factor.get(v) ?? 1);
    expect(r.rescaled).toEqual([{ layer: 'c1', factor: 8 }, { layer: 'c2', factor: 0.25 }, { layer: 'c3', factor: 32 }]);
    // c4's output is the net output: W / 32, b unchanged
    const [W4, b4] = r.weights.get('c4')!;
    const c4 = s.graph.layers.find((l) => l.name === 'c4')!;
    expect(Array.from(W4.data)).toEqual(Array.from(c4.blobs[0].data, (v) => v / 32));
    expect(Array.from(b4.data)).toEqual(Array.from(c4.blobs[1].data));
    // the graph's own blobs are not modified
    expect(Array.from(s.graph.layers[1].blobs[0].data)).toEqual(Array.from(randTensor([6, 3, 3, 3], 1, 0.4).data));
    const x = randTensor([2, 3, 12, 12], 42, 4);
    const want = await runNet(s.graph, x, { keep: ['b'], warn: quiet });
    const got = await runNet(rebuild(r), x, { keep: ['b'], warn: quiet });
    expect(want.get('out')!.data.some((v) => v !== 0)).toBe(true);
    expect(bits(got.get('out')!).equals(bits(want.get('out')!))).toBe(true);
    // inside, b is exactly 0.25·b
    expect(Array.from(got.get('b')!.data)).toEqual(Array.from(want.get('b')!.data, (v) => v * 0.25));
  });
});

test('gridFactors: each free group\'s largest threshold T lands on (2^(bw-1)-1)·2^-fl with fl >= 0; fixed groups keep 1', () => {
  const c = (name: string, bottom: string, top: string, cin: number, seed: number): LayerParam & { blobs: Tensor[] } => ({
    name, type: 'Convolution', bottom: [bottom], top: [top], convolution_param: { num_output: 2, kernel_size: [1] },
    blobs: [randTensor([2, cin, 1, 1], seed), randTensor([2], seed + 1)],
  });
  const { graph } = small([
    c('conv1', 'data', 'c1', 1, 1),
    { name: 'relu1', type: 'ReLU', bottom: ['c1'], top: ['c1'] },
    c('conv2', 'c1', 'c2', 2, 3),
    { name: 'prob', type: 'Softmax', bottom: ['c2'], top: ['prob'] },
  ], [1, 1, 2, 2]);
  // a Xilinx-style plan: conv1's group (through the ReLU) at 3, conv2's (the Softmax input, fixed) at 300
  const plan = new Map<string, Record<string, unknown>>([
    ['conv1', { th_layer_in: 1, th_layer_out: 3 }],
    ['relu1', { th_layer_in: 3, th_layer_out: 3 }],
    ['conv2', { th_layer_in: 3, th_layer_out: 300 }],
  ]);
  const f = gridFactors(graph, plan as any, 8);
  const c1 = top(graph, 'conv1');
  // 127/3 = 42.3 → fl 5: 3·f = 127/32
  expect(f.get(c1)).toBeCloseTo(127 / 32 / 3, 12);
  expect(f.get(top(graph, 'relu1'))).toBe(f.get(c1));
  expect(f.has(top(graph, 'conv2'))).toBe(false);
  expect(f.has(top(graph, 'data'))).toBe(false);
  // 6 bit: 31/3 → fl 3
  const g6 = gridFactors(graph, plan as any, 6);
  expect(g6.get(c1)).toBeCloseTo(31 / 8 / 3, 12);
  const big = new Map(plan);
  big.set('conv1', { th_layer_in: 1, th_layer_out: 500 });
  big.set('relu1', { th_layer_in: 500, th_layer_out: 500 });
  // above 127: scaled down to fl 0 rather than a negative fl
  expect(gridFactors(graph, big as any, 8).get(c1)).toBeCloseTo(127 / 500, 12);
});

test('foldInputScale on folded ResNet-20: the rewritten net fed pixels − mean (no 1/256) gives the same fc1 and prob', async () => {
  const m = loadModel(R20_PROTO, R20_WEIGHTS, { warn: quiet });
  const f = foldBatchNormOffline(m.graph, m.net);
  const g = rebuild(f);
  const r = foldInputScale(g, f.net, R20_PRE.inputScale)!;
  expect(r.rescaled.map((x) => x.layer)).toEqual([]); // only conv1 reads the input; its output keeps its scale
  const conv1 = g.layers.find((l) => l.name === 'conv1')!;
  const W = r.weights.get('conv1')![0].data;
  for (const i of [0, 7, 100]) expect(W[i]).toBe(Math.fround(conv1.blobs[0].data[i] * R20_PRE.inputScale));
  const scaled = await loadImageBatch(IMAGES, R20_PRE);
  const board = await loadImageBatch(IMAGES, { ...R20_PRE, inputScale: 1 });
  const want = await runNet(g, scaled, { keep: ['fc1'], warn: quiet });
  const got = await runNet(rebuild(r), board, { keep: ['fc1'], warn: quiet });
  // 1/256 is a power of two: bit-identical
  expect(bits(got.get('fc1')!)).toEqual(bits(want.get('fc1')!));
  expect(bits(got.get('prob')!)).toEqual(bits(want.get('prob')!));
});

test('foldInputScale gives up when the input feeds a layer that cannot scale', () => {
  const { graph, param } = small([{ name: 'sig', type: 'Sigmoid', bottom: ['data'], top: ['sig'] }], [1, 1, 2, 2]);
  expect(foldInputScale(graph, param, 0.5)).toBeUndefined();
});

test('recenterInput on LeNet (after folding its 1/256): fed pixels − 127 it computes what the original computes on pixels/256', async () => {
  const m = loadModel(path.resolve(__dirname, '../models/lenet/lenet.prototxt'), path.resolve(__dirname, '../models/lenet/lenet_iter_10000.caffemodel'), { warn: quiet, inputShape: [1, 1, 28, 28] });
  const s1 = foldInputScale(m.graph, m.net, 1 / 256)!;
  const g1 = rebuild(s1, [1, 1, 28, 28]);
  const r = recenterInput(g1, s1.net, [127])!;
  expect(r).toBeDefined();
  const g2 = rebuild(r, [1, 1, 28, 28]);
  const pixels = randTensor([1, 1, 28, 28], 11, 1).data.map((v) => Math.round((v + 1) * 127.5));
  const original = await runNet(m.graph, { shape: [1, 1, 28, 28], data: pixels.map((p) => p / 256) }, { keep: ['ip2'], warn: quiet });
  const board = await runNet(g2, { shape: [1, 1, 28, 28], data: pixels.map((p) => p - 127) }, { keep: ['ip2'], warn: quiet });
  expectClose(board.get('ip2')!, original.get('ip2')!, 1e-4, 1e-4, 'ip2');
  // conv1 has no padding: exact in real arithmetic; a padded first conv is refused
  const padded = small([{ name: 'c', type: 'Convolution', bottom: ['data'], top: ['c'], convolution_param: { num_output: 1, kernel_size: [3], pad: [1] }, blobs: [randTensor([1, 1, 3, 3], 2), randTensor([1], 3)] }], [1, 1, 4, 4]);
  expect(recenterInput(padded.graph, padded.param, [127])).toBeUndefined();
});
