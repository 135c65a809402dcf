import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { listImageFiles, mulberry32, selectCalibrationFiles } from '../src/io/calibset';
import { ChaiqError } from '../src/errors';
import { withFlags } from '../src/cli/flags';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-calset-'));
  for (const f of ['b.jpg', 'a.png', 'C.JPEG', 'd.txt', 'e.bmp', 'f.jpeg', 'g.jpg', 'h.png']) fs.writeFileSync(path.join(dir, f), 'x');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.writeFileSync(path.join(dir, 'sub', 'z.png'), 'x');
  fs.mkdirSync(path.join(dir, 'empty'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('calibration set selection', () => {
  it('lists png/jpg/jpeg sorted, non-recursive by default', () => {
    expect(listImageFiles(dir)).toEqual(['C.JPEG', 'a.png', 'b.jpg', 'f.jpeg', 'g.jpg', 'h.png']);
    expect(listImageFiles(dir, true)).toContain('sub/z.png');
  });
  it('is deterministic per seed and takes the requested indices first', () => {
    const a = selectCalibrationFiles(dir, { size: 3, seed: 1 });
    expect(a).toEqual(selectCalibrationFiles(dir, { size: 3, seed: 1 }));
    expect(a.length).toBe(3);
    expect(new Set(a).size).toBe(3);
    const seeds = new Set([0, 1, 2, 3, 4, 5].map((s) => selectCalibrationFiles(dir, { size: 3, seed: s }).join()));
    expect(seeds.size).toBeGreaterThan(1);
    const b = selectCalibrationFiles(dir, { size: 4, seed: 9, indices: [5, 0] });
    expect(b).toContain(path.join(dir, 'h.png'));
    expect(b).toContain(path.join(dir, 'C.JPEG'));
    expect(b.length).toBe(4);
    // ascending listing order
    const names = b.map((f) => path.basename(f));
    const all = listImageFiles(dir);
    expect([...names].sort((x, y) => all.indexOf(x) - all.indexOf(y))).toEqual(names);
    expect(selectCalibrationFiles(dir).length).toBe(6);
  });
  it('mulberry32 is the documented generator', () => {
    const r = mulberry32(0);
    const v = [r(), r(), r()];
    expect(v.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(mulberry32(0)()).toBe(v[0]);
  });
  it('clean errors', () => {
    const err = (f: () => unknown, re: RegExp) => {
      try {
        f();
        throw new Error('no throw');
      } catch (e) {
        expect(e).toBeInstanceOf(ChaiqError);
        expect((e as Error).message).toMatch(re);
      }
    };
    err(() => selectCalibrationFiles(path.join(dir, 'nope')), /not found/);
    err(() => selectCalibrationFiles(path.join(dir, 'a.png')), /not a directory/);
    err(() => selectCalibrationFiles(path.join(dir, 'empty')), /no images/);
    err(() => selectCalibrationFiles(dir, { size: 7 }), /larger than the 6 images/);
    err(() => selectCalibrationFiles(dir, { size: 0 }), /positive integer/);
    err(() => selectCalibrationFiles(dir, { size: 2, indices: [6] }), /out of range/);
    err(() => selectCalibrationFiles(dir, { size: 2, indices: [1, 1] }), /twice/);
    // library code names its options; the CLI names them as flags
    err(() => selectCalibrationFiles(dir, { size: 1, indices: [1, 2] }), /option calibrationIndices gives 2 images but option calibrationSize is 1/);
    err(() => withFlags(() => selectCalibrationFiles(dir, { size: 1, indices: [1, 2] })), /--calibration_indices gives 2 images but --calibration_size is 1/);
  });
});
