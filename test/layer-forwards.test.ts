/**
 * Where the float forwards live and how they read their parameters: each layer type's forward sits in its
 * own layer file next to its defineLayer (shared pieces in src/layers/forward.ts), and it reads the layer's
 * parameters with src/layers/params.ts, as the shapes, MACs, the simulator and lint do.
 */
import * as fs from 'fs';
import * as path from 'path';
import { buildNet } from '../src/graph/build';
import { loadNetText } from '../src/graph/load';
import { runNet } from '../src/exec/executor';
import { allLayers } from '../src/layers/registry';

const LAYERS = path.resolve(__dirname, '../src/layers');
const quiet = { warn: () => {} };

/** The layer files: every src/layers/*.ts that calls defineLayer, with its source. */
function layerFiles(): { file: string; text: string }[] {
  return fs.readdirSync(LAYERS)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ file: f, text: fs.readFileSync(path.join(LAYERS, f), 'utf8') }))
    .filter((f) => f.text.includes('defineLayer('));
}

test('every forward is written in its layer file, next to its defineLayer', () => {
  expect(fs.existsSync(path.join(LAYERS, 'forward'))).toBe(false);
  const misplaced: string[] = [];
  let forwards = 0;
  for (const { file, text } of layerFiles()) {
    for (const m of text.matchAll(/\bforward: (\w+)(\()?/g)) {
      forwards++;
      const [, name, call] = m;
      if (call) continue; // written in place: unary((node) => ...)
      const local = new RegExp(`(?:const|function|async function) ${name}\\b`).test(text);
      const imported = new RegExp(`import[^;]*\\b${name}\\b[^;]*from`).test(text);
      if (!local || imported) misplaced.push(`${file}: ${name}`);
    }
  }
  expect(misplaced).toEqual([]);
  expect(forwards).toBe(allLayers().filter((d) => d.forward).length);
  // the shared module holds helpers only, no layer's forward
  expect(fs.readFileSync(path.join(LAYERS, 'forward.ts'), 'utf8')).not.toMatch(/export (?:const|function|async function) \w+Forward\b/);
});

test('one set of parameter readers: nothing under src/ reads layer params but src/layers/params.ts', () => {
  const SRC = path.resolve(__dirname, '../src');
  const offenders: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && /from '[./]*layers\/forward\/util'|from '\.\/util'/.test(fs.readFileSync(p, 'utf8'))) offenders.push(path.relative(SRC, p));
    }
  };
  walk(SRC);
  expect(offenders).toEqual([]);
  // the helpers the old second set had under other names are gone from the forwards' module
  expect(fs.readFileSync(path.join(LAYERS, 'forward.ts'), 'utf8')).not.toMatch(/export function (?:pm|num|bool|arr|canonAxis|prod|fail)\b/);
});

test('a forward takes a non-finite parameter as written, as the shapes and Caffe do (threshold: -inf)', async () => {
  const text = `name: "t"
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 1 dim: 2 dim: 2 } } }
layer { name: "th" type: "Threshold" bottom: "x" top: "y" threshold_param { threshold: -inf } }
layer { name: "pw" type: "Power" bottom: "x" top: "z" power_param { shift: inf } }
`;
  const net = buildNet(loadNetText('t.prototxt', { text }).net, quiet);
  const out = await runNet(net, { shape: [1, 1, 2, 2], data: Float32Array.from([-3, -1, 0, 2]) }, { ...quiet, keep: ['y', 'z'] });
  // x > -inf everywhere (the old reader put the default 0 in its place: 0, 0, 0, 1)
  expect([...out.get('y')!.data]).toEqual([1, 1, 1, 1]);
  // (inf + x)^1 (the old reader: shift 0, x itself)
  expect([...out.get('z')!.data]).toEqual([Infinity, Infinity, Infinity, Infinity]);
});
