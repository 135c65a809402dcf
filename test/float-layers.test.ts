/**
 * simulate --float_layers (named layers in float inside the fixed net) and --rank_layers (which layer, run alone in
 * float, recovers most), in process on LeNet and over every corpus model with weights (acceptance 4 of issue 14).
 */
import * as fs from 'fs';
import { inputFormatOf } from '../src/sim/steps';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { loadModel } from '../src/graph/load';
import { annotateXilinx } from '../src/sim/annotate';
import { compileSim, formatScale, quantizeFloat, runSim, type FixedFormat } from '../src/sim/simulate';
import { consumerFormat, floatableLayers, resolveFloatLayers } from '../src/sim/float-layers';
import { rankFloatLayers, rankingOutputs } from '../src/sim/layer-ranking';
import { forwardOf } from '../src/layers/registry';
import type { Net } from '../src/graph/types';
import type { Tensor } from '../src/tensor';
import { setThreads } from '../src/kernels';
import { cliServer, CORPUS, ROOT, runNodeHelper } from './helpers/cli';

setThreads(1);

const LENET = `${CORPUS}/models/lenet_mnist_v1_everpeace`;
const images = zlib.gunzipSync(fs.readFileSync(`${CORPUS}/data/mnist/t10k-images-idx3-ubyte.gz`));
const labels = zlib.gunzipSync(fs.readFileSync(`${CORPUS}/data/mnist/t10k-labels-idx1-ubyte.gz`));
const digit = (i: number): Tensor => ({ shape: [1, 1, 28, 28], data: Float32Array.from(images.subarray(16 + i * 784, 16 + (i + 1) * 784), (v) => Math.fround(v / 255)) });
const lenet = () => loadModel(`${LENET}/lenet.prototxt`, `${LENET}/lenet_iter_10000.caffemodel`, { inputShape: [1, 1, 28, 28], warn: () => {} }).graph;

async function annotatedLenet(bw: number): Promise<Net> {
  const net = lenet();
  await annotateXilinx(net, Array.from({ length: 20 }, (_, k) => digit(k)), bw);
  return net;
}

test('a layer in float: its dequantized input through the Caffe forward, requantized with the format its consumer reads', async () => {
  const net = await annotatedLenet(6);
  const prog = compileSim(net);
  const floatLayers = resolveFloatLayers(prog.steps, ['conv1'], () => {});
  const x = digit(1000);
  const r = await runSim(prog, x, { keep: 'all', floatLayers });
  const fin: FixedFormat = inputFormatOf(prog.steps.find((s) => s.node.name === 'conv1')!)!;
  const xq = quantizeFloat(x.data, fin, true);
  const xd = Float32Array.from(xq, (v) => v * formatScale(fin));
  const conv1 = net.layers.find((l) => l.name === 'conv1')!;
  const [y] = await forwardOf('Convolution')!(conv1, [{ shape: x.shape, data: xd }], { warn: () => {} });
  const pool1In: FixedFormat = inputFormatOf(prog.steps.find((s) => s.node.name === 'pool1')!)!;
  expect(consumerFormat(net, prog.steps, net.layers.indexOf(conv1))).toEqual(pool1In);
  expect(Array.from(r.fixed.get('conv1')!)).toEqual(Array.from(quantizeFloat(y.data, pool1In, true)));
  // the all-fixed run differs there (integer conv), and nothing changes without the option
  const base = await runSim(prog, x, { keep: 'all' });
  expect(Array.from(base.fixed.get('conv1')!)).not.toEqual(Array.from(r.fixed.get('conv1')!));
});

test('unknown names are one usage error naming them all; layers already in float are warned about', () => {
  const prog = compileSim(lenet());
  let err: any;
  try { resolveFloatLayers(prog.steps, ['conv1', 'convX', 'ipZ'], () => {}); } catch (e) { err = e; }
  expect(err.exitCode).toBe(2);
  expect(err.message).toMatch(/'convX', 'ipZ'/);
  const warned: string[] = [];
  expect([...resolveFloatLayers(prog.steps, ['ip1', 'conv2'], (m) => warned.push(m))]).toEqual(['conv2']);
  expect(warned.join('\n')).toMatch(/'ip1' \(InnerProduct\) is not computed in fixed point/);
  expect(floatableLayers(prog.steps)).toEqual(['conv1', 'pool1', 'conv2', 'pool2']);
});

