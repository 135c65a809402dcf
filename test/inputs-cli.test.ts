/**
 * Inputs users really have (issue #12): .npy calibration data for nets whose input is not an image (MTCNN
 * det4, 15 channels), fully convolutional nets at another size (--input_shape), the `# input:` header of
 * --optimized_weights read back by simulate, and image defaults that do not fit a 1-channel net.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, CORPUS, ROOT } from './helpers/cli';
import { writeNpy } from '../src/io/npy';

/**
 * main() in one node process for the commands here (what they compute and print, their exit codes). The tests are
 * asynchronous now, so jest's timeout applies to them: 300 s, for a loaded machine.
 */
// one thread: the figures do not depend on it (test/sim-parallel.test.ts); workers would cost more than these few images
const cli = cliServer({ CHAIQ_THREADS: '1' });
afterAll(() => cli.close());

const MT = path.join(CORPUS, 'models/mtcnn_kpzhang93');
const LENET = path.join(ROOT, 'models/lenet/lenet.prototxt');
const LENET_W = path.join(ROOT, 'models/lenet/lenet_iter_10000.caffemodel');
const DIGITS = path.join(ROOT, 'models/lenet/digits');
const MNIST = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
const MNIST_LABELS = path.join(CORPUS, 'data/mnist/t10k-labels-idx1-ubyte.gz');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-inputs-'));
/** stderr lines that are not about unsupported layers (MTCNN's PReLU, Slice) */
const notes = (stderr: string) => stderr.split('\n').filter((l) => l && !/is not supported by CHaiDNN/.test(l));

/** deterministic data in [-1, 1) */
function noise(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 16807) % 2147483647;
    return (s / 2147483647) * 2 - 1;
  });
}

describe('.npy calibration inputs', () => {
  const d = tmp();
  const calib = path.join(d, 'calib');
  fs.mkdirSync(calib);
  const per = 15 * 24 * 24;
  // one sample as C,H,W, one as 1,C,H,W, a stack of 3: five samples
  writeNpy(path.join(calib, 'a.npy'), { shape: [15, 24, 24], data: noise(per, 1) });
  writeNpy(path.join(calib, 'b.npy'), { shape: [1, 15, 24, 24], data: noise(per, 2) });
  writeNpy(path.join(calib, 'c.npy'), { shape: [3, 15, 24, 24], data: noise(3 * per, 3) });
  const det4 = ['quantize', '-q', '--deploy_model', path.join(MT, 'det4.prototxt'), '--weights', path.join(MT, 'det4.caffemodel'), '--calibration_directory', calib];

  test('MTCNN det4 (15 channels) quantizes in Xilinx mode from .npy; image flags are said to be ignored', async () => {
    const out = path.join(d, 'det4_q.prototxt');
    const r = await cli.run([...det4, '--calibration_size', '5', '--mean_value', '127.5', '--quantized_deploy_model', out]);
    expect(r.code).toBe(0);
    expect(notes(r.stderr).filter((l) => !/old `layers`\/`input:` form/.test(l))).toEqual([
      "warning: --mean_value is ignored: the calibration directory's .npy data is the net input as it is (image preprocessing applies to images only)",
    ]);
    const text = fs.readFileSync(out, 'utf8');
    expect(text).toMatch(/dim: 15\n/);
    expect((text.match(/quant_type: "Xilinx"/g) ?? []).length).toBeGreaterThan(10);
  }, 300_000);

  test('a stack counts as its N samples; a wrong shape or a mixed directory is one clear error', async () => {
    const big = await cli.run([...det4, '--calibration_size', '6', '--quantized_deploy_model', path.join(d, 'x.prototxt')]);
    expect(big.code).toBe(2);
    expect(notes(big.stderr)).toEqual([`${calib}: error: --calibration_size 6 is larger than the 5 samples in the directory's .npy files`]);
    const bad = path.join(d, 'bad');
    fs.mkdirSync(bad);
    writeNpy(path.join(bad, 'x.npy'), { shape: [3, 24, 24], data: new Float32Array(3 * 576) });
    const shape = await cli.run([...det4.slice(0, -1), bad, '--quantized_deploy_model', path.join(d, 'x.prototxt')]);
    expect(shape.code).toBe(1);
    expect(notes(shape.stderr)).toEqual([`${path.join(bad, 'x.npy')}: error: .npy of shape (3,24,24) does not fit the net input 15×24×24: give one sample (15,24,24 or 1,15,24,24) or a stack (N,15,24,24)`]);
    const mixed = path.join(d, 'mixed');
    fs.mkdirSync(mixed);
    writeNpy(path.join(mixed, 'x.npy'), { shape: [15, 24, 24], data: new Float32Array(per) });
    fs.copyFileSync(path.join(MT, 'test1.jpg'), path.join(mixed, 'y.jpg'));
    const mix = await cli.run([...det4.slice(0, -1), mixed, '--quantized_deploy_model', path.join(d, 'x.prototxt')]);
    expect(mix.code).toBe(1);
    expect(notes(mix.stderr)[0]).toMatch(/mixed: error: the directory mixes images \(1, e\.g\. y\.jpg\) and \.npy inputs \(1, e\.g\. x\.npy\)/);
    expect(fs.existsSync(path.join(d, 'x.prototxt'))).toBe(false);
    // images on a 15-channel net: the error says to give .npy
    const img = path.join(d, 'img');
    fs.mkdirSync(img);
    fs.copyFileSync(path.join(MT, 'test1.jpg'), path.join(img, 'y.jpg'));
    const r = await cli.run([...det4.slice(0, -1), img, '--calibration_size', '1', '--quantized_deploy_model', path.join(d, 'x.prototxt')]);
    expect(r.code).toBe(2);
    expect(notes(r.stderr)).toEqual(['error: image inputs fit 1- or 3-channel nets; this net input has 15 channels (15×24×24): give the net input itself as .npy files (C,H,W or N,C,H,W)']);
  }, 300_000);
});

