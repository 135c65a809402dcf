import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../src/proto/load';
import { runNet } from '../src/exec/executor';
import { shutdownKernels } from '../src/kernels';
import { loadMnist } from '../src/io/mnist';
import { decodeImage, loadMeanBinaryproto } from '../src/io/images';
import type { Net } from '../src/graph/types';
import type { Tensor } from '../src/tensor';
import { readNpy } from '../src/io/npy';

/*
 * Float accuracy of the corpus classifiers (SOURCES.md §4/§5, reference_outputs.json): LeNet on the full
 * MNIST t10k set, the CIFAR-10 nets on the 2000-JPEG subset (labels alphabetical airplane=0 … truck=9).
 */
const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const REF = JSON.parse(fs.readFileSync(path.join(CORPUS, 'reference_outputs.json'), 'utf8')).models;
const { round, abs, max } = Math;

afterAll(() => shutdownKernels());

function argmax(d: Float32Array, off: number, n: number): number {
  let b = 0;
  for (let i = 1; i < n; i++) if (d[off + i] > d[off + b]) b = i;
  return b;
}

/** top-1 hits of `net` over images [N,C,H,W] in batches; also returns the raw outputs of the first 10 */
async function score(net: Net, x: Tensor, labels: number[], batch = 250) {
  const [N, C, H, W] = x.shape;
  const per = C * H * W;
  let hits = 0;
  const first: number[][] = [];
  const out = net.outputs[net.outputs.length - 1];
  for (let s = 0; s < N; s += batch) {
    const n = Math.min(batch, N - s);
    const r = await runNet(net, { shape: [n, C, H, W], data: x.data.subarray(s * per, (s + n) * per) });
    const y = r.get(out)!;
    const k = y.data.length / n;
    for (let i = 0; i < n; i++) {
      if (argmax(y.data, i * k, k) === labels[s + i]) hits++;
      if (s + i < 10) first.push(Array.from(y.data.subarray(i * k, (i + 1) * k)));
    }
  }
  return { hits, first };
}

function maxDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((r, i) => r.forEach((v, j) => (m = max(m, abs(v - b[i][j])))));
  return m;
}

describe('LeNet × MNIST t10k (10000 images)', () => {
  const mn = loadMnist(path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz'), path.join(CORPUS, 'data/mnist/t10k-labels-idx1-ubyte.gz'));
  const x: Tensor = { shape: mn.images.shape, data: mn.images.data.map((v) => v * 0.00390625) };
  test.each([
    ['lenet_mnist_ahmdtaha', 'mnist_deploy.prototxt', 0.9904],
    ['lenet_mnist_v1_everpeace', 'lenet.prototxt', 0.9905],
  ])('%s', async (dir, proto, acc) => {
    const { graph } = loadModel(path.join(CORPUS, 'models', dir, proto), path.join(CORPUS, 'models', dir, 'lenet_iter_10000.caffemodel'), { inputShape: [1, 1, 28, 28] });
    const t0 = Date.now();
    const { hits } = await score(graph, x, mn.labels!, 1000);
    console.log(`${dir}: ${hits}/10000 in ${Date.now() - t0} ms`);
    expect(hits / 10000).toBe(acc);
    expect(REF[dir].accuracy_t10k_10000).toBe(acc);
  });
});

/** CIFAR JPEG subset as RGB planar 0..255 (libjpeg-equivalent decode by jpeg-js; may differ by ±1 level) */
function cifarSubset(limitPerClass: number) {
  const root = path.join(CORPUS, 'data/cifar10_test_jpg_subset');
  const classes = fs.readdirSync(root).sort();
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((c, ci) => {
    for (const f of fs.readdirSync(path.join(root, c)).sort().slice(0, limitPerClass)) {
      files.push(`${c}/${f}`);
      labels.push(ci);
    }
  });
  const data = new Float32Array(files.length * 3 * 32 * 32);
  files.forEach((f, n) => {
    const img = decodeImage(fs.readFileSync(path.join(root, f)), f);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) data[n * 3072 + c * 1024 + p] = round(img.data[p * 3 + c] * 255);
  });
  return { files, labels, x: { shape: [files.length, 3, 32, 32], data } as Tensor };
}

