import * as fs from 'fs';
import * as path from 'path';
import { loadModel, loadNetText } from '../src/graph/load';
import { parsePrototxt } from '../grammar';
import type { MessageNode, ScalarNode } from '../grammar/cst';
import { collectStats, thresholdsFromStats } from '../src/quant/calibrate';
import { buildXilinxPlan } from '../src/quant/xilinx';
import { checkInvariants } from '../src/quant/invariants';
import { applyPlan } from '../src/print/precision';
import { randTensor } from './quant-net';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const FP32 = path.join(CORPUS, 'chaidnn/xportdnn_fcn5_deploy_fp32.prototxt');

/** [layer, [field names in order]] for every block */
function structure(text: string): [string, string[]][] {
  const doc = parsePrototxt(text, 'x');
  const out: [string, string[]][] = [];
  for (const f of doc.root.fields) {
    if (f.name !== 'layer') continue;
    const m = f.value as MessageNode;
    const pp = m.fields.find((x) => x.name === 'precision_param');
    if (!pp) continue;
    out.push([String((m.fields.find((x) => x.name === 'name')!.value as ScalarNode).value), (pp.value as MessageNode).fields.map((x) => x.name)]);
  }
  return out;
}

function blockValues(text: string, layer: string): Record<string, any> {
  const doc = parsePrototxt(text, 'x');
  for (const f of doc.root.fields) {
    const m = f.value as MessageNode;
    if (f.name !== 'layer' || (m.fields.find((x) => x.name === 'name')!.value as ScalarNode).value !== layer) continue;
    const b: Record<string, any> = {};
    for (const x of (m.fields.find((y) => y.name === 'precision_param')!.value as MessageNode).fields) {
      const v = (x.value as ScalarNode).value;
      if (x.name === 'th_params') (b.th_params ??= []).push(v);
      else b[x.name] = v;
    }
    return b;
  }
  throw new Error(layer);
}

let shared: Promise<{ m: ReturnType<typeof loadModel>; stats: Awaited<ReturnType<typeof collectStats>> }> | undefined;
function calibrated() {
  shared ??= calibrate();
  return shared;
}

async function calibrate() {
  const m = loadModel(FP32);
  let seed = 10;
  for (const l of m.graph.layers) {
    if (l.type !== 'Convolution') continue;
    const n = l.param.convolution_param.num_output;
    const cin = l.bottomShapes[0]![1];
    l.blobs = [randTensor([n, cin, 3, 3], seed++, 0.3), randTensor([n], seed++, 0.1)];
  }
  // one "image": 0..255 BGR minus mean, like the XportDNN preprocessing
  const mean = [104, 117, 123];
  const imgs = [1].map((s) => {
    const t = randTensor([1, 3, 200, 200], 100 + s, 1);
    for (let i = 0; i < t.data.length; i++) t.data[i] = Math.round((t.data[i] + 1) * 127.5) - mean[Math.floor(i / 40000)];
    return t;
  });
  const stats = await collectStats(m.graph, imgs, { method: 'kl' });
  return { m, stats };
}

async function quantizeFcn5(bitwidths: { in: number; params: number; out: number }) {
  const { m, stats } = await calibrated();
  const { thOf } = thresholdsFromStats(m.graph, stats, 'kl', bitwidths.out);
  const { plan } = buildXilinxPlan(m.graph, thOf, { bitwidths });
  return { m, plan, out: applyPlan(m.doc, plan) };
}

test.each([
  ['666', { in: 6, params: 6, out: 6 }],
  ['668', { in: 6, params: 6, out: 8 }],
])('fcn5 %s: block structure equals XportDNN output, rest byte-identical, invariants hold', async (variant, bitwidths) => {
  const { m, plan, out } = await quantizeFcn5(bitwidths);
  const want = fs.readFileSync(path.join(CORPUS, `chaidnn/xportdnn_fcn5_deploy_${variant}.prototxt`), 'utf8');
  expect(structure(out)).toEqual(structure(want));
  // bitwidth fields carry the same values as the real file
  for (const layer of ['data', 'conv1_1', 'relu1_1', 'pool1', 'conv5_1', 'pool5']) {
    const got = blockValues(out, layer);
    const ref = blockValues(want, layer);
    for (const k of ['bw_layer_in', 'bw_layer_out', 'bw_params', 'quant_type']) expect([layer, k, got[k]]).toEqual([layer, k, ref[k]]);
    expect(got.th_params?.length).toBe(ref.th_params?.length);
  }
  // outside the blocks: the input file byte for byte
  const stripped = out.replace(/  precision_param \{\r\n(    .*\r\n)*  \}\r\n/g, '');
  // and, as in XportDNN's real output, the Input batch set to 1 (CHaiDNN runs batch 1)
  expect(stripped).toBe(m.doc.text.replace('shape: { dim: 10 dim: 3', 'shape: { dim: 1 dim: 3'));
  expect(checkInvariants(m.graph, plan).filter((v) => v.severity === 'error')).toEqual([]);
  // the output loads back with our parser + binder
  const back = loadNetText('out.prototxt', { text: out });
  expect(back.net.layer.find((l) => l.name === 'conv1_1')!.precision_param!.th_params).toHaveLength(40);
});
