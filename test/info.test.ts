import * as fs from 'fs';
import * as path from 'path';
import { cliServer, CORPUS } from './helpers/cli';
import { loadModel } from '../src/graph/load';
import { netInfo, infoText, parseDims, type InfoJson } from '../src/cli/commands/info';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
const cli = cliServer();
afterAll(() => cli.close());

function prototxts(): string[] {
  const out: string[] = [];
  for (const f of fs.readdirSync(path.join(CORPUS, 'prototxt'))) if (f.endsWith('.prototxt')) out.push(path.join(CORPUS, 'prototxt', f));
  for (const d of fs.readdirSync(path.join(CORPUS, 'models'))) {
    for (const f of fs.readdirSync(path.join(CORPUS, 'models', d))) if (f.endsWith('.prototxt')) out.push(path.join(CORPUS, 'models', d, f));
  }
  return out.sort();
}

const rel = (f: string) => path.relative(CORPUS, f);

describe('info on every corpus prototxt (in process)', () => {
  test.each(prototxts().map((f) => [rel(f), f]))('%s', (_r, file) => {
    const warnings: string[] = [];
    const m = loadModel(file, undefined, { warn: (w) => warnings.push(w) });
    const info = netInfo(m.graph);
    JSON.parse(JSON.stringify(info));
    expect(info.layers.length).toBeGreaterThan(0);
    const unknown = info.layers.filter((l) => l.top_shapes.some((s) => s === null));
    if (unknown.length) {
      // only downstream of a genuinely unknown shape: a Python layer, an unknown type, a Data layer's database
      expect(warnings.join('\n')).toMatch(/Python layer|unknown layer type|unknown dimensions|data source/);
    } else {
      for (const l of info.layers) {
        expect(l.params).not.toBeNull();
        expect(l.macs).not.toBeNull();
      }
    }
    expect(infoText(info)).toMatch(/^total: \d+ layers/m);
  });
});

test('a Data-layer net is complete with --dims', () => {
  const file = path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/test_ResNet_20.prototxt');
  const info = netInfo(loadModel(file, undefined, { inputShape: [10, 3, 32, 32] }).graph);
  expect(info.inputs).toEqual([{ name: 'data', shape: [10, 3, 32, 32] }]);
  expect(info.layers.every((l) => l.top_shapes.every((s) => s !== null))).toBe(true);
});

test('parseDims', () => {
  expect(parseDims('1,3,224,224')).toEqual([1, 3, 224, 224]);
  expect(parseDims('1x3x32x32')).toEqual([1, 3, 32, 32]);
  expect(() => parseDims('1,a')).toThrow(/--dims/);
});

