/**
 * Every flag of XportDNN's usage text (the seed doc) and of the ML-Suite quantizer behind it
 * (chaidnn-semantics.md §4.1), given to the xportdnn binary: accepted, with the same meaning and default.
 * Where chaiq deliberately differs (the README's flag table says so) the test pins chaiq's choice.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { main } from '../src/cli/main';
import { xportdnnCommand } from '../src/cli/commands/quantize';
import { writeCaffemodel } from '../src/proto/write-caffemodel';
import { loadNetText } from '../src/graph/load';
import { randTensor } from './quant-net';
import { runCli } from './helpers/cli';

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-xflags-'));
const DEPLOY = path.join(DIR, 'tiny.prototxt');
const WEIGHTS = path.join(DIR, 'tiny.caffemodel');
const IMAGES = path.join(DIR, 'images');
const H = 12;

beforeAll(() => {
  fs.writeFileSync(DEPLOY, `name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 1 dim: 3 dim: ${H} dim: ${H} } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
`);
  writeCaffemodel(WEIGHTS, 'tiny', [{ name: 'conv1', type: 'Convolution', blobs: [randTensor([4, 3, 3, 3], 7, 0.05), randTensor([4], 8, 0.5)] }]);
  fs.mkdirSync(IMAGES);
  // 10 images whose colours differ per channel (so channel order and mean matter) and per image
  for (let k = 0; k < 10; k++) {
    const png = new PNG({ width: H, height: H });
    const r = randTensor([H * H * 3], 100 + k, 1).data;
    for (let i = 0; i < H * H; i++) {
      png.data[4 * i] = Math.floor((r[3 * i] + 1) * 40) + 20 * k; // red: dark, rising with k
      png.data[4 * i + 1] = Math.floor((r[3 * i + 1] + 1) * 60) + 60;
      png.data[4 * i + 2] = 255 - (i % H) * 4 - k; // blue: bright, a ramp along x
      png.data[4 * i + 3] = 255;
    }
    fs.writeFileSync(path.join(IMAGES, `img${k}.png`), PNG.sync.write(png));
  }
});

let n = 0;
/** xportdnn in-process with XportDNN's required flags; returns exit code and the blocks by layer */
async function xportdnn(extra: string[], opts: { base?: boolean } = {}) {
  const out = path.join(DIR, `out${n++}.prototxt`);
  const base = opts.base === false ? [] : ['--deploy_model', DEPLOY, '--weights', WEIGHTS, '--quantized_deploy_model', out];
  const imgs = extra.includes('--calibration_directory') || extra.includes('DynamicFixed') || opts.base === false ? [] : ['--calibration_directory', IMAGES];
  const code = await main(['-q', ...base, ...imgs, ...extra], 'xportdnn', xportdnnCommand);
  const blocks = new Map<string, Record<string, any>>();
  if (code === 0 && fs.existsSync(out)) for (const l of loadNetText(out).net.layer) if (l.precision_param) blocks.set(l.name!, l.precision_param);
  return { code, blocks, out, text: fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : '' };
}
const thIn = async (extra: string[]) => (await xportdnn(extra)).blocks.get('data')!.th_layer_out as number;
const thConv = async (extra: string[]) => (await xportdnn(extra)).blocks.get('conv1')!.th_layer_out as number;

