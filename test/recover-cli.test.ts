/**
 * quantize --equalize / --bias_correction / --optimize_rounding (issue 14): usage, and on LeNet (20 digits, both modes, 8 and 6 bit)
 * outputs that lint clean, are byte-identical on rerun, and carry biases on their runtime grid.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, CORPUS, ROOT } from './helpers/cli';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
const cli = cliServer();
afterAll(() => cli.close());

const MNIST = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
const DEPLOY = path.join(ROOT, 'models/lenet/lenet.prototxt');
const WEIGHTS = path.join(ROOT, 'models/lenet/lenet_iter_10000.caffemodel');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-recover-'));

function quantize(out: string, extra: string[]) {
  return cli.run([
    'quantize', '--deploy_model', DEPLOY, '--weights', WEIGHTS, '--mnist', MNIST, '--calibration_size', '20',
    '--quantized_deploy_model', `${out}.prototxt`, '--optimized_weights', `${out}.caffemodel`, ...extra,
  ]);
}

describe('quantize --equalize / --bias_correction / --optimize_rounding', () => {
  test.each(['--equalize', '--bias_correction', '--optimize_rounding'])('%s without --optimized_weights is a usage error (2) and writes nothing', async (flag) => {
    const out = path.join(tmp, `nope${flag}`);
    const r = await cli.run(['quantize', '--deploy_model', DEPLOY, '--weights', WEIGHTS, '--mnist', MNIST, '--quantized_deploy_model', `${out}.prototxt`, flag]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`${flag} rewrites the weights: it needs --optimized_weights`));
    expect(fs.existsSync(`${out}.prototxt`)).toBe(false);
  });

  test.each([
    ['Xilinx', '8'],
    ['DynamicFixed', '6'],
  ])('%s %s-bit, all three techniques: lint clean and byte-identical on rerun', async (mode, b) => {
    const flags = ['--bitwidths', `${b},${b},${b}`, '--equalize', '--bias_correction', '--optimize_rounding',
      ...(mode === 'DynamicFixed' ? ['--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto'] : [])];
    const a = path.join(tmp, `${mode}${b}a`);
    const c = path.join(tmp, `${mode}${b}b`);
    const r1 = await quantize(a, flags);
    expect(r1.stderr).not.toMatch(/: error:/);
    expect(r1.code).toBe(0);
    expect(r1.stderr).toMatch(/equalized 1 convolution pairs/);
    expect(r1.stderr).toMatch(/bias correction: \d+ of 2 convolutions moved their bias/);
    expect(r1.stderr).toMatch(/optimized rounding of 2 convolutions: \d+ weights rounded the other way/);
    expect((await quantize(c, flags)).code).toBe(0);
    expect(fs.readFileSync(`${c}.caffemodel`).equals(fs.readFileSync(`${a}.caffemodel`))).toBe(true);
    expect(fs.readFileSync(`${c}.prototxt`, 'utf8').replace(/b\.caffemodel/, 'a.caffemodel')).toBe(fs.readFileSync(`${a}.prototxt`, 'utf8'));
    const lint = await cli.run(['lint', `${a}.prototxt`, '--weights', `${a}.caffemodel`]);
    // clean: at most the fl-range note that plain --optimized_weights gets too (a valid Q(6,fl) with fl > 6)
    const found = (lint.stdout + lint.stderr).split('\n').filter((l) => /: (error|warning):/.test(l));
    expect(found.filter((l) => !/: warning: .*\[fl-range\]$/.test(l))).toEqual([]);
    expect(lint.code).toBe(0);
    // the rewrite changed the weights
    expect(fs.readFileSync(`${a}.caffemodel`).equals(fs.readFileSync(WEIGHTS))).toBe(false);
  });
});