test('the ranking finds a layer whose output threshold is broken, and running it in float recovers the agreement', async () => {
  const net = await annotatedLenet(8);
  const conv2 = net.layers.find((l) => l.name === 'conv2')!;
  conv2.param.precision_param = { ...conv2.param.precision_param, th_layer_out: conv2.param.precision_param!.th_layer_out / 100 };
  const prog = compileSim(net, { warn: () => {} });
  const xs = Array.from({ length: 30 }, (_, k) => digit(1000 + k));
  const ls = xs.map((_, k) => labels[8 + 1000 + k]);
  expect(rankingOutputs(net)).toEqual(['ip2']); // the logits under the final Softmax
  const r = await rankFloatLayers(prog, xs, ls, rankingOutputs(net));
  expect(r.layers.map((l) => l.layer).sort()).toEqual(['conv1', 'conv2', 'pool1', 'pool2']);
  expect(r.layers[0].layer).toBe('conv2');
  expect(r.layers[0].agreement).toBeGreaterThanOrEqual(r.baseline.agreement);
  expect(r.layers[0].agreementGain).toBeCloseTo(r.layers[0].agreement - r.baseline.agreement, 12);
  expect(r.layers[0].sqnrGainDb).toBeGreaterThan(10);
  expect(r.baseline.accuracy).not.toBeNull();
}, 120_000);

