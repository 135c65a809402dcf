import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execSync } from 'child_process';
import { readCaffemodel, caffeSchemaRoot } from '../src/proto/caffemodel';
import { ChaiqError, formatError } from '../src/errors';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const models = execSync(`find ${CORPUS} -name '*.caffemodel'`).toString().trim().split('\n').sort();

describe('caffemodel reader vs protobufjs full decode', () => {
  const NP = caffeSchemaRoot().lookupType('caffe.NetParameter');
  test.each(models.map((m) => [path.relative(CORPUS, m), m]))('%s', (_rel, f) => {
    const c = readCaffemodel(f, { structure: true });
    const ref = NP.toObject(NP.decode(fs.readFileSync(f)), { enums: String, longs: Number });
    const refLayers: any[] = ref.layer ?? ref.layers;
    expect(c.layers.length).toBe(refLayers.length);
    const net = c.net!;
    expect((net.layer ?? net.layers).length).toBe(refLayers.length);
    let compared = 0;
    for (const L of refLayers) {
      const name = L.name ?? L.layer?.name;
      const bl: any[] = L.blobs ?? L.layer?.blobs ?? [];
      if (!bl.length) continue;
      const mine = c.weights.get(name)!;
      expect(mine.length).toBe(bl.length);
      bl.forEach((b, i) => {
        const d: number[] = b.double_data?.length ? b.double_data : b.data;
        const m = mine[i];
        expect(m.data.length).toBe(d.length);
        for (let j = 0; j < d.length; j++) if (Math.fround(d[j]) !== m.data[j]) throw new Error(`${name} blob ${i} [${j}]`);
        compared++;
      });
    }
    expect(compared).toBeGreaterThan(0);
  });
});

describe('truncated and bad files give one clean line', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-cm-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const cases: [string, string, number][] = [];
  for (const m of models) for (const frac of [0.5, 0.99]) cases.push([`${path.basename(m)} @${frac}`, m, frac]);
  test.each(cases)('%s', (_n, m, frac) => {
    const buf = fs.readFileSync(m);
    const cut = Math.floor(buf.length * frac);
    const f = path.join(tmp, path.basename(m));
    fs.writeFileSync(f, buf.subarray(0, cut));
    let err: unknown;
    try {
      readCaffemodel(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChaiqError);
    const line = formatError(err as ChaiqError);
    expect(line).not.toContain('\n');
    expect(line.startsWith(`${f}: error: `)).toBe(true);
    expect(line).toMatch(/truncated at byte \d+ while reading|not a valid caffemodel/);
  });

  test('the 50% cut names the layer and blob', () => {
    const m = models.find((x) => x.includes('lenet_mnist_ahmdtaha'))!;
    const buf = fs.readFileSync(m);
    const f = path.join(tmp, 'half.caffemodel');
    fs.writeFileSync(f, buf.subarray(0, buf.length >> 1));
    expect(() => readCaffemodel(f)).toThrow(new RegExp(`^truncated at byte ${buf.length >> 1} while reading layer 'ip1' blob 0$`));
  });

  test('missing file and a text file', () => {
    expect(() => readCaffemodel(path.join(tmp, 'nope.caffemodel'))).toThrow(/caffemodel not found/);
    const t = path.join(tmp, 'text.caffemodel');
    fs.writeFileSync(t, 'name: "LeNet"\nlayer { name: "x" }\n');
    let err: any;
    try {
      readCaffemodel(t);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ChaiqError);
    expect(err.loc.file).toBe(t);
  });
});

describe('chaiq info --weights on truncated copies: one error line, exit 1', () => {
  const { runCli } = require('./helpers/cli');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-cm-cli-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const cases: [string, string, number][] = [];
  for (const [proto, model] of [
    ['models/lenet_mnist_v1_everpeace/lenet.prototxt', 'models/lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel'],
    ['models/cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', 'models/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel'],
    ['models/mtcnn_kpzhang93/det4.prototxt', 'models/mtcnn_kpzhang93/det4.caffemodel'],
  ]) {
    for (const frac of [0.5, 0.99]) cases.push([proto, model, frac]);
  }
  test.each(cases)('%s %s @%d', (proto, model, frac) => {
    const buf = fs.readFileSync(path.join(CORPUS, model));
    const f = path.join(tmp, `${frac}-${path.basename(model)}`);
    fs.writeFileSync(f, buf.subarray(0, Math.floor(buf.length * frac)));
    const r = runCli(['info', '--deploy_model', path.join(CORPUS, proto), '--weights', f, '--input_shape', '1,3,32,32']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const errLines = r.stderr.split('\n').filter((l: string) => l && !/: warning: /.test(l));
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: error: truncated at byte ${Math.floor(buf.length * frac)} while reading layer '[^']+' blob \\d+$`));
  });
});

