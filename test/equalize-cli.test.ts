/**
 * quantize --equalize on nets where no conv pair can be equalized (CIFAR-10 full: an LRN between the convs;
 * a net of one conv): one warning saying why, and outputs byte-identical to the run without the flag.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeCaffemodel } from '../src/proto/write-caffemodel';
import { writeNpy } from '../src/io/npy';
import { randTensor } from './quant-net';
import { CORPUS, runCli } from './helpers/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-equalize-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const FULL = path.join(CORPUS, 'models/cifar10_full_v1_everpeace');
const ONE_CONV = `name: "one_conv"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "ip1" type: "InnerProduct" bottom: "conv1" top: "ip1" inner_product_param { num_output: 3 } }
`;

/** quantize with and without --equalize into two directories (same file names): stderr of each and the written files. */
function withAndWithout(deploy: string, weights: string, calib: string, name: string) {
  const run = (equalize: boolean) => {
    const dir = path.join(tmp, `${name}-${equalize ? 'eq' : 'plain'}`);
    fs.mkdirSync(dir);
    const r = runCli(['quantize', '--deploy_model', deploy, '--weights', weights, '--calibration_directory', calib, '--calibration_size', '2',
      '--bitwidths', '8,8,8', '--quantized_deploy_model', path.join(dir, 'q.prototxt'), '--optimized_weights', path.join(dir, 'q.caffemodel'),
      ...(equalize ? ['--equalize'] : [])]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    return { stderr: r.stderr, prototxt: fs.readFileSync(path.join(dir, 'q.prototxt')), caffemodel: fs.readFileSync(path.join(dir, 'q.caffemodel')) };
  };
  const eq = run(true);
  const plain = run(false);
  expect(eq.prototxt.equals(plain.prototxt)).toBe(true);
  expect(eq.caffemodel.equals(plain.caffemodel)).toBe(true);
  const warnings = (s: string) => s.split('\n').filter((l) => / warning: /.test(l));
  const added = warnings(eq.stderr).filter((l) => !warnings(plain.stderr).includes(l));
  return added;
}

test('CIFAR-10 full (an LRN after conv1 and conv2, an InnerProduct after conv3): one warning naming them, nothing changed', () => {
  const added = withAndWithout(path.join(FULL, 'cifar10_full.prototxt'), path.join(FULL, 'cifar10_full_iter_70000.caffemodel'),
    path.join(CORPUS, 'data/cifar10_test_jpg_subset/airplane'), 'full');
  expect(added).toEqual([`${path.join(FULL, 'cifar10_full.prototxt')}: warning: --equalize: no conv → conv pair with only ReLU or pooling layers between them ` +
    `(LRN 'norm1' after conv1, LRN 'norm2' after conv2, InnerProduct 'ip1' after conv3); nothing equalized`]);
});

test('a net of one conv: one warning, nothing changed', () => {
  const deploy = path.join(tmp, 'one_conv.prototxt');
  const weights = path.join(tmp, 'one_conv.caffemodel');
  const calib = path.join(tmp, 'one_conv_inputs');
  fs.writeFileSync(deploy, ONE_CONV);
  writeCaffemodel(weights, 'one_conv', [
    { name: 'conv1', type: 'Convolution', blobs: [randTensor([4, 3, 3, 3], 1, 0.5), randTensor([4], 2, 0.1)] },
    { name: 'ip1', type: 'InnerProduct', blobs: [randTensor([3, 256], 3, 0.1), randTensor([3], 4, 0.1)] },
  ]);
  fs.mkdirSync(calib);
  for (let k = 0; k < 2; k++) writeNpy(path.join(calib, `x${k}.npy`), randTensor([3, 8, 8], 10 + k, 1));
  const added = withAndWithout(deploy, weights, calib, 'one');
  expect(added).toEqual([`${deploy}: warning: --equalize: no conv → conv pair with only ReLU or pooling layers between them (InnerProduct 'ip1' after conv1); nothing equalized`]);
});
