/**
 * Whole-net float forward (src/exec/executor.ts runNet) on GoogLeNet, ResNet-50 and MobileNet v1 with
 * seeded random weights: ms/image at batch 1 (median after warm-up), effective GFLOP/s (2·conv+fc MACs
 * from the registry / time), a batch-8 GoogLeNet figure, and where the time goes (per-layer-type profile).
 * Baseline in the same run: the same executor on the plain-JS kernels (setUseWasm(false), what
 * CHAIQ_NO_WASM=1 selects) for MobileNet v1 and GoogLeNet. Reference: real Caffe + OpenBLAS, 2 threads,
 * batch 1 on this 2-core machine (test/bench/baseline.json: the figures and the commands that measured them;
 * batch-8 figures per image are compared with Caffe's batch-1 time per image). Wall figures depend on other load; CPU figures do not: the
 * main thread's CPU time is the critical path (it runs every layer and its share of each conv, and
 * sleeps while waiting for the worker), i.e. the wall time an otherwise idle machine would show, or close. Standalone: `node dist/test/bench/forward.bench.js [quick]`.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runNet } from '../../src/exec/executor';
import { profileNet, summarize, type LayerTime } from '../../src/exec/profile';
import { getThreads, initKernels, kernelBackend, kernelStats, setUseWasm, shutdownKernels } from '../../src/kernels';
import { benchNet, median, nowMs, randomInput, type BenchNet } from './netutil';

interface NetSpec {
  key: string;
  file: string;
  /** Caffe + OpenBLAS batch-1 forward on this machine, ms per image */
  caffeMs: number;
}

/** test/bench/baseline.json (read from the source tree: dist/ holds no JSON) */
function loadBaseline(): NetSpec[] {
  const f = [path.join(__dirname, 'baseline.json'), path.join(__dirname, '../../../test/bench/baseline.json')].find((p) => fs.existsSync(p));
  if (!f) throw new Error('test/bench/baseline.json not found');
  const j = JSON.parse(fs.readFileSync(f, 'utf8')) as { nets: Record<string, { file: string; caffeMsB1: number }> };
  return Object.entries(j.nets).map(([key, v]) => ({ key, file: v.file, caffeMs: v.caffeMsB1 }));
}

// the executor's fast mode: dead blobs' buffers are recycled (nothing here keeps a tensor)
const quiet = { warn: () => {}, reuseBuffers: true };

/** CPU ms of the whole process (all threads) */
function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
}