let warnSpy: jest.SpyInstance;
beforeEach(() => {
  warnSpy = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => warnSpy.mockRestore());

describe('XportDNN usage text (seed doc)', () => {
  test('-h lists every flag', () => {
    const r = runCli(['-h'], { bin: 'xportdnn.js' });
    expect(r.code).toBe(0);
    for (const f of ['quant_type', 'deploy_model', 'weights', 'quantized_deploy_model', 'bitwidths', 'calibration_directory', 'calibration_size', 'dims', 'transpose',
      'channel_swap', 'raw_scale', 'mean_value', 'input_scale', 'fl_bitwidths', 'output_json', 'calibration_seed', 'calibration_indices']) expect(r.stdout).toContain(`--${f}`);
  });
  test('--quant_type: default Xilinx; DynamicFixed; the quoted form of the docs', async () => {
    const x = await xportdnn([]);
    expect(x.blocks.get('conv1')!.quant_type).toBe('Xilinx');
    expect((await xportdnn(['--quant_type', '"Xilinx"'])).text).toBe(x.text);
    const d = await xportdnn(['--quant_type', 'DynamicFixed']);
    expect(d.blocks.get('conv1')!.quant_type).toBe('DynamicFixed');
    expect((await xportdnn(['--quant_type', 'Ristretto'])).code).toBe(2);
  });
  test('--deploy_model: the input net (required)', async () => {
    expect((await xportdnn(['--weights', WEIGHTS, '--quantized_deploy_model', path.join(DIR, 'x.prototxt'), '--calibration_directory', IMAGES], { base: false })).code).toBe(2);
  });
  test('--weights: the FP32 caffemodel (required in Xilinx mode, not for uniform DynamicFixed)', async () => {
    const noW = ['--deploy_model', DEPLOY, '--quantized_deploy_model', path.join(DIR, 'nw.prototxt')];
    expect((await xportdnn([...noW, '--calibration_directory', IMAGES], { base: false })).code).toBe(2);
    expect((await xportdnn([...noW, '--quant_type', 'DynamicFixed'], { base: false })).code).toBe(0);
  });
  test('--quantized_deploy_model: the output prototxt (required)', async () => {
    const r = await xportdnn([]);
    expect(r.text).toMatch(/precision_param \{/);
    expect((await xportdnn(['--deploy_model', DEPLOY, '--weights', WEIGHTS, '--calibration_directory', IMAGES], { base: false })).code).toBe(2);
  });
  test('--bitwidths: input,params,output, default 6,6,6; Python list forms accepted', async () => {
    const d = await xportdnn([]);
    expect([d.blocks.get('conv1')!.bw_layer_in, d.blocks.get('conv1')!.bw_params, d.blocks.get('conv1')!.bw_layer_out]).toEqual([6, 6, 6]);
    expect((await xportdnn(['--bitwidths', '6,6,6'])).text).toBe(d.text);
    const e = await xportdnn(['--bitwidths', '[8,8,8]']);
    expect(e.blocks.get('conv1')!.bw_params).toBe(8);
    expect((await xportdnn(['--bitwidths', '(8,8,8)'])).text).toBe(e.text);
  });
  test('--calibration_directory: the images calibrated on (a missing one is an error)', async () => {
    const one = path.join(DIR, 'one');
    fs.mkdirSync(one);
    fs.copyFileSync(path.join(IMAGES, 'img9.png'), path.join(one, 'a.png'));
    expect(await thIn(['--calibration_directory', one, '--calibration_size', '1'])).not.toBe(await thIn(['--calibration_size', '1']));
    expect((await xportdnn(['--calibration_directory', path.join(DIR, 'nope')])).code).not.toBe(0);
  });
  test('--calibration_size: number of images, default 8; more than there are fails as in XportDNN', async () => {
    const d = await xportdnn([]);
    expect((await xportdnn(['--calibration_size', '8'])).text).toBe(d.text);
    expect((await xportdnn(['--calibration_size', '10'])).text).not.toBe(d.text);
    const big = await xportdnn(['--calibration_size', '11']);
    expect(big.code).toBe(1);
    expect(warnSpy.mock.calls.map((c) => String(c[0])).join('')).toMatch(/--calibration_size 11 is larger than the 10 images in the directory \(XportDNN fails here too/);
  });
  test('--dims: C,H,W of the first layer; default the Input layer\'s shape (XportDNN: 3,224,224)', async () => {
    const d = await xportdnn([]);
    expect((await xportdnn(['--dims', `3,${H},${H}`])).text).toBe(d.text);
    expect((await xportdnn(['--dims', '3,224,224'])).code).toBe(2);
  });
  test('--transpose: caffe.io set_transpose, default 2,0,1', async () => {
    const d = await xportdnn([]);
    expect((await xportdnn(['--transpose', '2,0,1'])).text).toBe(d.text);
    // H and W swapped: same pixel values (the input threshold), another conv output
    expect(await thIn(['--transpose', '2,1,0'])).toBe(d.blocks.get('data')!.th_layer_out);
    expect(await thConv(['--transpose', '2,1,0'])).not.toBe(d.blocks.get('conv1')!.th_layer_out);
  });
  test('--channel_swap: caffe.io set_channel_swap, default 2,1,0 (RGB → BGR)', async () => {
    const d = await xportdnn([]);
    expect((await xportdnn(['--channel_swap', '2,1,0'])).text).toBe(d.text);
    // with the per-channel mean 104,117,123 the order changes the values
    expect(await thIn(['--channel_swap', '0,1,2'])).not.toBe(d.blocks.get('data')!.th_layer_out);
  });
  test('--raw_scale: caffe.io set_raw_scale, default 255.0', async () => {
    const d = await xportdnn(['--mean_value', '0']);
    expect((await xportdnn(['--mean_value', '0', '--raw_scale', '255.0'])).text).toBe(d.text);
    const t = await thIn(['--mean_value', '0', '--raw_scale', '127.5']);
    expect(Math.abs(t / d.blocks.get('data')!.th_layer_out - 0.5)).toBeLessThan(1e-6);
  });
  test('--mean_value: caffe.io set_mean, default 104,117,123', async () => {
    const d = await xportdnn([]);
    expect((await xportdnn(['--mean_value', '104,117,123'])).text).toBe(d.text);
    expect(await thIn(['--mean_value', '0,0,0'])).not.toBe(d.blocks.get('data')!.th_layer_out);
  });
  test('--input_scale: multiplier after the mean, default 1.0', async () => {
    const d = await xportdnn([]);
    expect((await xportdnn(['--input_scale', '1.0'])).text).toBe(d.text);
    const t = await thIn(['--input_scale', '0.5']);
    expect(Math.abs(t / d.blocks.get('data')!.th_layer_out - 0.5)).toBeLessThan(1e-6);
  });
  test('--fl_bitwidths: DynamicFixed fl of input,params,output, default 2,5,2, written on every layer', async () => {
    const d = await xportdnn(['--quant_type', 'DynamicFixed']);
    const c = d.blocks.get('conv1')!;
    expect([c.fl_layer_in, c.fl_params, c.fl_layer_out]).toEqual([2, 5, 2]);
    expect((await xportdnn(['--quant_type', 'DynamicFixed', '--fl_bitwidths', '2,5,2'])).text).toBe(d.text);
    const e = await xportdnn(['--quant_type', 'DynamicFixed', '--bitwidths', '8,8,8', '--fl_bitwidths', '4,4,7']);
    expect(e.code).toBe(0);
    for (const l of ['conv1', 'pool1']) expect([e.blocks.get(l)!.fl_layer_in, e.blocks.get(l)!.fl_layer_out]).toEqual([4, 7]);
  });
});

describe('ML-Suite quantizer flags (chaidnn-semantics §4.1)', () => {
  test('--output_json: the quantizer\'s JSON of the convolutions (chaiq writes it only when asked)', async () => {
    const j = path.join(DIR, 'q.json');
    const r = await xportdnn(['--output_json', j]);
    expect(r.code).toBe(0);
    const net = JSON.parse(fs.readFileSync(j, 'utf8')).network;
    expect(net.map((e: any) => e.name)).toEqual(['conv1']);
    const c = r.blocks.get('conv1')!;
    expect(net[0].th_layer_in).toBeCloseTo(c.th_layer_in, 5);
    expect(net[0].sf_layer_out).toBeCloseTo(c.th_layer_out / 31, 8);
    expect(net[0].scale).toHaveLength(4);
    expect(Object.keys(net[0])).toEqual([...Object.keys(net[0])].sort());
    expect(fs.readdirSync(DIR).filter((f) => f.endsWith('.json'))).toEqual(['q.json']);
  });
  test('--calibration_seed: the seeded image choice; default 0 (the original: None, non-deterministic)', async () => {
    const d = await xportdnn(['--calibration_size', '2']);
    expect((await xportdnn(['--calibration_size', '2', '--calibration_seed', '0'])).text).toBe(d.text);
    const seeds = await Promise.all([1, 2, 3].map(async (s) => (await xportdnn(['--calibration_size', '2', '--calibration_seed', String(s)])).text));
    expect(seeds.some((t) => t !== d.text)).toBe(true);
  });
  test('--calibration_indices: these images first, the rest drawn', async () => {
    const one = path.join(DIR, 'only3');
    fs.mkdirSync(one);
    fs.copyFileSync(path.join(IMAGES, 'img3.png'), path.join(one, 'img3.png'));
    expect(await thIn(['--calibration_size', '1', '--calibration_indices', '3'])).toBe(await thIn(['--calibration_directory', one, '--calibration_size', '1']));
    expect((await xportdnn(['--calibration_size', '1', '--calibration_indices', '[3]'])).code).toBe(0);
  });
  test('--bitwidths default: 6,6,6 as XportDNN documents it (the ML-Suite quantizer\'s own default was 8,8,8)', async () => {
    expect((await xportdnn([])).blocks.get('conv1')!.bw_layer_out).toBe(6);
  });
});

describe('chaiq additions on the xportdnn binary', () => {
  test('--calibration: progressive by default (XportDNN\'s), float on request', async () => {
    const d = await xportdnn([]);
    expect((await xportdnn(['--calibration', 'progressive'])).text).toBe(d.text);
    expect((await xportdnn(['--calibration', 'float'])).code).toBe(0);
    expect((await xportdnn(['--calibration', 'float'])).blocks.get('conv1')!.th_layer_out).not.toBe(d.blocks.get('conv1')!.th_layer_out);
    expect((await xportdnn(['--calibration', 'progressive', '--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto'])).code).toBe(2);
    // chaiq quantize keeps float statistics by default
    const q = runCli(['quantize', '-q', '--deploy_model', DEPLOY, '--weights', WEIGHTS, '--calibration_directory', IMAGES, '--quantized_deploy_model', path.join(DIR, 'cq.prototxt'), '--calibration', 'progressive']);
    expect(q.code).toBe(0);
    expect(fs.readFileSync(path.join(DIR, 'cq.prototxt'), 'utf8')).toBe(d.text);
  });
});
