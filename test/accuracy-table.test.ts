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

function table(env: Record<string, string>, cols: string[]) {
  const r = spawnSync('sh', [path.join(ROOT, 'scripts/accuracy-table.sh'), ...cols], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, ACC_OUT: tmp, ...env },
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
