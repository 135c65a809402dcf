import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, CORPUS, ROOT } from './helpers/cli';
import { readCaffemodel } from '../src/proto/caffemodel';
import { writeCaffemodel } from '../src/proto/write-caffemodel';
import { writeNpy } from '../src/io/npy';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
const cli = cliServer();
afterAll(() => cli.close());

const LENET = path.join(CORPUS, 'models/lenet_mnist_ahmdtaha');
const DEPLOY = path.join(LENET, 'mnist_deploy.prototxt');
const MNIST = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
const Q8 = path.join(ROOT, 'test/fixtures/quant/quantized/lenet_xilinx_888.prototxt');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-nonfinite-'));
const NAN = path.join(dir, 'nan.caffemodel');
const HUGE = path.join(dir, 'huge.caffemodel');
const WEIGHT_ERROR = /nan\.caffemodel: error: layer "conv1" blob 0 \(weights\) holds 3 NaN values \(first at index 17\); 1 more blob\(s\) hold NaN\/Inf too \("ip2" blob 1\)/;
const WEIGHT_WARNING = /nan\.caffemodel: warning: layer "conv1" blob 0 \(weights\) holds 3 NaN values \(first at index 17\)/;

/** LeNet's caffemodel with some values replaced: conv1 weights 17, 20, 30 NaN and ip2's bias 3 +Inf; or conv1's weights huge. */
beforeAll(() => {
  const r = readCaffemodel(path.join(LENET, 'lenet_iter_10000.caffemodel'));
  const layers = () => r.layers.filter((l) => r.weights.has(l.name)).map((l) => ({
    name: l.name, type: l.type, blobs: r.weights.get(l.name)!.map((b) => ({ shape: b.shape, data: Float32Array.from(b.data) })),
  }));
  const nan = layers();
  const c1 = nan.find((l) => l.name === 'conv1')!.blobs[0].data;
  c1[17] = NaN; c1[20] = NaN; c1[30] = NaN;
  nan.find((l) => l.name === 'ip2')!.blobs[1].data[3] = Infinity;
  writeCaffemodel(NAN, 'LeNet', nan);
  const huge = layers();
  huge.find((l) => l.name === 'conv1')!.blobs[0].data.fill(3e38);
  writeCaffemodel(HUGE, 'LeNet', huge);
});

const quantize = (w: string, extra: string[] = []) => cli.run(['quantize', '-q', '--deploy_model', DEPLOY, '--weights', w, '--mnist', MNIST,
  '--calibration_size', '2', '--bitwidths', '8,8,8', '--quantized_deploy_model', path.join(dir, 'q.prototxt'), ...extra]);
const simulate = (w: string, extra: string[] = []) => cli.run(['simulate', '--deploy_model', Q8, '--weights', w, '--mnist', MNIST, '--limit', '3', ...extra]);
const errorLines = (s: string) => s.split('\n').filter((l) => /error:/.test(l));

