/**
 * Bit-exactness of the fixed-point simulator against scripts/sim_reference.py (an independent numpy
 * implementation of chaidnn-semantics §3): every integer of every blob must match.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as A from '../src/chaidnn/arith';
import { simulateNet } from '../src/sim/simulate';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import type { Tensor } from '../src/tensor';

const fx = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/sim/nets.json'), 'utf8'));

function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): string {
  if (a.length !== b.length) return `length ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `[${i}] ${a[i]} vs ${b[i]}`;
  return '';
}

describe('primitives vs numpy reference', () => {
  const x = Float32Array.from(fx.primitives.x as number[]);
  test.each(fx.primitives.quant.map((c: any, i: number) => [i, c]) as [number, any][])('quantizer %i', (_i, c: any) => {
    const q = c.th !== undefined ? A.quantizeXilinx(x, c.th, c.bw) : A.quantizeDynamicFixed(x, c.bw, c.fl);
    expect(firstDiff(q, c.q)).toBe('');
  });
  test('avg-pool multiplier (short)(2^16/k²)', () => {
    for (const c of fx.primitives.avg) expect(A.avgPoolMultiplier(c.k, c.k)).toBe(c.A);
  });
  test.each(fx.primitives.requant.map((c: any) => [c.S, c]) as [number, any][])('requant S=%d (exact past 2^53)', (_s, c: any) => {
    const out = new Int32Array(c.acc.length);
    A.requantXilinx(c.acc, c.S, c.bq, c.bw, false, out);
    expect(firstDiff(out, c.y)).toBe('');
  });
  test('round half away from zero; asymmetric saturation', () => {
    expect([2.5, -2.5, 0.5, -0.5, 1.4999999].map(A.roundHalfAway)).toEqual([3, -3, 1, -1, 1]);
    expect([A.saturate(200, 8), A.saturate(-200, 8), A.saturate(-40, 6), A.saturate(40, 6)]).toEqual([127, -128, -32, 31]);
  });
  test('DynamicFixed requant shift ≤ 0 is a left shift', () => {
    const out = new Int32Array(3);
    A.requantDynamicFixed([3, -3, 100], 1, -2, 8, false, out);
    expect(Array.from(out)).toEqual([16, -8, 127]);
  });
});

describe.each(fx.cases.map((c: any) => [c.name, c]) as [string, any][])('net %s: every blob integer for integer', (_name, c: any) => {
  const weights = new Map<string, Tensor[]>();
  for (const [k, v] of Object.entries(c.weights as Record<string, any[]>)) {
    weights.set(k, v.map((b) => ({ shape: b.shape, data: Float32Array.from(b.data) })));
  }
  const input: Tensor = { shape: c.input.shape, data: Float32Array.from(c.input.data) };
  const warnings: string[] = [];
  const build = () => {
    const t = loadNetText(`${c.name}.prototxt`, { text: c.prototxt });
    return buildNet(t.net, { weights, file: `${c.name}.prototxt` });
  };

  test('matches (reference on, metrics computed)', async () => {
    const r = await simulateNet(build(), input, { keep: 'all', psum18: c.psum18, warn: (m) => warnings.push(m) });
    for (const [blob, e] of Object.entries(c.expected as Record<string, any>)) {
      const got = r.fixed.get(blob);
      expect(got).toBeDefined();
      expect(r.outputs.get(blob)!.shape).toEqual(e.shape);
      expect(`${blob}: ${firstDiff(got!, e.data)}`).toBe(`${blob}: `);
    }
    expect(r.stats.layers.size).toBeGreaterThan(0);
    if (!c.name.includes('bigS')) expect(warnings).toEqual([]);
    else expect(warnings.join('\n')).toMatch(/2\^24/);
  });

  test('same integers without the float reference, on the plain-JS integer conv', async () => {
    A.setIntConvBackend('js');
    try {
      const r = await simulateNet(build(), input, { keep: 'all', psum18: c.psum18, reference: false });
      for (const [blob, e] of Object.entries(c.expected as Record<string, any>)) {
        expect(firstDiff(r.fixed.get(blob)!, e.data)).toBe('');
      }
    } finally {
      A.setIntConvBackend('auto');
    }
  });
});

test('psum18 changes the result where the 18-bit running sum clips', async () => {
  const c = fx.cases.find((k: any) => k.name === 'xilinx8_psum18');
  const weights = new Map<string, Tensor[]>();
  for (const [k, v] of Object.entries(c.weights as Record<string, any[]>)) weights.set(k, v.map((b) => ({ shape: b.shape, data: Float32Array.from(b.data) })));
  const net = buildNet(loadNetText('p.prototxt', { text: c.prototxt }).net, { weights });
  const input = { shape: c.input.shape, data: Float32Array.from(c.input.data) };
  const wide = await simulateNet(net, input, { keep: ['conv6'], reference: false });
  expect(firstDiff(wide.fixed.get('conv6')!, c.expected.conv6.data)).not.toBe('');
});
