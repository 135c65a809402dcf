import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../src/io/npy';
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
