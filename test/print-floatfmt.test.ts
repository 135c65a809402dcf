import * as fs from 'fs';
import * as path from 'path';
import { formatPy2Float, formatG } from '../src/io/floatfmt';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');

test('formatPy2Float matches Python %.12g + ".0" on generated cases', () => {
  const cases: [string, string][] = JSON.parse(
    fs.readFileSync(path.join(__dirname, 'fixtures/quant/py2float_cases.json'), 'utf8'),
  );
  expect(cases.length).toBeGreaterThan(900);
  for (const [repr, want] of cases) expect([repr, formatPy2Float(Number(repr))]).toEqual([repr, want]);
});

test('known spellings', () => {
  expect(formatPy2Float(Math.fround(151.077041626))).toBe('151.077041626');
  expect(formatPy2Float(Math.fround(0.0984263792634))).toBe('0.0984263792634');
  expect(formatPy2Float(254)).toBe('254.0');
  expect(formatPy2Float(1e-5)).toBe('1e-05');
  expect(formatPy2Float(1.5e20)).toBe('1.5e+20');
  expect(formatPy2Float(15.875)).toBe('15.875');
  expect(formatPy2Float(-0)).toBe('-0.0');
  expect(formatG(131071.9921875)).toBe('131071.992188');
  expect(formatG(12345678901.25)).toBe('12345678901.2'); // exact tie → half-even
});

test('every threshold in the XportDNN / ML-Suite corpus re-prints identically from its float32', () => {
  const dir = path.join(CORPUS, 'chaidnn');
  let n = 0;
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.prototxt'))) {
    if (f.startsWith('chaidnn_docs')) continue; // hand-written doc snippets, not python output
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    for (const m of text.matchAll(/\bth_(?:layer_in|layer_out|params):\s*(\S+)/g)) {
      expect([f, formatPy2Float(Math.fround(Number(m[1])))]).toEqual([f, m[1]]);
      n++;
    }
  }
  expect(n).toBeGreaterThan(1000);
});
