// The library by its package name: require('chaiq') resolves package.json's main (the built dist/), and its
// quantize gives what the CLI writes, byte for byte.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createRequire } from 'module';
import { ROOT, runCli } from './helpers/cli';

const LENET = path.join(ROOT, 'models', 'lenet');
const CALIB = path.join(LENET, 'digits', 'calibration');
const PRE_FLAGS = ['--dims', '1,28,28', '--channel_swap', '0', '--raw_scale', '255', '--mean_value', '0', '--input_scale', '0.00390625'];
const PRE = { dims: [1, 28, 28] as [number, number, number], transpose: [2, 0, 1], channelSwap: [0], rawScale: 255, mean: [0], inputScale: 0.00390625 };

let tmp: string;
let chaiq: any;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-lib-'));
  fs.mkdirSync(path.join(tmp, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(tmp, 'node_modules', 'chaiq'), 'dir');
  chaiq = createRequire(path.join(tmp, 'index.js'))('chaiq');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('package.json main and types name built files', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  expect(fs.existsSync(path.join(ROOT, pkg.main))).toBe(true);
  expect(pkg.types).toBe(pkg.main.replace(/\.js$/, '.d.ts'));
  expect(typeof chaiq.quantize).toBe('function');
  expect(typeof chaiq.simulate).toBe('function');
});

test.each([
  ['Xilinx', ['--bitwidths', '8,8,8']],
  ['DynamicFixed', ['--bitwidths', '8,8,8', '--fl_bitwidths', 'auto']],
])('quantize %s through the API writes what the CLI writes (prototxt and caffemodel)', async (mode, flags) => {
  const cliOut = path.join(tmp, `cli_${mode}.prototxt`);
  const cliWeights = path.join(tmp, `lenet_${mode}.caffemodel`);
  const r = runCli(['quantize', '--quant_type', mode, '--deploy_model', path.join(LENET, 'lenet.prototxt'), '--weights', path.join(LENET, 'lenet_iter_10000.caffemodel'),
    '--quantized_deploy_model', cliOut, '--optimized_weights', cliWeights, ...flags, '--calibration_directory', CALIB, '--calibration_size', '10', ...PRE_FLAGS, '--quiet']);
  expect(r.code).toBe(0);
  const warnings: string[] = [];
  const q = await chaiq.quantize({
    mode, deploy: path.join(LENET, 'lenet.prototxt'), weights: path.join(LENET, 'lenet_iter_10000.caffemodel'),
    bitwidths: { in: 8, params: 8, out: 8 }, ...(mode === 'DynamicFixed' ? { fl: 'auto' } : {}),
    inputs: chaiq.calibrationFromDirectory(CALIB, { size: 10 }), preprocess: PRE,
    forBoard: { weightsName: path.basename(cliWeights) }, warn: (m: string) => warnings.push(m),
  });
  expect(q.text).toBe(fs.readFileSync(cliOut, 'utf8'));
  expect(Buffer.from(q.caffemodel).equals(fs.readFileSync(cliWeights))).toBe(true);
  // the library names its options, not the CLI's flags
  expect(warnings.some((w) => /printed canonically/.test(w) && /option optimizedWeights/.test(w))).toBe(true);
  expect(warnings.join('\n')).not.toMatch(/--optimized_weights/);
});

test('a bad option is an OptionError naming the option; the CLI names its flag', async () => {
  const deploy = path.join(tmp, 'no_shape.prototxt');
  fs.writeFileSync(deploy, 'name: "x"\ninput: "data"\nlayer { name: "r" type: "ReLU" bottom: "data" top: "r" }\n');
  const e = await chaiq.quantize({ mode: 'DynamicFixed', deploy, bitwidths: { in: 8, params: 8, out: 8 }, fl: { in: 2, params: 5, out: 2 } }).catch((x: Error) => x);
  expect(e).toBeInstanceOf(chaiq.OptionError);
  expect(e.message).toMatch(/give option dims C,H,W$/);
  const r = runCli(['quantize', '--quant_type', 'DynamicFixed', '--deploy_model', deploy, '--quantized_deploy_model', path.join(tmp, 'o.prototxt')]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/give --dims C,H,W\n/);
});
