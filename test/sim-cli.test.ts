/**
 * `chaiq simulate` end to end (annotated by `chaiq quantize`), plus the simulator's handling of BatchNorm/Scale.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { cliServer, CORPUS, withoutBoardWarnings } from './helpers/cli';
import { readNpy } from '../src/io/npy';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { compileSim, simulateNet } from '../src/sim/simulate';
import { ChaiqError } from '../src/errors';
import type { Tensor } from '../src/tensor';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
// one thread: the figures do not depend on it (test/sim-parallel.test.ts); workers would cost more than these few images
const cli = cliServer({ CHAIQ_THREADS: '1' });
afterAll(() => cli.close());

const LENET = path.join(CORPUS, 'models/lenet_mnist_v1_everpeace');
const IMAGES = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
const LABELS = path.join(CORPUS, 'data/mnist/t10k-labels-idx1-ubyte.gz');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-sim-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const q8 = path.join(tmp, 'lenet_q8.prototxt');
const weights = path.join(LENET, 'lenet_iter_10000.caffemodel');

beforeAll(async () => {
  const raw = path.join(tmp, 't10k-images');
  fs.writeFileSync(raw, zlib.gunzipSync(fs.readFileSync(IMAGES)));
  const r = await cli.run(['quantize', '--deploy_model', path.join(LENET, 'lenet.prototxt'), '--weights', weights, '--mnist', raw,
    '--calibration_size', '50', '--bitwidths', '8,8,8', '--quantized_deploy_model', q8, '-q']);
  if (r.code !== 0) throw new Error(`quantize failed: ${r.stderr}`);
});

test('simulate --format json: agreement, accuracy, per-layer metrics', async () => {
  const r = await cli.run(['simulate', '--deploy_model', q8, '--weights', weights, '--mnist', IMAGES, '--mnist_labels', LABELS, '--limit', '200', '--format', 'json']);
  expect(withoutBoardWarnings(r.stderr)).toBe('');
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j.images).toBe(200);
  expect(j.mode).toBe('Xilinx');
  expect(j.output_blob).toBe('prob');
  expect(j.agreement.top1).toBeGreaterThan(0.98);
  expect(j.accuracy.labelled).toBe(200);
  expect(j.accuracy.fixed.top1).toBeGreaterThan(0.97);
  const names = j.layers.map((l: any) => l.name);
  expect(names).toEqual(expect.arrayContaining(['conv1', 'pool1', 'conv2', 'pool2', 'ip1', 'ip2', 'prob']));
  const conv1 = j.layers.find((l: any) => l.name === 'conv1');
  expect(conv1.where).toBe('hw');
  expect(conv1.local.sqnr_db).toBeGreaterThan(25);
  expect(conv1.cumulative.cosine).toBeGreaterThan(0.99);
  expect(j.layers.find((l: any) => l.name === 'ip1').local).toBeNull();
});

test('text report; a broken conv threshold puts that conv first', async () => {
  const text = fs.readFileSync(q8, 'utf8');
  // conv2's block: divide its th_layer_out by 100 (its consumer keeps the old th_layer_in)
  const at = text.indexOf('name: "conv2"');
  const m = /th_layer_out: ([0-9.e+-]+)/.exec(text.slice(at))!;
  const broken = text.slice(0, at) + text.slice(at).replace(m[0], `th_layer_out: ${Number(m[1]) / 100}`);
  const bad = path.join(tmp, 'lenet_broken.prototxt');
  fs.writeFileSync(bad, broken);
  const r = await cli.run(['simulate', '--deploy_model', bad, '--weights', weights, '--mnist', IMAGES, '--mnist_labels', LABELS, '--limit', '30']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/^simulated 30 image\(s\), Xilinx mode/);
  expect(r.stdout).toMatch(/accuracy on 30 labelled/);
  const table = r.stdout.split('\n');
  const header = table.findIndex((l) => l.startsWith('layer '));
  expect(table[header + 1]).toMatch(/^conv2\s+Convolution/);
  expect(r.stderr).toMatch(/pool2.*reads it as/);
});

test('--output_dir writes every blob, stacked over the images', async () => {
  const out = path.join(tmp, 'blobs');
  const r = await cli.run(['simulate', '--deploy_model', q8, '--weights', weights, '--mnist', IMAGES, '--limit', '3', '--output_dir', out, '--psum18']);
  expect(r.code).toBe(0);
  expect(readNpy(path.join(out, 'prob.npy')).shape).toEqual([3, 10]);
  expect(readNpy(path.join(out, 'conv1.npy')).shape).toEqual([3, 20, 24, 24]);
});

test('bad invocations: one error line, exit 2', async () => {
  for (const args of [
    ['simulate', '--deploy_model', q8, '--mnist', IMAGES],
    ['simulate', '--deploy_model', q8, '--weights', weights],
    ['simulate', '--deploy_model', q8, '--weights', weights, '--mnist', path.join(tmp, 'nope')],
    ['simulate', '--deploy_model', q8, '--weights', weights, '--mnist', IMAGES, '--format', 'xml'],
  ]) {
    const r = await cli.run(args);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/error: /);
  }
});

// ---------------------------------------------------------------- BatchNorm / Scale

const BN_NET = (inPlace: boolean, mode: string) => `
name: "bn"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 6 dim: 6 } }
  precision_param { bw_layer_out: 8 th_layer_out: 4 fl_layer_out: 4 } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 3 kernel_size: 3 }
  precision_param { bw_layer_in: 8 bw_layer_out: 8 bw_params: 8 th_layer_in: 4 th_layer_out: 20 th_params: 1 th_params: 1 th_params: 1
    fl_layer_in: 4 fl_layer_out: 2 fl_params: 5 quant_type: "${mode}" } }
layer { name: "bn" type: "BatchNorm" bottom: "conv" top: "${inPlace ? 'conv' : 'bn'}"
  precision_param { bw_layer_in: 8 bw_layer_out: 8 th_layer_in: 20 th_layer_out: 6 fl_layer_in: 2 fl_layer_out: 4
    batchnorm_mean_bw: 8 batchnorm_mean_fl: 4 batchnorm_variance_bw: 8 batchnorm_variance_fl: 2 quant_type: "${mode}" } }
layer { name: "sc" type: "Scale" bottom: "${inPlace ? 'conv' : 'bn'}" top: "${inPlace ? 'conv' : 'sc'}" scale_param { bias_term: true }
  precision_param { bw_layer_in: 8 bw_layer_out: 8 th_layer_in: 6 th_layer_out: 6 fl_layer_in: 4 fl_layer_out: 4
    scale_gamma_bw: 8 scale_gamma_fl: 6 scale_beta_bw: 8 scale_beta_fl: 6 quant_type: "${mode}" } }
`;

function bnWeights(): Map<string, Tensor[]> {
  let s = 7;
  const r = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) - 0.5;
  const t = (shape: number[], f: () => number): Tensor => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, f) });
  return new Map([
    ['conv', [t([3, 2, 3, 3], r), t([3], r)]],
    ['bn', [t([3], () => 2 * r()), t([3], () => 1 + r()), t([1], () => 2)]],
    ['sc', [t([3], () => 1 + r()), t([3], r)]],
  ]);
}

const input: Tensor = { shape: [1, 2, 6, 6], data: Float32Array.from({ length: 72 }, (_, i) => Math.sin(i) * 3) };

test('in-place BN + Scale after a conv are folded (Xilinx): one integer layer, close to float', async () => {
  const net = buildNet(loadNetText('bn.prototxt', { text: BN_NET(true, 'Xilinx') }).net, { weights: bnWeights() });
  const r = await simulateNet(net, input, { keep: 'all' });
  const conv = [...r.stats.layers.values()].find((l) => l.name === 'conv')!;
  expect([...r.stats.layers.values()].filter((l) => l.type !== 'Input').length).toBe(1); // BN and Scale are absorbed (the input has its own row)
  const sq = 10 * Math.log10(conv.cumulative.sumRef2 / conv.cumulative.sumErr2);
  expect(sq).toBeGreaterThan(25);
  expect(r.formats.get('conv')).toEqual({ mode: 'Xilinx', bw: 8, th: 6 }); // th_layer_out from the Scale
});

test('a standalone BatchNorm in Xilinx mode is an error naming the layer', () => {
  const net = buildNet(loadNetText('bn.prototxt', { text: BN_NET(false, 'Xilinx') }).net, { weights: bnWeights() });
  expect(() => compileSim(net)).toThrow(ChaiqError);
  expect(() => compileSim(net)).toThrow(/layer 'bn' \(BatchNorm\).*standalone/);
});

test('DynamicFixed: standalone BN and Scale run as the HW BN opcode (affine on quantized params)', async () => {
  const net = buildNet(loadNetText('bn.prototxt', { text: BN_NET(false, 'DynamicFixed') }).net, { weights: bnWeights() });
  const warnings: string[] = [];
  const r = await simulateNet(net, input, { keep: 'all', warn: (m) => warnings.push(m) });
  expect(warnings).toEqual([]);
  expect(r.formats.get('sc')).toEqual({ mode: 'DynamicFixed', bw: 8, fl: 4 });
  const sc = [...r.stats.layers.values()].find((l) => l.name === 'sc')!;
  expect(10 * Math.log10(sc.cumulative.sumRef2 / sc.cumulative.sumErr2)).toBeGreaterThan(15);
});

test('missing precision fields fall back to CHaiDNN defaults with one warning per layer', async () => {
  const text = BN_NET(true, 'Xilinx').replace(/th_layer_out: 20 th_params: 1 th_params: 1 th_params: 1/, '');
  const net = buildNet(loadNetText('bn.prototxt', { text }).net, { weights: bnWeights() });
  const warnings: string[] = [];
  compileSim(net, { warn: (m) => warnings.push(m) });
  expect(warnings).toHaveLength(0); // folded conv: th_out from the Scale, th_params recomputed (as CHaiDNN)
  const text2 = BN_NET(true, 'Xilinx').replace(/bw_layer_in: 8 bw_layer_out: 8 bw_params: 8 th_layer_in: 4/, '');
  const net2 = buildNet(loadNetText('bn.prototxt', { text: text2 }).net, { weights: bnWeights() });
  compileSim(net2, { warn: (m) => warnings.push(m) });
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toMatch(/layer 'conv'.*missing \(bw_layer_in, th_layer_in, bw_params\).*bw 6, fl 3, th 16/);
});

test('DynamicFixed, BN/Scale folded: weights use the runtime fl rule (fl_params ignored); --folded_weight_fl mse is the what-if', async () => {
  const weights = bnWeights();
  weights.get('conv')![0].data.forEach((v, i, a) => (a[i] = v * 0.2)); // small weights: max|W'| < 0.5
  const text = BN_NET(true, 'DynamicFixed');
  const sqnr = async (foldedWeightFl: 'runtime' | 'mse', t = text) => {
    const net = buildNet(loadNetText('bn.prototxt', { text: t }).net, { weights });
    const r = await simulateNet(net, input, { keep: 'all', foldedWeightFl, warn: () => {} });
    const conv = [...r.stats.layers.values()].find((l) => l.name === 'conv')!;
    return 10 * Math.log10(conv.cumulative.sumRef2 / conv.cumulative.sumErr2);
  };
  const runtime = await sqnr('runtime');
  // the runtime ignores fl_params of a folded conv: changing it changes nothing
  expect(await sqnr('runtime', text.replace('fl_params: 5', 'fl_params: 2'))).toBe(runtime);
  expect(await sqnr('mse')).toBeGreaterThan(runtime + 1);
});

test("Xilinx, BN/Scale fused: CHaiDNN's int final_op_th truncates the conv's th_layer_out; --final_op_th float is the what-if", async () => {
  const text = BN_NET(true, 'Xilinx').replace('th_layer_in: 6 th_layer_out: 6', 'th_layer_in: 6 th_layer_out: 6.75');
  const run = async (finalOpTh: 'int' | 'float', t = text) => {
    const warnings: string[] = [];
    const net = buildNet(loadNetText('bn.prototxt', { text: t }).net, { weights: bnWeights() });
    const r = await simulateNet(net, input, { keep: 'all', finalOpTh, warn: (m) => warnings.push(m) });
    const conv = [...r.stats.layers.values()].find((l) => l.name === 'conv')!;
    return { format: r.formats.get('conv'), warnings, sqnr: 10 * Math.log10(conv.cumulative.sumRef2 / conv.cumulative.sumErr2) };
  };
  const int = await run('int');
  expect(int.format).toEqual({ mode: 'Xilinx', bw: 8, th: 6 });
  expect(int.warnings.some((w) => /layer 'conv'.*truncates.*6\.75 → 6/.test(w))).toBe(true);
  const float = await run('float');
  expect(float.format).toEqual({ mode: 'Xilinx', bw: 8, th: 6.75 });
  expect(float.warnings.filter((w) => /truncates/.test(w))).toEqual([]);
  // an integer threshold (what chaiq writes for fused convs) is not changed
  const whole = await run('int', BN_NET(true, 'Xilinx'));
  expect(whole.format).toEqual({ mode: 'Xilinx', bw: 8, th: 6 });
  expect(whole.warnings.filter((w) => /truncates/.test(w))).toEqual([]);
});
