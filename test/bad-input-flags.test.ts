/**
 * The bad inputs of the exit-code table (malformed or binary prototxt, truncated caffemodel, missing or undecodable
 * image, unknown layer, wrong bitwidth, NaN weights) under the flags of the last sessions (--th_search group,
 * --th_search_images, --df_input xilinx, --optimize_rounding with --bias_correction, --metrics none|agreement,
 * --shard, --save_results): one error line naming the file (line:col for text), exit 1 (bad input) or 2 (usage),
 * no output left behind, and the output paths checked before any file is read. LeNet, two images, in process.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readCaffemodel } from '../src/proto/caffemodel';
import { writeCaffemodel } from '../src/proto/write-caffemodel';
import { CORPUS, ROOT, runMain } from './helpers/cli';

const LENET = path.join(CORPUS, 'models/lenet_mnist_ahmdtaha');
const DEPLOY = path.join(LENET, 'mnist_deploy.prototxt');
const WEIGHTS = path.join(LENET, 'lenet_iter_10000.caffemodel');
const Q8 = path.join(ROOT, 'test/fixtures/quant/quantized/lenet_xilinx_888.prototxt');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-badflags-'));
const T = (name: string) => path.join(tmp, name);

beforeAll(() => {
  fs.writeFileSync(T('malformed.prototxt'), 'name: "x"\nlayer {\n  name: "a"\n  type: \n');
  fs.writeFileSync(T('truncated.caffemodel'), fs.readFileSync(WEIGHTS).subarray(0, 100000));
  // the first Pooling becomes a type chaiq does not know (quantize: the plain net; simulate: the annotated one)
  fs.writeFileSync(T('unknown.prototxt'), fs.readFileSync(DEPLOY, 'utf8').replace('type: "Pooling"', 'type: "Frobnicate"'));
  fs.writeFileSync(T('q8_unknown.prototxt'), fs.readFileSync(Q8, 'utf8').replace('type: "Pooling"', 'type: "Frobnicate"'));
  fs.writeFileSync(T('q8_bw7.prototxt'), fs.readFileSync(Q8, 'utf8').replace('bw_layer_in: 8', 'bw_layer_in: 7'));
  const r = readCaffemodel(WEIGHTS);
  const layers = r.layers.filter((l) => r.weights.has(l.name)).map((l) => ({
    name: l.name, type: l.type, blobs: r.weights.get(l.name)!.map((b) => ({ shape: b.shape, data: Float32Array.from(b.data) })),
  }));
  layers.find((l) => l.name === 'conv2')!.blobs[0].data[5] = NaN;
  writeCaffemodel(T('nan.caffemodel'), 'LeNet', layers);
  const [a, b] = ['img_0_10.png', 'img_1_2.png'].map((f) => fs.readFileSync(path.join(LENET, 'samples', f)));
  for (const d of ['good', 'missing', 'undecodable']) fs.mkdirSync(T(d));
  fs.writeFileSync(T('good/a.png'), a);
  fs.writeFileSync(T('good/b.png'), b);
  fs.writeFileSync(T('missing/a.png'), a);
  fs.symlinkSync(T('gone.png'), T('missing/b.png'));
  fs.writeFileSync(T('undecodable/a.png'), a);
  fs.writeFileSync(T('undecodable/b.png'), b.subarray(0, 50));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** main() in this process (helpers/cli.ts). */
const run = runMain;

/** What a case gives the command: the prototxt, weights and images to read, where outputs go. */
interface Files {
  deploy: string;
  weights: string;
  images: string;
  out: string;
}

const quantizeFlags: Record<string, (out: string) => string[]> = {
  'no technique': () => [],
  '--th_search group --th_search_images 2': () => ['--th_search', 'group', '--th_search_images', '2'],
  '--df_input xilinx (DynamicFixed auto)': (out) => ['--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto', '--df_input', 'xilinx', '--optimized_weights', path.join(out, 'q.caffemodel')],
  '--optimize_rounding --bias_correction': (out) => ['--optimize_rounding', '--bias_correction', '--optimized_weights', path.join(out, 'q.caffemodel')],
};
const simulateFlags: Record<string, (out: string) => string[]> = {
  '--metrics layers': () => [],
  '--metrics none': () => ['--metrics', 'none'],
  '--metrics agreement': () => ['--metrics', 'agreement'],
  '--shard 1/2 --save_results': (out) => ['--shard', '1/2', '--save_results', path.join(out, 'r.json')],
  '--metrics none --shard 1/2 --save_results': (out) => ['--metrics', 'none', '--shard', '1/2', '--save_results', path.join(out, 'r.json')],
  '--metrics agreement --save_results': (out) => ['--metrics', 'agreement', '--save_results', path.join(out, 'r.json')],
};

