/**
 * src/proto/write-caffemodel.ts: the hand-written wire format read back by our own caffemodel reader and,
 * independently, by protobufjs with caffe.proto; real ResNet-20 blobs survive the round trip bit for bit.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { encodeCaffemodel, writeCaffemodel, type CaffemodelLayerOut } from '../src/proto/write-caffemodel';
import { caffeSchemaRoot, loadWeights, readCaffemodel } from '../src/proto/caffemodel';
import { loadModel } from '../src/graph/load';
import type { Tensor } from '../src/tensor';
import { randTensor } from './quant-net';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const R20_PROTO = path.resolve(__dirname, 'fixtures/quant/resnet20_deploy.prototxt');
const R20_WEIGHTS = `${CORPUS}/models/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-wcm-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const bits = (t: Tensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
const NP = caffeSchemaRoot().lookupType('caffe.NetParameter');

const special = Float32Array.from([0, -0, 1.401298464324817e-45, -1.1754942106924411e-38, 3.4028234663852886e38, -Infinity, Infinity, 1, -1, Math.fround(Math.PI), 2 ** -126, 1e-30]);
const NAME = 'résnet/残差 ✓ 🧪';
const LAYERS: CaffemodelLayerOut[] = [
  { name: 'data', type: 'Input', blobs: [] },
  { name: 'conv1', type: 'Convolution', blobs: [randTensor([3, 2, 3, 3], 1), { shape: [12], data: special }] },
  { name: 'relu1', type: 'ReLU', blobs: [] },
  { name: 'конв/2 — ß', type: 'Convolution', blobs: [randTensor([2, 3, 1, 1], 2, 1e-3)] },
  { name: 'bn', type: 'BatchNorm', blobs: [randTensor([2], 3), randTensor([2], 4, 5), { shape: [1], data: Float32Array.from([999.982]) }] },
  // 70000 floats: the blob, its data and the layer need 3-byte length varints; dim 10000 a 2-byte one
  { name: 'fc', type: 'InnerProduct', blobs: [randTensor([7, 10000], 5, 0.05), randTensor([7], 6)] },
  { name: 'prob', type: 'Softmax', blobs: [] },
];
const kept = LAYERS.filter((l) => l.blobs.length);

describe('encode → write → read back', () => {
  const bytes = encodeCaffemodel(NAME, LAYERS);
  const file = path.join(tmp, 'mini.caffemodel');
  writeCaffemodel(file, NAME, LAYERS);

  test('the file holds exactly the encoded bytes; nothing else is left in the directory', () => {
    expect(Buffer.from(fs.readFileSync(file)).equals(Buffer.from(bytes))).toBe(true);
    expect(fs.readdirSync(tmp)).toEqual(['mini.caffemodel']);
    // 70000 floats dominate
    expect(bytes.length).toBeGreaterThan(280_000);
    expect(bytes.length).toBeLessThan(281_000);
  });

  test('readCaffemodel: the layers with blobs, in order, with names, types, shapes and float bits', () => {
    const c = readCaffemodel(file, { structure: true });
    expect(c.net!.name).toBe(NAME);
    expect(c.layers.map((l) => [l.name, l.type, l.version, l.blobCount])).toEqual(kept.map((l) => [l.name, l.type, 'V2', l.blobs.length]));
    expect([...c.weights.keys()]).toEqual(kept.map((l) => l.name));
    for (const l of kept) {
      const got = c.weights.get(l.name)!;
      expect(got.map((b) => b.shape)).toEqual(l.blobs.map((b) => b.shape));
      expect(got.map((b) => b.legacy)).toEqual(l.blobs.map(() => false));
      l.blobs.forEach((b, i) => expect(bits(got[i]).equals(bits(b))).toBe(true));
    }
    expect(Object.is(c.weights.get('conv1')![1].data[1], -0)).toBe(true);
  });

  test('loadWeights (with `only`) gives the same blobs', () => {
    const w = loadWeights(file, { only: (n) => n !== 'fc' });
    expect([...w.keys()]).toEqual(kept.map((l) => l.name).filter((n) => n !== 'fc'));
    for (const [n, blobs] of w) blobs.forEach((b, i) => expect(bits(b).equals(bits(kept.find((l) => l.name === n)!.blobs[i]))).toBe(true));
  });

  test('protobufjs decodes it as a caffe.NetParameter with the same content', () => {
    const o = NP.toObject(NP.decode(bytes), { longs: Number }) as any;
    expect(o.name).toBe(NAME);
    expect(o.layers ?? []).toEqual([]);
    expect(o.layer.map((l: any) => [l.name, l.type])).toEqual(kept.map((l) => [l.name, l.type]));
    o.layer.forEach((L: any, k: number) => {
      // only name, type and blobs
      expect(Object.keys(L).sort()).toEqual(['blobs', 'name', 'type']);
      L.blobs.forEach((b: any, i: number) => {
        const want = kept[k].blobs[i];
        expect(b.shape.dim).toEqual(want.shape);
        expect(b.num ?? 0).toBe(0);
        expect(b.double_data ?? []).toEqual([]);
        expect(b.data.length).toBe(want.data.length);
        for (let j = 0; j < want.data.length; j++) if (!Object.is(b.data[j], want.data[j])) throw new Error(`${L.name} blob ${i} [${j}]: ${b.data[j]} vs ${want.data[j]}`);
      });
    });
  });

  test('no net name, no layers with blobs: an empty NetParameter; NaN stays NaN', () => {
    expect(encodeCaffemodel('', [{ name: 'a', type: 'ReLU', blobs: [] }]).length).toBe(0);
    const f = path.join(tmp, 'nan.caffemodel');
    writeCaffemodel(f, '', [{ name: 'n', type: 'Scale', blobs: [{ shape: [3], data: Float32Array.from([NaN, 1, NaN]) }] }]);
    try {
      const c = readCaffemodel(f, { structure: true });
      expect(c.net!.name ?? '').toBe('');
      const d = c.weights.get('n')![0].data;
      expect([Number.isNaN(d[0]), d[1], Number.isNaN(d[2])]).toEqual([true, 1, true]);
    } finally {
      fs.rmSync(f);
    }
  });
});

test('the real ResNet-20 deploy blobs round-trip bit for bit', () => {
  const m = loadModel(R20_PROTO, R20_WEIGHTS, { warn: () => undefined });
  const layers = m.graph.layers.map((l) => ({ name: l.name, type: l.type, blobs: l.blobs }));
  const withBlobs = layers.filter((l) => l.blobs.length);
  expect(withBlobs.length).toBe(21 + 21 + 21 + 1); // convs, BatchNorms, Scales, fc1
  const file = path.join(tmp, 'r20.caffemodel');
  writeCaffemodel(file, String(m.net.name), layers);
  try {
    const orig = loadWeights(R20_WEIGHTS, { only: (n) => withBlobs.some((l) => l.name === n) });
    const c = readCaffemodel(file, { structure: true });
    expect(c.net!.name).toBe('ResNet-20');
    expect(c.layers.map((l) => [l.name, l.type])).toEqual(withBlobs.map((l) => [l.name, l.type]));
    expect([...c.weights.keys()].sort()).toEqual([...orig.keys()].sort());
    let floats = 0;
    for (const [n, blobs] of orig) {
      const got = c.weights.get(n)!;
      expect([n, got.map((b) => b.shape)]).toEqual([n, blobs.map((b) => b.shape)]);
      blobs.forEach((b, i) => {
        expect(bits(got[i]).equals(bits(b))).toBe(true);
        floats += b.data.length;
      });
    }
    expect(floats).toBeGreaterThan(270_000);
    // and the written file is what the deploy net needs, nothing more: a little over 4 bytes per float
    expect(fs.statSync(file).size).toBeLessThan(floats * 4 + 10_000);
  } finally {
    fs.rmSync(file);
  }
});
