/**
 * The simulator's integer depthwise kernel (kernels/sim-dw.ts, wasm/sim-dw.c): the integers of the path it replaces
 * (float32 twin + sim.c's requantization, or the staged integer / JS paths past the 2^24 bound) on random shapes
 * (kernel sizes, strides, pads, dilations), both modes, alone and paired, 1 and 2 threads, both wasm builds, and on
 * MobileNet v1 `--metrics layers` (the same per-layer figures and blobs, every depthwise conv on the kernel, the fixed
 * and local runs paired). It takes a conv exactly when its int16 operands and the 2^31 bound hold.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as A from '../src/chaidnn/arith';
import { convIntJs, getThreads, initKernels, setThreads, shutdownKernels } from '../src/kernels';
import { setSimDepthwise, simDwFits, simDwShape, simDwStats } from '../src/kernels/sim-dw';
import type { Conv2dParams } from '../src/kernels/types';
import { runNodeHelper } from './helpers/cli';

const threads0 = getThreads();
afterAll(async () => {
  setThreads(threads0);
  await shutdownKernels();
});

type Shapes = { cases: number; bad: string[]; dw: number; pairs: number; jobs: number };
type Got = Record<string, { small: Shapes; big: Shapes; variant: string; threads: number } & { paths: Record<string, number>; pairs: number; sameStats: boolean; sameBlobs: boolean }>;

describe('integer depthwise kernel: the integers of the path it replaces (dist/, plain node)', () => {
  const builds: Record<string, Got> = {};
  beforeAll(() => {
    builds.fma = runNodeHelper<Got>('sim-dw-run.js');
    builds.simd128 = runNodeHelper<Got>('sim-dw-run.js', ['plain']);
  }, 300_000);

  test.each(['fma', 'simd128'])('random shapes, %s build, 1 and 2 threads', (b) => {
    const g = builds[b];
    for (const T of [1, 2]) {
      const s = g[`shapes ${T}`];
      expect(s.threads).toBe(T);
      for (const part of [s.small, s.big]) {
        expect(part.bad).toEqual([]);
        expect(part.cases).toBeGreaterThan(5);
        // every conv but the tiny ones (under 16 outputs: no resident blob) on the kernel, the pairs in one call
        expect(part.dw).toBeGreaterThan(5 * part.cases);
        expect(part.pairs).toBeGreaterThan(1.8 * part.cases);
      }
      // the large maps split over the threads by channels
      if (T === 2) expect(s.big.jobs).toBeGreaterThan(0);
    }
    if (b === 'simd128') expect(g['shapes 1'].variant).toBe('simd128');
  });

  test.each(['Xilinx', 'DynamicFixed'])('MobileNet v1 (64x64) %s --metrics layers: every depthwise conv on the kernel, paired, the same figures and blobs', (mode) => {
    const g = builds.fma[`mobilenet_v1.prototxt ${mode}`];
    // 13 depthwise convs, fixed and local runs, 2 images
    expect(g.paths.dw).toBe(52);
    expect(g.pairs).toBe(26);
    expect([g.paths.float, g.paths.int, g.paths.js]).toEqual([0, 0, 0]);
    expect(g.sameStats).toBe(true);
    expect(g.sameBlobs).toBe(true);
  });
});

describe('integer depthwise kernel: bounds', () => {
  const g: Conv2dParams = { inC: 6, inH: 9, inW: 8, outC: 6, outH: 9, outW: 8, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilH: 1, dilW: 1, group: 6 };
  const n = 6 * 9 * 8;
  const S = [1 << 21, 3 << 20, 1, 2 ** 31 - 1, 0, 12345];
  const bq = Int32Array.from([0, -1, 5, 2 ** 30, -(2 ** 30), 7]);

  /** convXilinx and convDynamicFixed with the kernel (and whether it ran), then its path off, then the JS loops. */
  function three(x: Int32Array, w: Int32Array): { took: number; same: boolean } {
    const d0 = simDwStats.convs;
    const on = [A.convXilinx(x, w, bq, S, g, 8, false), A.convDynamicFixed(x, w, bq, 9, g, 8, false)].map((q) => Array.from(q));
    const took = simDwStats.convs - d0;
    setSimDepthwise('off');
    const off = [A.convXilinx(x, w, bq, S, g, 8, false), A.convDynamicFixed(x, w, bq, 9, g, 8, false)].map((q) => Array.from(q));
    setSimDepthwise('auto');
    A.setIntConvBackend('js');
    A.setWasmRequant(false);
    const js = [A.convXilinx(x, w, bq, S, g, 8, false), A.convDynamicFixed(x, w, bq, 9, g, 8, false)].map((q) => Array.from(q));
    A.setIntConvBackend('auto');
    A.setWasmRequant(true);
    return { took, same: JSON.stringify(on) === JSON.stringify(off) && JSON.stringify(on) === JSON.stringify(js) };
  }

  it('int16 operands at their edges, sums near 2^31 that wrap on the way: taken, exact; one past: not taken', async () => {
    setThreads(1);
    await initKernels();
    // |x| = 32767 everywhere, row sums Σ|w| with 32767·Σ|w| just below 2^31 (w of both signs: partial sums wrap)
    const x = Int32Array.from({ length: n }, (_, i) => (i % 3 ? 32767 : -32767));
    const rowSum = Math.floor((2 ** 31 - 1) / 32767);
    const w = new Int32Array(6 * 9);
    for (let c = 0; c < 6; c++) {
      let left = rowSum;
      for (let k = 0; k < 9 && left > 0; k++) {
        const v = Math.min(32767, left);
        w[c * 9 + k] = k % 2 ? -v : v;
        left -= v;
      }
    }
    expect(simDwFits(32767, 32767, rowSum)).toBe(true);
    expect(simDwFits(32767, 32767, rowSum + 1)).toBe(false);
    expect(simDwFits(32768, 1, 1)).toBe(false);
    expect(three(x, w)).toEqual({ took: 2, same: true });
    // x = 32768 somewhere (not an int16), a row sum one past the bound: the old paths, the same integers
    const x2 = Int32Array.from(x);
    x2[5] = 32768;
    expect(three(x2, Int32Array.from(w, (v) => (v > 1 ? v - 1 : v)))).toEqual({ took: 0, same: true });
    const w2 = Int32Array.from(w);
    w2[1] += w2[1] < 0 ? -1 : 1;
    expect(three(x, w2)).toEqual({ took: 0, same: true });
  });

  it('rounding ties, rails and multipliers from 0 to 2^31 - 1 (every requantization route), vs the JS loops', () => {
    setThreads(1);
    const x = Int32Array.from({ length: n }, (_, i) => ((i * 7919) % 255) - 127);
    const w = Int32Array.from({ length: 6 * 9 }, (_, i) => ((i * 104729) % 255) - 127);
    expect(three(x, w)).toEqual({ took: 2, same: true });
    // sums exactly on a tie (odd sums at S = 2^21)
    expect(three(Int32Array.from(x, (v) => v | 1), Int32Array.from(w, (v, i) => (i === 4 ? 1 : 0)))).toEqual({ took: 2, same: true });
  });

  it('convIntJs agrees on the sums (S = 2^22: y = acc, unclamped in 32-bit)', () => {
    setThreads(1);
    const x = Int32Array.from({ length: n }, (_, i) => ((i * 31) % 15) - 7);
    const w = Int32Array.from({ length: 6 * 9 }, (_, i) => ((i * 13) % 5) - 2);
    const sums = new Int32Array(6 * 9 * 8);
    convIntJs(x, w, g, sums);
    const d0 = simDwStats.convs;
    const q = A.convXilinx(x, w, null, new Array(6).fill(2 ** 22), g, 32, false);
    expect(simDwStats.convs - d0).toBe(1);
    expect(Array.from(q)).toEqual(Array.from(sums));
  });
});