describe('NaN/Inf weights: every command names the caffemodel, layer and blob', () => {
  test('quantize (Xilinx) refuses with exit 1 and writes nothing', async () => {
    const out = path.join(dir, 'q.prototxt');
    fs.rmSync(out, { force: true });
    const r = await quantize(NAN);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(WEIGHT_ERROR);
    expect(r.stderr).toMatch(/--allow_nonfinite/);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('quantize DynamicFixed uniform (no calibration) refuses too', async () => {
    const r = await cli.run(['quantize', '-q', '--quant_type', 'DynamicFixed', '--deploy_model', DEPLOY, '--weights', NAN, '--quantized_deploy_model', path.join(dir, 'df.prototxt')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(WEIGHT_ERROR);
  });

  test('quantize --allow_nonfinite goes on: warnings name the blobs, the thresholds written are finite', async () => {
    const r = await quantize(NAN, ['--allow_nonfinite']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(WEIGHT_WARNING);
    expect(r.stderr).toMatch(/warning: layer "ip2" blob 1 \(bias\) holds 1 infinite value \(first at index 3\)/);
    // NaN spreads through conv1's outputs: calibration leaves those values out, said once per blob
    expect(r.stderr).toMatch(/mnist_deploy\.prototxt:\d+:\d+: warning: layer "conv1" top "conv1" holds \d+ NaN values \(first at index \d+\) on calibration image 1; left out/);
    const text = fs.readFileSync(path.join(dir, 'q.prototxt'), 'utf8');
    expect(text).not.toMatch(/: (-?nan|-?inf)\b/);
  });

  test('simulate refuses with exit 1; --allow_nonfinite runs and warns about the float run', async () => {
    const r = await simulate(NAN);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(WEIGHT_ERROR);
    expect(r.stdout).toBe('');
    const report = path.join(dir, 'sim.html');
    const a = await simulate(NAN, ['--allow_nonfinite', '--report', report]);
    expect(a.code).toBe(0);
    expect(fs.existsSync(report)).toBe(true);
    expect(a.stderr).toMatch(WEIGHT_WARNING);
    expect(a.stderr).toMatch(/lenet_xilinx_888\.prototxt:\d+:\d+: warning: layer "conv1" top "conv1" holds \d+ NaN values \(first at index 0\) in the float run on t10k-images-idx3-ubyte\.gz\[0\]/);
  });

  test('lint --weights: an error per blob with the rule id; without --weights nothing', async () => {
    const r = await cli.run(['lint', Q8, '--weights', NAN]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/lenet_xilinx_888\.prototxt:\d+:\d+: error: layer "conv1" blob 0 \(weights\) holds 3 NaN values \(first at index 17\) in \S*nan\.caffemodel \[nonfinite-weights\]/);
    expect(r.stdout).toMatch(/error: layer "ip2" blob 1 \(bias\) holds 1 infinite value \(first at index 3\) .*\[nonfinite-weights\]/);
    expect((await cli.run(['lint', Q8])).code).toBe(0);
  });

  test('info warns and still lists the layers', async () => {
    const r = await cli.run(['info', '--deploy_model', DEPLOY, '--weights', NAN]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(WEIGHT_WARNING);
    expect(r.stdout).toMatch(/^total: /m);
  });

  test('forward warns once per blob and runs', async () => {
    const inp = path.join(dir, 'x.npy');
    writeNpy(inp, { shape: [1, 1, 28, 28], data: new Float32Array(784).fill(0.5) });
    const r = await cli.run(['forward', '--deploy_model', DEPLOY, '--weights', NAN, '--input', inp]);
    expect(r.code).toBe(0);
    expect(r.stderr.match(/holds 3 NaN values/g)).toHaveLength(1);
    expect(r.stderr).toMatch(WEIGHT_WARNING);
  });
});

describe('NaN/Inf activations (finite weights): the layer and blob that first hold them', () => {
  test('quantize: conv1 overflows float32 on the first calibration image → exit 1 naming layer and top', async () => {
    const r = await quantize(HUGE);
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/mnist_deploy\.prototxt:\d+:\d+: error: layer "conv1" top "conv1" holds \d+ infinite values \(first at index \d+\) on calibration image 1; --allow_nonfinite/);
  });

  test('simulate: the same in the float run; a NaN input is named as the input blob', async () => {
    const r = await simulate(HUGE);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: layer "conv1" top "conv1" holds \d+ infinite values \(first at index \d+\) in the float run on t10k-images-idx3-ubyte\.gz\[0\]/);
    const inp = path.join(dir, 'nan_input.npy');
    const x = new Float32Array(784).fill(0.5);
    x[100] = NaN;
    writeNpy(inp, { shape: [1, 1, 28, 28], data: x });
    const s = await cli.run(['simulate', '--deploy_model', Q8, '--weights', path.join(LENET, 'lenet_iter_10000.caffemodel'), '--input', inp, '--mean_value', '0']);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/error: layer "data" top "data" holds 1 NaN value \(first at index 100\) in the float run on nan_input\.npy\[0\]/);
  });
});