describe('hand-made encodings', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-cm-enc-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const varint = (v: number): number[] => {
    const o: number[] = [];
    while (v >= 0x80) {
      o.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    o.push(v);
    return o;
  };
  const ld = (field: number, payload: number[]) => [...varint(field * 8 + 2), ...varint(payload.length), ...payload];
  const str = (field: number, s: string) => ld(field, [...Buffer.from(s)]);
  const f32 = (v: number) => [...new Uint8Array(new Float32Array([v]).buffer)];
  const f64 = (v: number) => [...new Uint8Array(new Float64Array([v]).buffer)];

  test('legacy dims + unpacked floats, double_data, unpacked BlobShape dims, V0-in-V1 blobs, only=', () => {
    // V2 layer 'a': blob 0 legacy (1,1,2,3) with six unpacked floats; blob 1 shape {dim:3} (unpacked) double_data packed
    const blob0 = [0x08, 1, 0x10, 1, 0x18, 2, 0x20, 3, ...[1, 2, 3, 4, 5, 6].flatMap((v) => [0x2d, ...f32(v)])];
    const blob1 = [...ld(7, [0x08, 3]), ...ld(8, [0.5, 1.5, 2.5].flatMap(f64))];
    const layerA = [...str(1, 'a'), ...str(2, 'InnerProduct'), ...ld(7, blob0), ...ld(7, blob1)];
    // V1 layer holding a V0 layer 'b' (type "conv") with a packed blob in field 50
    const v0 = [...str(1, 'b'), ...str(2, 'conv'), ...ld(50, [...ld(7, ld(1, [2])), ...ld(5, [7, 8].flatMap(f32))])];
    const layerB = [...ld(1, v0), ...str(2, 'x'), ...str(3, 'y')];
    const file = path.join(tmp, 'hand.caffemodel');
    fs.writeFileSync(file, Buffer.from([...str(1, 'hand'), ...ld(100, layerA), ...ld(2, layerB)]));
    const c = readCaffemodel(file, { structure: true });
    expect(c.layers).toEqual([
      { name: 'a', type: 'InnerProduct', version: 'V2', blobCount: 2 },
      { name: 'b', type: 'conv', version: 'V0', blobCount: 1 },
    ]);
    const a = c.weights.get('a')!;
    expect(a[0]).toEqual({ shape: [1, 1, 2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]), legacy: true });
    expect(a[1]).toEqual({ shape: [3], data: Float32Array.from([0.5, 1.5, 2.5]), legacy: false });
    expect(c.weights.get('b')![0].data).toEqual(Float32Array.from([7, 8]));
    expect(c.net!.name).toBe('hand');
    expect(c.net!.layers[0].layer.name).toBe('b');
    expect(c.net!.layers[0].layer.blobs).toBeUndefined();
    const only = readCaffemodel(file, { only: (n) => n === 'b' });
    expect([...only.weights.keys()]).toEqual(['b']);
    expect(only.layers[0].blobCount).toBe(2);
  });

  test('a blob whose data does not fill its shape is an error naming layer and blob', () => {
    const blob = [...ld(7, ld(1, [2, 2])), ...ld(5, [1, 2, 3].flatMap(f32))];
    const file = path.join(tmp, 'short.caffemodel');
    fs.writeFileSync(file, Buffer.from(ld(100, [...str(1, 'fc'), ...ld(7, blob)])));
    expect(() => readCaffemodel(file)).toThrow("layer 'fc' blob 0 has 3 values but its shape (2,2) needs 4");
  });
});
