/**
 * Convolution kernels on the conv layers of ResNet-50, GoogLeNet and MobileNet v1 (224x224, batch 1).
 * Rows per net: naive JS direct loops (the baseline; run on a subset of layers and scaled by MACs),
 * JS im2col+GEMM (subset, scaled), wasm SIMD on 1 thread, on 2 threads (each conv split), and
 * conv2dBatch (whole images per core, batch 4). Figures: conv-only ms per image, GFLOP/s (2·MACs/time),
 * speed-up over the naive baseline. Bar (real Caffe + OpenBLAS, this machine): ResNet-50 69 GFLOP/s. Then, per 3x3
 * stride-1 layer, one image through conv2dBatch on 2 threads on the direct path and on Winograd (interleaved runs,
 * medians of main-thread and process CPU; conv2d, the rows above, never takes Winograd).
 * Wall figures depend on whatever else runs on the 2 cores; the main thread's CPU time (Linux schedstat) is
 * the critical path — it sleeps while waiting for the worker — so it estimates the wall time of an idle
 * machine, and the speed-ups are computed from it. Standalone: node dist/test/bench/kernels.bench.js
 */
import * as fs from 'fs';
import * as os from 'os';
import { conv2d, conv2dBatch, Conv2dParams, initKernels, setThreads, setUseWasm, setWinograd, shutdownKernels } from '../../src/kernels';
import { winogradApplies, winoTile } from '../../src/kernels/winograd';
import { NETS } from './conv-shapes';

interface Layer {
  name: string;
  p: Conv2dParams;
  macs: number;
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array;
  out: Float32Array;
}

function fill(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

function layers(net: string): Layer[] {
  return NETS[net].map((s, i) => {
    const [name, inC, inH, inW, outC, outH, outW, kH, kW, strideH, strideW, padH, padW, dilH, dilW, group] = s;
    const p: Conv2dParams = { inC, inH, inW, outC, outH, outW, kH, kW, strideH, strideW, padH, padW, dilH, dilW, group };
    const macs = outC * (inC / group) * kH * kW * outH * outW;
    return {
      name, p, macs,
      x: fill(inC * inH * inW, i + 1),
      w: fill(outC * (inC / group) * kH * kW, i + 1000),
      bias: fill(outC, i + 2000),
      out: new Float32Array(outC * outH * outW),
    };
  });
}

/** The obvious 7-deep loop nest: what a first JS implementation does. */
function naiveConv(x: Float32Array, w: Float32Array, bias: Float32Array, p: Conv2dParams, out: Float32Array): void {
  const cg = p.inC / p.group;
  const og = p.outC / p.group;
  for (let o = 0; o < p.outC; o++) {
    const g = Math.floor(o / og);
    for (let oy = 0; oy < p.outH; oy++) {
      for (let ox = 0; ox < p.outW; ox++) {
        let s = bias[o];
        for (let c = 0; c < cg; c++) {
          for (let ki = 0; ki < p.kH; ki++) {
            const iy = oy * p.strideH - p.padH + ki * p.dilH;
            if (iy < 0 || iy >= p.inH) continue;
            for (let kj = 0; kj < p.kW; kj++) {
              const ix = ox * p.strideW - p.padW + kj * p.dilW;
              if (ix < 0 || ix >= p.inW) continue;
              s += w[((o * cg + c) * p.kH + ki) * p.kW + kj] * x[((g * cg + c) * p.inH + iy) * p.inW + ix];
            }
          }
        }
        out[(o * p.outH + oy) * p.outW + ox] = s;
      }
    }
  }
}

/** Every `step`-th layer (always at least one), for the slow JS rows. */
function subset(ls: Layer[], step: number): Layer[] {
  return ls.filter((_, i) => i % step === Math.floor(step / 2) % ls.length);
}

/** CPU ms of the main thread (Linux schedstat; falls back to process CPU elsewhere) */
function mainCpuMs(): number {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  }
}

interface Timing {
  /** wall ms */
  wall: number;
  /** main-thread CPU ms (idle-machine estimate) */
  main: number;
}

/** One pass over `ls` (best of `reps` by main-thread CPU), scaled up to the MACs of the whole net. */
async function timePass(ls: Layer[], totalMacs: number, reps: number, f: (l: Layer) => void | Promise<void>): Promise<Timing> {
  let best: Timing = { wall: Infinity, main: Infinity };
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    const c0 = mainCpuMs();
    for (const l of ls) await f(l);
    const t: Timing = { wall: Number(process.hrtime.bigint() - t0) / 1e6, main: mainCpuMs() - c0 };
    if (t.main < best.main) best = t;
  }
  const scale = totalMacs / ls.reduce((s, l) => s + l.macs, 0);
  return { wall: best.wall * scale, main: best.main * scale };
}

