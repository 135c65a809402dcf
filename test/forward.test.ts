import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../src/graph/load';
import { runNet } from '../src/exec/executor';
import { shutdownKernels } from '../src/kernels';
import { readNpy } from '../src/io/npy';
import type { Tensor } from '../src/tensor';
import type { Net } from '../src/graph/types';

/*
 * Every layer output of 18 nets (12 corpus models with their real caffemodels, 4 corpus nets with seeded
 * random weights, 2 micro nets covering every layer option) against an independent PyTorch float64
 * reference written by scripts/float_goldens.py. Inputs and random weights come from a counter-based hash
 * PRNG reproduced here bit-exactly.
 */
const ROOT = path.resolve(__dirname, '..');
const CORPUS = path.resolve(ROOT, '../shared/corpus');
const FIX = path.join(__dirname, 'fixtures/float');
// module-level aliases: global lookups are slow inside jest's vm context
const { imul, abs, max } = Math;

/** uniform [-1, 1): lowbias32(i·0x9E3779B1 + seed·0x85EBCA77 + 1), as in scripts/float_goldens.py */
export function prng(seed: number, n: number): Float64Array {
  const add = (imul(seed, 0x85ebca77) + 1) >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let x = (imul(i, 0x9e3779b1) + add) >>> 0;
    x ^= x >>> 16;
    x = imul(x, 0x7feb352d) >>> 0;
    x ^= x >>> 15;
    x = imul(x, 0x846ca68b) >>> 0;
    x ^= x >>> 16;
    out[i] = ((x >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

function randomBlob(type: string, li: number, bi: number, shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const u = prng(li * 16 + bi + 1, n);
  const d = new Float32Array(n);
  // same float64 expressions as random_blob() in the script, then rounded to float32
  let mul = 0.1;
  let add = 0;
  if (['Convolution', 'Deconvolution', 'InnerProduct'].includes(type) && bi === 0) mul = Math.sqrt(3.0 / (n / shape[0]));
  else if (type === 'BatchNorm') {
    if (bi === 0) mul = 0.2;
    else if (bi === 1) {
      for (let i = 0; i < n; i++) d[i] = (1.0 + 0.5 * u[i]) * 2.0;
      return { shape: [...shape], data: d };
    } else return { shape: [...shape], data: d.fill(2) };
  } else if (type === 'Scale' && bi === 0) [add, mul] = [1.0, 0.3];
  else if (type === 'PReLU') [add, mul] = [0.25, 0.1];
  else if (type === 'Normalize') [add, mul] = [10.0, 5.0];
  if (add === 0) for (let i = 0; i < n; i++) d[i] = u[i] * mul;
  else for (let i = 0; i < n; i++) d[i] = add + mul * u[i];
  return { shape: [...shape], data: d };
}

interface BlobRec {
  layer: string;
  top: string;
  i: number;
  shape: number[];
  sum: number;
  sumAbs: number;
  sumSq: number;
  maxAbs: number;
  idx: number[];
  val: number[];
  file?: string;
}
interface Golden {
  net: string;
  prototxt: string;
  weights: string | null;
  inputs: { name: string; shape: number[]; seed: number; scale: number }[];
  randomWeights: { layer: string; type: string; index: number; shapes: number[][] }[] | null;
  blobs: BlobRec[];
}

const goldens: Golden[] = fs
  .readdirSync(FIX)
  .filter((d) => fs.existsSync(path.join(FIX, d, 'golden.json')))
  .map((d) => JSON.parse(fs.readFileSync(path.join(FIX, d, 'golden.json'), 'utf8')));

function resolve(p: string): string {
  return p.startsWith('test/') ? path.join(ROOT, p) : path.join(CORPUS, p);
}

export function loadGoldenNet(g: Golden): { net: Net; inputs: Record<string, Tensor> } {
  const inputShape: Record<string, number[]> = {};
  for (const i of g.inputs) inputShape[i.name] = i.shape;
  const { graph } = loadModel(resolve(g.prototxt), g.weights ? resolve(g.weights) : undefined, { inputShape });
  if (g.randomWeights) {
    const byName = new Map(graph.layers.map((l) => [l.name, l]));
    for (const r of g.randomWeights) byName.get(r.layer)!.blobs = r.shapes.map((s, bi) => randomBlob(r.type, r.index, bi, s));
  }
  const inputs: Record<string, Tensor> = {};
  for (const i of g.inputs) {
    const n = i.shape.reduce((a, b) => a * b, 1);
    const u = prng(i.seed, n);
    const data = new Float32Array(n);
    for (let k = 0; k < n; k++) data[k] = u[k] * i.scale;
    inputs[i.name] = { shape: i.shape, data };
  }
  return { net: graph, inputs };
}

/** |a-b| ≤ 1e-5 + 1e-4·max(|b|, maxAbs(blob)·1e-2): relative to the element, floored by the blob's scale */
function tol(b: number, maxAbs: number): number {
  return 1e-5 + 1e-4 * max(abs(b), maxAbs * 1e-2);
}

afterAll(() => shutdownKernels());

function absSq(d: Float32Array): [number, number] {
  let sa = 0;
  let sq = 0;
  for (let k = 0; k < d.length; k++) {
    const v = d[k];
    sa += v < 0 ? -v : v;
    sq += v * v;
  }
  return [sa, sq];
}

const TOTAL_BLOBS = goldens.reduce((s, g) => s + g.blobs.length, 0);

test('the goldens cover ≥ 12 corpus nets and many blobs', () => {
  expect(goldens.filter((g) => !g.prototxt.startsWith('test/')).length).toBeGreaterThanOrEqual(12);
  expect(TOTAL_BLOBS).toBeGreaterThan(1000);
});

describe.each(goldens.map((g) => [g.net, g] as const))('%s', (_name, g) => {
  test('every layer output matches the PyTorch reference', async () => {
    const { net, inputs } = loadGoldenNet(g);
    const got = new Map<string, Tensor>();
    const warns: string[] = [];
    await runNet(net, inputs, {
      reshape: true,
      warn: (m) => warns.push(m),
      onLayer: (node, tops) => tops.forEach((t, i) => got.set(`${node.name}/${i}`, t)),
    });
    const bad: string[] = [];
    for (const r of g.blobs) {
      const t = got.get(`${r.layer}/${r.i}`);
      if (!t) {
        bad.push(`${r.layer}: no output`);
        continue;
      }
      if (t.shape.join() !== r.shape.join()) {
        bad.push(`${r.layer}: shape (${t.shape}) vs (${r.shape})`);
        continue;
      }
      const check = (k: number, want: number) => {
        const v = t.data[k];
        if (!(abs(v - want) <= tol(want, r.maxAbs))) bad.push(`${r.layer}[${k}] = ${v}, want ${want}`);
      };
      if (r.file) {
        const ref = readNpy(path.join(FIX, g.net, r.file)).data;
        for (let k = 0; k < ref.length; k++) check(k, ref[k]);
      } else {
        r.idx.forEach((k, j) => check(k, r.val[j]));
        const [sa, sq] = absSq(t.data);
        if (!(abs(sa - r.sumAbs) <= 1e-4 * r.sumAbs + 1e-5)) bad.push(`${r.layer}: sum|x| ${sa} vs ${r.sumAbs}`);
        if (!(abs(sq - r.sumSq) <= 2e-4 * r.sumSq + 1e-5)) bad.push(`${r.layer}: sum x² ${sq} vs ${r.sumSq}`);
      }
      if (bad.length > 20) break;
    }
    expect(bad.slice(0, 20)).toEqual([]);
  });
});

describe('chaiq forward (CLI)', () => {
  const os = require('os') as typeof import('os');
  const { cliServer } = require('./helpers/cli') as typeof import('./helpers/cli');
  // main() in one node process: what forward prints and writes, its exit codes
  const cli = cliServer();
  afterAll(() => cli.close());
  const { writeNpy } = require('../src/io/npy') as typeof import('../src/io/npy');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-fwd-'));
  const LENET = ['--deploy_model', path.join(CORPUS, 'models/lenet_mnist_ahmdtaha/mnist_deploy.prototxt'), '--weights', path.join(CORPUS, 'models/lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel')];
  const oneLine = (s: string) => {
    expect(s).not.toMatch(/\n\s+at /);
    expect(s.trim().split('\n').length).toBeLessThanOrEqual(3);
  };

  test('.npy in → top-k printed, every blob written as .npy equal to the golden', async () => {
    const g = goldens.find((x) => x.net === 'lenet_ahmdtaha')!;
    const { inputs } = loadGoldenNet(g);
    const inp = path.join(tmp, 'in.npy');
    writeNpy(inp, inputs.data);
    const out = path.join(tmp, 'out');
    const r = await cli.run(['forward', ...LENET, '--input', inp, '--output_dir', out, '--blobs', 'all', '--top', '3']);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^in\.npy\[0\] loss: #1 \d+ \(.*\)  #2 .*#3 /m);
    expect(fs.readdirSync(out).sort()).toEqual(['conv1', 'conv2', 'data', 'ip1', 'ip2', 'loss', 'pool1', 'pool2'].map((b) => b + '.npy'));
    // in-place chains: the saved blob is the last value written under that name
    const last = new Map(g.blobs.map((b) => [b.top, b] as const));
    for (const rec of [...last.values()].filter((b) => b.file)) {
      const got = readNpy(path.join(out, encodeURIComponent(rec.top) + '.npy'));
      const want = readNpy(path.join(FIX, g.net, rec.file!));
      expect(got.shape).toEqual(want.shape);
      for (let k = 0; k < want.data.length; k++) expect(abs(got.data[k] - want.data[k])).toBeLessThanOrEqual(tol(want.data[k], rec.maxAbs));
    }
  });

  test('wrong input shape → one-line error', async () => {
    const inp = path.join(tmp, 'bad.npy');
    writeNpy(inp, { shape: [2, 1, 27, 28], data: new Float32Array(2 * 27 * 28) });
    const r = await cli.run(['forward', ...LENET, '--input', inp]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^(\S+: )?error: input 'data' has shape \(2,1,27,28\), the net expects \(1,1,28,28\)/m);
    oneLine(r.stderr);
  });

  test('missing weights for a layer → warning then one-line error naming it', async () => {
    const proto = fs.readFileSync(path.join(CORPUS, 'models/lenet_mnist_ahmdtaha/mnist_deploy.prototxt'), 'utf8').replace(/"conv2"/g, '"conv2_new"');
    const p = path.join(tmp, 'renamed.prototxt');
    fs.writeFileSync(p, proto);
    const inp = path.join(tmp, 'zero.npy');
    writeNpy(inp, { shape: [1, 1, 28, 28], data: new Float32Array(784) });
    const r = await cli.run(['forward', '--deploy_model', p, '--weights', LENET[3], '--input', inp]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: .*conv2_new.*missing weights/);
    oneLine(r.stderr);
  });

  test('NaN weights → warning naming the layer, run completes', async () => {
    const d = path.join(FIX, 'cli');
    const inp = path.join(tmp, 'small.npy');
    writeNpy(inp, { shape: [1, 1, 4, 4], data: Float32Array.from({ length: 16 }, (_, i) => i / 16) });
    const r = await cli.run(['forward', '--deploy_model', path.join(d, 'nan_net.prototxt'), '--weights', path.join(d, 'nan_net.caffemodel'), '--input', inp]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/nan_net\.caffemodel: warning: layer "conv" blob 0 \(weights\) holds 1 NaN value \(first at index \d+\)/);
    oneLine(r.stderr);
  });

  test('a layer type without an implementation (Upsample) → one-line error naming type and layer', async () => {
    const proto = path.join(tmp, 'upsample.prototxt');
    fs.writeFileSync(proto, [
      'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } } }',
      'layer { name: "up" type: "Upsample" bottom: "data" top: "up" upsample_param { scale: 2 } }', ''].join('\n'));
    const inp = path.join(tmp, 'up.npy');
    writeNpy(inp, { shape: [1, 1, 4, 4], data: new Float32Array(16) });
    const r = await cli.run(['forward', '--deploy_model', proto, '--input', inp]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^.*upsample\.prototxt:2:\d+: error: layer 'up': type 'Upsample' has no float implementation/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('images in (XportDNN-style preprocessing flags): ResNet-20 on three lossless CIFAR PNGs', async () => {
    const M = path.join(CORPUS, 'models/cifar10_resnet20_lijianfei');
    const r = await cli.run(['forward', '--deploy_model', path.join(M, 'test_ResNet_20.prototxt'), '--weights', path.join(M, 'cifar10_ResNet_20_iter_53500.caffemodel'),
      '--dims', '3,32,32', '--input', ...['airplane1651', 'bird3068', 'frog3582'].map((f) => path.join(CORPUS, `images/cifar10/${f}.png`)),
      '--channel_swap', '0,1,2', '--mean_value', '125.3,122.9,113.8', '--input_scale', '0.00390625', '--top', '1']);
    expect(r.stderr).not.toMatch(/error/);
    // logits checked against the PyTorch reference of scripts/float_goldens.py on the same PNGs
    expect(r.stdout).toBe('airplane1651.png fc1: #1 0 (7.8276)\nbird3068.png fc1: #1 2 (6.1710)\nfrog3582.png fc1: #1 6 (7.3780)\n');
  });

  test('--dims C,H,W is checked against the Input layer / --input_shape; --transpose and --mean_file reach the images', async () => {
    const M = path.join(CORPUS, 'models/cifar10_resnet20_lijianfei');
    const Q = path.join(CORPUS, 'models/cifar10_quick_v1_everpeace');
    const img = path.join(CORPUS, 'images/cifar10/airplane1651.png');
    const quick = ['forward', '--deploy_model', path.join(Q, 'cifar10_quick.prototxt'), '--weights', path.join(Q, 'cifar10_quick_iter_5000.caffemodel'), '--input', img, '--top', '1'];
    const bad = await cli.run([...quick, '--dims', '3,24,24']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cifar10_quick\.prototxt: error: --dims 3,24,24 disagrees with the Input layer/);
    oneLine(bad.stderr);
    const clash = await cli.run([...quick, '--dims', '3,32,32', '--input_shape', '1,3,24,24']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/error: --dims 3,32,32 disagrees with --input_shape 1,3,24,24/);
    const both = await cli.run([...quick, '--mean_value', '0', '--mean_file', path.join(M, 'cifar10_mean.binaryproto')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
    const plain = await cli.run([...quick, '--dims', '3,32,32', '--mean_file', path.join(M, 'cifar10_mean.binaryproto')]);
    expect(plain.stderr).toBe('');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^airplane1651\.png prob: #1 \d+ /);
    const flipped = await cli.run([...quick, '--transpose', '2,1,0', '--mean_file', path.join(M, 'cifar10_mean.binaryproto')]);
    expect(flipped.code).toBe(0);
    expect(flipped.stdout).not.toBe(plain.stdout);
  });
});

describe('runNet', () => {
  const g = () => goldens.find((x) => x.net === 'lenet_ahmdtaha')!;
  test('returns the outputs, plus kept blobs; in-place layers are seen by onLayer with their own value', async () => {
    const { net, inputs } = loadGoldenNet(g());
    const seen: Record<string, Float32Array> = {};
    const outs = await runNet(net, inputs.data, { onLayer: (n, t) => void (t[0] && (seen[n.name] = t[0].data)) });
    expect([...outs.keys()]).toEqual(net.outputs);
    expect(Array.from(seen.ip1).some((v) => v < 0)).toBe(true);
    expect(Array.from(seen.relu1).every((v) => v >= 0)).toBe(true);
    const kept = await runNet(net, inputs, { keep: ['conv1'] });
    expect([...kept.keys()].sort()).toEqual(['conv1', ...net.outputs].sort());
    const all = await runNet(net, inputs, { keep: 'all' });
    // the in-place chain's final value: ip1 after relu1
    expect(Array.from(all.get('ip1')!.data).every((v) => v >= 0)).toBe(true);
  });

  test('bad inputs are ChaiqErrors', async () => {
    const { net, inputs } = loadGoldenNet(g());
    await expect(runNet(net, { nope: inputs.data })).rejects.toThrow(/has no input 'nope'/);
    await expect(runNet(net, { shape: [1, 3, 28, 28], data: new Float32Array(3 * 784) })).rejects.toThrow(/has shape \(1,3,28,28\), the net expects \(1,1,28,28\)/);
    net.layers.find((l) => l.name === 'ip2')!.blobs = [];
    await expect(runNet(net, inputs)).rejects.toThrow(/layer 'ip2' \(InnerProduct\): missing weights/);
  });
});