describe('chaiq info (CLI)', () => {
  test('--format json: the documented shape, exit 0', async () => {
    const r = await cli.run(['info', '--deploy_model', path.join(CORPUS, 'prototxt/lenet.prototxt'), '--format', 'json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as InfoJson;
    expect(Object.keys(j)).toEqual(['name', 'inputs', 'layers']);
    expect(j.inputs).toEqual([{ name: 'data', shape: [64, 1, 28, 28] }]);
    expect(Object.keys(j.layers[0])).toEqual(['name', 'type', 'bottoms', 'tops', 'top_shapes', 'params', 'macs']);
    const conv1 = j.layers.find((l) => l.name === 'conv1')!;
    expect(conv1).toEqual({ name: 'conv1', type: 'Convolution', bottoms: ['data'], tops: ['conv1'], top_shapes: [[64, 20, 24, 24]], params: 520, macs: 64 * 20 * 24 * 24 * 25 });
    const ip1 = j.layers.find((l) => l.name === 'ip1')!;
    expect(ip1.params).toBe(800 * 500 + 500);
    expect(ip1.macs).toBe(64 * 500 * 800);
  });

  test('text: aligned table with totals; --weights checks the caffemodel', async () => {
    const dir = path.join(CORPUS, 'models/cifar10_quick_v1_everpeace');
    const r = await cli.run(['info', '--deploy_model', path.join(dir, 'cifar10_quick.prototxt'), '--weights', path.join(dir, 'cifar10_quick_iter_5000.caffemodel')]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    const head = lines.findIndex((l) => l.startsWith('layer'));
    expect(head).toBeGreaterThan(0);
    // the params column ends at the same position on every row
    const end = lines[head].indexOf('params') + 'params'.length;
    for (const l of lines.slice(head + 2, -1)) expect(l.slice(0, end)).toMatch(/\d$/);
    // conv 32·3·25+32, 32·32·25+32, 64·32·25+64, ip 64·1024+64, 10·64+10
    expect(lines[lines.length - 1]).toMatch(/^total: \d+ layers, 145578 params/);
  });

  test('an unknown layer type: warning on stderr, null shapes downstream, exit 0', async () => {
    const tmp = fs.mkdtempSync(path.join(require('os').tmpdir(), 'chaiq-info-'));
    const f = path.join(tmp, 'net.prototxt');
    fs.writeFileSync(f, `name: "t"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1" convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "odd" type: "Frobnicate" bottom: "c1" top: "odd" }
layer { name: "r" type: "ReLU" bottom: "odd" top: "odd" }
`);
    const r = await cli.run(['info', '--deploy_model', f, '--format', 'json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: .*Frobnicate/);
    const j = JSON.parse(r.stdout) as InfoJson;
    expect(j.layers.map((l) => l.top_shapes)).toEqual([[[1, 3, 8, 8]], [[1, 4, 6, 6]], [null], [null]]);
    expect(j.layers[3].params).toBeNull();
  });

  test('bad input: one error line, no stack', async () => {
    const r = await cli.run(['info', '--deploy_model', path.join(CORPUS, 'nope.prototxt')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nope\.prototxt.*error: /);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});

describe('params equal the trained blob sizes of every corpus caffemodel', () => {
  const models: [string, string, string, number[] | undefined][] = [];
  for (const d of fs.readdirSync(path.join(CORPUS, 'models'))) {
    const files = fs.readdirSync(path.join(CORPUS, 'models', d));
    for (const w of files.filter((f) => f.endsWith('.caffemodel'))) {
      const base = w.replace(/\.caffemodel$/, '');
      // the deploy prototxt next to it: same stem, else the one that is not *_train_test
      const proto =
        files.find((f) => f === `${base}.prototxt`) ??
        files.find((f) => f.endsWith('.prototxt') && !f.includes('train_test') && (files.filter((g) => g.endsWith('.caffemodel')).length === 1));
      if (!proto) continue;
      const dims = /resnet20/i.test(d) ? [1, 3, 32, 32] : undefined;
      models.push([`${d}/${w}`, path.join(CORPUS, 'models', d, proto), path.join(CORPUS, 'models', d, w), dims]);
    }
  }
  test('found the corpus models', () => expect(models.length).toBeGreaterThanOrEqual(10));
  test.each(models)('%s', (_n, proto, weights, dims) => {
    const m = loadModel(proto, weights, { inputShape: dims });
    let checked = 0;
    for (const n of m.graph.layers) {
      if (!n.blobs.length || !n.def?.params) continue;
      const stored = n.blobs.reduce((s, b) => s + b.data.length, 0);
      expect([n.name, n.def.params(n, n.bottomShapes as number[][])]).toEqual([n.name, stored]);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });
});

test('well-known parameter counts and MACs', () => {
  const info = (n: string) => netInfo(loadModel(path.join(CORPUS, 'prototxt', n)).graph);
  const total = (i: InfoJson, k: 'params' | 'macs') => i.layers.reduce((s, l) => s + (l[k] ?? 0), 0);
  const alex = info('bvlc_alexnet.prototxt');
  expect(total(alex, 'params')).toBe(60965224); // AlexNet's published 60,965,224
  expect(total(alex, 'macs') / 10).toBeCloseTo(724e6, -7); // ~724M MACs per 227×227 image (conv + fc)
  const vgg = info('vgg16_pytorch_soeaver.prototxt');
  expect(total(vgg, 'params')).toBe(138357544); // VGG-16's published 138,357,544
  expect(total(vgg, 'macs')).toBeCloseTo(15.47e9, -8);
});
