/**
 * `quantize --optimized_weights` (DynamicFixed auto): BN/Scale folded offline and activations rescaled onto
 * the fixed-point grid. The rewritten model is simulated as CHaiDNN runs it. The suite uses a class-balanced
 * CIFAR subset; the 2000-image figures of the README (within 0.5 pt of float) run with CHAIQ_FULL_CIFAR=1.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, runCli, CORPUS, ROOT } from './helpers/cli';

const CIF = path.join(CORPUS, 'data/cifar10_test_jpg_subset');
const MEAN = path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto');
const MNIST = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
const MNIST_LABELS = path.join(CORPUS, 'data/mnist/t10k-labels-idx1-ubyte.gz');
const FULL = !!process.env.CHAIQ_FULL_CIFAR;

interface Case {
  id: string;
  deploy: string;
  weights: string;
  pre: string[];
  /** the preprocessing of the rewritten net when --optimized_weights folded the input scale (CHaiDNN's reader: pixels − mean) */
  boardPre?: string[];
  mnist?: boolean;
}
const CIFAR_PRE = ['--dims', '3,32,32', '--channel_swap', '0,1,2', '--raw_scale', '255', '--mean_file', MEAN];
const CASES: Case[] = [
  { id: 'lenet', deploy: path.join(ROOT, 'models/lenet/lenet.prototxt'), weights: path.join(ROOT, 'models/lenet/lenet_iter_10000.caffemodel'), pre: [], boardPre: ['--raw_scale', '255', '--mean_value', '127'], mnist: true },
  { id: 'cifar10_quick', deploy: path.join(CORPUS, 'models/cifar10_quick_v1_everpeace/cifar10_quick.prototxt'), weights: path.join(CORPUS, 'models/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel'), pre: CIFAR_PRE },
  { id: 'cifar10_full', deploy: path.join(CORPUS, 'models/cifar10_full_v1_everpeace/cifar10_full.prototxt'), weights: path.join(CORPUS, 'models/cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel'), pre: CIFAR_PRE },
  {
    id: 'resnet20', deploy: path.join(ROOT, 'test/fixtures/quant/resnet20_deploy.prototxt'), weights: path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel'),
    pre: ['--dims', '3,32,32', '--channel_swap', '0,1,2', '--raw_scale', '255', '--mean_value', '125.3,122.9,113.8', '--input_scale', '0.00390625'],
    boardPre: ['--dims', '3,32,32', '--channel_swap', '0,1,2', '--raw_scale', '255', '--mean_value', '125.3,122.9,113.8'],
  },
];

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-opt-'));
/** the quantize, lint and simulate runs of the accuracy tests: one node process (the process itself: the error tests below) */
// one thread: the figures do not depend on it (test/sim-parallel.test.ts), and image workers on a machine whose cores
// the other jest worker shares cost CPU (2000 digits: 12 → 8 CPU s)
const cli = cliServer({ CHAIQ_THREADS: '1' });
afterAll(() => cli.close());

/** the first k images of every class, as a class-per-folder directory of links */
function cifarSubset(k: number): string {
  const d = tmp();
  for (const c of fs.readdirSync(CIF).sort()) {
    fs.mkdirSync(path.join(d, c));
    for (let j = 0; j < k; j++) {
      const f = `${String(j).padStart(4, '0')}.jpg`;
      fs.symlinkSync(path.join(CIF, c, f), path.join(d, c, f));
    }
  }
  return d;
}

async function quantize(c: Case, out: string, optimize: boolean) {
  const src = c.mnist ? ['--mnist', MNIST, '--calibration_size', '100'] : ['--calibration_directory', CIF, '--calibration_size', '32'];
  return cli.run([
    'quantize', '-q', '--deploy_model', c.deploy, '--weights', c.weights, ...src, ...c.pre, '--bitwidths', '8,8,8',
    '--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto', '--quantized_deploy_model', `${out}.prototxt`,
    ...(optimize ? ['--optimized_weights', `${out}.caffemodel`] : []),
  ]);
}

async function simulate(c: Case, proto: string, weights: string, images: string, limit?: number, pre = c.pre) {
  const src = c.mnist ? ['--mnist', MNIST, '--mnist_labels', MNIST_LABELS] : ['--calibration_directory', images, '--labels_from_dirname'];
  const r = await cli.run(['simulate', '--format', 'json', '--deploy_model', proto, '--weights', weights, ...src, ...pre, ...(limit ? ['--limit', String(limit)] : [])]);
  expect(r.stderr.split('\n').filter((l) => /error/.test(l))).toEqual([]);
  // simulated as the board feeds it: no warning about an input scale the board does not apply
  if (pre === c.boardPre || (!c.boardPre && pre === c.pre)) expect(r.stderr).not.toMatch(/image reader feeds/);
  expect(r.code).toBe(0);
  const j = JSON.parse(r.stdout);
  return { images: j.images as number, float: 100 * j.accuracy.float.top1, fixed: 100 * j.accuracy.fixed.top1, agreement: 100 * j.agreement.top1 };
}

const fls = (text: string) => [...text.matchAll(/\bfl_[a-z_]+: (-?\d+)/g)].map((m) => Number(m[1]));

