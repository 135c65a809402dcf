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
    const r = runCli(['info', '--deploy_model', path.join(CORPUS, proto), '--weights', f, '--dims', '1,3,32,32']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const errLines = r.stderr.split('\n').filter((l: string) => l && !/: warning: /.test(l));
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toMatch(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: error: truncated at byte ${Math.floor(buf.length * frac)} while reading layer '[^']+' blob \\d+$`));
  });
});