const quantizeArgs = (f: Files, flags: string[], bitwidths = '8,8,8') => ['quantize', '-q', '--deploy_model', f.deploy, '--weights', f.weights,
  '--calibration_directory', f.images, '--calibration_size', '2', '--mean_value', '0', '--bitwidths', bitwidths,
  '--quantized_deploy_model', path.join(f.out, 'q.prototxt'), ...flags];
const simulateArgs = (f: Files, flags: string[]) => ['simulate', '--deploy_model', f.deploy, '--weights', f.weights, '--calibration_directory', f.images,
  '--mean_value', '0', ...flags];

/**
 * A bad input: what it changes (per command), the exit code, and the start of the error line (file, and line:col
 * for text). `file` and `re` are functions because the paths live in tmp.
 */
interface BadInput {
  name: string;
  quantize?: Partial<Files> & { bitwidths?: string };
  simulate?: Partial<Files>;
  code: number;
  /** the error line, per command */
  error: (cmd: 'quantize' | 'simulate') => RegExp;
}

const at = (file: string, lineCol = false) => new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}${lineCol ? ':\\d+:\\d+' : ''}: error: `);
const bad: BadInput[] = [
  { name: 'malformed prototxt', quantize: { deploy: T('malformed.prototxt') }, simulate: { deploy: T('malformed.prototxt') }, code: 1, error: () => at(T('malformed.prototxt'), true) },
  { name: 'binary prototxt (a caffemodel)', quantize: { deploy: WEIGHTS }, simulate: { deploy: WEIGHTS }, code: 1, error: () => new RegExp(`${at(WEIGHTS).source}this looks like a binary caffemodel`) },
  { name: 'truncated caffemodel', quantize: { weights: T('truncated.caffemodel') }, simulate: { weights: T('truncated.caffemodel') }, code: 1, error: () => new RegExp(`${at(T('truncated.caffemodel')).source}truncated`) },
  { name: 'a prototxt as the caffemodel', quantize: { weights: DEPLOY }, simulate: { weights: DEPLOY }, code: 1, error: () => at(DEPLOY) },
  { name: 'missing image (a dangling link)', quantize: { images: T('missing') }, simulate: { images: T('missing') }, code: 1, error: () => at(T('missing/b.png')) },
  { name: 'undecodable image', quantize: { images: T('undecodable') }, simulate: { images: T('undecodable') }, code: 1, error: () => at(T('undecodable/b.png')) },
  { name: 'unknown layer', quantize: { deploy: T('unknown.prototxt') }, simulate: { deploy: T('q8_unknown.prototxt') }, code: 1, error: (c) => at(T(c === 'quantize' ? 'unknown.prototxt' : 'q8_unknown.prototxt'), true) },
  { name: 'NaN weights', quantize: { weights: T('nan.caffemodel') }, simulate: { weights: T('nan.caffemodel') }, code: 1, error: () => new RegExp(`${at(T('nan.caffemodel')).source}layer "conv2" blob 0 \\(weights\\) holds 1 NaN`) },
];

type Case = [string, string, () => string[], number, (() => RegExp) | undefined, () => string];

function cases(): Case[] {
  const out: Case[] = [];
  let k = 0;
  const dir = () => {
    const d = T(`out${k++}`);
    return d;
  };
  for (const b of bad) {
    for (const [flags, fl] of Object.entries(quantizeFlags)) {
      const d = dir();
      out.push([`quantize ${flags}`, b.name, () => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d, ...b.quantize }, fl(d)), b.code, () => b.error('quantize'), () => d]);
    }
    for (const [flags, fl] of Object.entries(simulateFlags)) {
      const d = dir();
      out.push([`simulate ${flags}`, b.name, () => simulateArgs({ deploy: Q8, weights: WEIGHTS, images: T('good'), out: d, ...b.simulate }, fl(d)), b.code, () => b.error('simulate'), () => d]);
    }
  }
  // wrong bitwidth: a flag of quantize (usage), a field of the annotated prototxt in simulate (bad input, at its line)
  for (const [flags, fl] of Object.entries(quantizeFlags)) {
    const d = dir();
    out.push([`quantize ${flags}`, '--bitwidths 7,7,7', () => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, fl(d), '7,7,7'), 2, () => /^error: --bitwidths 7,7,7: /, () => d]);
  }
  for (const [flags, fl] of Object.entries(simulateFlags)) {
    const d = dir();
    out.push([`simulate ${flags}`, 'bw_layer_in: 7', () => simulateArgs({ deploy: T('q8_bw7.prototxt'), weights: WEIGHTS, images: T('good'), out: d }, fl(d)), 1, () => at(T('q8_bw7.prototxt'), true), () => d]);
  }
  // an output that cannot be written is found before the malformed prototxt is read
  for (const [flags, fl] of Object.entries(quantizeFlags)) {
    const d = dir();
    const gone = path.join(d, 'gone');
    out.push([`quantize ${flags}`, 'output directory missing, malformed prototxt', () => quantizeArgs({ deploy: T('malformed.prototxt'), weights: WEIGHTS, images: T('good'), out: gone }, fl(gone)), 2,
      () => new RegExp(`^${gone.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/\\S+: error: cannot write: directory .* does not exist`), () => d]);
  }
  for (const [flags, fl] of Object.entries(simulateFlags)) {
    if (!fl('x').includes('--save_results')) continue;
    const d = dir();
    const gone = path.join(d, 'gone');
    out.push([`simulate ${flags}`, 'output directory missing, malformed prototxt', () => simulateArgs({ deploy: T('malformed.prototxt'), weights: WEIGHTS, images: T('good'), out: gone }, fl(gone)), 2,
      () => new RegExp(`^${gone.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/r\\.json: error: cannot write: directory .* does not exist`), () => d]);
  }
  // usage errors of the flags themselves, and a path flag given twice
  const usage: [string, (d: string) => string[]][] = [
    ['--th_search bogus', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, ['--th_search', 'bogus'])],
    ['--th_search_images 0', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, ['--th_search', 'group', '--th_search_images', '0'])],
    ['--th_search_images without --th_search', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, ['--th_search_images', '2'])],
    ['--th_search group in DynamicFixed mode', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, ['--th_search', 'group', '--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto'])],
    ['--df_input bogus', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, [...quantizeFlags['--df_input xilinx (DynamicFixed auto)'](d).map((a) => (a === 'xilinx' ? 'bogus' : a))])],
    ['--df_input xilinx in Xilinx mode', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, ['--df_input', 'xilinx', '--optimized_weights', path.join(d, 'q.caffemodel')])],
    ['--optimize_rounding --bias_correction without --optimized_weights', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, ['--optimize_rounding', '--bias_correction'])],
    ['--optimized_weights over the input --weights', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, ['--optimize_rounding', '--bias_correction', '--optimized_weights', WEIGHTS])],
    ['quantize --weights twice', (d) => quantizeArgs({ deploy: DEPLOY, weights: WEIGHTS, images: T('good'), out: d }, ['--weights', T('nan.caffemodel')])],
    ['--metrics bogus', (d) => simulateArgs({ deploy: Q8, weights: WEIGHTS, images: T('good'), out: d }, ['--metrics', 'bogus'])],
    ['--report with --metrics agreement', (d) => simulateArgs({ deploy: Q8, weights: WEIGHTS, images: T('good'), out: d }, ['--metrics', 'agreement', '--report', path.join(d, 'r.html')])],
    ['--shard 2/2', (d) => simulateArgs({ deploy: Q8, weights: WEIGHTS, images: T('good'), out: d }, ['--shard', '2/2'])],
    ['--save_results a directory', (d) => simulateArgs({ deploy: Q8, weights: WEIGHTS, images: T('good'), out: d }, ['--save_results', d])],
    ['--save_results over the input --deploy_model', (d) => simulateArgs({ deploy: Q8, weights: WEIGHTS, images: T('good'), out: d }, ['--save_results', Q8])],
    ['simulate --weights twice', (d) => simulateArgs({ deploy: Q8, weights: WEIGHTS, images: T('good'), out: d }, ['--weights', T('nan.caffemodel'), '--save_results', path.join(d, 'r.json')])],
  ];
  for (const [name, argv] of usage) {
    const d = dir();
    out.push([argv(d)[0], name, () => argv(d), 2, /twice/.test(name) ? () => /^error: --weights is given 2 times \(.*\); give it once$/ : undefined, () => d]);
  }
  return out;
}

describe('bad input under the new flags: one error line naming the file, exit 1 or 2, nothing written', () => {
  test.each(cases())('%s: %s', async (_cmd, _what, argv, code, error, outDir) => {
    fs.mkdirSync(outDir(), { recursive: true });
    const r = await run(argv());
    const lines = r.stderr.trimEnd().split('\n');
    const errors = lines.filter((l) => / error: |^error: /.test(l));
    expect(errors).toHaveLength(1);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(code);
    if (error) expect(errors[0]).toMatch(error());
    // a usage error comes alone, before any warning
    if (code === 2) expect(lines).toHaveLength(1);
    expect(fs.readdirSync(outDir())).toEqual([]);
  });
});
