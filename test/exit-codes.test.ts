/**
 * The exit-code table (README): 0 ok, 1 bad input (a file's content), 2 usage (flags, a path given by a
 * flag that does not exist). lint and diff also use 1 for their verdict (errors found / files differ), so
 * diff reports a malformed prototxt as 2. A usage error comes alone: no warning before it.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT, runMain } from './helpers/cli';

const L = path.join(ROOT, 'models/lenet');
const P = path.join(L, 'lenet.prototxt');
const W = path.join(L, 'lenet_iter_10000.caffemodel');
const DIGITS = path.join(L, 'digits');
const GRAY = ['--channel_swap', '0', '--mean_value', '0'];
let tmp: string;
let EMPTY: string;
let BADJPG: string;
let BADJPGDIR: string;
let BADPROTO: string;
let STATS: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-exit-'));
  EMPTY = path.join(tmp, 'empty');
  fs.mkdirSync(EMPTY);
  BADJPGDIR = path.join(tmp, 'badjpg');
  fs.mkdirSync(BADJPGDIR);
  BADJPG = path.join(BADJPGDIR, 'x.jpg');
  const jpg = fs.readFileSync(path.join(ROOT, '../shared/corpus/images/cat_caffe.jpg'));
  fs.writeFileSync(BADJPG, jpg.subarray(0, 600));
  BADPROTO = path.join(tmp, 'bad.prototxt');
  fs.writeFileSync(BADPROTO, 'name: "x"\nlayer {\n  name: "a"\n  type: \n');
  STATS = path.join(tmp, 'nope.json');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** main() in this process (helpers/cli.ts). */
const run = runMain;

const out = () => path.join(tmp, `q${Math.random().toString(36).slice(2)}.prototxt`);
const Q = () => ['quantize', '--deploy_model', P, '--weights', W, '--quantized_deploy_model', out(), '--bitwidths', '8,8,8', '-q', ...GRAY];
const S = ['simulate', '--deploy_model', P, '--weights', W, ...GRAY];
const F = ['forward', '--deploy_model', P, '--weights', W, ...GRAY];

const table: [string, () => string[], number][] = [
  // missing flag
  ['quantize: missing flag', () => ['quantize', '--weights', W], 2],
  ['simulate: missing flag', () => ['simulate', '--deploy_model', P], 2],
  ['forward: missing flag', () => ['forward', '--deploy_model', P], 2],
  ['info: missing flag', () => ['info'], 2],
  ['fmt: missing argument', () => ['fmt'], 2],
  ['lint: missing argument', () => ['lint'], 2],
  ['diff: missing argument', () => ['diff', P], 2],
  ['merge-stats: missing flag', () => ['merge-stats', STATS], 2],
  // unknown flag
  ['quantize: unknown flag', () => [...Q(), '--calibration_dir', DIGITS], 2],
  ['simulate: unknown flag', () => [...S, '--nope'], 2],
  ['forward: unknown flag', () => [...F, '--input', BADJPG, '--nope'], 2],
  ['info: unknown flag', () => ['info', '--deploy_model', P, '--nope'], 2],
  ['fmt: unknown flag', () => ['fmt', P, '--nope'], 2],
  ['lint: unknown flag', () => ['lint', P, '--nope'], 2],
  ['diff: unknown flag', () => ['diff', P, P, '--nope'], 2],
  // a path given by a flag that does not exist
  ['quantize: missing input file', () => [...Q(), '--calibration_directory', path.join(tmp, 'nodir')], 2],
  ['quantize: missing weights', () => [...Q().map((a) => (a === W ? W + '.nope' : a)), '--calibration_directory', DIGITS], 2],
  ['simulate: missing input file', () => [...S, '--input', path.join(tmp, 'nope.npy')], 2],
  ['forward: missing input file', () => [...F, '--input', path.join(tmp, 'nope.jpg')], 2],
  ['info: missing input file', () => ['info', '--deploy_model', path.join(tmp, 'nope.prototxt')], 2],
  ['fmt: missing input file', () => ['fmt', path.join(tmp, 'nope.prototxt')], 2],
  ['lint: missing input file', () => ['lint', path.join(tmp, 'nope.prototxt')], 2],
  ['diff: missing input file', () => ['diff', P, path.join(tmp, 'nope.prototxt')], 2],
  ['merge-stats: missing input file', () => ['merge-stats', STATS, '-o', path.join(tmp, 'm.json')], 2],
  // empty calibration directory: bad input in both commands
  ['quantize: empty calibration directory', () => [...Q(), '--calibration_directory', EMPTY], 1],
  ['simulate: empty calibration directory', () => [...S, '--calibration_directory', EMPTY], 1],
  // corrupt JPEG
  ['quantize: corrupt JPEG', () => [...Q(), '--calibration_directory', BADJPGDIR, '--calibration_size', '1'], 1],
  ['simulate: corrupt JPEG', () => [...S, '--calibration_directory', BADJPGDIR], 1],
  ['forward: corrupt JPEG', () => [...F, '--input', BADJPG], 1],
  // malformed prototxt
  ['quantize: malformed prototxt', () => [...Q().map((a) => (a === P ? BADPROTO : a)), '--calibration_directory', DIGITS], 1],
  ['simulate: malformed prototxt', () => [...S.map((a) => (a === P ? BADPROTO : a)), '--calibration_directory', DIGITS], 1],
  ['forward: malformed prototxt', () => [...F.map((a) => (a === P ? BADPROTO : a)), '--input', BADJPG], 1],
  ['info: malformed prototxt', () => ['info', '--deploy_model', BADPROTO], 1],
  ['fmt: malformed prototxt', () => ['fmt', BADPROTO], 1],
  ['lint: malformed prototxt', () => ['lint', BADPROTO], 1],
  ['diff: malformed prototxt (1 means "differ")', () => ['diff', P, BADPROTO], 2],
];

describe('exit codes', () => {
  test.each(table.map(([n, a, c]) => [n, c, a] as const))('%s → %d', async (_, code, argv) => {
    const r = await run(argv());
    expect(r.code).toBe(code);
    if (argv()[0] !== 'lint') {
      // one error line and nothing before it but warnings that belong to work already done
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines.filter((l) => / error: |^error: /.test(l))).toHaveLength(1);
      if (code === 2) expect(lines).toHaveLength(1);
    }
  });
});

describe('usage errors come first, alone', () => {
  test('mixed bitwidths (a warning) and a missing calibration source: only the usage error', async () => {
    const r = await run(Q().map((a) => (a === '8,8,8' ? '8,6,8' : a)));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('error: Xilinx mode (and --fl_bitwidths auto) need --calibration_directory DIR, --mnist FILE or --stats FILE\n');
  });

  test('a V1 prototxt (upgrade warnings) with a bad simulate flag: only the usage error', async () => {
    const r = await run([...S, '--calibration_directory', DIGITS, '--ave_divisor', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: --ave_divisor must be chaidnn or caffe, got 'nope'\n");
  });

  test('--optimized_weights with --stats: refused before the model is read', async () => {
    const r = await run([...Q(), '--optimized_weights', path.join(tmp, 'w.caffemodel'), '--stats', STATS]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
