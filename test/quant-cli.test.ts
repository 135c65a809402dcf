import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, runCli, CORPUS, ROOT } from './helpers/cli';
import { withoutBoardWarnings } from './helpers/cli';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { checkInvariants } from '../src/quant/invariants';
import type { PrecisionPlan } from '../src/quant/plan';
import { relaxedSimdAvailable } from '../src/kernels/wasm-features';

// The committed outputs come from the FMA kernels (relaxed SIMD); without them (CHAIQ_FMA=0, or an engine without
// relaxed SIMD) a threshold that is exactly a calibration maximum may move by one float32 ulp.
const FMA = relaxedSimdAvailable() && process.env.CHAIQ_FMA !== '0';
const toUlps = (text: string) => (FMA ? text : text.replace(/\d+\.\d+(e-?\d+)?/g, (x) => Number(x).toPrecision(6)));

const OUT = path.join(ROOT, 'test/fixtures/quant/quantized');
const LENET = path.join(CORPUS, 'models/lenet_mnist_ahmdtaha');
const MNIST = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
const QUICK = path.join(CORPUS, 'models/cifar10_quick_v1_everpeace');
const CAT = path.join(CORPUS, 'data/cifar10_test_jpg_subset/cat');
const MEAN = path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto');

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-quant-'));
/** main() in one node process for the tests about what quantize writes or says (bin/chaiq.js and bin/xportdnn.js: the first two tests) */
const cli = cliServer();
afterAll(() => cli.close());
const lenetArgs = (out: string) => [
  'quantize', '-q', '--deploy_model', path.join(LENET, 'mnist_deploy.prototxt'), '--weights', path.join(LENET, 'lenet_iter_10000.caffemodel'),
  '--mnist', MNIST, '--calibration_size', '8', '--bitwidths', '8,8,8', '--quantized_deploy_model', out,
];

describe('committed outputs (scripts/gen_quant_fixtures.sh, checked with Google protobuf)', () => {
  const files = fs.readdirSync(OUT).filter((f) => f.endsWith('.prototxt'));
  test('there are outputs for LeNet, CIFAR-10 quick/full, ResNet-20', () => {
    for (const k of ['lenet', 'cifar10_quick', 'cifar10_full', 'resnet20']) expect(files.some((f) => f.startsWith(k))).toBe(true);
  });
  test.each(files)('%s binds, and its blocks keep every CHaiDNN invariant', (f) => {
    const t = loadNetText(path.join(OUT, f));
    expect(t.sourceVersion).toBe('V2');
    const net = buildNet(t.net, { file: f, warn: () => undefined });
    const plan: PrecisionPlan = new Map();
    for (const l of t.net.layer) if (l.precision_param) plan.set(l.name!, l.precision_param);
    expect(plan.size).toBeGreaterThan(3);
    expect(checkInvariants(net, plan).filter((v) => v.severity === 'error')).toEqual([]);
    const mode = f.includes('dynamicfixed') ? 'DynamicFixed' : 'Xilinx';
    for (const b of plan.values()) if (b.quant_type !== undefined) expect(b.quant_type).toBe(mode);
  });
});

