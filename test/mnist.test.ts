import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { loadMnist } from '../src/io/mnist';
import { ChaiqError } from '../src/errors';

const MN = path.resolve(__dirname, '../../shared/corpus/data/mnist');
const IMG = path.join(MN, 't10k-images-idx3-ubyte.gz');
const LAB = path.join(MN, 't10k-labels-idx1-ubyte.gz');

describe('loadMnist', () => {
  it('reads the gzipped t10k set', () => {
    const { images, labels } = loadMnist(IMG, LAB);
    expect(images.shape).toEqual([10000, 1, 28, 28]);
    expect(labels!.length).toBe(10000);
    expect(labels!.slice(0, 10)).toEqual([7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let mx = 0;
    for (let i = 0; i < 784; i++) mx = Math.max(mx, images.data[i]);
    expect(mx).toBe(255);
    expect(images.data[0]).toBe(0);
    expect(Number.isInteger(images.data[7 * 28 + 7 + 200])).toBe(true);
  });
  it('limits and reads raw (un-gzipped) files', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-mnist-'));
    try {
      const raw = path.join(tmp, 'imgs');
      fs.writeFileSync(raw, zlib.gunzipSync(fs.readFileSync(IMG)));
      const a = loadMnist(raw, LAB, { limit: 3 });
      const b = loadMnist(IMG, undefined, { limit: 3 });
      expect(a.images.shape).toEqual([3, 1, 28, 28]);
      expect(a.labels).toEqual([7, 2, 1]);
      expect(Array.from(a.images.data)).toEqual(Array.from(b.images.data));
      expect(b.labels).toBeUndefined();
      // errors
      const bad = path.join(tmp, 'bad');
      fs.writeFileSync(bad, Buffer.from([0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2]));
      expect(() => loadMnist(bad)).toThrow(/truncated IDX data/);
      fs.writeFileSync(bad, Buffer.from('hello world'));
      expect(() => loadMnist(bad)).toThrow(/bad magic/);
      expect(() => loadMnist(LAB)).toThrow(/1 dimensions, expected 3/);
      fs.writeFileSync(bad, Buffer.from([0x1f, 0x8b, 1, 2, 3]));
      expect(() => loadMnist(bad)).toThrow(/corrupt gzip/);
      try {
        loadMnist(path.join(tmp, 'missing'));
        throw new Error('no throw');
      } catch (e) {
        expect(e).toBeInstanceOf(ChaiqError);
        expect((e as ChaiqError).loc.file).toBe(path.join(tmp, 'missing'));
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
