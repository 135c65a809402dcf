// --df_input xilinx: CHaiDNN reads quant_type per layer and the image reader quantizes the input in the first
// layer's mode (xi_interface.cpp quant_scheme_flag), so the convolutions reading the input run in Xilinx mode and
// write at th = (2^(bw-1)-1)·2^-fl, which DynamicFixed consumers read at fl without any conversion.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { modeBoundaryMismatch, sameFormat, xilinxThresholdOfFl } from '../src/chaidnn/format';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { simulateNet } from '../src/sim/simulate';
import { checkInvariants } from '../src/quant/invariants';
import { xilinxInputPlan } from '../src/quant/xilinx-input';
import type { PrecisionPlan } from '../src/quant/plan';
import { lintText } from '../src/lint/lint';
import { miniNet } from './quant-net';
import { cliServer, ROOT } from './helpers/cli';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
const cli = cliServer();
afterAll(() => cli.close());

test('a Xilinx threshold and a DynamicFixed fl name one scale when th = (2^(bw-1)-1)·2^-fl', () => {
  expect(xilinxThresholdOfFl(6, 3)).toBe(3.875);
  expect(xilinxThresholdOfFl(8, 0)).toBe(127);
  expect(xilinxThresholdOfFl(6, -2)).toBe(124);
  expect(sameFormat({ mode: 'Xilinx', bw: 6, th: 3.875 }, { mode: 'DynamicFixed', bw: 6, fl: 3 })).toBe(true);
  expect(sameFormat({ mode: 'DynamicFixed', bw: 6, fl: 3 }, { mode: 'Xilinx', bw: 6, th: 3.875 })).toBe(true);
  expect(sameFormat({ mode: 'Xilinx', bw: 6, th: 4 }, { mode: 'DynamicFixed', bw: 6, fl: 3 })).toBe(false);
  expect(sameFormat({ mode: 'Xilinx', bw: 8, th: 3.875 }, { mode: 'DynamicFixed', bw: 6, fl: 3 })).toBe(false);
  expect(modeBoundaryMismatch({ bw_layer_out: 6, th_layer_out: 3.875 }, { bw_layer_in: 6, fl_layer_in: 3 })).toBeUndefined();
  expect(modeBoundaryMismatch({ bw_layer_out: 6, th_layer_out: 4 }, { bw_layer_in: 6, fl_layer_in: 3 })?.field).toBe('fl_layer_in');
  expect(modeBoundaryMismatch({ bw_layer_out: 6, fl_layer_out: 2 }, { bw_layer_in: 6, th_layer_in: 7.75 })).toBeUndefined();
  expect(modeBoundaryMismatch({ bw_layer_out: 6, fl_layer_out: 2 }, { bw_layer_in: 6, th_layer_in: 8 })?.field).toBe('th_layer_in');
  // one mode on both sides: not this check's business
  expect(modeBoundaryMismatch({ th_layer_out: 4 }, { th_layer_in: 5 })).toBeUndefined();
});

// 1×1 convs, 6 bit. conv1 Xilinx: th_in 124 (sf 4), w 0.25 at th_params 0.25 (31), th_out 31 = 31·2^-0 (sf 1).
// conv2, conv3 DynamicFixed at fl 0 in and out, w 0.5 at fl_params 5 (16), shift 5.
const MIXED = (thOut1: number) => `name: "mixed"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 1 dim: 4 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 1 kernel_size: 1 bias_term: false }
  precision_param { bw_layer_in: 6 bw_layer_out: 6 bw_params: 6 th_layer_in: 124 th_layer_out: ${thOut1} th_params: 0.25 quant_type: "Xilinx" } }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2" convolution_param { num_output: 1 kernel_size: 1 bias_term: false }
  precision_param { bw_layer_in: 6 bw_layer_out: 6 bw_params: 6 fl_layer_in: 0 fl_layer_out: 0 fl_params: 5 quant_type: "DynamicFixed" } }
layer { name: "conv3" type: "Convolution" bottom: "conv2" top: "conv3" convolution_param { num_output: 1 kernel_size: 1 bias_term: false }
  precision_param { bw_layer_in: 6 bw_layer_out: 6 bw_params: 6 fl_layer_in: 0 fl_layer_out: 0 fl_params: 5 quant_type: "DynamicFixed" } }
`;
const w = (v: number) => [{ shape: [1, 1, 1, 1], data: Float32Array.from([v]) }];

async function simMixed(thOut1: number) {
  const net = buildNet(loadNetText('mixed.prototxt', { text: MIXED(thOut1) }).net, { weights: new Map([['conv1', w(0.25)], ['conv2', w(0.5)], ['conv3', w(0.5)]]) });
  const warns: string[] = [];
  const r = await simulateNet(net, { shape: [1, 1, 1, 4], data: Float32Array.from([100, -100, 20, 2]) }, { keep: ['conv1', 'conv2', 'conv3'], reference: false, warn: (m) => warns.push(m) });
  return { r, warns };
}