const medianOf = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Per 3x3 stride-1 layer (first of each shape): direct vs Winograd, one image, interleaved, medians. */
async function winogradRows(net: string, ls: Layer[], reps: number, res: Record<string, number | string>): Promise<void> {
  const seen = new Set<string>();
  const r3 = (v: number): number => +v.toPrecision(3);
  for (const l of ls) {
    const key = JSON.stringify(l.p);
    if (seen.has(key) || !winogradApplies(l.p)) continue;
    seen.add(key);
    // one weight array per path: the cache keeps one layout per array
    const ws = [l.w, Float32Array.from(l.w)];
    const t: Array<{ main: number[]; cpu: number[] }> = [{ main: [], cpu: [] }, { main: [], cpu: [] }];
    for (let i = 0; i <= reps; i++) {
      for (const k of [0, 1]) {
        setWinograd(k === 1);
        const m0 = mainCpuMs();
        const c0 = process.cpuUsage();
        await conv2dBatch(l.x, 1, ws[k], l.bias, l.p, l.out);
        const c = process.cpuUsage(c0);
        if (i > 0) {
          t[k].main.push(mainCpuMs() - m0);
          t[k].cpu.push((c.user + c.system) / 1e3);
        }
      }
    }
    setWinograd(true);
    const name = `${net} ${l.name} ${l.p.inC}x${l.p.outH}x${l.p.outW}->${l.p.outC} F(${winoTile(l.p)}x${winoTile(l.p)},3x3)`;
    const [d, w] = [0, 1].map((k) => medianOf(t[k].main));
    res[`${name} direct / winograd main-thread CPU ms`] = `${r3(d)} / ${r3(w)} (x${r3(d / w)})`;
    res[`${name} direct / winograd process CPU ms`] = `${r3(medianOf(t[0].cpu))} / ${r3(medianOf(t[1].cpu))}`;
  }
}

export async function run(): Promise<Record<string, number | string>> {
  const res: Record<string, number | string> = {};
  const quick = process.env.CHAIQ_BENCH_QUICK === '1';
  const r3 = (v: number): number => +v.toPrecision(3);
  res['load average (1 min) at start'] = r3(os.loadavg()[0]);
  try {
    for (const net of Object.keys(NETS)) {
      const ls = layers(net);
      const total = ls.reduce((s, l) => s + l.macs, 0);
      res[`${net} conv layers`] = ls.length;
      res[`${net} GMAC`] = r3(total / 1e9);
      let naive = NaN;
      const report = (row: string, t: Timing): void => {
        res[`${net} ${row} ms/image (wall)`] = r3(t.wall);
        res[`${net} ${row} ms/image (main-thread CPU)`] = r3(t.main);
        res[`${net} ${row} GFLOP/s (wall)`] = r3((2 * total) / t.wall / 1e6);
        res[`${net} ${row} GFLOP/s (main-thread CPU)`] = r3((2 * total) / t.main / 1e6);
        res[`${net} ${row} x naive (main-thread CPU)`] = r3(naive / t.main);
      };
      // naive: a few layers (scaled); it runs at well under 1 GFLOP/s
      const tn = await timePass(subset(ls, quick ? 16 : 8), total, 1, (l) => naiveConv(l.x, l.w, l.bias, l.p, l.out));
      naive = tn.main;
      report('naive JS (subset, scaled)', tn);
      setUseWasm(false);
      report('JS im2col+GEMM (subset, scaled)', await timePass(subset(ls, quick ? 8 : 4), total, 1, (l) => conv2d(l.x, l.w, l.bias, l.p, l.out)));
      setUseWasm(true);
      const reps = quick ? 1 : 3;
      setThreads(1);
      await timePass(ls, total, 1, (l) => conv2d(l.x, l.w, l.bias, l.p, l.out)); // warm-up (JIT, memory growth)
      report('wasm SIMD 1 thread', await timePass(ls, total, reps, (l) => conv2d(l.x, l.w, l.bias, l.p, l.out)));
      setThreads(2);
      await initKernels();
      report('wasm SIMD 2 threads', await timePass(ls, total, reps, (l) => conv2d(l.x, l.w, l.bias, l.p, l.out)));
      // whole images per core (what calibration batches use)
      const B = 4;
      const batch = ls.map((l) => {
        const xb = new Float32Array(B * l.x.length);
        for (let i = 0; i < B; i++) xb.set(l.x, i * l.x.length);
        return { xb, ob: new Float32Array(B * l.out.length) };
      });
      const tb = await timePass(ls, total, reps, async (l) => {
        const i = ls.indexOf(l);
        await conv2dBatch(batch[i].xb, B, l.w, l.bias, l.p, batch[i].ob);
      });
      report(`wasm SIMD 2 threads conv2dBatch(${B})`, { wall: tb.wall / B, main: tb.main / B });
      await winogradRows(net, ls, quick ? 3 : 9, res);
    }
  } finally {
    setUseWasm(true);
    await shutdownKernels();
  }
  return res;
}

if (require.main === module) run().then((r) => console.table(r));