describe('integer depthwise kernel: switches', () => {
  const g: Conv2dParams = { inC: 4, inH: 5, inW: 5, outC: 4, outH: 5, outW: 5, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilH: 1, dilW: 1, group: 4 };

  it('setSimDepthwise off and on; grouped convs that are not depthwise never take it', () => {
    expect(simDwShape(g)).toBe(true);
    expect(setSimDepthwise('off')).toBe('auto');
    expect(simDwShape(g)).toBe(false);
    expect(setSimDepthwise('auto')).toBe('off');
    expect(simDwShape({ ...g, outC: 8 })).toBe(false);
    expect(simDwShape({ ...g, inC: 8, outC: 8 })).toBe(false);
  });

  it('CHAIQ_SIM_DW=0 turns it off from the start', () => {
    const mod = path.join(__dirname, '..', 'dist', 'src', 'kernels', 'sim-dw');
    const code = `const m = require(${JSON.stringify(mod)}); process.stdout.write(String(m.simDwShape(${JSON.stringify(g)})))`;
    const run = (v: string | undefined): string => {
      const env = { ...process.env };
      if (v === undefined) delete env.CHAIQ_SIM_DW;
      else env.CHAIQ_SIM_DW = v;
      return spawnSync(process.execPath, ['-e', code], { env, encoding: 'utf8' }).stdout;
    };
    expect(run('0')).toBe('false');
    expect(run(undefined)).toBe('true');
  });
});
