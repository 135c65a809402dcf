import { buildXilinxPlan, snapPow2 } from '../src/quant/xilinx';
import { checkInvariants } from '../src/quant/invariants';
import * as path from 'path';
import { loadModel } from '../src/graph/load';
import type { Net } from '../src/graph/types';
import { miniNet, randTensor } from './quant-net';

const bw = { in: 6, params: 6, out: 6 };
// a fake calibration: each blob version gets a distinct threshold
const thOf = (li: number, ti: number) => 10 + li * 1.37 + ti * 0.11;

test('fcn5-like chain: blocks, fields, ReLU/pool propagation, invariants', () => {
  const net = miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'conv1', type: 'Convolution', bottoms: ['data'], tops: ['conv1'], blobs: [randTensor([4, 3, 3, 3], 1), randTensor([4], 2)] },
    { name: 'relu1', type: 'ReLU', bottoms: ['conv1'], tops: ['conv1'] },
    { name: 'pool1', type: 'Pooling', bottoms: ['conv1'], tops: ['pool1'] },
    { name: 'conv2', type: 'Convolution', bottoms: ['pool1'], tops: ['conv2'], blobs: [randTensor([2, 4, 3, 3], 3)] },
    { name: 'pool2', type: 'Pooling', bottoms: ['conv2'], tops: ['pool2'] },
    { name: 'prob', type: 'Softmax', bottoms: ['pool2'], tops: ['prob'] },
  ]);
  const { plan } = buildXilinxPlan(net, thOf, { bitwidths: bw });
  expect([...plan.keys()]).toEqual(['data', 'conv1', 'relu1', 'pool1', 'conv2', 'pool2']);
  expect(Object.keys(plan.get('data')!).sort()).toEqual(['bw_layer_out', 'th_layer_out']);
  expect(Object.keys(plan.get('relu1')!).sort()).toEqual(['bw_layer_in', 'bw_layer_out', 'th_layer_in', 'th_layer_out']);
  const c1 = plan.get('conv1')!;
  expect(c1.quant_type).toBe('Xilinx');
  expect(c1.th_params).toHaveLength(4);
  expect(c1.th_layer_in).toBe(Math.fround(thOf(0, 0)));
  // conv's th_out becomes the post-ReLU threshold (the relu's version), pool passes it on
  expect(c1.th_layer_out).toBe(Math.fround(thOf(2, 0)));
  expect(plan.get('relu1')!.th_layer_in).toBe(c1.th_layer_out);
  expect(plan.get('pool1')!.th_layer_out).toBe(c1.th_layer_out);
  expect(plan.get('conv2')!.th_layer_in).toBe(c1.th_layer_out);
  expect(plan.get('pool2')!.th_layer_in).toBe(plan.get('conv2')!.th_layer_out);
  const w = net.layers[1].blobs[0].data;
  let m0 = 0;
  for (let i = 0; i < 27; i++) m0 = Math.max(m0, Math.abs(w[i]));
  expect(c1.th_params[0]).toBe(Math.fround(m0));
  expect(checkInvariants(net, plan)).toEqual([]);
});

test('concat shares its KL threshold back through conv→relu→pool chains; eltwise takes the max', () => {
  const net = miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'a', type: 'Convolution', bottoms: ['data'], tops: ['a'], blobs: [randTensor([2, 3, 1, 1], 4)] },
    { name: 'ra', type: 'ReLU', bottoms: ['a'], tops: ['a'] },
    { name: 'pa', type: 'Pooling', bottoms: ['a'], tops: ['pa'] },
    { name: 'b', type: 'Convolution', bottoms: ['data'], tops: ['b'], blobs: [randTensor([2, 3, 1, 1], 5)] },
    { name: 'cat', type: 'Concat', bottoms: ['pa', 'b'], tops: ['cat'] },
    { name: 'c', type: 'Convolution', bottoms: ['cat'], tops: ['c'], blobs: [randTensor([4, 4, 1, 1], 6)] },
    { name: 'e', type: 'Eltwise', bottoms: ['c', 'cat'], tops: ['e'] },
    { name: 'out', type: 'Convolution', bottoms: ['e'], tops: ['out'], blobs: [randTensor([1, 4, 1, 1], 7)] },
  ]);
  const { plan } = buildXilinxPlan(net, thOf, { bitwidths: bw });
  const catTh = Math.fround(thOf(5, 0));
  for (const n of ['a', 'b']) expect(plan.get(n)!.th_layer_out).toBe(Math.max(catTh, Math.fround(thOf(6, 0))));
  const e = plan.get('e')!;
  expect(e.th_layer_in).toBe(e.th_layer_out);
  expect(e.th_layer_out).toBe(Math.max(catTh, Math.fround(thOf(6, 0))));
  expect(plan.get('c')!.th_layer_out).toBe(e.th_layer_out);
  expect(plan.get('cat')!.th_layer_out).toBe(e.th_layer_out);
  expect(checkInvariants(net, plan)).toEqual([]);
});

