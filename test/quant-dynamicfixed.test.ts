import * as fs from 'fs';
import * as path from 'path';
import { parsePrototxt } from '../grammar';
import type { MessageNode, ScalarNode } from '../grammar/cst';
import { buildDynamicFixedPlan } from '../src/quant/dynamicfixed';
import { ristrettoFl } from '../src/calib/fl';
import { checkInvariants } from '../src/quant/invariants';
import { miniNet, randTensor } from './quant-net';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');

/** DynamicFixed snippets of the seed doc: type → {field: value} */
function docDynamicFixedBlocks(): Map<string, Record<string, string | number>> {
  const file = path.join(CORPUS, 'chaidnn/chaidnn_docs_precision_param_examples.prototxt');
  const doc = parsePrototxt(fs.readFileSync(file, 'utf8'), file);
  const out = new Map<string, Record<string, string | number>>();
  for (const f of doc.root.fields) {
    if (f.name !== 'layer') continue;
    const m = f.value as MessageNode;
    const type = (m.fields.find((x) => x.name === 'type')!.value as ScalarNode).value as string;
    const pp = m.fields.find((x) => x.name === 'precision_param');
    if (!pp) continue;
    const block: Record<string, string | number> = {};
    for (const x of (pp.value as MessageNode).fields) block[x.name] = (x.value as ScalarNode).value;
    const isDF = block.quant_type === 'DynamicFixed' || (block.quant_type === undefined && Object.keys(block).some((k) => k.startsWith('fl_')));
    if (isDF && ['Convolution', 'BatchNorm', 'Scale', 'Eltwise'].includes(type)) out.set(type, block);
  }
  return out;
}

function resnetBlock() {
  const W = randTensor([4, 3, 7, 7], 1, 0.5);
  return miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'conv1/7x7_s2', type: 'Convolution', bottoms: ['data'], tops: ['conv0'], blobs: [W, randTensor([4], 2)] },
    { name: 'conv0/bn/mv', type: 'BatchNorm', bottoms: ['conv0'], tops: ['conv0/bn/mv'], param: { batch_norm_param: { eps: 1e-5 } },
      blobs: [randTensor([4], 3, 3), { shape: [4], data: Float32Array.from([8, 2, 1, 0.5]) }, { shape: [1], data: Float32Array.from([4]) }] },
    { name: 'conv0/bn/bg', type: 'Scale', bottoms: ['conv0/bn/mv'], tops: ['conv0/bn/bg'], blobs: [randTensor([4], 5, 1.5), randTensor([4], 6, 0.2)] },
    { name: 'relu', type: 'ReLU', bottoms: ['conv0/bn/bg'], tops: ['conv0/bn/bg'] },
    { name: 'conv2', type: 'Convolution', bottoms: ['conv0/bn/bg'], tops: ['conv2'], blobs: [randTensor([4, 4, 3, 3], 7, 0.1)] },
    { name: 'group3/block1/eltwise', type: 'Eltwise', bottoms: ['conv2', 'conv0/bn/bg'], tops: ['e'] },
    { name: 'pool', type: 'Pooling', bottoms: ['e'], tops: ['pool'] },
    { name: 'cat', type: 'Concat', bottoms: ['pool', 'pool'], tops: ['cat'] },
    { name: 'prob', type: 'Softmax', bottoms: ['cat'], tops: ['prob'] },
  ]);
}

