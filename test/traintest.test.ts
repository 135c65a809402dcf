/**
 * Train/test prototxts (a TEST-phase Data layer with a label, loss and accuracy layers) quantize in every mode as
 * their deploy net, lint clean, and simulate exactly as the corresponding deploy nets do (issue #12 item 1).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, runCli, CORPUS } from './helpers/cli';
import { shutdownKernels } from '../src/kernels';
import { ROOT } from './helpers/cli';
import { parsePrototxt } from '../grammar';
import { bindMessage } from '../src/proto/bind';
import { upgradeNet } from '../src/proto/upgrade';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { isTrainTestNet, trainTestToDeploy } from '../src/graph/deploy';
import { buildXilinxPlan } from '../src/quant/xilinx';
import { buildDynamicFixedPlan } from '../src/quant/dynamicfixed';
import { compileSim } from '../src/sim/simulate';
import { applyPlanToNetParam } from '../src/print/precision';
import type { NetParam } from '../src/proto/message';
import { readCaffemodel } from '../src/proto/caffemodel';

const M = path.join(CORPUS, 'models');
const MNIST = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
const MNIST_LABELS = path.join(CORPUS, 'data/mnist/t10k-labels-idx1-ubyte.gz');
const MEAN = path.join(M, 'cifar10_resnet20_lijianfei/cifar10_mean.binaryproto');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-traintest-'));
// one thread: the figures do not depend on it (test/sim-parallel.test.ts); workers would cost more than these few images
const cli = cliServer({ CHAIQ_THREADS: '1' });
afterAll(() => {
  cli.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  shutdownKernels();
});

/** one JPEG of each of the first five classes (airplane … deer = 0 … 4, class folders for --labels_from_dirname) */
const CIF = path.join(tmp, 'cifar');
beforeAll(() => {
  const root = path.join(CORPUS, 'data/cifar10_test_jpg_subset');
  for (const c of fs.readdirSync(root).sort().slice(0, 5)) {
    const f = fs.readdirSync(path.join(root, c)).sort()[0];
    fs.mkdirSync(path.join(CIF, c), { recursive: true });
    fs.copyFileSync(path.join(root, c, f), path.join(CIF, c, f));
  }
});

interface NetCase {
  id: string;
  trainTest: string;
  deploy: string;
  weights: string;
  /** calibration and simulation inputs */
  data: string[];
  sim: string[];
  /** flags for the train/test net (its Data layer gives the rest) and for the deploy net */
  ttPre: string[];
  deployPre: string[];
}

const CIFAR_PRE = ['--dims', '3,32,32', '--channel_swap', '0,1,2'];
const NETS: NetCase[] = [
  {
    id: 'LeNet', trainTest: 'lenet_mnist_v1_everpeace/lenet_train_test.prototxt', deploy: 'lenet_mnist_v1_everpeace/lenet.prototxt',
    weights: 'lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel', data: ['--mnist', MNIST], sim: ['--mnist', MNIST, '--mnist_labels', MNIST_LABELS, '--limit', '30'],
    ttPre: ['--dims', '1,28,28'], deployPre: ['--raw_scale', '255', '--input_scale', '0.00390625'],
  },
  ...['quick', 'full'].map((k) => ({
    id: `CIFAR-10 ${k}`, trainTest: `cifar10_${k}_v1_everpeace/cifar10_${k}_train_test.prototxt`, deploy: `cifar10_${k}_v1_everpeace/cifar10_${k}.prototxt`,
    weights: `cifar10_${k}_v1_everpeace/cifar10_${k}_iter_${k === 'quick' ? 5000 : 70000}.caffemodel`,
    data: ['--calibration_directory', CIF], sim: ['--calibration_directory', CIF, '--labels_from_dirname'],
    // the Data layer's mean_file (examples/cifar10/mean.binaryproto) is not shipped: the flag names the corpus one
    ttPre: [...CIFAR_PRE, '--mean_file', MEAN], deployPre: [...CIFAR_PRE, '--raw_scale', '255', '--mean_file', MEAN],
  })),
  {
    id: 'ResNet-20', trainTest: 'cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', deploy: path.join(ROOT, 'test/fixtures/quant/resnet20_deploy.prototxt'),
    weights: 'cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel',
    data: ['--calibration_directory', CIF], sim: ['--calibration_directory', CIF, '--labels_from_dirname'],
    ttPre: CIFAR_PRE, deployPre: [...CIFAR_PRE, '--raw_scale', '255', '--mean_value', '125.3,122.9,113.8', '--input_scale', '0.00390625'],
  },
];

const MODES: [string, string[]][] = [
  ['Xilinx 8-bit', []],
  ['DynamicFixed uniform', ['--quant_type', 'DynamicFixed']],
  ['DynamicFixed auto', ['--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto']],
];

const cases = NETS.flatMap((n) => MODES.map(([mode, flags]) => [n.id, mode, n, flags] as const));