test('ReLU after an Eltwise keeps the larger of the group threshold and its own (inputs are not clipped harder)', () => {
  const net = miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'a', type: 'Convolution', bottoms: ['data'], tops: ['a'], blobs: [randTensor([2, 3, 1, 1], 4)] },
    { name: 'b', type: 'Convolution', bottoms: ['data'], tops: ['b'], blobs: [randTensor([2, 3, 1, 1], 5)] },
    { name: 'e', type: 'Eltwise', bottoms: ['a', 'b'], tops: ['e'] },
    { name: 'r', type: 'ReLU', bottoms: ['e'], tops: ['e'] },
  ]);
  const th = (li: number) => [5, 7, 9, 11, li === 4 ? 3 : 100][li];
  const { plan } = buildXilinxPlan(net, (li) => th(li), { bitwidths: bw });
  for (const n of ['a', 'b', 'e', 'r']) expect([n, plan.get(n)!.th_layer_out]).toEqual([n, 9]);
  const big = buildXilinxPlan(net, (li) => (li === 4 ? 20 : th(li)), { bitwidths: bw }).plan;
  for (const n of ['a', 'b', 'e', 'r']) expect([n, big.get(n)!.th_layer_out]).toEqual([n, 20]);
  expect(checkInvariants(net, plan)).toEqual([]);
});

test('BN+Scale in place after conv: folded th_params, in == out == conv out, an integer threshold; standalone BN warns', () => {
  const W = randTensor([3, 2, 1, 1], 8);
  const mean = randTensor([3], 9);
  const variance = { shape: [3], data: Float32Array.from([4, 0.25, 1]) };
  const factor = { shape: [1], data: Float32Array.from([2]) };
  const gamma = { shape: [3], data: Float32Array.from([1, -2, 0.5]) };
  const net = miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'conv', type: 'Convolution', bottoms: ['data'], tops: ['conv'], blobs: [W] },
    { name: 'bn', type: 'BatchNorm', bottoms: ['conv'], tops: ['conv'], blobs: [mean, variance, factor], param: { batch_norm_param: { eps: 0 } } },
    { name: 'sc', type: 'Scale', bottoms: ['conv'], tops: ['conv'], blobs: [gamma, randTensor([3], 10)] },
    { name: 'relu', type: 'ReLU', bottoms: ['conv'], tops: ['conv'] },
    { name: 'bn2', type: 'BatchNorm', bottoms: ['conv'], tops: ['bn2'], blobs: [mean, variance, factor] },
  ]);
  const warns: string[] = [];
  const { plan } = buildXilinxPlan(net, thOf, { bitwidths: bw, warn: (m) => warns.push(m) });
  const c = plan.get('conv')!;
  // var/2 = [2, .125, .5]; S = gamma/sqrt(var/2)
  const S = [1 / Math.sqrt(2), -2 / Math.sqrt(0.125), 0.5 / Math.sqrt(0.5)];
  for (let o = 0; o < 3; o++) {
    const m = Math.max(Math.abs(W.data[2 * o]), Math.abs(W.data[2 * o + 1]));
    expect(c.th_params[o]).toBeCloseTo(m * Math.abs(S[o]), 5);
  }
  // the ReLU's 15.48, rounded up: CHaiDNN keeps a fused conv's th_layer_out in an int (final_op_th)
  expect(thOf(4, 0)).toBeCloseTo(15.48, 6);
  expect(c.th_layer_out).toBe(16);
  expect(warns.join('\n')).toMatch(/1 threshold\(s\) of convolutions with BatchNorm\/Scale fused rounded up to integers \(15\.4799995422 → 16\)/);
  for (const n of ['bn', 'sc', 'relu']) {
    expect(plan.get(n)!.th_layer_in).toBe(c.th_layer_out);
    expect(plan.get(n)!.th_layer_out).toBe(c.th_layer_out);
  }
  expect(warns.join('\n')).toMatch(/bn2.*standalone/);
  expect(checkInvariants(net, plan)).toEqual([]);
});

