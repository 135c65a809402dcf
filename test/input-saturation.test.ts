import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, CORPUS } from './helpers/cli';
import { clippedCount, formatRange, inputClipWarning } from '../src/sim/input-range';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
const cli = cliServer();
afterAll(() => cli.close());

const M = path.join(CORPUS, 'models/cifar10_quick_v1_everpeace');
const CIF = path.join(CORPUS, 'data/cifar10_test_jpg_subset');
// the README's CIFAR-10 preprocessing: pixels 0..255 minus the mean image
const PRE = ['--dims', '3,32,32', '--channel_swap', '0,1,2', '--raw_scale', '255', '--mean_file', path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto')];
const MODEL = ['--deploy_model', path.join(M, 'cifar10_quick.prototxt'), '--weights', path.join(M, 'cifar10_quick_iter_5000.caffemodel')];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-insat-'));
const SAT = /warning: the net input "data" saturates: (\d+\.\d) % of its values lie beyond -32\.\.31\.75, the range of fl_layer_in 2 \(bw 8\) of layer "conv1", and are clipped on the board; quantize with --fl_bitwidths auto/;

test('input ranges: DynamicFixed [-2^(bw-1), 2^(bw-1)-1]·2^-fl, Xilinx ±th; values beyond are counted', () => {
  expect(formatRange({ mode: 'DynamicFixed', bw: 8, fl: 2 })).toEqual([-32, 31.75]);
  expect(formatRange({ mode: 'Xilinx', bw: 8, th: 4 })).toEqual([-4, 4]);
  // clamped by more than one step (0.25): -32.3, 32.1, 100; within a step of the rail is rounding, not saturation
  expect(clippedCount([-32, -32.25, -32.3, 31.75, 32, 32.1, 0, 100], { mode: 'DynamicFixed', bw: 8, fl: 2 })).toBe(3);
  expect(clippedCount([0.5, 1, 1.01], { mode: 'DynamicFixed', bw: 8, fl: 7 })).toBe(1);
  const fmt = { mode: 'DynamicFixed' as const, bw: 8, fl: 0 };
  expect(inputClipWarning({ blob: 'data', layer: 'conv1', fmt, clipped: 1, total: 100 })).toBeUndefined();
  expect(inputClipWarning({ blob: 'data', layer: 'conv1', fmt, clipped: 2, total: 100 })).toMatch(/2\.0 % .*fl 0 is the smallest CHaiDNN accepts; a first layer in Xilinx mode reads the input at any threshold \(quantize --df_input xilinx\)/);
});

describe('CIFAR-10 quick, DynamicFixed 8-bit with XportDNN\'s default fl 2,5,2 on pixels minus the mean', () => {
  const out = path.join(dir, 'quick_df.prototxt');
  test('quantize warns with the fraction clipped when calibration images are given, not without', async () => {
    const r = await cli.run(['quantize', '-q', '--quant_type', 'DynamicFixed', '--bitwidths', '8,8,8', ...MODEL, '--quantized_deploy_model', out,
      '--calibration_directory', CIF, '--calibration_size', '8', ...PRE]);
    expect(r.code).toBe(0);
    const m = SAT.exec(r.stderr);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(30);
    const plain = await cli.run(['quantize', '-q', '--quant_type', 'DynamicFixed', '--bitwidths', '8,8,8', ...MODEL, '--quantized_deploy_model', path.join(dir, 'plain.prototxt')]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).not.toMatch(/saturates/);
    // the images change nothing in the output
    expect(fs.readFileSync(path.join(dir, 'plain.prototxt'), 'utf8')).toBe(fs.readFileSync(out, 'utf8'));
  });

  test('simulate warns and shows the input layer with its saturated fraction', async () => {
    const args = ['simulate', '--deploy_model', out, '--weights', path.join(M, 'cifar10_quick_iter_5000.caffemodel'), '--calibration_directory', path.join(CIF, 'cat'), '--limit', '10', ...PRE];
    const r = await cli.run(args);
    expect(r.code).toBe(0);
    expect(Number(SAT.exec(r.stderr)![1])).toBeGreaterThan(30);
    const row = /^input\s+Input\s+data\s+hw\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+\.\d+)%$/m.exec(r.stdout);
    expect(row).not.toBeNull();
    expect(Number(row![1])).toBeGreaterThan(30);
    const j = JSON.parse((await cli.run([...args, '--format', 'json'])).stdout);
    const input = j.layers.find((l: any) => l.name === 'input');
    expect(input).toMatchObject({ type: 'Input', blob: 'data', where: 'hw' });
    expect(input.cumulative.saturated).toBeGreaterThan(0.3);
  });
});
