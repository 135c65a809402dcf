/**
 * `--report FILE.html` on quantize and simulate (the shipped LeNet and digits), and the progress bar:
 * drawn on a TTY, nothing at all when piped.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { runCli, ROOT } from './helpers/cli';
import { makeProgress } from '../src/cli/progress';
import { checkStandaloneHtml } from './report-html-check';

const M = path.join(ROOT, 'models/lenet');
const DEPLOY = path.join(M, 'lenet.prototxt');
const WEIGHTS = path.join(M, 'lenet_iter_10000.caffemodel');
const DIGITS = path.join(M, 'digits');
const PRE = ['--dims', '1,28,28', '--channel_swap', '0', '--raw_scale', '255', '--mean_value', '0', '--input_scale', '0.00390625'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-report-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const q8 = path.join(tmp, 'lenet_q8.prototxt');
const qHtml = path.join(tmp, 'quantize.html');
let quantize: ReturnType<typeof runCli>;

beforeAll(() => {
  quantize = runCli(['quantize', '--deploy_model', DEPLOY, '--weights', WEIGHTS, '--quantized_deploy_model', q8, '--bitwidths', '8,8,8',
    '--calibration_directory', DIGITS, '--calibration_size', '40', ...PRE, '--report', qHtml]);
});

const sections = (html: string) => [...html.matchAll(/<section class="layer" id="layer-([^"]+)">([\s\S]*?)<\/section>/g)].map((m) => ({ name: m[1], body: m[2] }));

test('quantize --report: one section per layer, histograms with the threshold marker, weight ranges', () => {
  expect(quantize.code).toBe(0);
  const html = fs.readFileSync(qHtml, 'utf8');
  checkStandaloneHtml(html);
  const annotated = fs.readFileSync(q8, 'utf8');
  const layers = [...annotated.matchAll(/^layer \{\n {2}name: "([^"]+)"/gm)].map((m) => m[1]);
  expect(layers).toEqual(['input', 'conv1', 'pool1', 'conv2', 'pool2', 'ip1', 'relu1', 'ip2', 'prob']);
  const s = sections(html);
  expect(s.map((x) => x.name)).toEqual(layers);
  const conv1 = s.find((x) => x.name === 'conv1')!.body;
  const th = /th_layer_out: ([\d.]+)/.exec(annotated.slice(annotated.indexOf('name: "conv1"')))![1];
  // histogram (log scale) with the threshold of the annotated file, and the clipped fraction
  expect(conv1).toContain('class="hist"');
  expect(conv1).toMatch(/<line class="threshold"[^>]*\/><text[^>]*>th = /);
  expect(conv1).toContain(`th_out ${Number(th).toFixed(4).replace(/0+$/, '')}`);
  expect(conv1).toMatch(/clipped \d[\d.e-]* %/);
  // per-channel weight ranges with th_params: 20 output channels
  expect(conv1).toContain('class="weights"');
  expect(conv1).toContain('over 20 channels');
  expect((conv1.match(/<line class="threshold"/g) ?? []).length).toBe(1 + 2 * 20);
  // a float layer has no threshold
  expect(s.find((x) => x.name === 'prob')!.body).not.toContain('class="threshold"');
  // no simulation in a quantize report
  expect(html).toContain('no simulation data');
});

test('simulate --report: SQNR per layer with the worst highlighted, thresholds from the annotated file', () => {
  const html = path.join(tmp, 'simulate.html');
  const r = runCli(['simulate', '--deploy_model', q8, '--weights', WEIGHTS, '--calibration_directory', DIGITS, '--labels_from_dirname',
    '--limit', '60', '--top', '1', ...PRE, '--report', html]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/simulated 60 image/);
  const text = fs.readFileSync(html, 'utf8');
  checkStandaloneHtml(text);
  expect(sections(text)).toHaveLength(9);
  expect(text.match(/class="worst"/g)).toHaveLength(1);
  expect(text).toMatch(/SQNR -?\d+\.\d dB/);
  expect(text).toMatch(/local SQNR -?\d+\.\d dB/);
  expect(text).toContain('class="hist"'); // the float activations the simulator saw
  expect(text).toMatch(/<line class="threshold"[^>]*\/><text[^>]*>th = /);
});

test('piped (no TTY): no progress bar characters or carriage returns from quantize or simulate', () => {
  const s = runCli(['simulate', '--deploy_model', q8, '--weights', WEIGHTS, '--calibration_directory', DIGITS, '--limit', '20', ...PRE]);
  expect(s.code).toBe(0);
  for (const out of [quantize.stdout, quantize.stderr, s.stdout, s.stderr]) {
    expect(out).not.toMatch(/\r|\u001b\[|\u2591|\u2588|images$/m);
    expect(out).not.toMatch(/calibrating|simulating \[/);
  }
});

test('makeProgress draws on a TTY stream and writes nothing to a pipe', () => {
  const capture = (tty: boolean) => {
    const s = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
    (s as any).isTTY = tty;
    (s as any).columns = 80;
    (s as any).cursorTo = (x: number, _y: unknown, cb?: () => void) => { s.write(`\u001b[${x + 1}G`); cb?.(); return true; };
    (s as any).clearLine = (_d: number, cb?: () => void) => { s.write('\u001b[2K'); cb?.(); return true; };
    (s as any).moveCursor = (_dx: number, _dy: number, cb?: () => void) => { cb?.(); return true; };
    let out = '';
    s.on('data', (b: Buffer) => (out += b.toString()));
    const p = makeProgress(3, 'simulating', 'images', s);
    p.tick(1);
    p.tick(3);
    p.stop();
    p.stop();
    return out;
  };
  expect(capture(false)).toBe('');
  expect(capture(true)).toMatch(/simulating/);
});