test('simulate: each layer runs in its own quant_type; the Xilinx layer reads the input at th_layer_in (hand-checked)', async () => {
  const { r, warns } = await simMixed(31);
  expect(warns).toEqual([]);
  // input at sf 4: round(25, −25, 5, 0.5→1); conv1 acc = q·31, S = (0.25/31)·4/1·2^22 → y = q: 25, −25, 5, 1
  // (DynamicFixed at fl 0 would have clipped 100 to 31 and read w 0.25 at fl 3 by default)
  expect(Array.from(r.fixed.get('conv1')!)).toEqual([25, -25, 5, 1]);
  // conv2: y·16 >> 5 rounded half away: 12.5 → 13, −12.5 → −13, 2.5 → 3, 0.5 → 1; conv3: 6.5 → 7, −7, 1.5 → 2, 1
  expect(Array.from(r.fixed.get('conv2')!)).toEqual([13, -13, 3, 1]);
  expect(Array.from(r.fixed.get('conv3')!)).toEqual([7, -7, 2, 1]);
});

test('simulate: a Xilinx output read at another scale by a DynamicFixed layer is warned about', async () => {
  const { warns } = await simMixed(62);
  expect(warns.join('\n')).toMatch(/layer 'conv2': input 'conv1' is bw 6 th 62 but the layer reads it as bw 6 fl 0/);
});

test('lint and the plan check: the mode boundary must name one scale', () => {
  const ok = lintText(MIXED(31), 'm.prototxt');
  expect(ok.filter((d) => d.severity === 'error')).toEqual([]);
  const bad = lintText(MIXED(62), 'm.prototxt');
  expect(bad.filter((d) => d.severity === 'error').map((d) => `${d.rule}: ${d.message}`)).toEqual([
    "fl-mismatch: 'conv2' fl_layer_in 0 reads the integers of th_layer_out 62 (a Xilinx layer) at the scale of threshold 31 of its producer 'conv1' (blob 'conv1')",
  ]);
});

function inputNet(readerType = 'Convolution') {
  const W = { shape: [2, 1, 1, 1], data: Float32Array.from([0.5, -0.25]) };
  return miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    readerType === 'Convolution'
      ? { name: 'conv1', type: 'Convolution', bottoms: ['data'], tops: ['conv1'], param: { convolution_param: { num_output: 2, kernel_size: 1 } }, blobs: [W, { shape: [2], data: Float32Array.from([0.1, 0.2]) }] }
      : { name: 'conv1', type: 'Pooling', bottoms: ['data'], tops: ['conv1'], param: { pooling_param: { pool: 'MAX', kernel_size: 1 } } },
    { name: 'relu1', type: 'ReLU', bottoms: ['conv1'], tops: ['conv1'] },
    { name: 'conv2', type: 'Convolution', bottoms: ['conv1'], tops: ['conv2'], param: { convolution_param: { num_output: 1, kernel_size: 1 } }, blobs: [{ shape: [1, 2, 1, 1], data: Float32Array.from([0.5, 0.5]) }, { shape: [1], data: Float32Array.from([0]) }] },
  ]);
}

test('xilinxInputPlan: the input readers get the Xilinx block with th_layer_out on their fl_layer_out grid', () => {
  const net = inputNet();
  const df: PrecisionPlan = new Map([
    ['conv1', { bw_layer_in: 6, bw_layer_out: 6, bw_params: 6, fl_layer_in: 0, fl_layer_out: 2, fl_params: 6, quant_type: 'DynamicFixed' }],
    ['conv2', { bw_layer_in: 6, bw_layer_out: 6, bw_params: 6, fl_layer_in: 2, fl_layer_out: 3, fl_params: 5, quant_type: 'DynamicFixed' }],
  ]);
  const xp: PrecisionPlan = new Map([
    ['data', { bw_layer_out: 6, th_layer_out: 100 }],
    ['conv1', { bw_layer_in: 6, bw_layer_out: 6, bw_params: 6, th_layer_in: 100, th_layer_out: 9, th_params: [0.5, 0.25], quant_type: 'Xilinx' }],
  ]);
  const plan = xilinxInputPlan(net, df, xp, { in: 6, params: 6, out: 6 }, () => undefined);
  expect(plan.get('conv1')).toEqual({ bw_layer_in: 6, bw_layer_out: 6, bw_params: 6, th_layer_in: 100, th_layer_out: 7.75, th_params: [0.5, 0.25], quant_type: 'Xilinx' });
  expect(plan.get('conv2')).toBe(df.get('conv2'));
  // the Input layer keeps no block (the runtime parses none there)
  expect(plan.has('data')).toBe(false);
  expect(checkInvariants(net, plan).filter((v) => v.severity === 'error')).toEqual([]);
  // off the grid: the plan check catches it
  plan.set('conv1', { ...plan.get('conv1')!, th_layer_out: 8 });
  expect(checkInvariants(net, plan).map((v) => v.message)).toContain('"conv2" fl_layer_in 2 reads the integers of th_layer_out 8 (a Xilinx layer) at the scale of threshold 7.75 of its producer "conv1"');
});