test('uniform mode reproduces the field sets of the seed doc DynamicFixed snippets', () => {
  const doc = docDynamicFixedBlocks();
  expect([...doc.keys()].sort()).toEqual(['BatchNorm', 'Convolution', 'Eltwise', 'Scale']);
  const net = resnetBlock();
  const { plan } = buildDynamicFixedPlan(net, { bitwidths: { in: 6, params: 6, out: 6 }, fl: { in: 2, params: 5, out: 2 } });
  const byType = new Map(net.layers.filter((l) => plan.has(l.name)).map((l) => [l.type, plan.get(l.name)!]));
  for (const [type, want] of doc) expect([type, Object.keys(byType.get(type)!).sort()]).toEqual([type, Object.keys(want).sort()]);
  // the conv snippet is exactly XportDNN's default 6,6,6 / 2,5,2
  expect(byType.get('Convolution')).toEqual(doc.get('Convolution'));
  expect(plan.has('data')).toBe(false);
  expect(plan.has('relu')).toBe(false);
  expect(plan.has('cat')).toBe(false);
  expect(plan.has('prob')).toBe(false);
  expect(plan.get('pool')!.quant_type).toBe('DynamicFixed');
  // 8-bit: the eltwise snippet's values
  const p8 = buildDynamicFixedPlan(net, { bitwidths: { in: 8, params: 8, out: 8 }, fl: { in: 3, params: 6, out: 3 } }).plan;
  expect(p8.get('group3/block1/eltwise')).toEqual(doc.get('Eltwise'));
});

test('BatchNorm / Scale parameter fields come from the weights', () => {
  const net = resnetBlock();
  const { plan } = buildDynamicFixedPlan(net, { bitwidths: { in: 8, params: 8, out: 8 }, fl: { in: 3, params: 6, out: 3 } });
  const bn = plan.get('conv0/bn/mv')!;
  // variance / factor 4 = [2, .5, .25, .125] → max 2 → il 2 → fl 8-1-1 = 6
  expect(bn.batchnorm_variance_fl).toBe(6);
  expect(bn.batchnorm_variance_bw).toBe(8);
  const sc = plan.get('conv0/bn/bg')!;
  const g = net.layers[3].blobs[0].data;
  expect(sc.scale_gamma_fl).toBe(ristrettoFl(Math.max(...Array.from(g, Math.abs)), 8, 'weights'));
  const byStd = Array.from(g, (x, c) => Math.abs(x / Math.sqrt([2, 0.5, 0.25, 0.125][c] + 1e-5)));
  expect(sc.scale_gamma_by_std_fl).toBe(Math.max(0, ristrettoFl(Math.max(...byStd), 8, 'weights')));
});

test('auto mode: per-layer fl, datapath valid, negative fl clamped with a warning (error with strict)', () => {
  const net = resnetBlock();
  // fake calibration: fl by writer layer; the eltwise output needs fewer fractional bits
  const act = (li: number) => [2, 3, 3, 4, 1, 5, 1, 1, 1, 1][li];
  const warns: string[] = [];
  const { plan } = buildDynamicFixedPlan(net, { bitwidths: { in: 8, params: 8, out: 8 }, fl: 'auto', actFl: act, warn: (m) => warns.push(m) });
  expect(checkInvariants(net, plan).filter((v) => v.severity === 'error')).toEqual([]);
  expect(plan.get('conv1/7x7_s2')!.fl_layer_in).toBe(2);
  expect(plan.get('conv1/7x7_s2')!.fl_params).toBe(ristrettoFl(0.5, 8, 'weights'));
  // eltwise inputs and output share one fl (the smallest)
  const e = plan.get('group3/block1/eltwise')!;
  expect(e.fl_layer_in).toBe(e.fl_layer_out);
  expect(plan.get('conv2')!.fl_layer_out).toBe(e.fl_layer_in);
  expect(warns).toEqual([]);

  const neg = (li: number) => (li === 5 ? -2 : 3);
  const w2: string[] = [];
  const r2 = buildDynamicFixedPlan(net, { bitwidths: { in: 6, params: 6, out: 6 }, fl: 'auto', actFl: neg, warn: (m) => w2.push(m) });
  expect(w2.join('\n')).toMatch(/"conv2".*-2.*clamped to 0.*saturate/);
  expect(r2.plan.get('conv2')!.fl_layer_out).toBe(0);
  expect(checkInvariants(net, r2.plan).filter((v) => v.severity === 'error')).toEqual([]);
  expect(() => buildDynamicFixedPlan(net, { bitwidths: { in: 6, params: 6, out: 6 }, fl: 'auto', actFl: neg, strict: true })).toThrow(/conv2/);
});
