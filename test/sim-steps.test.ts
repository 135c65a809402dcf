/**
 * The simulator's steps are a union on `kind` (src/sim/steps.ts): each kind carries the formats and weights its
 * executor needs, so src/sim/ reads them without casts or non-null assertions.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { compileSim } from '../src/sim/simulate';
import type { Tensor } from '../src/tensor';

const fx = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/sim/nets.json'), 'utf8'));

function program(name: string) {
  const c = fx.cases.find((x: { name: string }) => x.name === name);
  const weights = new Map<string, Tensor[]>();
  for (const [k, v] of Object.entries(c.weights as Record<string, { shape: number[]; data: number[] }[]>)) {
    weights.set(k, v.map((b) => ({ shape: b.shape, data: Float32Array.from(b.data) })));
  }
  const t = loadNetText(`${name}.prototxt`, { text: c.prototxt });
  return compileSim(buildNet(t.net, { weights, file: `${name}.prototxt` }));
}

describe('compiled steps', () => {
  test.each([['xilinx8', 'Xilinx'], ['dynfixed8', 'DynamicFixed']])('%s: each kind has the fields of its kind, weights of the net mode', (name, mode) => {
    const prog = program(name);
    const kinds = new Set(prog.steps.map((s) => s.kind));
    expect(kinds).toEqual(new Set(['input', 'conv', 'relu', 'eltwise', 'pool', ...(mode === 'Xilinx' ? ['concat'] : [])]));
    for (const st of prog.steps) {
      if (st.kind === 'conv') {
        expect(st.weights.mode).toBe(mode);
        expect(st.fin.mode).toBe(mode);
        expect(st.fout.mode).toBe(mode);
        expect(st.weights.wq.length % st.outC).toBe(0);
        expect(st.absorbed).toEqual([]);
      } else if (st.kind === 'pool') {
        expect(['MAX', 'AVE']).toContain(st.method);
        if (st.method === 'AVE' || mode === 'Xilinx') expect([st.fin?.mode, st.fout?.mode]).toEqual([mode, mode]);
      } else if (st.kind === 'eltwise') {
        expect([st.fin.mode, st.fout.mode]).toEqual([mode, mode]);
      }
    }
  });
});

test('src/sim reads steps without `as any` or non-null assertions', () => {
  const dir = path.resolve(__dirname, '../src/sim');
  for (const f of ['simulate.ts', 'steps.ts', 'float-layers.ts']) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    expect(`${f}: ${src.match(/as any|[\w)\]]!(?!=)/g) ?? []}`).toBe(`${f}: `);
  }
});