/** CPU ms of the main thread (Linux schedstat; NaN elsewhere): the critical path, what an idle machine waits */
function mainThreadCpuMs(): number {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

interface Timing {
  /** median wall ms per forward */
  ms: number;
  /** mean process CPU ms (all threads) per forward */
  cpuMs: number;
  /** mean main-thread CPU ms per forward */
  mainMs: number;
  runs: number;
}

/** Median ms of `runs` forwards after `warm` warm-up forwards (stops early after `budgetMs`). */
async function timeNet(b: BenchNet, warm: number, runs: number, budgetMs: number): Promise<Timing> {
  const x = randomInput(b.inputShape);
  for (let i = 0; i < warm; i++) await runNet(b.net, x, quiet);
  const ts: number[] = [];
  const t0 = nowMs();
  const c0 = processCpuMs();
  const m0 = mainThreadCpuMs();
  while (ts.length < runs && (ts.length < 3 || nowMs() - t0 < budgetMs)) {
    const t = nowMs();
    await runNet(b.net, x, quiet);
    ts.push(nowMs() - t);
  }
  const n = ts.length;
  return { ms: median(ts), cpuMs: (processCpuMs() - c0) / n, mainMs: (mainThreadCpuMs() - m0) / n, runs: n };
}

/**
 * Per-type shares over a few profiled runs, as "Type 61.0%, ...": of the wall time, and of the process CPU
 * time (all threads; robust to other load on the machine, counts both cores' conv work).
 */
async function profileString(b: BenchNet, runs: number): Promise<{ wall: string; cpu: string; convShare: number }> {
  const x = randomInput(b.inputShape);
  const all: LayerTime[] = [];
  let total = 0;
  let totalCpu = 0;
  for (let i = 0; i < runs; i++) {
    const p = await profileNet(b.net, x, quiet);
    all.push(...p.layers);
    total += p.totalMs;
    totalCpu += p.totalCpuMs;
  }
  const text = (by: ReturnType<typeof summarize>): string =>
    by
      .filter((e) => e.share >= 0.005)
      .map((e) => `${e.type} ${(100 * e.share).toFixed(1)}%`)
      .join(', ');
  const by = summarize(all, total);
  const conv = by.filter((e) => e.type === 'Convolution' || e.type === 'InnerProduct').reduce((s, e) => s + e.share, 0);
  return { wall: text(by), cpu: text(summarize(all, totalCpu, true)), convShare: conv };
}

const gflops = (macs: number, ms: number): number => (2 * macs) / ms / 1e6;
const r3 = (v: number): number => +v.toPrecision(3);

export async function run(opts: { quick?: boolean } = {}): Promise<Record<string, number | string>> {
  const quick = !!opts.quick || process.env.CHAIQ_BENCH_QUICK === '1';
  const out: Record<string, number | string> = {};
  setUseWasm(true);
  await initKernels();
  const NETS = loadBaseline();
  out.backend = `${kernelBackend()} (${kernelStats().variant ?? 'js'}) x${getThreads()} threads, node ${process.version}`;
  // wall figures suffer when other jobs share the 2 cores: say how loaded the machine was
  out['load average (1 min) at start'] = r3(os.loadavg()[0]);
  try {
    const fast: Record<string, number> = {};
    const fastCpu: Record<string, number> = {};
    for (const spec of NETS) {
      const b = benchNet(spec.file, 1, 1);
      const { ms, cpuMs, mainMs, runs } = await timeNet(b, quick ? 1 : 2, quick ? 3 : 7, quick ? 3000 : 8000);
      fast[spec.key] = ms;
      fastCpu[spec.key] = cpuMs;
      const g = gflops(b.macs, ms);
      out[`${spec.key} GMAC (conv+fc)`] = r3(b.macs / 1e9);
      out[`${spec.key} b1 ms/image (wall, median of ${runs})`] = r3(ms);
      out[`${spec.key} b1 GFLOP/s (wall)`] = r3(g);
      out[`${spec.key} b1 CPU ms/image (all threads)`] = r3(cpuMs);
      out[`${spec.key} b1 main-thread CPU ms/image`] = r3(mainMs);
      out[`${spec.key} b1 GFLOP/s (main-thread CPU: idle-machine estimate)`] = r3(gflops(b.macs, mainMs));
      out[`${spec.key} b1 Caffe ms/image (baseline.json)`] = spec.caffeMs;
      out[`${spec.key} b1 chaiq/Caffe time ratio (wall)`] = r3(ms / spec.caffeMs);
      out[`${spec.key} b1 chaiq/Caffe time ratio (main-thread CPU)`] = r3(mainMs / spec.caffeMs);
      const p = await profileString(b, quick ? 1 : 3);
      out[`${spec.key} conv+fc share of wall time`] = r3(p.convShare);
      out[`${spec.key} profile (wall)`] = p.wall;
      out[`${spec.key} profile (CPU)`] = p.cpu;
    }
    // batch 8 (calibration runs batches), per image against Caffe's batch-1 time
    for (const spec of quick ? NETS.slice(0, 1) : NETS) {
      const b8 = benchNet(spec.file, 1, 8);
      const { ms, mainMs } = await timeNet(b8, 1, quick ? 2 : 3, 10000);
      out[`${spec.key} b8 ms/image (wall)`] = r3(ms / 8);
      out[`${spec.key} b8 GFLOP/s (wall)`] = r3(gflops(b8.macs * 8, ms));
      out[`${spec.key} b8 main-thread CPU ms/image`] = r3(mainMs / 8);
      out[`${spec.key} b8 chaiq/Caffe-b1 time ratio per image (wall)`] = r3(ms / 8 / spec.caffeMs);
    }
    // naive baseline in the same run: the same executor on the plain-JS kernels
    setUseWasm(false);
    try {
      for (const key of quick ? ['mobilenet_v1'] : ['mobilenet_v1', 'googlenet']) {
        const spec = NETS.find((n) => n.key === key)!;
        const b = benchNet(spec.file, 1, 1);
        const { ms, cpuMs } = await timeNet(b, 1, 1, 0);
        out[`${key} plain-JS kernels b1 ms/image (wall)`] = r3(ms);
        out[`${key} plain-JS GFLOP/s (wall)`] = r3(gflops(b.macs, ms));
        out[`${key} chaiq/plain-JS time ratio (wall)`] = r3(fast[key] / ms);
        out[`${key} speed-up over plain-JS (wall)`] = r3(ms / fast[key]);
        out[`${key} speed-up over plain-JS (CPU)`] = r3(cpuMs / fastCpu[key]);
      }
    } finally {
      setUseWasm(true);
    }
  } finally {
    await shutdownKernels();
  }
  return out;
}

if (require.main === module) {
  run({ quick: process.argv.includes('quick') }).then(
    (r) => {
      for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(56)} ${v}`);
    },
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