describe('fully convolutional nets at another size: --input_shape on every command', () => {
  const d = tmp();
  const img = path.join(d, 'img');
  fs.mkdirSync(img);
  fs.copyFileSync(path.join(MT, 'test1.jpg'), path.join(img, 'a.jpg'));
  const pre = ['--mean_value', '127.5', '--input_scale', '0.0078125'];
  const pnet = ['--deploy_model', path.join(MT, 'det1.prototxt'), '--weights', path.join(MT, 'det1.caffemodel')];

  test('MTCNN PNet at 344×450 through quantize and simulate; the output declares the size it was calibrated at', async () => {
    const out = path.join(d, 'pnet_q.prototxt');
    const q = await cli.run(['quantize', '-q', ...pnet, '--calibration_directory', img, '--calibration_size', '1', '--input_shape', '1,3,344,450', ...pre, '--quantized_deploy_model', out]);
    expect(q.code).toBe(0);
    expect(q.stderr).toMatch(/warning: the Input layer "input" is written with the shape the net was calibrated at, \(1,3,344,450\), instead of \(1,3,12,12\)/);
    const text = fs.readFileSync(out, 'utf8');
    expect(text).toMatch(/shape \{\n\s+dim: 1\n\s+dim: 3\n\s+dim: 344\n\s+dim: 450\n/);
    const s = await cli.run(['simulate', '--format', 'json', '--deploy_model', out, '--weights', path.join(MT, 'det1.caffemodel'), '--calibration_directory', img, ...pre]);
    expect(s.stderr).not.toMatch(/error/);
    expect(s.code).toBe(0);
    const j = JSON.parse(s.stdout);
    expect(j.images).toBe(1);
    // conv4-2 of PNet at 344×450: 167×220 positions × 4 box offsets
    const conv = j.layers.find((l: { name: string }) => l.name === 'conv4-2');
    expect(conv.cumulative.count).toBe(167 * 220 * 4);
  }, 300_000);

  test('--input_shape errors: batch other than 1 for quantize, --dims that disagrees', async () => {
    const b = await cli.run(['quantize', ...pnet, '--calibration_directory', img, '--input_shape', '2,3,344,450', '--quantized_deploy_model', path.join(d, 'x.prototxt')]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^error: --input_shape 2,3,344,450: this command runs batch 1, as CHaiDNN does; give 1,3,344,450$/m);
    const c = await cli.run(['simulate', ...pnet, '--calibration_directory', img, '--dims', '3,344,450']);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/error: --dims 3,344,450 disagrees with the Input layer "input" of shape \(1,3,12,12\); --input_shape 1,3,344,450 runs the net at another size/);
  }, 300_000);

  test('info: --input_shape N,C,H,W, --dims C,H,W as elsewhere; its old --dims N,C,H,W works with a deprecation warning', async () => {
    const info = (...a: string[]) => cli.run(['info', '--format', 'json', '--deploy_model', path.join(MT, 'det1.prototxt'), ...a]);
    const shape = (r: { stdout: string }) => JSON.parse(r.stdout).inputs[0].shape;
    const old = await info('--dims', '1,3,344,450');
    expect(old.code).toBe(0);
    expect(shape(old)).toEqual([1, 3, 344, 450]);
    expect(old.stderr).toMatch(/warning: --dims 1,3,344,450: info's N,C,H,W form of --dims is deprecated; use --input_shape 1,3,344,450/);
    const chw = await info('--dims', '3,12,12');
    expect(chw.code).toBe(0);
    expect(chw.stderr).toBe('');
    expect(shape(chw)).toEqual([1, 3, 12, 12]);
  }, 300_000);
});

describe('the `# input:` header of --optimized_weights and image defaults', () => {
  const d = tmp();
  const q = path.join(d, 'lenet_q8');
  const sim = (proto: string, weights: string, ...a: string[]) =>
    cli.run(['simulate', '--format', 'json', '--deploy_model', proto, '--weights', weights, '--mnist', MNIST, '--mnist_labels', MNIST_LABELS, '--limit', '100', ...a]);

  test('LeNet quantized with --optimized_weights simulates without preprocessing flags as with the header\'s', async () => {
    // MNIST defaults (pixels/255): the input scale is folded, the input recentred on 127
    const r = await cli.run(['quantize', '-q', '--deploy_model', LENET, '--weights', LENET_W, '--mnist', MNIST, '--calibration_size', '20', '--bitwidths', '8,8,8',
      '--quantized_deploy_model', `${q}.prototxt`, '--optimized_weights', `${q}.caffemodel`]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(`${q}.prototxt`, 'utf8').split('\n')[1]).toBe("# input: pixels 0..255 minus 127.0, no scale (as CHaiDNN's image reader feeds it)");
    const plain = await sim(`${q}.prototxt`, `${q}.caffemodel`);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toBe('');
    const flags = await sim(`${q}.prototxt`, `${q}.caffemodel`, '--raw_scale', '255', '--mean_value', '127');
    expect(flags.stderr).toBe('');
    expect(plain.stdout).toBe(flags.stdout);
    const j = JSON.parse(plain.stdout);
    expect(j.accuracy.float.top1).toBeGreaterThan(0.97);
    expect(j.accuracy.fixed.top1).toBeGreaterThan(0.97);
    // the usual (pre-rewrite) flags still win, with warnings that do not send the user to --optimized_weights
    const usual = await sim(`${q}.prototxt`, `${q}.caffemodel`, '--raw_scale', '1');
    expect(usual.code).toBe(0);
    expect(usual.stderr).toMatch(new RegExp(`^${q}\\.prototxt:2:1: warning: --raw_scale 1 disagrees with the input this prototxt takes \\(pixels 0\\.\\.255, raw_scale 255, as its \`# input:\` line says\\): the flag wins$`, 'm'));
    expect(usual.stderr).toMatch(/image reader feeds .*; this prototxt came from quantize --optimized_weights, and its `# input:` line says what it takes/);
    expect(usual.stderr).not.toMatch(/folds the scale/);
    expect(JSON.parse(usual.stdout).accuracy.float.top1).toBeLessThan(j.accuracy.float.top1);
    // forward reads the header too: a digit without flags (1 channel: no mean demanded)
    const seven = path.join(DIGITS, 'test', '7', fs.readdirSync(path.join(DIGITS, 'test', '7')).sort()[0]);
    const f = await cli.run(['forward', '--deploy_model', `${q}.prototxt`, '--weights', `${q}.caffemodel`, '--input', seven, '--top', '1']);
    expect(f.stderr).toBe('');
    expect(f.stdout).toMatch(/ prob: #1 7 \(/);
  }, 300_000);

  test('.npy input takes no image defaults: a 1-channel net simulates from .npy without --mean_value', async () => {
    const x = path.join(d, 'digits.npy');
    writeNpy(x, { shape: [2, 1, 28, 28], data: noise(2 * 784, 7).map((v) => 127 * v) });
    const r = await cli.run(['simulate', '--deploy_model', `${q}.prototxt`, '--weights', `${q}.caffemodel`, '--input', x, '--format', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).images).toBe(2);
    // a directory of .npy files too, each labelled by its folder
    const dir = path.join(d, 'npydir');
    fs.mkdirSync(path.join(dir, 'a'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'b'));
    writeNpy(path.join(dir, 'a', 'x.npy'), { shape: [1, 28, 28], data: noise(784, 8) });
    writeNpy(path.join(dir, 'b', 'y.npy'), { shape: [3, 1, 28, 28], data: noise(3 * 784, 9) });
    const s = await cli.run(['simulate', '--deploy_model', `${q}.prototxt`, '--weights', `${q}.caffemodel`, '--calibration_directory', dir, '--labels_from_dirname', '--format', 'json', '--input_scale', '2']);
    expect(s.code).toBe(0);
    expect(s.stderr).toBe("warning: --input_scale is ignored: the directory's .npy data is the net input as it is (image preprocessing applies to images only)\n");
    expect(JSON.parse(s.stdout).accuracy.labelled).toBe(4);
  }, 300_000);

  test('a 1-channel net from PNG folders with default flags: the error names the default and what to pass', async () => {
    const base = ['quantize', '--deploy_model', LENET, '--weights', LENET_W, '--calibration_directory', DIGITS, '--calibration_size', '4', '--quantized_deploy_model', path.join(d, 'x.prototxt')];
    const r = await cli.run(base);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: the default --mean_value 104,117,123 (XportDNN's, a BGR ImageNet mean) does not fit this 1-channel net: give the mean it was trained with, e.g. --mean_value 0\n");
  }, 300_000);
});