describe('DynamicFixed auto with --optimized_weights, 8-bit', () => {
  const subset = FULL ? CIF : cifarSubset(30);
  /** each case's optimized model and its simulation as the board feeds it, made once: two tests read resnet20's */
  const made = new Map<string, { out: string; q: Awaited<ReturnType<typeof quantize>>; s?: Awaited<ReturnType<typeof simulate>> }>();
  const optimized = async (c: Case) => {
    if (!made.has(c.id)) {
      const out = path.join(tmp(), 'q');
      made.set(c.id, { out, q: await quantize(c, out, true) });
    }
    return made.get(c.id)!;
  };
  const simulated = async (c: Case) => {
    const m = await optimized(c);
    expect(m.q.code).toBe(0);
    m.s ??= await simulate(c, `${m.out}.prototxt`, `${m.out}.caffemodel`, subset, c.mnist && !FULL ? 2000 : undefined, c.boardPre ?? c.pre);
    return m.s;
  };
  test.each(CASES)('$id: valid blocks, zero lint errors on the precision, simulated top-1 near float', async (c) => {
    const { out, q } = await optimized(c);
    expect(q.stderr.split('\n').filter((l) => /error/.test(l))).toEqual([]);
    expect(q.code).toBe(0);
    const text = fs.readFileSync(`${out}.prototxt`, 'utf8');
    expect(fs.statSync(`${out}.caffemodel`).size).toBeGreaterThan(1000);
    // the prototxt names the weights it goes with
    expect(text.split('\n')[0]).toBe('# rewritten by chaiq quantize --optimized_weights: use with the weights in q.caffemodel');
    // folded offline: no BN/Scale left for the runtime to fold (and to override fl_params)
    expect(text).not.toMatch(/type: "(BatchNorm|Scale)"/);
    const all = fls(text);
    expect(all.length).toBeGreaterThan(3);
    for (const f of all) expect(f).toBeGreaterThanOrEqual(0);
    // cifar10_full's LRN is a layer CHaiDNN cannot run at all, not a precision problem
    const lint = await cli.run(['lint', `${out}.prototxt`, '--weights', `${out}.caffemodel`, '--disable', 'unsupported-layer']);
    expect(lint.stdout + lint.stderr).toMatch(/\b0 error\(s\)/);
    // an input scale the board does not apply is folded into the first layers
    if (c.boardPre) expect(text.split('\n')[1]).toMatch(/^# input: pixels 0\.\.255 minus .*, no scale/);
    const s = await simulated(c);
    console.log(`${c.id} (${s.images} images): float ${s.float.toFixed(2)} %, DynamicFixed auto optimized ${s.fixed.toFixed(2)} %, agreement ${s.agreement.toFixed(2)} %`);
    expect(Math.abs(s.float - s.fixed)).toBeLessThanOrEqual(FULL ? 0.5 : 1.0);
    expect(s.agreement).toBeGreaterThan(c.mnist ? 99 : 88);
  }, 600_000);

  test('resnet20: the optimized model agrees with float more often than the runtime-folded one', async () => {
    const c = CASES[3];
    const d = tmp();
    const plainRun = await quantize(c, path.join(d, 'plain'), false);
    expect(plainRun.code).toBe(0);
    // without the rewrite, the input scale is the application's job: said once
    expect(plainRun.stderr).toMatch(/warning: CHaiDNN's image reader feeds pixels \(0\.\.255\) minus the mean, with no raw_scale \(here 255\) or input_scale \(here 0\.00390625\): the board's input is 256× the one used here/);
    const opt = await simulated(c);
    const plain = await simulate(c, path.join(d, 'plain.prototxt'), c.weights, subset);
    console.log(`resnet20 agreement: optimized ${opt.agreement.toFixed(2)} %, runtime-folded ${plain.agreement.toFixed(2)} %`);
    expect(opt.agreement).toBeGreaterThan(plain.agreement + 2);
  }, 600_000);
});

describe('--optimized_weights errors: one line, exit 2, no output files', () => {
  const c = CASES[1];
  const base = (d: string) => ['quantize', '-q', '--deploy_model', c.deploy, '--weights', c.weights, ...c.pre, '--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto', '--bitwidths', '8,8,8'];
  const expectClean = (d: string, r: { code: number; stderr: string }, re: RegExp) => {
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l && !/warning:/.test(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(re);
    expect(fs.readdirSync(d)).toEqual([]);
  };
  test('with --stats (statistics of the original net)', () => {
    const d = tmp();
    const stats = path.join(os.tmpdir(), `chaiq-opt-stats-${process.pid}.json`);
    expect(runCli([...base(d), '--calibration_directory', path.join(CIF, 'cat'), '--calibration_size', '2', '--save_stats', stats]).code).toBe(0);
    expectClean(d, runCli([...base(d), '--stats', stats, '--quantized_deploy_model', path.join(d, 'q.prototxt'), '--optimized_weights', path.join(d, 'q.caffemodel')]), /--optimized_weights needs calibration images/);
    fs.unlinkSync(stats);
  });
  test('an unwritable prototxt path leaves no caffemodel behind', () => {
    const d = tmp();
    const r = runCli([...base(d), '--calibration_directory', path.join(CIF, 'cat'), '--calibration_size', '2',
      '--quantized_deploy_model', path.join(d, 'missing-dir', 'q.prototxt'), '--optimized_weights', path.join(d, 'q.caffemodel')]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter((l) => l && !/warning:/.test(l))).toEqual([expect.stringMatching(/missing-dir\/q\.prototxt: error: cannot write/)]);
    expect(fs.readdirSync(d)).toEqual([]);
  });
  test('without --quantized_deploy_model', () => {
    const d = tmp();
    expectClean(d, runCli([...base(d), '--calibration_directory', path.join(CIF, 'cat'), '--optimized_weights', path.join(d, 'q.caffemodel'), '--save_stats', path.join(d, 's.json')]), /--optimized_weights needs --quantized_deploy_model/);
  });
});
