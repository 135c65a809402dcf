/**
 * src/chaidnn/: one fusion rule and one FPGA/ARM partition, read by lint, the planner and the simulator.
 *  - Convolution → in-place ReLU → in-place Scale (Xilinx): the runtime fuses the Scale (§3.5); lint, quantize and
 *    simulate agree.
 *  - every corpus net quantize writes and lint passes also simulates (ARM values feeding FPGA layers are packed,
 *    a Concat of ARM values runs in float).
 *  - lint --weights on chaiq's own outputs: no false clipped-weights (th_params compared with the folded weights).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeCaffemodel } from '../src/proto/write-caffemodel';
import { writeNpy } from '../src/io/npy';
import { buildNet } from '../src/graph/build';
import { loadNetText } from '../src/graph/load';
import { randTensor } from './quant-net';
import { cliServer, CORPUS } from './helpers/cli';
import { convFusions } from '../src/chaidnn/fusion';
import { partitionNet } from '../src/chaidnn/partition';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-rt-'));
// the commands only compute: one node process runs them all (no node start and dist/ load per command), on one
// thread (one image: a second kernel thread would spin on a core the other jest worker uses)
const cli = cliServer({ CHAIQ_THREADS: '1' });
afterAll(() => {
  cli.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const RELU_SCALE = `name: "relu_scale"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "scale1" type: "Scale" bottom: "conv1" top: "conv1" scale_param { bias_term: true } }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2" convolution_param { num_output: 2 kernel_size: 1 } }
`;

function reluScaleFiles() {
  const proto = path.join(tmp, 'relu_scale.prototxt');
  const model = path.join(tmp, 'relu_scale.caffemodel');
  fs.writeFileSync(proto, RELU_SCALE);
  const gamma = { shape: [4], data: Float32Array.from([0.5, 2, 1.5, 3]) };
  writeCaffemodel(model, 'relu_scale', [
    { name: 'conv1', type: 'Convolution', blobs: [randTensor([4, 3, 3, 3], 1, 0.3), randTensor([4], 2, 0.1)] },
    { name: 'scale1', type: 'Scale', blobs: [gamma, randTensor([4], 3, 0.1)] },
    { name: 'conv2', type: 'Convolution', blobs: [randTensor([2, 4, 1, 1], 4, 0.5), randTensor([2], 5, 0.1)] },
  ]);
  const calib = path.join(tmp, 'calib');
  fs.mkdirSync(calib, { recursive: true });
  writeNpy(path.join(calib, 'a.npy'), randTensor([3, 8, 8], 6, 50));
  return { proto, model, calib };
}

describe('Convolution → in-place ReLU → in-place Scale (Xilinx): one answer', () => {
  test('the fusion rule folds the Scale into the conv, the ReLU moves after it', () => {
    const net = buildNet(loadNetText('relu_scale.prototxt', { text: RELU_SCALE }).net);
    const f = convFusions(net.layers);
    expect(f.byConv.get(1)).toEqual({ conv: 1, folded: [3], absorbed: [2, 3], reluMoved: true });
    expect(Array.from(f.into)).toEqual([-1, -1, 1, 1, -1]);
    expect(partitionNet(net, true).place).toEqual(['input', 'fpga', 'fused', 'fused', 'fpga']);
  });

  test('quantize plans it fused, lint passes, simulate runs it', async () => {
    const { proto, model, calib } = reluScaleFiles();
    const out = path.join(tmp, 'relu_scale_q.prototxt');
    const q = await cli.run(['quantize', '-q', '--deploy_model', proto, '--weights', model, '--calibration_directory', calib, '--calibration_size', '1', '--bitwidths', '8,8,8', '--quantized_deploy_model', out]);
    expect(q.stderr).not.toMatch(/standalone Scale|not in place/);
    expect(q.code).toBe(0);
    // th_params from the folded weights: scale1's gamma multiplies conv1's channels
    const l = await cli.run(['lint', '--weights', model, out]);
    expect(l.stdout + l.stderr).toMatch(/0 error\(s\), 0 warning\(s\)/);
    expect(l.code).toBe(0);
    const s = await cli.run(['simulate', '--deploy_model', out, '--weights', model, '--calibration_directory', calib]);
    expect(s.stderr).not.toMatch(/error/);
    expect(s.stderr).toMatch(/applies the ReLU after the folded BatchNorm\/Scale/);
    expect(s.code).toBe(0);
  });
});

const M = path.join(CORPUS, 'models');
const IMG = path.join(tmp, 'img');
beforeAll(() => {
  fs.mkdirSync(IMG, { recursive: true });
  fs.copyFileSync(path.join(CORPUS, 'images/ultraface_imgs_1.jpg'), path.join(IMG, 'a.jpg'));
});

const MODES: Record<string, string[]> = {
  x8: ['--quant_type', 'Xilinx', '--bitwidths', '8,8,8'],
  x6: ['--quant_type', 'Xilinx', '--bitwidths', '6,6,6'],
  df: ['--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto', '--bitwidths', '8,8,8'],
};

// one mode per net keeps the file fast; each net is one that simulate refused before in that mode
const NETS: [string, string, string, string][] = [
  ['UltraFace slim', 'ultraface_slim320_linzaer/slim-320', 'x8', 'lint-clean'],
  ['UltraFace RFB', 'ultraface_rfb320_linzaer/RFB-320', 'x6', 'lint-clean'],
  ['YuFaceDetectNet', 'yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1', 'df', 'lint-clean'],
  ['MTCNN det1', 'mtcnn_kpzhang93/det1', 'df', 'prelu'],
  ['MTCNN det2', 'mtcnn_kpzhang93/det2', 'df', 'prelu'],
  ['MTCNN det3', 'mtcnn_kpzhang93/det3', 'x8', 'prelu'],
];

describe.each(NETS)('%s: quantize → lint → simulate', (_label, base, mode, lintExpect) => {
  test(mode, async () => {
    const proto = path.join(M, base + '.prototxt');
    const model = path.join(M, base + '.caffemodel');
    const out = path.join(tmp, path.basename(base) + '-' + mode + '.prototxt');
    const q = await cli.run(['quantize', '-q', '--deploy_model', proto, '--weights', model, ...MODES[mode], '--calibration_directory', IMG, '--calibration_size', '1', '--quantized_deploy_model', out]);
    expect(q.code).toBe(0);
    const l = await cli.run(['lint', '--weights', model, out]);
    if (lintExpect === 'lint-clean') {
      expect(l.code).toBe(0);
      expect(l.stdout + l.stderr).not.toMatch(/clipped-weights|error:/);
    } else {
      // PReLU (no CHaiDNN layer) and 2x2 kernels are lint's only errors; the simulator runs PReLU on the ARM in float
      const errors = (l.stdout + l.stderr).split('\n').filter((x) => / error: /.test(x));
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.filter((x) => !/'PReLU'|2x2 kernel/.test(x))).toEqual([]);
    }
    const s = await cli.run(['simulate', '--deploy_model', out, '--weights', model, '--calibration_directory', IMG]);
    expect(s.stderr).not.toMatch(/ error: /);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/simulated 1 image/);
  });
});

test('lint --weights on chaiq\'s ResNet-20 output (BatchNorm/Scale fused): no clipped-weights', async () => {
  const dir = path.join(M, 'cifar10_resnet20_lijianfei');
  const model = path.join(dir, 'cifar10_ResNet_20_iter_53500.caffemodel');
  const cimg = path.join(tmp, 'cimg');
  fs.mkdirSync(cimg, { recursive: true });
  fs.copyFileSync(path.join(CORPUS, 'images/cifar10/airplane1651.png'), path.join(cimg, 'a.png'));
  const out = path.join(tmp, 'r20.prototxt');
  const q = await cli.run(['quantize', '-q', '--deploy_model', path.join(dir, 'test_ResNet_20.prototxt'), '--weights', model, '--input_shape', '1,3,32,32',
    '--calibration_directory', cimg, '--calibration_size', '1', '--bitwidths', '8,8,8', '--quantized_deploy_model', out]);
  expect(q.code).toBe(0);
  const l = await cli.run(['lint', '--weights', model, out]);
  expect(l.stdout + l.stderr).toMatch(/0 error\(s\), 0 warning\(s\)/);
  expect(l.code).toBe(0);
});

// the weight checks of lint (clipped-weights, folded-fl-params) on chaiq's own outputs of the classifiers too
const CLASSIFIERS: [string, string, string, string[]][] = [
  ['LeNet (ahmdtaha)', 'lenet_mnist_ahmdtaha/mnist_deploy.prototxt', 'lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel', ['--mnist', path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz')]],
  ['LeNet (everpeace)', 'lenet_mnist_v1_everpeace/lenet.prototxt', 'lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel', ['--mnist', path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz')]],
  ['CIFAR-10 quick', 'cifar10_quick_v1_everpeace/cifar10_quick.prototxt', 'cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel', ['--calibration_directory', path.join(CORPUS, 'data/cifar10_test_jpg_subset/cat'), '--dims', '3,32,32']],
  ['CIFAR-10 full', 'cifar10_full_v1_everpeace/cifar10_full.prototxt', 'cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel', ['--calibration_directory', path.join(CORPUS, 'data/cifar10_test_jpg_subset/cat'), '--dims', '3,32,32']],
];

describe.each(CLASSIFIERS)('%s: lint --weights on chaiq\'s output', (_label, proto, weights, calib) => {
  test.each(['x8', 'df'])('%s: no weight warning', async (mode) => {
    const model = path.join(M, weights);
    const out = path.join(tmp, path.basename(proto, '.prototxt') + '-w-' + mode + '.prototxt');
    const q = await cli.run(['quantize', '-q', '--deploy_model', path.join(M, proto), '--weights', model, ...MODES[mode], ...calib, '--calibration_size', '1', '--quantized_deploy_model', out]);
    expect(q.code).toBe(0);
    const l = await cli.run(['lint', '--weights', model, out]);
    expect(l.stdout + l.stderr).not.toMatch(/clipped-weights|folded-fl-params|nonfinite-weights/);
  });
});