describe('CLI', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-floatlayers-'));
  const q = `${ROOT}/test/fixtures/quant/quantized/lenet_xilinx_888.prototxt`;
  const w = `${CORPUS}/models/lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel`;
  const ev = ['--mnist', `${CORPUS}/data/mnist/t10k-images-idx3-ubyte.gz`, '--mnist_labels', `${CORPUS}/data/mnist/t10k-labels-idx1-ubyte.gz`, '--limit', '3'];
  // main() in one node process: what simulate reports and its exit codes
  const cli = cliServer();
  afterAll(() => {
    cli.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('an unknown --float_layers name is a usage error (exit 2) naming it', async () => {
    const r = await cli.run(['simulate', '--deploy_model', q, '--weights', w, ...ev, '--float_layers', 'conv1,nosuch']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: --float_layers: no layer named 'nosuch'/);
    const e = await cli.run(['simulate', '--deploy_model', q, '--weights', w, ...ev, '--float_layers', ',']);
    expect(e.code).toBe(2);
  });

  test('--float_layers and --rank_layers in the text and JSON reports', async () => {
    const t = await cli.run(['simulate', '--deploy_model', q, '--weights', w, ...ev, '--float_layers', 'conv1', '--rank_layers']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/in float \(--float_layers\): conv1/);
    expect(t.stdout).toMatch(/each layer alone in float .*3 image\(s\)/);
    const j = await cli.run(['simulate', '--deploy_model', q, '--weights', w, ...ev, '--rank_layers', '--format', 'json']);
    expect(j.code).toBe(0);
    const r = JSON.parse(j.stdout);
    expect(r.layer_ranking.layers.length).toBeGreaterThan(0);
    expect(r.layer_ranking.baseline.agreement).toBe(r.agreement.top1);
    expect(r.float_layers).toBeUndefined();
  });
});

/**
 * Acceptance 4: every corpus model with weights, annotated on one input and ranked on one, the detectors
 * (UltraFace, YuFaceDetectNet) and MTCNN LNet included: their ARM layers run in float (src/chaidnn/partition.ts).
 * The 320×240 face nets run at 160×120 (fully convolutional; the suite stays fast). SE-ResNet-20 runs from its
 * test net (Data layer, Sigmoid and Axpy on the ARM side).
 */
describe('--float_layers / ranking on every corpus model with weights', () => {
  const M = `${CORPUS}/models`;
  const R20 = `${M}/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel`;
  const cases: [string, string, string, number[], RegExp?][] = [
    ['LeNet (everpeace)', `${M}/lenet_mnist_v1_everpeace/lenet.prototxt`, `${M}/lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel`, [1, 28, 28]],
    ['LeNet (ahmdtaha)', `${M}/lenet_mnist_ahmdtaha/mnist_deploy.prototxt`, `${M}/lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel`, [1, 28, 28]],
    ['CIFAR-10 quick', `${M}/cifar10_quick_v1_everpeace/cifar10_quick.prototxt`, `${M}/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel`, [3, 32, 32]],
    ['CIFAR-10 full', `${M}/cifar10_full_v1_everpeace/cifar10_full.prototxt`, `${M}/cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel`, [3, 32, 32]],
    ['ResNet-20', `${ROOT}/test/fixtures/quant/resnet20_deploy.prototxt`, R20, [3, 32, 32]],
    ['SE-ResNet-20', `${M}/cifar10_se_resnet20_lijianfei/test_SE-ResNet_20.prototxt`, `${M}/cifar10_se_resnet20_lijianfei/cifar10_SE-ResNet_20_iter_53000.caffemodel`, [3, 32, 32]],
    ['MTCNN PNet', `${M}/mtcnn_kpzhang93/det1.prototxt`, `${M}/mtcnn_kpzhang93/det1.caffemodel`, [3, 12, 12]],
    ['MTCNN RNet', `${M}/mtcnn_kpzhang93/det2.prototxt`, `${M}/mtcnn_kpzhang93/det2.caffemodel`, [3, 24, 24]],
    ['MTCNN ONet', `${M}/mtcnn_kpzhang93/det3.prototxt`, `${M}/mtcnn_kpzhang93/det3.caffemodel`, [3, 48, 48]],
    ['MTCNN LNet', `${M}/mtcnn_kpzhang93/det4.prototxt`, `${M}/mtcnn_kpzhang93/det4.caffemodel`, [15, 24, 24]],
    ['UltraFace slim', `${M}/ultraface_slim320_linzaer/slim-320.prototxt`, `${M}/ultraface_slim320_linzaer/slim-320.caffemodel`, [3, 120, 160]],
    ['UltraFace RFB', `${M}/ultraface_rfb320_linzaer/RFB-320.prototxt`, `${M}/ultraface_rfb320_linzaer/RFB-320.caffemodel`, [3, 120, 160]],
    ['YuFaceDetectNet', `${M}/yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.prototxt`, `${M}/yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.caffemodel`, [3, 120, 160]],
  ];
  // run on dist/ in a plain node process (test/helpers/float-layers-run.js): the simulator is several times slower in jest's sandbox
  let got: Record<string, { setupError?: string; error?: string; floatable: number; outputs: { blob: string; finite: boolean; inReference: boolean }[]; ranked: number; nanSqnr: string[] }>;
  beforeAll(() => {
    got = runNodeHelper('float-layers-run.js', [], JSON.stringify(cases.map(([name, d, w, dims]) => ({ name, d, w, dims }))));
  }, 600_000);
  // rows as objects: a row shorter than the callback's parameter list would make jest pass `done`
  test.each(cases.map(([name, d, w, dims, refused]) => ({ name, d, w, dims, refused })))('$name', ({ name, refused }) => {
    const g = got[name];
    if (g.setupError) throw new Error(g.setupError);
    if (g.error !== undefined) {
      if (!refused) throw new Error(g.error);
      expect(g.error).toMatch(refused);
      return;
    }
    expect(g.floatable).toBeGreaterThan(0);
    // all of them in float at once: the net output is the float one up to the requantized layer outputs
    expect(g.outputs.length).toBeGreaterThan(0);
    for (const o of g.outputs) expect(o).toEqual({ blob: o.blob, finite: true, inReference: true });
    expect(g.ranked).toBe(g.floatable);
    expect(g.nanSqnr).toEqual([]);
    // a refused net that now simulates: drop its expectation above
    expect(refused).toBeUndefined();
  });
});
