/**
 * The Winograd weight transform (wasm/winograd-pack.c: four output channels at a time in f64x2, the scalar loop for
 * partial panels) gives U = G g Gᵀ rounded to float32 exactly as the double-precision formulas below, evaluated in
 * the same order, in both builds (CHAIQ_FMA=0 runs the SIMD128 one), whole or cut into the workers' channel ranges.
 */
import { getRuntime } from '../src/kernels/wasm-runtime';
import { rng } from './helpers/rng';

const fr = Math.fround;

/** F(2x2,3x3): G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1] */
function g4(a: number, b: number, e: number): number[] {
  return [a, 0.5 * (a + b + e), 0.5 * (a - b + e), e];
}

/** F(4x4,3x3): G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1] */
function g6(a: number, b: number, e: number): number[] {
  const i6 = 1 / 6;
  const i12 = 1 / 12;
  const i24 = 1 / 24;
  return [0.25 * a, -(a + b + e) * i6, -(a - b + e) * i6, a * i24 + b * i12 + e * i6, a * i24 - b * i12 + e * i6, e];
}

/** U[xi] of one 3x3 kernel g (row-major), xi = row * (m+2) + column */
function transform(g: Float32Array, m: 2 | 4): number[] {
  const G = m === 2 ? g4 : g6;
  const n = m + 2;
  const cols = [0, 1, 2].map((j) => G(g[j], g[3 + j], g[6 + j])); // cols[j][i] = (G g)[i][j]
  const u: number[] = [];
  for (let i = 0; i < n; i++) u.push(...G(cols[0][i], cols[1][i], cols[2][i]).map(fr));
  return u;
}

test.each([
  [2, 37, 18],
  [4, 37, 18],
  [2, 16, 64],
  [4, 16, 64],
  [4, 5, 9],
] as const)('F(%i): %i input, %i output channels, whole and in two ranges', (m, inC, outC) => {
  const r = getRuntime();
  if (!r) return;
  const MR = r.MR;
  const random = rng(inC * 131 + outC);
  const w = Float32Array.from({ length: outC * inC * 9 }, (_, i) => (random() - 0.5) * (i % 53 === 0 ? 1e-3 : 2));
  r.reset();
  const pP = r.alloc(16);
  r.I32().set([inC, 9, 9, outC, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0], pP >>> 2);
  const pw = r.put(w);
  const floats = r.ex.wino_w_floats(pP, m);
  const pU = r.alloc(floats);
  const kp = Math.ceil(outC / MR) * MR;
  const pts = (m + 2) * (m + 2);
  const want = new Float32Array(floats);
  for (let k = 0; k < outC; k++) {
    for (let c = 0; c < inC; c++) {
      const u = transform(w.subarray((k * inC + c) * 9, (k * inC + c + 1) * 9), m);
      for (let xi = 0; xi < pts; xi++) want[xi * kp * inC + Math.floor(k / MR) * inC * MR + c * MR + (k % MR)] = u[xi];
    }
  }
  const mid = Math.ceil(kp / 2 / MR) * MR;
  for (const ranges of [[[0, kp]], [[0, mid], [mid, kp]]]) {
    r.F32().fill(NaN, pU >>> 2, (pU >>> 2) + floats);
    for (const [k0, k1] of ranges) r.ex.wino_pack_w(pP, m, pw, pU, k0, k1);
    const got = r.F32().slice(pU >>> 2, (pU >>> 2) + floats);
    let bad = 0;
    for (let i = 0; i < floats; i++) if (!Object.is(got[i], want[i])) bad++;
    expect(bad).toBe(0);
  }
});
