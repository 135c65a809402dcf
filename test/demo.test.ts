/**
 * `chaiq demo` end to end, as `npm run demo` runs it (the built bin/chaiq.js), on the shipped LeNet and digits.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCli } from './helpers/cli';
import { parsePrototxt } from '../grammar';
import { bindMessage } from '../src/proto/bind';
import { lintText } from '../src/lint/lint';
import { checkStandaloneHtml } from './report-html-check';
import { demoTableNotes } from '../src/cli/commands/demo';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-demo-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const VARIANTS = ['xilinx8', 'xilinx6', 'dynamicfixed8'];

test('demo: table, annotated prototxts that parse, bind and lint clean, HTML reports', () => {
  const t0 = Date.now();
  const r = runCli(['demo', '--out_dir', tmp]);
  const secs = (Date.now() - t0) / 1000;
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  // no warning a newcomer cannot act on: the ones this model always gives are explained as notes
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/^notes \(what chaiq quantize warns about for this model, expected here\): .*canonically.*batch 1/m);
  expect(secs).toBeLessThan(60);
  // piped: no progress bar on either stream
  expect(r.stdout + r.stderr).not.toMatch(/\r|\u2591|\u2588/);

  const row = (label: string) => {
    const line = r.stdout.split('\n').find((l) => l.startsWith(label));
    expect(line).toBeDefined();
    const pcts = [...line!.matchAll(/(\d+\.\d+) %/g)].map((m) => Number(m[1]));
    return { line: line!, pcts };
  };
  const float = row('float (FP32)').pcts[0];
  expect(float).toBeGreaterThanOrEqual(98);
  const x8 = row('Xilinx 8-bit');
  const x6 = row('Xilinx 6-bit');
  const df = row('DynamicFixed 8-bit');
  expect(Math.abs(x8.pcts[0] - float)).toBeLessThanOrEqual(1);
  for (const v of [x8, x6, df]) {
    expect(v.pcts).toHaveLength(2); // top-1 and agreement
    expect(v.pcts[0]).toBeGreaterThan(90);
    expect(v.pcts[1]).toBeGreaterThan(90);
    expect(v.line).toMatch(/(conv|pool|ip)\d\s+-?\d+\.\d dB$/); // worst layer and its SQNR
  }
  // the equivalent commands
  expect(r.stdout).toMatch(/chaiq quantize --quant_type Xilinx .*--bitwidths 8,8,8/);
  expect(r.stdout).toMatch(/chaiq quantize --quant_type DynamicFixed .*--fl_bitwidths auto/);
  expect(r.stdout.match(/^ {2}chaiq simulate /gm)).toHaveLength(3);

  for (const v of VARIANTS) {
    const f = path.join(tmp, `lenet_${v}.prototxt`);
    const text = fs.readFileSync(f, 'utf8');
    const msg = bindMessage(parsePrototxt(text, f));
    expect(msg.layer.some((l: any) => l.precision_param)).toBe(true);
    expect(lintText(text, f).filter((d) => d.severity === 'error')).toEqual([]);
    const html = fs.readFileSync(path.join(tmp, `lenet_${v}.html`), 'utf8');
    checkStandaloneHtml(html);
    // both calibration histograms and simulation figures
    expect(html).toContain('class="hist"');
    expect(html).toContain('class="worst"');
    expect(html).toContain('href="index.html"');
  }
  const index = fs.readFileSync(path.join(tmp, 'index.html'), 'utf8');
  checkStandaloneHtml(index);
  for (const v of VARIANTS) expect(index).toContain(`href="lenet_${v}.html"`);
});

test('demoTableNotes: explains Xilinx 8-bit below 6-bit with the figures, says nothing otherwise', () => {
  const row = (bits: number, top1: number, th: number) => ({
    label: `Xilinx ${bits}-bit (KL)`, bits, quantType: 'Xilinx', top1, labelled: 300, clips: [{ layer: 'conv1', th, absMax: 3.87 }, { layer: 'conv2', th: 9, absMax: 12 }],
  });
  const note = demoTableNotes([row(8, 298, 2.21), row(6, 299, 3.1)]);
  expect(note).toMatch(/Xilinx 8-bit \(KL\) is below 6-bit by 1 of 300 digits/);
  expect(note).toMatch(/clips conv1 at 2\.21 of its max 3\.87, at 6 bits at 3\.10/);
  expect(note).toMatch(/--th_method max or mse/);
  expect(demoTableNotes([row(8, 299, 2.21), row(6, 299, 3.1)])).toBe('');
  expect(demoTableNotes([row(8, 300, 2.21), row(6, 299, 3.1)])).toBe('');
});