test('LeNet via the CLI: deterministic, byte-identical to the committed output; --save_stats → --stats gives the same', () => {
  const d = tmp();
  const out = path.join(d, 'lenet.prototxt');
  const r = runCli([...lenetArgs(out), '--save_stats', path.join(d, 's.json')]);
  // MNIST in [0,1]: the board would feed 0..255, said once
  expect(r.stderr).toMatch(/warning: CHaiDNN's image reader feeds pixels \(0\.\.255\) minus the mean, with no raw_scale \(here 1\).*255× the one used here/);
  expect(withoutBoardWarnings(r.stderr)).toBe('');
  expect(r.code).toBe(0);
  expect(toUlps(fs.readFileSync(out, 'utf8'))).toBe(toUlps(fs.readFileSync(path.join(OUT, 'lenet_xilinx_888.prototxt'), 'utf8')));
  const out2 = path.join(d, 'lenet2.prototxt');
  const r2 = runCli(['quantize', '-q', '--deploy_model', path.join(LENET, 'mnist_deploy.prototxt'), '--weights', path.join(LENET, 'lenet_iter_10000.caffemodel'),
    '--stats', path.join(d, 's.json'), '--bitwidths', '8,8,8', '--quantized_deploy_model', out2]);
  expect(r2.code).toBe(0);
  expect(fs.readFileSync(out2, 'utf8')).toBe(fs.readFileSync(out, 'utf8'));
  // and the summary table names layer, thresholds and method
  const r3 = runCli([...lenetArgs(path.join(d, 'lenet3.prototxt'))].filter((a) => a !== '-q'));
  expect(r3.stdout).toMatch(/^layer\s+type\s+th_in\s+th_out\s+method/m);
  expect(r3.stdout).toMatch(/^conv1\s+Convolution\s+1\.0\s+\S+\s+kl/m);
});

test('xportdnn binary: XportDNN flags verbatim, DynamicFixed uniform default 2,5,2', () => {
  const d = tmp();
  const out = path.join(d, 'q.prototxt');
  const r = runCli(['--quant_type', 'DynamicFixed', '--deploy_model', path.join(LENET, 'mnist_deploy.prototxt'),
    '--weights', path.join(LENET, 'lenet_iter_10000.caffemodel'), '--quantized_deploy_model', out, '--bitwidths', '6,6,6', '-q'], { bin: 'xportdnn.js' });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const text = fs.readFileSync(out, 'utf8');
  expect(text).toContain('  precision_param {\n    bw_layer_in: 6\n    bw_layer_out: 6\n    bw_params: 6\n    fl_layer_in: 2\n    fl_layer_out: 2\n    fl_params: 5\n    quant_type: "DynamicFixed"\n  }\n');
});

test('CIFAR-10 quick calibrated with its mean image (--mean_file), recorded by name in the statistics', async () => {
  const d = tmp();
  const run = async (extra: string[], tag: string) => {
    const r = await cli.run(['quantize', '-q', '--deploy_model', path.join(QUICK, 'cifar10_quick.prototxt'), '--weights', path.join(QUICK, 'cifar10_quick_iter_5000.caffemodel'),
      '--calibration_directory', CAT, '--calibration_size', '2', '--th_method', 'max', '--channel_swap', '0,1,2',
      '--quantized_deploy_model', path.join(d, `${tag}.prototxt`), '--save_stats', path.join(d, `${tag}.json`), ...extra]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    return { text: fs.readFileSync(path.join(d, `${tag}.prototxt`), 'utf8'), stats: JSON.parse(fs.readFileSync(path.join(d, `${tag}.json`), 'utf8')) };
  };
  const withFile = await run(['--mean_file', MEAN], 'file');
  const withValue = await run(['--mean_value', '125,123,114'], 'value');
  expect(withFile.stats.settings.calibration.mean_file).toBe('cifar10_mean.binaryproto');
  expect(withFile.stats.settings.calibration.mean).toBeUndefined();
  expect(withValue.stats.settings.calibration.mean).toEqual([125, 123, 114]);
  expect(withFile.text).toMatch(/th_layer_out: /);
  expect(withFile.text).not.toBe(withValue.text);
});

describe('clean errors: exit code != 0, one line naming the file, no output file', () => {
  const quick = (d: string, extra: string[]) => [
    'quantize', '-q', '--deploy_model', path.join(QUICK, 'cifar10_quick.prototxt'), '--weights', path.join(QUICK, 'cifar10_quick_iter_5000.caffemodel'),
    '--quantized_deploy_model', path.join(d, 'out.prototxt'), ...extra,
  ];
  const expectClean = (d: string, r: { code: number; stderr: string }, re: RegExp) => {
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBe(70);
    const lines = r.stderr.split('\n').filter((l) => l && !/warning:/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(re);
    expect(fs.readdirSync(d).filter((f) => f.includes('out.prototxt'))).toEqual([]);
  };
  test('empty calibration directory', async () => {
    const d = tmp();
    const empty = path.join(d, 'empty');
    fs.mkdirSync(empty);
    expectClean(d, await cli.run(quick(d, ['--calibration_directory', empty])), new RegExp(`^${empty}: error: .*no images`));
  });
  test('unreadable image', async () => {
    const d = tmp();
    const dir = path.join(d, 'imgs');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(CAT, '0000.jpg'), path.join(dir, 'a.jpg'));
    fs.writeFileSync(path.join(dir, 'b.png'), 'not a png at all');
    expectClean(d, await cli.run(quick(d, ['--calibration_directory', dir, '--calibration_size', '2'])), new RegExp(`^${path.join(dir, 'b.png')}: error: `));
  });
  test('--calibration_size larger than the set', async () => {
    const d = tmp();
    const dir = path.join(d, 'imgs');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(CAT, '0000.jpg'), path.join(dir, 'a.jpg'));
    expectClean(d, await cli.run(quick(d, ['--calibration_directory', dir, '--calibration_size', '3'])), new RegExp(`^${dir}: error: --calibration_size 3 is larger than the 1 images`));
  });
  test('--dims disagreeing with the Input layer', async () => {
    const d = tmp();
    expectClean(d, await cli.run(quick(d, ['--calibration_directory', CAT, '--dims', '3,224,224'])), /cifar10_quick\.prototxt: error: --dims 3,224,224 disagrees with the Input layer/);
  });
  test('--mean_value and --mean_file together', async () => {
    const d = tmp();
    expectClean(d, await cli.run(quick(d, ['--calibration_directory', CAT, '--mean_value', '0', '--mean_file', MEAN])), /error: give --mean_value or --mean_file, not both/);
  });
  test('wrong bitwidth', async () => {
    const d = tmp();
    expectClean(d, await cli.run(quick(d, ['--calibration_directory', CAT, '--bitwidths', '7,7,7'])), /error: --bitwidths 7,7,7: CHaiDNN supports only 6 or 8 bits/);
  });
  test('negative fl in --strict DynamicFixed auto names the layer', async () => {
    const d = tmp();
    const r = await cli.run(['quantize', '-q', '--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto', '--strict', '--deploy_model', path.join(QUICK, 'cifar10_quick.prototxt'),
      '--weights', path.join(QUICK, 'cifar10_quick_iter_5000.caffemodel'), '--calibration_directory', CAT, '--calibration_size', '2', '--bitwidths', '6,6,6',
      '--quantized_deploy_model', path.join(d, 'out.prototxt')]);
    expectClean(d, r, /error: fl_layer_out of layer "[^"]+" would be -\d+/);
  });
});

test('merge-stats: two shards (max method) merge to the statistics of one run', async () => {
  const d = tmp();
  const base = ['quantize', '-q', '--deploy_model', path.join(LENET, 'mnist_deploy.prototxt'), '--weights', path.join(LENET, 'lenet_iter_10000.caffemodel'),
    '--mnist', MNIST, '--bitwidths', '8,8,8', '--th_method', 'max', '--calibration_size', '4'];
  for (const [n, idx] of [['a', '0,1,2,3'], ['b', '4,5,6,7']])
    expect((await cli.run([...base, '--calibration_indices', idx, '--save_stats', path.join(d, `${n}.json`), '--quantized_deploy_model', path.join(d, `${n}.prototxt`)])).code).toBe(0);
  const m = await cli.run(['merge-stats', path.join(d, 'a.json'), path.join(d, 'b.json'), '-o', path.join(d, 'm.json')]);
  expect(m.stderr).toBe('');
  expect(m.code).toBe(0);
  const fromMerged = path.join(d, 'merged.prototxt');
  expect((await cli.run([...base, '--stats', path.join(d, 'm.json'), '--quantized_deploy_model', fromMerged])).code).toBe(0);
  const whole = path.join(d, 'whole.prototxt');
  const full = base.map((a) => (a === '4' ? '8' : a));
  expect((await cli.run([...full, '--calibration_indices', '0,1,2,3,4,5,6,7', '--quantized_deploy_model', whole])).code).toBe(0);
  expect(fs.readFileSync(fromMerged, 'utf8')).toBe(fs.readFileSync(whole, 'utf8'));
  const counts = (f: string) => JSON.parse(fs.readFileSync(path.join(d, f), 'utf8')).blobs['conv1@conv1'].count;
  expect(counts('m.json')).toBe(counts('a.json') + counts('b.json'));
});

test('sharded KL: pass-1 shards → merge → exact pass per shard → merge → quantize = one 8-image run', async () => {
  const d = tmp();
  const base = ['quantize', '-q', '--deploy_model', path.join(LENET, 'mnist_deploy.prototxt'), '--weights', path.join(LENET, 'lenet_iter_10000.caffemodel'),
    '--mnist', MNIST, '--bitwidths', '8,8,8'];
  const shards: [string, string][] = [['a', '0,1,2,3'], ['b', '4,5,6,7']];
  const ok = (r: { code: number; stderr: string }) => {
    expect(withoutBoardWarnings(r.stderr)).toBe('');
    expect(r.code).toBe(0);
  };
  for (const [n, idx] of shards) ok(await cli.run([...base, '--calibration_size', '4', '--calibration_indices', idx, '--save_stats', path.join(d, `${n}1.json`)]));
  ok(await cli.run(['merge-stats', path.join(d, 'a1.json'), path.join(d, 'b1.json'), '-o', path.join(d, 'm1.json')]));
  for (const [n, idx] of shards)
    ok(await cli.run([...base, '--calibration_size', '4', '--calibration_indices', idx, '--stats', path.join(d, 'm1.json'), '--save_stats', path.join(d, `${n}2.json`)]));
  ok(await cli.run(['merge-stats', path.join(d, 'a2.json'), path.join(d, 'b2.json'), '-o', path.join(d, 'm2.json')]));
  const sharded = path.join(d, 'sharded.prototxt');
  ok(await cli.run([...base, '--stats', path.join(d, 'm2.json'), '--quantized_deploy_model', sharded].filter((a) => a !== '--mnist' && a !== MNIST)));
  const whole = path.join(d, 'whole.prototxt');
  ok(await cli.run([...base, '--calibration_size', '8', '--calibration_indices', '0,1,2,3,4,5,6,7', '--quantized_deploy_model', whole]));
  expect(fs.readFileSync(sharded, 'utf8')).toBe(fs.readFileSync(whole, 'utf8'));
});

describe('argument helpers', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const q = require('../src/cli/commands/quantize') as typeof import('../src/cli/commands/quantize');
  test('chooseIndices: deterministic, sorted, distinct, honours given indices', () => {
    const { chooseIndices } = require('../src/io/calibset') as typeof import('../src/io/calibset');
    const a = chooseIndices(100, 8, 0);
    expect(a).toEqual(chooseIndices(100, 8, 0));
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(new Set(a).size).toBe(8);
    expect(chooseIndices(100, 8, 1)).not.toEqual(a);
    const g = chooseIndices(10, 4, 3, [9, 2]);
    expect(g).toHaveLength(4);
    expect(g).toEqual(expect.arrayContaining([2, 9]));
    expect(chooseIndices(5, 5, 7)).toEqual([0, 1, 2, 3, 4]);
    expect(() => chooseIndices(5, 2, 0, [5])).toThrow(/out of range/);
  });
  test('parseList accepts python-style lists; parseBitwidths allows only 6/8 and warns on mixing', () => {
    const { parseList } = require('../src/cli/preprocess') as typeof import('../src/cli/preprocess');
    expect(parseList('[104, 117, 123]', 'mean_value')).toEqual([104, 117, 123]);
    expect(parseList('2,0,1', 'transpose', 3)).toEqual([2, 0, 1]);
    expect(() => parseList('2,0', 'transpose', 3)).toThrow(/--transpose/);
    const w: string[] = [];
    expect(q.parseBitwidths('6,6,8', (m) => w.push(m), false)).toEqual({ in: 6, params: 6, out: 8 });
    expect(w.join()).toMatch(/mixes bitwidths/);
    expect(() => q.parseBitwidths('6,6,8', () => undefined, true)).toThrow(/mixes/);
    expect(() => q.parseBitwidths('16,16,16', () => undefined, false)).toThrow(/only 6 or 8/);
  });
});
