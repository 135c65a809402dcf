/**
 * What a newcomer reads (issue #12 item 17): simulate's accuracy line with --top 1, the legend of quantize's
 * `method` column, the report's real max |x| and a per-channel weight chart with axes and legend at 500 channels.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCli, ROOT } from './helpers/cli';
import { renderReport } from '../src/report/html';
import { thresholdSourceLegend } from '../src/cli/threshold-legend';

const M = path.join(ROOT, 'models/lenet');
const DEPLOY = path.join(M, 'lenet.prototxt');
const WEIGHTS = path.join(M, 'lenet_iter_10000.caffemodel');
const DIGITS = path.join(M, 'digits');
const PRE = ['--dims', '1,28,28', '--channel_swap', '0', '--raw_scale', '255', '--mean_value', '0', '--input_scale', '0.00390625'];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-legible-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const q8 = path.join(tmp, 'lenet_q8.prototxt');
const qHtml = path.join(tmp, 'quantize.html');
let quantize: ReturnType<typeof runCli>;
beforeAll(() => {
  quantize = runCli(['quantize', '--deploy_model', DEPLOY, '--weights', WEIGHTS, '--quantized_deploy_model', q8, '--bitwidths', '8,8,8',
    '--calibration_directory', DIGITS, '--calibration_size', '20', '--th_method', 'kl', ...PRE, '--report', qHtml]);
});

test('simulate --top 1 prints each top-1 figure once; --top 5 keeps the top-5 ones', () => {
  const sim = (top: string) => runCli(['simulate', '--deploy_model', q8, '--weights', WEIGHTS, '--calibration_directory', DIGITS,
    '--labels_from_dirname', '--limit', '20', '--top', top, ...PRE]);
  const one = sim('1');
  expect(one.code).toBe(0);
  const acc = one.stdout.split('\n').find((l) => l.startsWith('accuracy on'))!;
  expect(acc).toMatch(/^accuracy on 20 labelled: float top-1 \d+\.\d+ ?%; fixed top-1 \d+\.\d+ ?%$/);
  expect(one.stdout).toMatch(/^float vs fixed agreement: top-1 \d+\.\d+ ?%$/m);
  const five = sim('5');
  expect(five.stdout).toMatch(/float top-1 \d+\.\d+ ?% top-5 \d+\.\d+ ?%; fixed top-1 \d+\.\d+ ?% top-5/);
  expect(five.stdout).toMatch(/float top-1 in fixed top-5/);
});

test('quantize: the method column has a legend under the table and in --help', () => {
  expect(quantize.code).toBe(0);
  const lines = quantize.stdout.split('\n');
  const header = lines.findIndex((l) => /^layer\s+type\s+th_in\s+th_out\s+method$/.test(l));
  expect(header).toBeGreaterThanOrEqual(0);
  const methods = new Set<string>();
  let k = header + 1;
  for (; k < lines.length && lines[k] && !lines[k].startsWith('method ('); k++) methods.add(lines[k].trim().split(/\s+/).pop()!);
  const legend = lines[k];
  expect(legend).toMatch(/^method \(where th_out comes from\) — /);
  for (const m of methods) expect(legend).toContain(`${m}: `);
  const help = runCli(['quantize', '--help']);
  expect(help.stdout).toMatch(/`method` column/);
  for (const m of ['relu', 'relu-max', 'concat', 'eltwise-max', 'fold', '+int']) expect(help.stdout).toContain(m);
  // every term of a composite source is explained
  const l = thresholdSourceLegend(['kl→max', 'relu-max+int', 'concat+pow2']);
  for (const t of ['kl:', '→max:', 'relu-max:', '+int:', 'concat:', '+pow2:']) expect(l).toContain(t);
});

test('report: max |x| is the largest value seen, not the last bin edge (a softmax stays ≤ 1)', () => {
  const html = fs.readFileSync(qHtml, 'utf8');
  const prob = /<section class="layer" id="layer-prob">([\s\S]*?)<\/section>/.exec(html)![1];
  const m = /max \|x\| ([\d.]+)/.exec(prob);
  expect(m).not.toBeNull();
  expect(Number(m![1])).toBeLessThanOrEqual(1);
  expect(Number(m![1])).toBeGreaterThan(0.9);
});

test('report: the per-channel weight chart has axes and a legend and stays readable at 500 channels', () => {
  const n = 500;
  const weightMin = Array.from({ length: n }, (_, c) => -0.1 - (c % 7) * 0.01);
  const weightMax = Array.from({ length: n }, (_, c) => 0.1 + (c % 5) * 0.02);
  const thParams = weightMax.map((v, c) => Math.max(v, -weightMin[c]));
  const html = renderReport({ title: 't', layers: [{ name: 'fc', type: 'InnerProduct', weightMin, weightMax, thParams }] });
  const svg = /<svg class="weights"[\s\S]*?<\/svg>/.exec(html)![0];
  const bars = (svg.match(/<rect [^>]*class="bar"/g) ?? []).length - 1; // minus the legend swatch
  expect(bars).toBeLessThanOrEqual(128);
  expect(bars).toBeGreaterThan(50);
  // every bar at least 3 px wide on the 640 px chart
  for (const w of [...svg.matchAll(/<rect [^>]*width="([\d.]+)"[^>]*class="bar"/g)].map((x) => Number(x[1]))) expect(w).toBeGreaterThanOrEqual(3);
  expect(svg).toContain('output channel (500)');
  expect(svg).toContain('>499<');
  expect(svg).toContain('weight min … max, 4 channels per bar');
  expect(svg).toContain('±th_params');
  expect(svg).toMatch(/>0\.18</); // the y axis is labelled with the largest |w|
});
