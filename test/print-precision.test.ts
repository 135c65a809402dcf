import * as fs from 'fs';
import * as path from 'path';
import { parsePrototxt } from '../grammar';
import type { MessageNode, ScalarNode, PrototxtDoc } from '../grammar/cst';
import { applyPlan, renderBlock, detectIndentUnit } from '../src/print/precision';
import type { PrecisionPlan } from '../src/quant/plan';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const read = (f: string) => fs.readFileSync(path.join(CORPUS, 'chaidnn', f), 'utf8');

/** layer name → its precision_param (as numbers/strings; repeated th_params as an array), and the block's source text */
function blocksOf(doc: PrototxtDoc): Map<string, { block: Record<string, any>; text: string }> {
  const out = new Map();
  for (const f of doc.root.fields) {
    if (f.name !== 'layer') continue;
    const m = f.value as MessageNode;
    const name = (m.fields.find((x) => x.name === 'name')!.value as ScalarNode).value;
    const pp = m.fields.find((x) => x.name === 'precision_param' || x.name === 'quantization_param');
    if (!pp) continue;
    const block: Record<string, any> = {};
    for (const x of (pp.value as MessageNode).fields) {
      const v = (x.value as ScalarNode).value;
      if (x.name === 'th_params') (block.th_params ??= []).push(v);
      else block[x.name] = v;
    }
    const ls = doc.text.lastIndexOf('\n', pp.span.start) + 1;
    out.set(name, { block, text: doc.text.slice(ls, pp.span.end) });
  }
  return out;
}

for (const variant of ['666', '668']) {
  test(`fcn5 ${variant}: blocks print exactly like XportDNN's, the rest of the fp32 file is untouched`, () => {
    const fp32 = parsePrototxt(read('xportdnn_fcn5_deploy_fp32.prototxt'), 'fp32');
    const want = blocksOf(parsePrototxt(read(`xportdnn_fcn5_deploy_${variant}.prototxt`), variant));
    const plan: PrecisionPlan = new Map([...want].map(([k, v]) => [k, v.block]));
    // shuffle key order inside blocks: the printer must sort by field number
    for (const b of plan.values()) {
      const keys = Object.keys(b).reverse();
      const c = Object.fromEntries(keys.map((k) => [k, b[k]]));
      for (const k of Object.keys(b)) delete b[k];
      Object.assign(b, c);
    }
    const out = applyPlan(fp32, plan);
    const got = blocksOf(parsePrototxt(out, 'out'));
    expect([...got.keys()]).toEqual([...want.keys()]);
    // the fp32 file has CRLF line ends, kept in the inserted blocks
    expect(out).not.toMatch(/[^\r]\n/);
    for (const [k, v] of want) expect([k, got.get(k)!.text.replace(/\r/g, '')]).toEqual([k, v.text]);
    // removing the inserted blocks gives the input back, byte for byte
    let stripped = out;
    for (const v of got.values()) stripped = stripped.replace(v.text + '\r\n', '');
    // and the Input batch 10 → 1, as in XportDNN's output (CHaiDNN runs batch 1)
    expect(stripped).toBe(fp32.text.replace('shape: { dim: 10 dim: 3', 'shape: { dim: 1 dim: 3'));
  });
}

test('existing quantization_param (ML-Suite) is replaced by precision_param in place; stale blocks are removed', () => {
  const text = read('mlsuite_googlenet_nolrn_int8_quantized_train_val.prototxt');
  const doc = parsePrototxt(text, 'g');
  const old = blocksOf(doc);
  const first = [...old.keys()].find((k) => old.get(k)!.block.th_params)!;
  const plan: PrecisionPlan = new Map([[first, { bw_layer_in: 8, th_layer_in: 1.5, quant_type: 'Xilinx' }]]);
  const out = applyPlan(doc, plan);
  const again = blocksOf(parsePrototxt(out, 'out'));
  expect([...again.keys()]).toEqual([first]);
  expect(again.get(first)!.block).toEqual({ bw_layer_in: 8, th_layer_in: 1.5, quant_type: 'Xilinx' });
  expect(out).not.toMatch(/quantization_param/);
});

test('indent unit detection (tabs, 4 spaces) and one-line layers', () => {
  const tabs = parsePrototxt('name: "t"\nlayer {\n\tname: "c"\n\ttype: "Convolution"\n}\n', 't');
  expect(detectIndentUnit(tabs)).toBe('\t');
  expect(applyPlan(tabs, new Map([['c', { bw_layer_in: 6, th_params: [1, 0.5] }]]))).toBe(
    'name: "t"\nlayer {\n\tname: "c"\n\ttype: "Convolution"\n\tprecision_param {\n\t\tbw_layer_in: 6\n\t\tth_params: 1.0\n\t\tth_params: 0.5\n\t}\n}\n',
  );
  const four = parsePrototxt('layer {\n    name: "p"\n    type: "Pooling"\n}\nlayer { name: "q" type: "ReLU" }\n', 'f');
  expect(applyPlan(four, new Map([['p', { bw_layer_out: 8 }], ['q', { th_layer_in: 2 }]]))).toBe(
    'layer {\n    name: "p"\n    type: "Pooling"\n    precision_param {\n        bw_layer_out: 8\n    }\n}\n' +
      'layer { name: "q" type: "ReLU"\n    precision_param {\n        th_layer_in: 2.0\n    }\n}\n',
  );
  const crlf = parsePrototxt('layer {\r\n  name: "c"\r\n}\r\n', 'c');
  expect(applyPlan(crlf, new Map([['c', { bw_layer_in: 8 }]]))).toBe('layer {\r\n  name: "c"\r\n  precision_param {\r\n    bw_layer_in: 8\r\n  }\r\n}\r\n');
});

test('renderBlock orders fields by number with quant_type last', () => {
  expect(renderBlock({ quant_type: 'Xilinx', th_params: [0.25], th_layer_in: 151.077041626, bw_params: 6 }, '  ', '  ')).toEqual([
    '  precision_param {',
    '    bw_params: 6',
    '    th_layer_in: 151.077041626',
    '    th_params: 0.25',
    '    quant_type: "Xilinx"',
    '  }',
  ]);
});

test('mixed indentation: each layer nests its block with its own unit', () => {
  const doc = parsePrototxt('layer {\n    name: "a"\n}\nlayer {\n  name: "b"\n}\n', 'm');
  expect(applyPlan(doc, new Map([['a', { bw_layer_out: 8 }], ['b', { bw_layer_out: 8 }]]))).toBe(
    'layer {\n    name: "a"\n    precision_param {\n        bw_layer_out: 8\n    }\n}\nlayer {\n  name: "b"\n  precision_param {\n    bw_layer_out: 8\n  }\n}\n',
  );
});
