/**
 * scripts/accuracy-table.sh, the README Accuracy table's reproduction, on a CI-sized subset: the splits it builds
 * are disjoint (MNIST t10k 0–999 for calibration, 1000– for evaluation; the first 20 JPEGs of each CIFAR class
 * for calibration, the others for evaluation) and stated above the table, and extra quantize flags pass through.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { CORPUS, ROOT } from './helpers/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-acctable-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** the script on one thread: on CI-sized sets worker starts cost more CPU than they save; the figures do not
 * depend on the thread count (test/sim-parallel.test.ts) */
function table(env: Record<string, string>, cols: string[]) {
  const r = spawnSync('sh', [path.join(ROOT, 'scripts/accuracy-table.sh'), ...cols], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, ACC_OUT: tmp, CHAIQ_THREADS: '1', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('LeNet, Xilinx 8-bit, 50 held-out digits: the split, the table, the commands', () => {
  const r = table({ ACC_NETS: 'lenet', ACC_CONFIGS: 'X8', ACC_MNIST_EVAL: '50', ACC_CAL_MNIST: '20' }, ['baseline:', 'kl:--th_method kl']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/LeNet calibration 20 digits drawn \(seed 0\) from MNIST t10k 0–999, evaluation on t10k 1000–1049 \(50\)/);
  expect(r.stdout).toMatch(/\| lenet \| \d+\.\d\d % \| \d+\.\d\d % \(\d+\.\d\d %\) \|/);
  expect(r.stdout).toMatch(/Column 'kl': quantize flags '--th_method kl'/);
  const cmds = fs.readFileSync(path.join(tmp, 'commands.txt'), 'utf8');
  expect(cmds).toMatch(/quantize .*--mnist \S+mnist_calib\.idx3 --calibration_size 20 .*--th_method kl/);
  expect(cmds).toMatch(/simulate .*--mnist \S+mnist_eval\.idx3 --mnist_labels \S+mnist_eval\.idx1/);
  // the split files: calibration = t10k 0–999, evaluation starts at 1000
  const t10k = zlib.gunzipSync(fs.readFileSync(`${CORPUS}/data/mnist/t10k-images-idx3-ubyte.gz`));
  const cal = fs.readFileSync(path.join(tmp, 'mnist_calib.idx3'));
  const ev = fs.readFileSync(path.join(tmp, 'mnist_eval.idx3'));
  expect(cal.readUInt32BE(4)).toBe(1000);
  expect(ev.readUInt32BE(4)).toBe(50);
  expect(Buffer.compare(ev.subarray(16, 16 + 784), t10k.subarray(16 + 1000 * 784, 16 + 1001 * 784))).toBe(0);
  // the CIFAR folders: 20 per class for calibration, none of them evaluated
  for (const c of fs.readdirSync(path.join(tmp, 'cifar_calib'))) {
    const a = fs.readdirSync(path.join(tmp, 'cifar_calib', c));
    const b = fs.readdirSync(path.join(tmp, 'cifar_eval', c));
    expect(a).toHaveLength(20);
    expect(a.filter((f) => b.includes(f))).toEqual([]);
    expect(a.sort()[0]).toBe('0000.jpg');
  }
}, 120_000);

test('a column of all the techniques (rewritten weights, simulated as the board is fed): LeNet X6 and DF8, sane figures', () => {
  const r = table({ ACC_NETS: 'lenet', ACC_CONFIGS: 'X6 DF8', ACC_MNIST_EVAL: '50', ACC_CAL_MNIST: '20' },
    ['all:--equalize --bias_correction --optimize_rounding --optimized_weights']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/Column 'all': quantize flags '--equalize --bias_correction --optimize_rounding --optimized_weights'/);
  const row = r.stdout.split('\n').find((l) => l.startsWith('| lenet |'))!;
  const [float, ...cells] = [...row.matchAll(/(\d+\.\d\d) %/g)].map((m) => +m[1]);
  expect(cells).toHaveLength(4); // X6 and DF8: top-1 and agreement each
  expect(float).toBeGreaterThan(90);
  for (let k = 0; k < cells.length; k += 2) {
    expect(Math.abs(cells[k] - float)).toBeLessThanOrEqual(6); // fixed top-1 near float on 50 digits
    expect(cells[k + 1]).toBeGreaterThanOrEqual(90); // float/fixed agreement
  }
  const cmds = fs.readFileSync(path.join(tmp, 'commands.txt'), 'utf8');
  expect(cmds).toMatch(/quantize .*--equalize --bias_correction --optimize_rounding --optimized_weights \S+\/all\/lenet-X6\/q\.caffemodel/);
  expect(cmds).toMatch(/simulate .*--weights \S+\/all\/lenet-DF8\/q\.caffemodel/);
}, 120_000);

test('the face detector row: UltraFace slim, Xilinx 8-bit, CI-sized (160×120): the split and the recall of the float faces', () => {
  const r = table({ ACC_NETS: 'slim', ACC_CONFIGS: 'X8' }, ['baseline:']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/Face detectors at input shape 1,3,120,160: calibration on MTCNN test1\.jpg, test2\.jpg; evaluation on UltraFace imgs\/1\.jpg, imgs\/2\.jpg/);
  expect(r.stdout).not.toMatch(/LeNet calibration|CIFAR-10 calibration/);
  const m = r.stdout.match(/\| slim \| (\d+) faces \| recall (\d+\.\d\d) % \((\d+)\/(\d+)\), precision (\d+\.\d\d) % \|/);
  expect(m).not.toBeNull();
  const [, n, recall, matched, of, precision] = m!.map(Number);
  expect(n).toBeGreaterThan(10); // imgs/1.jpg is a crowd
  expect(of).toBe(n);
  expect(recall).toBeCloseTo((100 * matched) / n, 2);
  expect(recall).toBeGreaterThan(50);
  expect(precision).toBeGreaterThan(50);
  // calibration and evaluation images are disjoint
  expect(fs.readdirSync(path.join(tmp, 'faces_calib')).sort()).toEqual(['test1.jpg', 'test2.jpg']);
  expect(fs.readdirSync(path.join(tmp, 'faces_eval')).sort()).toEqual(['ultraface_imgs_1.jpg', 'ultraface_imgs_2.jpg']);
}, 120_000);

test('CIFAR-10 quick with --optimized_weights: the rewritten net names a mean image, and its simulation is given it', () => {
  const r = table({ ACC_NETS: 'quick', ACC_CONFIGS: 'X8', ACC_CIFAR_EVAL_PER_CLASS: '1', ACC_CAL_CIFAR: '4' }, ['ow:--optimized_weights']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/\| quick \| \d+\.\d\d % \| \d+\.\d\d % \(\d+\.\d\d %\) \|/);
  const cmds = fs.readFileSync(path.join(tmp, 'commands.txt'), 'utf8');
  expect(cmds).toMatch(/simulate .*q\.caffemodel .*--mean_file \S+cifar10_mean\.binaryproto/);
}, 120_000);
