import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeFileAtomic } from '../src/io/atomic';
import { checkFlagPaths, checkOutputPaths, ensureOutputDir, writeAllOrNone } from '../src/io/outputs';
import { ROOT, runCli } from './helpers/cli';

const L = path.join(ROOT, 'models/lenet');
const QUANT = ['quantize', '--deploy_model', path.join(L, 'lenet.prototxt'), '--weights', path.join(L, 'lenet_iter_10000.caffemodel'),
  '--calibration_directory', path.join(L, 'digits'), '--calibration_size', '2', '--bitwidths', '8,8,8', '-q', '--channel_swap', '0', '--mean_value', '0'];
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-outputs-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const leftovers = (dir: string) => fs.readdirSync(dir);

describe('output paths are checked before any work', () => {
  test('a missing directory: exit 2 at once, in words, nothing calibrated', () => {
    const out = path.join(tmp, 'nodir', 'x.prototxt');
    const r = runCli([...QUANT, '--quantized_deploy_model', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${out}: error: cannot write: directory ${path.join(tmp, 'nodir')}/ does not exist\n`);
  });

  test('a --report that cannot be written leaves no prototxt behind', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'rep-'));
    const r = runCli([...QUANT, '--quantized_deploy_model', path.join(dir, 'q.prototxt'), '--report', path.join(dir, 'missing', 'r.html')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/r\.html: error: cannot write: directory .*missing\/ does not exist\n$/);
    expect(leftovers(dir)).toEqual([]);
  });

  test('an output that is a directory, the same file twice, an output over an input', () => {
    const q = path.join(tmp, 'q.prototxt');
    const cases: [string[], RegExp][] = [
      [['--quantized_deploy_model', tmp], /error: cannot write: it is a directory$/],
      [['--quantized_deploy_model', q, '--report', q], /error: --quantized_deploy_model and --report name the same file$/],
      [['--quantized_deploy_model', path.join(L, 'lenet.prototxt')], /error: --quantized_deploy_model would overwrite the input --deploy_model$/],
    ];
    for (const [args, msg] of cases) {
      const r = runCli([...QUANT, ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr.trimEnd()).toMatch(msg);
    }
    expect(fs.existsSync(q)).toBe(false);
  });

  test('simulate --output_dir over a file, forward --output_dir under a file', () => {
    const f = path.join(tmp, 'plain.txt');
    fs.writeFileSync(f, 'x');
    const sim = runCli(['simulate', '--deploy_model', path.join(L, 'lenet.prototxt'), '--weights', path.join(L, 'lenet_iter_10000.caffemodel'), '--calibration_directory', path.join(L, 'digits'), '--output_dir', f]);
    expect(sim.code).toBe(2);
    expect(sim.stderr).toBe(`${f}: error: cannot write into it: it exists and is not a directory\n`);
    const fwd = runCli(['forward', '--deploy_model', path.join(L, 'lenet.prototxt'), '--input', path.join(L, 'digits/test/0', fs.readdirSync(path.join(L, 'digits/test/0'))[0]), '--output_dir', path.join(f, 'sub')]);
    expect(fwd.code).toBe(2);
    expect(fwd.stderr).toBe(`${path.join(f, 'sub')}: error: cannot create the directory: ${f} is not a directory\n`);
  });
});

describe('writeAllOrNone', () => {
  test('a failure after some outputs were written leaves none of them, nor the directory it made', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'all-'));
    const sub = path.join(dir, 'blobs');
    await expect(
      writeAllOrNone(() => {
        writeFileAtomic(path.join(dir, 'a.prototxt'), 'a');
        ensureOutputDir(sub);
        writeFileAtomic(path.join(sub, 'b.npy'), 'b');
        throw new Error('later failure');
      }),
    ).rejects.toThrow('later failure');
    expect(leftovers(dir)).toEqual([]);
  });

  test('success renames every output; the last write of a file wins', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ok-'));
    await writeAllOrNone(() => {
      writeFileAtomic(path.join(dir, 'a'), '1');
      writeFileAtomic(path.join(dir, 'a'), '2');
      writeFileAtomic(path.join(dir, 'b'), '3');
      expect(fs.existsSync(path.join(dir, 'a'))).toBe(false);
    });
    expect(leftovers(dir).sort()).toEqual(['a', 'b']);
    expect(fs.readFileSync(path.join(dir, 'a'), 'utf8')).toBe('2');
  });

  test('checkOutputPaths skips stdout and absent flags', () => {
    expect(() => checkOutputPaths([{ flag: '--o', path: '-' }, { flag: '--r', path: undefined }])).not.toThrow();
  });

  test('checkFlagPaths: inputs exist, outputs writable and never an input file (a directory input is no file to overwrite)', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'flags-'));
    const input = path.join(dir, 'in.prototxt');
    fs.writeFileSync(input, '');
    const ins = [{ flag: '--deploy_model', path: input }, { flag: '--calibration_directory', path: dir, dir: true }];
    expect(() => checkFlagPaths(ins, [{ flag: '--report', path: path.join(dir, 'r.html') }])).not.toThrow();
    expect(() => checkFlagPaths(ins, [{ flag: '--report', path: input }])).toThrow(/--report would overwrite the input --deploy_model/);
    expect(() => checkFlagPaths([...ins, { flag: '--weights', path: path.join(dir, 'none') }], [])).toThrow(/--weights: file not found/);
    expect(() => checkFlagPaths(ins, [{ flag: '--output_dir', path: dir, dir: true }])).not.toThrow();
  });
});

describe('fs errors in words', () => {
  test('codes become words; writing into a missing directory names it', () => {
    const { fsErrorWords, writeErrorWords } = require('../src/io/fserr');
    const err = (code: string) => Object.assign(new Error(`${code}: x`), { code });
    expect(fsErrorWords(err('EACCES'))).toBe('permission denied');
    expect(fsErrorWords(err('ENOSPC'))).toBe('no space left on the device');
    expect(fsErrorWords(err('EROFS'))).toBe('the file system is read-only');
    expect(writeErrorWords(err('ENOENT'), 'out/x.prototxt')).toBe('cannot write: directory out/ does not exist');
    expect(() => require('../src/calib/stats').loadStats(path.join(tmp, 'nope.json'))).toThrow('cannot read stats file: no such file or directory');
  });
});