test('--pow2 snaps thresholds and th_params; invariants still hold', () => {
  expect(snapPow2(151.08, 8)).toBe(254);
  expect(snapPow2(15.7, 8)).toBe(15.875);
  expect(snapPow2(0.03, 8)).toBe(0.031005859375); // ceil, as in the ml-suite resnet50 file
  const net = miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'conv', type: 'Convolution', bottoms: ['data'], tops: ['conv'], blobs: [randTensor([2, 3, 1, 1], 11)] },
    { name: 'pool', type: 'Pooling', bottoms: ['conv'], tops: ['pool'] },
  ]);
  const { plan } = buildXilinxPlan(net, thOf, { bitwidths: { in: 8, params: 8, out: 8 }, pow2: true });
  for (const b of plan.values()) {
    for (const v of [b.th_layer_in, b.th_layer_out, ...(b.th_params ?? [])].filter((x) => x !== undefined)) {
      const k = Math.log2(v / 127);
      expect(Number.isInteger(k)).toBe(true);
    }
  }
  expect(checkInvariants(net, plan)).toEqual([]);
});

test('checkInvariants reports a broken producer/consumer pair and pool in != out', () => {
  const net = miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'pool', type: 'Pooling', bottoms: ['data'], tops: ['pool'] },
  ]);
  const plan = new Map<string, any>([
    ['data', { bw_layer_out: 8, th_layer_out: 1.5 }],
    ['pool', { bw_layer_in: 8, bw_layer_out: 8, th_layer_in: 1.25, th_layer_out: 2 }],
  ]);
  const v = checkInvariants(net, plan);
  expect(v.map((x) => x.message).join('\n')).toMatch(/th_layer_in 1.25 of "pool" differs from th_layer_out 1.5/);
  expect(v.map((x) => x.message).join('\n')).toMatch(/must have th_layer_in == th_layer_out/);
});

describe('real topologies (corpus deploy files, random weights, fake per-version thresholds)', () => {
  const CORPUS = path.resolve(__dirname, '../../shared/corpus');
  const prep = (file: string): Net => {
    const m = loadModel(path.join(CORPUS, file), undefined, { warn: () => undefined });
    let seed = 1;
    for (const l of m.graph.layers) {
      const n = l.param.convolution_param?.num_output ?? l.param.inner_product_param?.num_output;
      if (n && (l.type === 'Convolution' || l.type === 'InnerProduct')) l.blobs = [randTensor([n, 3], seed++)];
    }
    return m.graph;
  };
  test('GoogLeNet: every producer chain feeding a Concat ends at the Concat threshold (as in the ML-Suite file)', () => {
    const net = prep('chaidnn/mlsuite_googlenet_nolrn_deploy_fp32.prototxt');
    const { plan } = buildXilinxPlan(net, thOf, { bitwidths: { in: 8, params: 8, out: 8 } });
    expect(checkInvariants(net, plan)).toEqual([]);
    let checked = 0;
    for (const l of net.layers) {
      if (l.type !== 'Concat') continue;
      const th = plan.get(l.name)!.th_layer_in;
      expect(plan.get(l.name)!.th_layer_out).toBe(th);
      l.bottoms.forEach((_, bi) => {
        const p = net.layers[net.producer(l.index, bi)];
        expect([p.name, plan.get(p.name)!.th_layer_out]).toEqual([p.name, th]);
        checked++;
      });
    }
    expect(checked).toBeGreaterThan(30);
  });
  test('ResNet-50: Eltwise inputs and output share one threshold', () => {
    const net = prep('chaidnn/mlsuite_resnet50_nobn_deploy_fp32.prototxt');
    const { plan } = buildXilinxPlan(net, thOf, { bitwidths: { in: 8, params: 8, out: 8 }, pow2: true });
    expect(checkInvariants(net, plan)).toEqual([]);
    const elt = net.layers.filter((l) => l.type === 'Eltwise');
    expect(elt.length).toBe(16);
    for (const l of elt) {
      const b = plan.get(l.name)!;
      expect(b.th_layer_in).toBe(b.th_layer_out);
      expect(Number.isInteger(Math.log2(b.th_layer_out / 127))).toBe(true);
    }
  });
});

test('committed ResNet-20 Xilinx output: every BN/Scale-fused threshold is an integer (CHaiDNN truncates them)', () => {
  const fs = require('fs') as typeof import('fs');
  const text: string = fs.readFileSync(path.join(__dirname, 'fixtures/quant/quantized/resnet20_xilinx_888.prototxt'), 'utf8');
  const scales = [...text.matchAll(/type: "Scale"[\s\S]*?th_layer_out: ([0-9.e+-]+)/g)].map((m) => Number(m[1]));
  expect(scales.length).toBe(21);
  for (const th of scales) expect(Number.isInteger(th)).toBe(true);
});