const M = 'models/';
const CIFAR_NETS: [string, string, string][] = [
  ['cifar10_quick_v1_everpeace', M + 'cifar10_quick_v1_everpeace/cifar10_quick.prototxt', M + 'cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel'],
  ['cifar10_full_v1_everpeace', M + 'cifar10_full_v1_everpeace/cifar10_full.prototxt', M + 'cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel'],
  ['cifar10_resnet20_lijianfei', M + 'cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', M + 'cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel'],
];
const CIFAR_MEAN = () => loadMeanBinaryproto(path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto')).data;

/** SOURCES.md §4: quick/full = RGB planar − mean image; ResNet-20 = (RGB − [125.3,122.9,113.8]) × 1/256 */
function cifarInput(id: string, rgb: Float32Array, mean: Float32Array): Float32Array {
  const xin = new Float32Array(rgb.length);
  if (id.includes('resnet20')) {
    const mv = [125.3, 122.9, 113.8];
    for (let i = 0; i < rgb.length; i++) xin[i] = (rgb[i] - mv[((i / 1024) | 0) % 3]) * 0.00390625;
  } else for (let i = 0; i < rgb.length; i++) xin[i] = rgb[i] - mean[i % 3072];
  return xin;
}

/*
 * Exact check on libjpeg-decoded pixels (scripts/float_goldens.py: PIL, the decoder the reference used):
 * 250 images (first 25 per class) with the PyTorch reference's top-1 per image, and the first 10 outputs
 * against reference_outputs.json. The reference reproduces the corpus figures on all 2000 (73.05/78.90/81.20 %).
 */
describe('CIFAR-10 nets × JPEG subset (libjpeg pixels, 250 images)', () => {
  const FIX = path.join(__dirname, 'fixtures/float/cifar');
  const exp = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8'));
  const px = readNpy(path.join(FIX, 'subset_rgb_u8.npy'));
  const mean = CIFAR_MEAN();
  test.each(CIFAR_NETS)('%s', async (id, proto, weights) => {
    const { graph } = loadModel(path.join(CORPUS, proto), path.join(CORPUS, weights), { inputShape: [1, 3, 32, 32] });
    const x: Tensor = { shape: px.shape, data: cifarInput(id, px.data, mean) };
    const labels: number[] = exp.labels;
    const preds: number[] = [];
    const first: number[][] = [];
    const out = graph.outputs[graph.outputs.length - 1];
    const r = await runNet(graph, x);
    const y = r.get(out)!;
    const k = y.data.length / labels.length;
    for (let i = 0; i < labels.length; i++) {
      preds.push(argmax(y.data, i * k, k));
      if (i < 10) first.push(Array.from(y.data.subarray(i * k, (i + 1) * k)));
    }
    const e = exp.nets[id];
    expect(preds).toEqual(e.pred);
    expect(REF[id].accuracy_subset2000).toBeCloseTo(e.accuracy2000, 6);
    const logits = id.includes('resnet20');
    expect(maxDiff(first, e.first10)).toBeLessThan(logits ? 1e-4 : 1e-5);
    // reference_outputs.json rounds to 5 decimals
    expect(maxDiff(first, REF[id].first10_output)).toBeLessThan(logits ? 1e-4 : 1.5e-5);
  });
});

/*
 * The same nets on all 2000 JPEGs decoded by chaiq's own JPEG path (jpeg-js: differs from libjpeg by up to
 * ~50 levels on chroma edges, so figures move by a few tenths of a point). Slow: CHAIQ_FULL_CIFAR=1.
 */
(process.env.CHAIQ_FULL_CIFAR ? describe : describe.skip)('CIFAR-10 nets × 2000 JPEGs (jpeg-js decode)', () => {
  test.each(CIFAR_NETS)('%s', async (id, proto, weights) => {
    const set = cifarSubset(200);
    const { graph } = loadModel(path.join(CORPUS, proto), path.join(CORPUS, weights), { inputShape: [1, 3, 32, 32] });
    const { hits } = await score(graph, { shape: set.x.shape, data: cifarInput(id, set.x.data, CIFAR_MEAN()) }, set.labels);
    console.log(`${id}: ${hits}/2000 = ${((hits / 2000) * 100).toFixed(2)} % (reference ${(REF[id].accuracy_subset2000 * 100).toFixed(2)} % with libjpeg)`);
    expect(abs(hits / 2000 - REF[id].accuracy_subset2000)).toBeLessThan(0.01);
  });
});
