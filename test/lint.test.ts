import * as fs from 'fs';
import * as path from 'path';
import { lintText } from '../src/lint/lint';
import { RULES, RuleId } from '../src/lint/rules';
import type { LintOptions } from '../src/lint/lint';
import { cliServer, CORPUS } from './helpers/cli';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
const cli = cliServer();
afterAll(() => cli.close());

const FIX = path.join(__dirname, 'fixtures/lint');
const xilinx = fs.readFileSync(path.join(FIX, 'clean_xilinx.prototxt'), 'utf8');
const dynamic = fs.readFileSync(path.join(FIX, 'clean_dynamicfixed.prototxt'), 'utf8');

function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture edit: '${from}' not found`);
  return text.replace(from, to);
}
const rulesOf = (text: string, opts?: LintOptions) => lintText(text, 'x.prototxt', opts).map((d) => d.rule);

const CONV1_XILINX = 'th_params: 0.5\n    th_params: 0.25';
const weightsClipped = new Map([
  ['conv1', [{ shape: [2, 3, 3, 3], data: new Float32Array(54).fill(0.1).fill(0.9, 0, 1) }, { shape: [2], data: new Float32Array(2) }]],
]);
const weightsNaN = new Map([
  ['conv1', [{ shape: [2, 3, 3, 3], data: new Float32Array(54).fill(0.1).fill(NaN, 5, 6) }, { shape: [2], data: new Float32Array(2) }]],
]);

// conv1 with a Scale in place: W' = W·1 has max 0.9, so the runtime's fl is 8 − 1 = 7, not the file's 6
const SCALE_ON_CONV1 = 'layer {\n  name: "conv1/scale"\n  type: "Scale"\n  bottom: "conv1"\n  top: "conv1"\n  precision_param { scale_gamma_bw: 8 scale_gamma_fl: 6 scale_beta_bw: 8 scale_beta_fl: 6 scale_gamma_by_std_bw: 8 scale_gamma_by_std_fl: 6 }\n}\nlayer {\n  name: "pool"';
const weightsFolded = new Map([
  ['conv1', [{ shape: [2, 3, 3, 3], data: new Float32Array(54).fill(0.1).fill(0.9, 0, 1) }, { shape: [2], data: new Float32Array(2) }]],
  ['conv1/scale', [{ shape: [2], data: new Float32Array([1, 1]) }]],
]);

/** For each rule, an edit of a clean file that triggers it (and the clean file it starts from). */
const triggers: Record<RuleId, { base: string; text: () => string; opts?: LintOptions }> = {
  syntax: { base: xilinx, text: () => edit(xilinx, 'top: "pool"\n', 'top: "pool" }}\n') },
  'unknown-field': { base: xilinx, text: () => edit(xilinx, 'bw_layer_in: 8\n    bw_layer_out: 8\n    bw_params: 8\n    th_layer_in: 4.0', 'bwlayer_in: 8\n    bw_layer_out: 8\n    bw_params: 8\n    th_layer_in: 4.0') },
  'wrong-type': { base: xilinx, text: () => edit(xilinx, 'num_output: 10', 'num_output: "ten"') },
  'duplicate-name': { base: xilinx, text: () => edit(xilinx, 'name: "conv2"', 'name: "conv1"') },
  'undefined-bottom': { base: xilinx, text: () => edit(xilinx, 'bottom: "add"', 'bottom: "nosuch"') },
  'top-overwritten': { base: xilinx, text: () => edit(xilinx, 'bottom: "conv1"\n  top: "pool"', 'bottom: "conv1"\n  top: "conv2"') },
  'missing-precision': { base: xilinx, text: () => edit(xilinx, 'th_layer_in: 6.0 th_layer_out: 6.0 quant_type: "Xilinx" }\n}\nlayer {\n  name: "add"', 'th_layer_in: 6.0 th_layer_out: 6.0 }\n}\nlayer {\n  name: "add"') },
  'foreign-field': { base: xilinx, text: () => edit(xilinx, CONV1_XILINX, CONV1_XILINX + '\n    fl_params: 3') },
  'quant-type': { base: xilinx, text: () => edit(xilinx, 'quant_type: "Xilinx"', 'quant_type: "Xilix"') },
  bitwidth: { base: xilinx, text: () => edit(xilinx, 'bw_params: 8', 'bw_params: 7') },
  'th-params-count': { base: xilinx, text: () => edit(xilinx, CONV1_XILINX, 'th_params: 0.5') },
  'bad-threshold': { base: xilinx, text: () => edit(xilinx, 'th_layer_out: 4.0', 'th_layer_out: nan') },
  'fl-range': { base: dynamic, text: () => edit(dynamic, 'fl_params: 6', 'fl_params: -1') },
  'th-mismatch': { base: xilinx, text: () => edit(xilinx, 'th_layer_in: 4.0', 'th_layer_in: 4.0001') },
  'fl-mismatch': { base: dynamic, text: () => edit(dynamic, 'fl_layer_in: 3 fl_layer_out: 3', 'fl_layer_in: 2 fl_layer_out: 2') },
  'in-out-mismatch': { base: xilinx, text: () => edit(xilinx, 'bottom: "pool"\n  top: "add"\n  precision_param { bw_layer_in: 8 bw_layer_out: 8 th_layer_in: 6.0 th_layer_out: 6.0', 'bottom: "pool"\n  top: "add"\n  precision_param { bw_layer_in: 8 bw_layer_out: 8 th_layer_in: 6.0 th_layer_out: 7.0') },
  'shared-threshold': {
    base: xilinx,
    text: () => edit(xilinx, 'th_layer_in: 6.0\n    th_layer_out: 6.0\n    th_params: 0.5\n    th_params: 0.5', 'th_layer_in: 6.0\n    th_layer_out: 5.0\n    th_params: 0.5\n    th_params: 0.5'),
  },
  'unsupported-layer': { base: xilinx, text: () => edit(xilinx, 'layer {\n  name: "prob"', 'layer {\n  name: "norm"\n  type: "LRN"\n  bottom: "ip"\n  top: "ip"\n}\nlayer {\n  name: "prob"') },
  'hw-limits': { base: xilinx, text: () => edit(xilinx, 'num_output: 2 kernel_size: 3 pad: 1 }\n  precision_param {\n    bw_layer_in: 8\n    bw_layer_out: 8\n    bw_params: 8\n    th_layer_in: 6.0', 'num_output: 2 kernel_size: 4 pad: 1 }\n  precision_param {\n    bw_layer_in: 8\n    bw_layer_out: 8\n    bw_params: 8\n    th_layer_in: 6.0') },
  'clipped-weights': { base: xilinx, text: () => xilinx, opts: { weights: weightsClipped as any } },
  'nonfinite-weights': { base: xilinx, text: () => xilinx, opts: { weights: weightsNaN as any } },
  'fused-th-int': {
    base: xilinx,
    text: () => edit(xilinx, 'layer {\n  name: "relu1"', 'layer {\n  name: "conv1/scale"\n  type: "Scale"\n  bottom: "conv1"\n  top: "conv1"\n  precision_param { bw_layer_in: 8 bw_layer_out: 8 th_layer_in: 6.0 th_layer_out: 6.5 }\n}\nlayer {\n  name: "relu1"'),
  },
  'folded-fl-params': { base: dynamic, text: () => edit(dynamic, 'layer {\n  name: "pool"', SCALE_ON_CONV1), opts: { weights: weightsFolded as any } },
};

test('fl above the bit width: with the weights, a warning only when values saturate, naming the largest', () => {
  // fl_params 10 at 8 bit: range ±127/1024 = ±0.124; a half step more (0.1245) still rounds onto the range
  const text = edit(dynamic, 'fl_params: 6', 'fl_params: 10');
  const conv1 = (w: number[]) => new Map([['conv1', [{ shape: [2, 3, 3, 3], data: new Float32Array(54).fill(0.01).fill(w[0], 0, 1).fill(w[1], 1, 2) }]]]);
  const flRange = (weights?: Map<string, any>) => lintText(text, 'x.prototxt', { weights }).filter((d) => d.rule === 'fl-range');
  expect(flRange().map((d) => [d.severity, d.message])).toEqual([['warning', 'fl_params = 10 is above the bit width 8 (range ±0.1240234375); valid Q(bw,fl), check the values fit']]);
  expect(flRange(conv1([0.124, -0.125]))).toEqual([]); // −128/1024 is in range too
  expect(flRange(conv1([0.1245, -0.1])).map((d) => d.message)).toEqual([]);
  expect(flRange(conv1([0.2, -0.15])).map((d) => d.message)).toEqual(['fl_params = 10 is above the bit width 8 (range ±0.1240234375): values up to 0.20000000298023224 saturate']);
  expect(flRange(conv1([0.1, -0.3])).map((d) => d.message)).toEqual(['fl_params = 10 is above the bit width 8 (range ±0.1240234375): values up to 0.30000001192092896 saturate']);
});

test('folded-fl-params is silent when fl_params is the fl the runtime derives', async () => {
  const text = edit(edit(dynamic, 'layer {\n  name: "pool"', SCALE_ON_CONV1), 'fl_params: 6', 'fl_params: 7');
  expect(rulesOf(text, { weights: weightsFolded as any })).not.toContain('folded-fl-params');
  expect(rulesOf(edit(dynamic, 'layer {\n  name: "pool"', SCALE_ON_CONV1), { weights: weightsFolded as any })).toContain('folded-fl-params');
});

describe('lint rules', () => {
  test('the clean fixtures have no diagnostics', () => {
    expect(lintText(xilinx, 'x.prototxt')).toEqual([]);
    expect(lintText(dynamic, 'x.prototxt')).toEqual([]);
  });

  test('every rule has a trigger case', () => {
    expect(Object.keys(triggers).sort()).toEqual(Object.keys(RULES).sort());
  });

  for (const [rule, t] of Object.entries(triggers) as [RuleId, (typeof triggers)[RuleId]][]) {
    test(`${rule}: triggered by its case, silent on the clean file, --disable turns it off`, () => {
      expect(rulesOf(t.base, t.opts?.weights ? { weights: new Map() } : undefined)).not.toContain(rule);
      const diags = lintText(t.text(), 'x.prototxt', t.opts);
      const hit = diags.filter((d) => d.rule === rule);
      expect(hit.length).toBeGreaterThan(0);
      expect(hit[0].severity).toBe(RULES[rule].severity);
      expect(hit[0].line).toBeGreaterThan(0);
      expect(rulesOf(t.text(), { ...t.opts, disable: [rule] })).not.toContain(rule);
    });
  }

  test('diagnostics point at the offending field', () => {
    const text = edit(xilinx, 'th_layer_in: 4.0', 'th_layer_in: 4.0001');
    const d = lintText(text, 'x.prototxt').find((x) => x.rule === 'th-mismatch')!;
    const line = text.split('\n')[d.line - 1];
    expect(line.slice(d.col - 1)).toMatch(/^4\.0001/);
  });
});

describe('lint on the corpus', () => {
  const C = path.join(CORPUS, 'chaidnn');

  test('the CHaiDNN doc examples report bwlayer_in (did you mean bw_layer_in) and the Eltwise th_in ≠ th_out', () => {
    const file = path.join(C, 'chaidnn_docs_precision_param_examples.prototxt');
    const diags = lintText(fs.readFileSync(file, 'utf8'), file);
    const unknown = diags.find((d) => d.rule === 'unknown-field')!;
    expect(unknown.message).toMatch(/bwlayer_in.*did you mean .bw_layer_in/);
    expect(unknown.line).toBe(31);
    const inout = diags.find((d) => d.rule === 'in-out-mismatch')!;
    expect(inout.message).toMatch(/Eltwise.*752\.14132257.*1106\.06941786/);
  });

  test.each(['xportdnn_fcn5_deploy_666.prototxt', 'xportdnn_fcn5_deploy_668.prototxt'])('real XportDNN output %s has no errors', (f) => {
    const file = path.join(C, f);
    const errors = lintText(fs.readFileSync(file, 'utf8'), file).filter((d) => d.severity === 'error');
    expect(errors).toEqual([]);
  });

  test.each(['googlenet_nolrn', 'resnet50_nobn', 'vgg16', 'mobilenet_nobn'])('ML-Suite %s int8 file is understood (quantization_param, ConvolutionRistretto, train_val)', (net) => {
    const file = path.join(C, `mlsuite_${net}_int8_quantized_train_val.prototxt`);
    const diags = lintText(fs.readFileSync(file, 'utf8'), file);
    // parses and binds; aliases resolved (no unknown types); blocks found on the TRAIN data layer
    for (const r of ['syntax', 'unknown-field', 'wrong-type', 'unsupported-layer', 'undefined-bottom', 'th-mismatch'] as RuleId[]) {
      expect(diags.filter((d) => d.rule === r)).toEqual([]);
    }
    // what is left is real: the blocks lack quant_type, so CHaiDNN would read them as DynamicFixed
    const errors = diags.filter((d) => d.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e.message).toMatch(/no quant_type/);
  });
});

test('folded-fl-params on ResNet-20: XportDNN-style uniform fl_params are overridden by the runtime, auto ones are not', async () => {
  const W = path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel');
  const Q = path.join(__dirname, 'fixtures/quant/quantized');
  const count = async (f: string) => (await cli.run(['lint', path.join(Q, f), '--weights', W])).stdout.split('\n').filter((l) => l.endsWith('[folded-fl-params]')).length;
  expect(await count('resnet20_dynamicfixed_uniform.prototxt')).toBeGreaterThan(10);
  expect(await count('resnet20_dynamicfixed_auto.prototxt')).toBe(0);
});

describe('chaiq lint / diff CLI', () => {
  const C = path.join(CORPUS, 'chaidnn');
  test('lint text format and exit codes', async () => {
    const bad = await cli.run(['lint', path.join(C, 'chaidnn_docs_precision_param_examples.prototxt')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^.*chaidnn_docs_precision_param_examples\.prototxt:31:\d+: error: .*bwlayer_in.* \[unknown-field\]$/m);
    const ok = await cli.run(['lint', path.join(C, 'xportdnn_fcn5_deploy_668.prototxt')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/warning: .*\[bitwidth\]/);
    const missing = await cli.run(['lint', '/nonexistent/x.prototxt']);
    expect(missing.code).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect((await cli.run(['lint', '--disable', 'nosuch', path.join(FIX, 'clean_xilinx.prototxt')])).code).toBe(2);
  });

  test('lint json format', async () => {
    const r = await cli.run(['lint', '--format', 'json', path.join(C, 'chaidnn_docs_precision_param_examples.prototxt')]);
    const arr = JSON.parse(r.stdout);
    expect(Array.isArray(arr)).toBe(true);
    expect(Object.keys(arr[0]).sort()).toEqual(['col', 'file', 'line', 'message', 'rule', 'severity']);
  });

  test('diff of XportDNN 666 vs 668 reports exactly the bitwidth and threshold changes and exits 1', async () => {
    const r = await cli.run(['diff', path.join(C, 'xportdnn_fcn5_deploy_666.prototxt'), path.join(C, 'xportdnn_fcn5_deploy_668.prototxt'), '--format', 'json']);
    expect(r.code).toBe(1);
    const entries = JSON.parse(r.stdout) as { kind: string; field: string; layer: string }[];
    expect(entries.length).toBeGreaterThan(0);
    for (const e of entries) {
      expect(e.kind).toBe('field-changed');
      expect(['bw_layer_in', 'bw_layer_out', 'th_layer_in', 'th_layer_out']).toContain(e.field);
    }
    // th_params do not depend on the activation bitwidth: unchanged
    expect(entries.some((e) => e.field === 'th_params')).toBe(false);
    expect(entries.filter((e) => e.field === 'bw_layer_out')).toHaveLength(15); // data + 5 conv + 4 relu + 5 pool
    const text = await cli.run(['diff', path.join(C, 'xportdnn_fcn5_deploy_666.prototxt'), path.join(C, 'xportdnn_fcn5_deploy_668.prototxt')]);
    expect(text.stdout).toContain('data: th_layer_out 148.765808105 → 151.077041626 (+1.55%)');
  });

  test('diff of a file with itself or a reformatted copy exits 0; --all sees non-precision changes', async () => {
    const a = path.join(C, 'xportdnn_fcn5_deploy_666.prototxt');
    expect((await cli.run(['diff', a, a])).code).toBe(0);
    const tmp = path.join(require('os').tmpdir(), `chaiq-diff-${process.pid}.prototxt`);
    fs.writeFileSync(tmp, fs.readFileSync(a, 'utf8').replace('num_output: 40', 'num_output: 41').replace(/\n  /g, '\n    '));
    try {
      expect((await cli.run(['diff', a, tmp])).code).toBe(0);
      const all = await cli.run(['diff', '--all', a, tmp]);
      expect(all.code).toBe(1);
      expect(all.stdout).toMatch(/conv1_1: convolution_param/);
    } finally {
      fs.unlinkSync(tmp);
    }
    expect((await cli.run(['diff', a, '/nonexistent'])).code).toBe(2);
  });
});

describe('lint on chaiq quantize outputs (test/fixtures/quant/quantized, regenerated and compared by quant-cli.test.ts)', () => {
  const dir = path.join(__dirname, 'fixtures/quant/quantized');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.prototxt'));
  test.each(files)('%s has no lint errors', (f) => {
    const file = path.join(dir, f);
    const errors = lintText(fs.readFileSync(file, 'utf8'), file).filter((d) => d.severity === 'error');
    // cifar10_full has two LRN layers: CHaiDNN cannot run LRN at all (its layer map comments it out);
    // the precision blocks themselves are clean
    const expected = f.startsWith('cifar10_full') ? ['norm1', 'norm2'] : [];
    expect(errors.map((e) => e.rule)).toEqual(expected.map(() => 'unsupported-layer'));
    expected.forEach((name, i) => expect(errors[i].message).toContain(`'LRN' (layer '${name}')`));
  });
});