test('xilinxInputPlan: a reader of the input that is not a convolution is an error', () => {
  const net = inputNet('Pooling');
  expect(() => xilinxInputPlan(net, new Map(), new Map(), { in: 6, params: 6, out: 6 }, () => undefined)).toThrow(/only a convolution can; layer "conv1" \(Pooling\) reads it/);
});

describe('CLI: LeNet DynamicFixed 6-bit for the board (--optimized_weights)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-dfin-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const PRE = ['--dims', '1,28,28', '--channel_swap', '0', '--raw_scale', '255', '--mean_value', '0', '--input_scale', '0.00390625'];
  const quantize = (name: string, extra: string[]) => cli.run(['quantize', '-q', '--threads', '1', '--deploy_model', 'models/lenet/lenet.prototxt', '--weights', 'models/lenet/lenet_iter_10000.caffemodel',
    '--calibration_directory', 'models/lenet/digits/calibration', '--calibration_size', '30', ...PRE, '--bitwidths', '6,6,6', '--quant_type', 'DynamicFixed',
    '--fl_bitwidths', 'auto', '--quantized_deploy_model', path.join(dir, `${name}.prototxt`), '--optimized_weights', path.join(dir, `${name}.caffemodel`), ...extra]);
  const simulate = async (name: string) => {
    const r = await cli.run(['simulate', '--deploy_model', path.join(dir, `${name}.prototxt`), '--weights', path.join(dir, `${name}.caffemodel`), '--calibration_directory', 'models/lenet/digits/test',
      '--labels_from_dirname', '--dims', '1,28,28', '--channel_swap', '0', '--top', '1', '--metrics', 'agreement', '--format', 'json', '--threads', '1']);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };

  test('the board reads the input at fl 0 (−32..31 of pixels − 127) and loses; --df_input xilinx reads it at th_layer_in and does not', async () => {
    const base = await quantize('df', []);
    expect(base.code).toBe(0);
    expect(base.stderr).toMatch(/fl_layer_out of layer "input" would be -\d \(.*\); clamped to 0, .*; --df_input xilinx reads the input in Xilinx mode, at any threshold/);
    const x = await quantize('dfx', ['--df_input', 'xilinx']);
    expect(x.code).toBe(0);
    expect(x.stderr).not.toMatch(/clamped to 0/);
    const text = fs.readFileSync(path.join(dir, 'dfx.prototxt'), 'utf8');
    expect(text).toMatch(/name: "conv1"[^]*?th_layer_in: [\d.]+\n\s*th_layer_out: 3\.875\n\s*th_params:[^]*?quant_type: "Xilinx"/);
    const lint = await cli.run(['lint', path.join(dir, 'dfx.prototxt'), '--weights', path.join(dir, 'dfx.caffemodel')]);
    expect(lint.code).toBe(0);
    const b = await simulate('df');
    const s = await simulate('dfx');
    expect(s.accuracy.float.top1).toBe(b.accuracy.float.top1);
    // 200 digits: the clipped input costs tens of points, the Xilinx input at most a digit or two
    expect(b.accuracy.fixed.top1).toBeLessThan(s.accuracy.float.top1 - 0.1);
    expect(s.accuracy.fixed.top1).toBeGreaterThanOrEqual(s.accuracy.float.top1 - 0.01);
  });

  test('usage: --df_input xilinx needs DynamicFixed with fl auto; other values are refused', async () => {
    const a = await cli.run(['quantize', '--deploy_model', 'models/lenet/lenet.prototxt', '--weights', 'models/lenet/lenet_iter_10000.caffemodel', '--calibration_directory',
      'models/lenet/digits/calibration', ...PRE, '--quantized_deploy_model', path.join(dir, 'u.prototxt'), '--df_input', 'xilinx']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--df_input xilinx .*needs DynamicFixed mode with fl auto/);
    const r = await cli.run(['quantize', '--deploy_model', 'models/lenet/lenet.prototxt', '--quant_type', 'DynamicFixed', '--fl_bitwidths', '2,5,2',
      '--quantized_deploy_model', path.join(dir, 'u.prototxt'), '--df_input', 'xilinx']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--df_input xilinx .*needs DynamicFixed mode with fl auto/);
    const v = await quantize('u', ['--df_input', 'float']);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/--df_input must be one of dynamicfixed, xilinx, got 'float'/);
  });
});