/** warnings other than the expected ones (board input, the canonical print, rounded fused thresholds, fl clamped to 0, LRN) */
const unexpected = (stderr: string) => stderr.split('\n').filter((l) =>
  l && !/CHaiDNN's image reader|printed canonically|rounded up to integers|mean_file .* differs from|clamped to 0|\(LRN\) is not supported|the net input "data" saturates/.test(l));

// 72 commands in one plain node process (cliServer): no node start and dist/ load per command, and ResNet-20's
// simulation outside jest's sandbox, which slows its loops several times
test.each(cases)('%s, %s: quantizes, lints clean and simulates as the deploy net', async (_id, mode, n, flags) => {
  const tag = `${n.id}-${mode}`.replace(/\W+/g, '_');
  const out = (k: string) => path.join(tmp, `${tag}_${k}.prototxt`);
  const weights = path.join(M, n.weights);
  const quant = (model: string, pre: string[], o: string) => cli.run(['quantize', '-q', '--deploy_model', model, '--weights', weights, ...n.data,
    '--calibration_size', '2', '--bitwidths', '8,8,8', ...flags, ...pre, '--quantized_deploy_model', o]);
  const tt = await quant(path.join(M, n.trainTest), n.ttPre, out('tt'));
  expect(unexpected(tt.stderr)).toEqual([]);
  expect(tt.code).toBe(0);
  const text = fs.readFileSync(out('tt'), 'utf8');
  // the deploy net CHaiDNN parses: an Input layer, no Data layer, no loss or accuracy, no label
  expect(text).toMatch(/^# deploy net of the TEST phase of /);
  expect(text).toContain('type: "Input"');
  expect(text).not.toMatch(/type: "(Data|Accuracy|SoftmaxWithLoss)"|"label"|phase:/);
  const dep = await quant(n.deploy.startsWith('/') ? n.deploy : path.join(M, n.deploy), n.deployPre, out('deploy'));
  expect(dep.code).toBe(0);
  // lint: no error, but CIFAR-10 full's LRN, which CHaiDNN cannot run (its deploy net has the same two)
  const lintErrors = async (f: string) => JSON.parse((await cli.run(['lint', f, '--weights', weights, '--format', 'json'])).stdout)
    .filter((d: any) => d.severity === 'error').map((d: any) => `${d.rule}: ${d.message}`);
  const errors = await lintErrors(out('tt'));
  expect(errors).toEqual(await lintErrors(out('deploy')));
  expect(errors.filter((e: string) => !/^unsupported-layer: CHaiDNN cannot run layer type 'LRN'/.test(e))).toEqual([]);
  // LeNet and ResNet-20 are simulated with the preprocessing their Input's transform_param names (only the geometry is given)
  const sim = async (model: string, pre: string[]) => {
    const r = await cli.run(['simulate', '--deploy_model', model, '--weights', weights, ...n.sim, ...pre, '--format', 'json']);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout);
  };
  const a = await sim(out('tt'), n.ttPre);
  const b = await sim(out('deploy'), n.deployPre);
  expect(a.images).toBe(b.images);
  expect(a.accuracy).toEqual(b.accuracy);
  expect(a.agreement).toEqual(b.agreement);
  expect(a.accuracy.labelled).toBe(a.images);
});

describe('the deploy net of a train/test net (src/graph/deploy.ts)', () => {
  const v2 = (text: string): NetParam => upgradeNet(bindMessage(parsePrototxt(text, 't.prototxt'), 'caffe.NetParameter'), { file: 't.prototxt' }).net;
  const NET = `name: "t"
layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TRAIN } transform_param { scale: 0.5 } data_param { batch_size: 64 } }
layer { name: "d" type: "Data" top: "data" top: "label" include { phase: TEST } transform_param { scale: 0.25 mean_value: 3 } data_param { batch_size: 100 } }
layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 2 kernel_size: 3 } }
layer { name: "drop" type: "Dropout" bottom: "c" top: "c" include { phase: TRAIN } }
layer { name: "acc" type: "Accuracy" bottom: "c" bottom: "label" top: "acc" include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "c" bottom: "label" top: "loss" loss_weight: 1 }
`;
  test('TEST phase, the Data layer an Input (1,C,H,W) with its transform_param, the loss a Softmax, accuracy dropped', () => {
    const net = v2(NET);
    expect(isTrainTestNet(net)).toBe(true);
    const c = trainTestToDeploy(net, [1, 8, 8]);
    expect(c.net.layer.map((l) => `${l.name}:${l.type}`)).toEqual(['d:Input', 'c:Convolution', 'loss:Softmax']);
    expect(c.net.layer[0]).toMatchObject({ top: ['data'], input_param: { shape: [{ dim: [1, 1, 8, 8] }] }, transform_param: { scale: 0.25 } });
    expect(c.net.layer[2]).toEqual({ name: 'loss', type: 'Softmax', bottom: ['c'], top: ['loss'] });
    expect(c.dropped).toEqual(['acc (Accuracy)']);
    expect(isTrainTestNet(c.net)).toBe(false);
    const g = buildNet(c.net);
    expect(g.inputs).toEqual([{ name: 'data', shape: [1, 1, 8, 8], layer: 'd' }]);
  });
  test('a kept layer reading the label is bad input, at its line', () => {
    const net = v2(NET + 'layer { name: "e" type: "Eltwise" bottom: "c" bottom: "label" top: "e" }\n');
    expect(() => trainTestToDeploy(net, [1, 8, 8], 't.prototxt')).toThrow(/layer 'e' \(Eltwise\) reads 'label', the label of data layer 'd'/);
  });
  test('a deploy net is left alone', () => {
    expect(isTrainTestNet(loadNetText(path.join(M, 'lenet_mnist_v1_everpeace/lenet.prototxt')).net)).toBe(false);
  });
});

test('the planners and the simulator take a Data-layer net as it is: the label is no activation', () => {
  const t = loadNetText(path.join(M, 'lenet_mnist_v1_everpeace/lenet_train_test.prototxt'));
  const weights = readCaffemodel(path.join(M, 'lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel')).weights;
  const net = buildNet(t.net, { inputShape: [1, 1, 28, 28], weights });
  expect(net.layers[0].tops).toEqual(['data', 'label']);
  // every activation gets a threshold, the label is never asked for
  const asked: string[] = [];
  const x = buildXilinxPlan(net, (li, ti) => (asked.push(net.layers[li].tops[ti]), 1), { bitwidths: { in: 8, params: 8, out: 8 } });
  expect(asked).not.toContain('label');
  const df = buildDynamicFixedPlan(net, { bitwidths: { in: 8, params: 8, out: 8 }, fl: 'auto', actFl: (li, ti) => (asked.push(net.layers[li].tops[ti]), 4), weightFl: () => 6 });
  expect(asked).not.toContain('label');
  expect(df.plan.size).toBeGreaterThan(0);
  // the simulator runs the Data layer as the input (no "type Data cannot be simulated")
  const annotated = buildNet(applyPlanToNetParam(t.net, x.plan), { inputShape: [1, 1, 28, 28], weights });
  expect(compileSim(annotated, { warn: () => undefined }).steps[0].kind).toBe('input');
});

describe('preprocessing from the Data layer (transform_param)', () => {
  const lenet = path.join(M, 'lenet_mnist_v1_everpeace');
  const q = (extra: string[]) => runCli(['quantize', '-q', '--deploy_model', path.join(lenet, 'lenet_train_test.prototxt'), '--weights', path.join(lenet, 'lenet_iter_10000.caffemodel'),
    '--mnist', MNIST, '--calibration_size', '2', '--bitwidths', '8,8,8', '--dims', '1,28,28', '--quantized_deploy_model', path.join(tmp, 'lenet_tt.prototxt'), ...extra]);
  test('its scale is the default (pixels·0.00390625); flags that make another input win, with a warning', () => {
    const d = q([]);
    expect(d.code).toBe(0);
    expect(d.stderr).not.toMatch(/using the flags/);
    // pixels 0..255 times 1/256: the input's threshold is 255/256
    expect(fs.readFileSync(path.join(tmp, 'lenet_tt.prototxt'), 'utf8')).toMatch(/name: "mnist"\n  type: "Input"[\s\S]*?scale: 0.00390625[\s\S]*?th_layer_out: 0.99609375/);
    const f = q(['--input_scale', '0.00392156862745']);
    expect(f.code).toBe(0);
    expect(f.stderr).toMatch(/lenet_train_test.prototxt:\d+:\d+: warning: --raw_scale 255.0 --input_scale 0.00392156862745 scale the pixels by 0.00392156862745, the Data layer 'mnist' \(transform_param\) by 0.00390625: using the flags/);
    expect(fs.readFileSync(path.join(tmp, 'lenet_tt.prototxt'), 'utf8')).toMatch(/scale: 0.00392156\d*[\s\S]*?th_layer_out: 1.0\n/);
  });
  test('a mean_file that is not there (and no mean flag) is an error naming the Data layer', () => {
    const quick = path.join(M, 'cifar10_quick_v1_everpeace');
    const r = runCli(['quantize', '-q', '--deploy_model', path.join(quick, 'cifar10_quick_train_test.prototxt'), '--weights', path.join(quick, 'cifar10_quick_iter_5000.caffemodel'),
      '--calibration_directory', CIF, '--calibration_size', '2', '--bitwidths', '8,8,8', ...CIFAR_PRE, '--quantized_deploy_model', path.join(tmp, 'x.prototxt')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cifar10_quick_train_test.prototxt:\d+:\d+: error: the Data layer 'cifar' \(transform_param\) subtracts mean_file "examples\/cifar10\/mean.binaryproto", which is not found/);
    expect(fs.existsSync(path.join(tmp, 'x.prototxt'))).toBe(false);
  });
  test('a Data layer without --dims: a usage error naming it', () => {
    const r = runCli(['quantize', '-q', '--deploy_model', path.join(lenet, 'lenet_train_test.prototxt'), '--weights', path.join(lenet, 'lenet_iter_10000.caffemodel'),
      '--mnist', MNIST, '--calibration_size', '2', '--quantized_deploy_model', path.join(tmp, 'y.prototxt')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: .*give --dims C,H,W/);
  });
});
