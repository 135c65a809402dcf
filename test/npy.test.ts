import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeNpy, encodeNpy, readNpy, readNpyRange, writeNpy } from '../src/io/npy';
import { npySampleReader } from '../src/io/net-input';
import { ChaiqError } from '../src/errors';

const FIX = path.join(__dirname, 'fixtures/float/npy');
const expected = Array.from({ length: 24 }, (_, i) => i * 0.5 - 3);

test.each(['f4.npy', 'f8.npy', 'v2.npy', 'big_f4.npy'])('reads %s written by numpy', (f) => {
  const t = readNpy(path.join(FIX, f));
  expect(t.shape).toEqual([2, 3, 4]);
  expect(Array.from(t.data)).toEqual(expected);
});

test('reads uint8 and 1-D arrays', () => {
  expect(Array.from(readNpy(path.join(FIX, 'u1.npy')).data)).toEqual([0, 1, 2, 3, 4, 5]);
  const s = readNpy(path.join(FIX, 'scalar1d.npy'));
  expect(s.shape).toEqual([1]);
  expect(s.data[0]).toBe(1.5);
});

test('reads Fortran-order arrays into C order', () => {
  const t = readNpy(path.join(FIX, 'fortran.npy'));
  expect(t.shape).toEqual([2, 3, 4]);
  expect(Array.from(t.data)).toEqual(expected);
});

test('refuses garbage with a ChaiqError', () => {
  expect(() => decodeNpy(Buffer.from('hello world'))).toThrow(ChaiqError);
  expect(() => readNpy(path.join(FIX, 'nope.npy'))).toThrow(ChaiqError);
});

test('round-trips and matches numpy header layout (64-byte aligned)', () => {
  const t = { shape: [2, 1, 3], data: Float32Array.from([1, -2, 3.25, 4, 5, NaN]) };
  const b = encodeNpy(t);
  const hlen = b.readUInt16LE(8);
  expect((10 + hlen) % 64).toBe(0);
  const r = decodeNpy(b);
  expect(r.shape).toEqual([2, 1, 3]);
  expect(Array.from(r.data)).toEqual(Array.from(t.data));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'npy-'));
  const f = path.join(dir, 'x%2Fy.npy');
  writeNpy(f, t);
  expect(fs.readdirSync(dir)).toEqual(['x%2Fy.npy']);
  expect(Array.from(readNpy(f).data)).toEqual(Array.from(t.data));
  // byte-identical to numpy's own output for the same array
  const np = fs.readFileSync(path.join(FIX, 'f4.npy'));
  expect(encodeNpy(readNpy(path.join(FIX, 'f4.npy'))).equals(np)).toBe(true);
});

describe('readNpyRange and the sample reader: one sample of a stack without the rest of the file', () => {
  test.each(['f4.npy', 'f8.npy', 'v2.npy', 'big_f4.npy', 'u1.npy'])('%s: every range is the slice of readNpy', (f) => {
    const file = path.join(FIX, f);
    const all = readNpy(file).data;
    for (const [start, count] of [[0, all.length], [0, 1], [1, all.length - 2], [all.length - 3, 3]]) {
      const r = readNpyRange(file, start, count)!;
      expect(r.shape).toEqual(readNpy(file).shape);
      expect(Array.from(r.data)).toEqual(Array.from(all.subarray(start, start + count)));
    }
    expect(() => readNpyRange(file, all.length - 1, 2, 'no such sample')).toThrow('no such sample');
  });

  test('a Fortran-order array is not read by range (the reader reads it whole)', () => {
    expect(readNpyRange(path.join(FIX, 'fortran.npy'), 0, 12)).toBeUndefined();
    const read = npySampleReader([3, 4]);
    expect(Array.from(read(path.join(FIX, 'fortran.npy'), 1).data)).toEqual(expected.slice(12));
    expect(Array.from(read(path.join(FIX, 'fortran.npy'), 0).data)).toEqual(expected.slice(0, 12));
  });

  test('the sample reader reads only the sample asked for: a 3 GB stack (sparse file), and names a missing one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'npy-'));
    const f = path.join(dir, 'stack.npy');
    const n = 45_000_000; // × 18 float32: 3.2 GB, more than readFileSync takes
    const head = encodeNpy({ shape: [n, 2, 3, 3], data: new Float32Array(0) });
    fs.writeFileSync(f, head);
    fs.truncateSync(f, head.length + n * 72);
    const sample = Float32Array.from({ length: 18 }, (_, i) => i - 8.25);
    const fd = fs.openSync(f, 'r+');
    for (const k of [7, n - 1]) fs.writeSync(fd, Buffer.from(sample.buffer), 0, 72, head.length + k * 72);
    fs.closeSync(fd);
    try {
      const read = npySampleReader([2, 3, 3]);
      for (const k of [7, n - 1]) {
        const t = read(f, k);
        expect(t.shape).toEqual([1, 2, 3, 3]);
        expect(Array.from(t.data)).toEqual(Array.from(sample));
      }
      expect(Array.from(read(f, 0).data)).toEqual(new Array(18).fill(0));
      expect(() => read(f, n)).toThrow(`.npy has no sample ${n}`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
