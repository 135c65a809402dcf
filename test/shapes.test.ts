/**
 * Shape inference vs goldens made independently (scripts/shape_goldens.py: protobuf text_format + torch
 * meta-device ops): every layer's top shapes for real Caffe nets from the corpus.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';

const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const GOLDEN_DIR = path.join(__dirname, 'fixtures/shapes');

interface Golden {
  net: string;
  source: string;
  input_shape?: number[];
  inputs?: { name: string; shape: number[] }[];
  layers: { name: string; type: string; tops: number[][] }[];
}

const goldens: Golden[] = fs
  .readdirSync(GOLDEN_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(GOLDEN_DIR, f), 'utf8')));

test('there are goldens for at least 10 nets', () => {
  expect(goldens.length).toBeGreaterThanOrEqual(10);
});

describe.each(goldens.map((g) => [g.net, g] as [string, Golden]))('%s', (_name, g) => {
  test('every layer has Caffe\'s top shapes', () => {
    const file = path.join(CORPUS, g.source);
    const warnings: string[] = [];
    const { net } = loadNetText(file, { warn: (m) => warnings.push(m) });
    const graph = buildNet(net, { file, inputShape: g.input_shape, warn: (m) => warnings.push(m) });
    const want = new Map(g.layers.map((l) => [l.name, l]));
    const got = new Map(graph.layers.map((l) => [l.name, l]));
    const mismatches: string[] = [];
    for (const l of g.layers) {
      const n = got.get(l.name);
      if (!n) {
        mismatches.push(`${l.name}: missing from our net`);
        continue;
      }
      const tops = n.topShapes.map((s) => s ?? null);
      if (JSON.stringify(tops) !== JSON.stringify(l.tops)) mismatches.push(`${l.name} (${l.type}): ${JSON.stringify(tops)} != ${JSON.stringify(l.tops)}`);
    }
    for (const n of graph.layers) {
      if (want.has(n.name)) continue;
      // a legacy `input:` became an Input layer: its tops are the golden's net inputs
      const inp = n.type === 'Input' ? g.inputs : undefined;
      if (inp) {
        n.tops.forEach((t, i) => {
          const w = inp.find((x) => x.name === t);
          if (!w || JSON.stringify(n.topShapes[i]) !== JSON.stringify(w.shape)) mismatches.push(`input ${t}: ${JSON.stringify(n.topShapes[i])} != ${JSON.stringify(w?.shape)}`);
        });
      } else mismatches.push(`${n.name} (${n.type}): not in the golden`);
    }
    expect(mismatches).toEqual([]);
  });
});
