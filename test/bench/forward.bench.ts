/**
 * Whole-net float forward (src/exec/executor.ts runNet) on GoogLeNet, ResNet-50 and MobileNet v1 with
 * seeded random weights: ms/image at batch 1 (median after warm-up), effective GFLOP/s (2·conv+fc MACs
 * from the registry / time), a batch-8 GoogLeNet figure, and where the time goes (per-layer-type profile).
 * Baseline in the same run: the same executor on the plain-JS kernels (setUseWasm(false), what
 * CHAIQ_NO_WASM=1 selects) for MobileNet v1 and GoogLeNet. Reference: real Caffe + OpenBLAS, 2 threads, batch 1
 * and batch 8 (test/bench/baseline.json: the figures per machine and the commands that measured them; the bench
 * uses the entry of a CPU like this one and says which), and where the entry has them, Caffe's main-thread CPU
 * at 2 threads and its CPU time on one thread, which other load hardly moves: the bench measures chaiq on one
 * thread too for that ratio. Wall figures depend on other load; CPU figures do not: the
 * main thread's CPU time is the critical path (it runs every layer and its share of each conv, and
 * sleeps while waiting for the worker), i.e. the wall time an otherwise idle machine would show, or close. Standalone: `node dist/test/bench/forward.bench.js [quick]`.
 */
import * as fs from 'fs';
import * as os from 'os';
import { runNet } from '../../src/exec/executor';
import { profileNet, summarize, type LayerTime } from '../../src/exec/profile';
import { getThreads, initKernels, kernelBackend, kernelStats, setThreads, setUseWasm, shutdownKernels } from '../../src/kernels';
import { chooseBaseline, loadBaselineFile, thisCpu, type CaffeBaseline, type CaffeNetTimes } from './baseline';
import { benchNet, median, nowMs, randomInput, type BenchNet } from './netutil';

interface NetSpec {
  key: string;
  file: string;
  times: CaffeNetTimes;
}

function netSpecs(b: CaffeBaseline): NetSpec[] {
  return Object.entries(b.nets).map(([key, times]) => ({ key, file: times.file, times }));
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
  const chosen = chooseBaseline(loadBaselineFile(), thisCpu());
  const NETS = netSpecs(chosen.baseline);
  out['Caffe baseline'] = chosen.note;
  const id = `baseline.json ${chosen.baseline.id}`;
  if (NETS.some((n) => n.times.caffeMsB1 === undefined)) {
    out['Caffe wall figures'] = `none measured on a quiet machine in ${id}: the ratios are of CPU times (main thread at 2 threads, and 1 thread)`;
  }
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
      const c = spec.times;
      if (c.caffeMsB1 !== undefined) {
        out[`${spec.key} b1 Caffe ms/image (${id})`] = c.caffeMsB1;
        out[`${spec.key} b1 chaiq/Caffe time ratio (wall)`] = r3(ms / c.caffeMsB1);
      }
      if (c.caffeMainCpuMsB1 !== undefined) {
        out[`${spec.key} b1 Caffe main-thread CPU ms/image (${id})`] = c.caffeMainCpuMsB1;
        out[`${spec.key} b1 chaiq/Caffe main-thread CPU ratio`] = r3(mainMs / c.caffeMainCpuMsB1);
      } else if (c.caffeMsB1 !== undefined) {
        out[`${spec.key} b1 chaiq main-thread CPU / Caffe wall ratio`] = r3(mainMs / c.caffeMsB1);
      }
      const p = await profileString(b, quick ? 1 : 3);
      out[`${spec.key} conv+fc share of wall time`] = r3(p.convShare);
      out[`${spec.key} profile (wall)`] = p.wall;
      out[`${spec.key} profile (CPU)`] = p.cpu;
    }
    // batch 8 (calibration runs batches), per image against Caffe's batch 8 (its batch 1 when not measured)
    for (const spec of quick ? NETS.slice(0, 1) : NETS) {
      const b8 = benchNet(spec.file, 1, 8);
      const { ms, mainMs } = await timeNet(b8, 1, quick ? 2 : 3, 10000);
      out[`${spec.key} b8 ms/image (wall)`] = r3(ms / 8);
      out[`${spec.key} b8 GFLOP/s (wall)`] = r3(gflops(b8.macs * 8, ms));
      out[`${spec.key} b8 main-thread CPU ms/image`] = r3(mainMs / 8);
      const c = spec.times;
      if (c.caffeMsB8PerImage !== undefined) {
        out[`${spec.key} b8 Caffe ms/image (${id})`] = c.caffeMsB8PerImage;
        out[`${spec.key} b8 chaiq/Caffe-b8 time ratio per image (wall)`] = r3(ms / 8 / c.caffeMsB8PerImage);
      } else if (c.caffeMsB1 !== undefined && c.caffeMainCpuMsB8PerImage === undefined) {
        out[`${spec.key} b8 chaiq/Caffe-b1 time ratio per image (wall; no Caffe batch-8 figure)`] = r3(ms / 8 / c.caffeMsB1);
      }
      if (c.caffeMainCpuMsB8PerImage !== undefined) {
        out[`${spec.key} b8 Caffe main-thread CPU ms/image (${id})`] = c.caffeMainCpuMsB8PerImage;
        out[`${spec.key} b8 chaiq/Caffe-b8 main-thread CPU ratio`] = r3(mainMs / 8 / c.caffeMainCpuMsB8PerImage);
      }
    }
    // one thread on both sides, CPU time: a like-for-like ratio that other load on the machine hardly moves
    const oneThread = NETS.filter((n) => n.times.caffeCpuMsB1OneThread !== undefined);
    if (oneThread.length > 0) {
      const threads = getThreads();
      setThreads(1);
      try {
        for (const spec of quick ? oneThread.slice(0, 1) : oneThread) {
          const c = spec.times;
          const one = await timeNet(benchNet(spec.file, 1, 1), 1, quick ? 1 : 3, 0);
          out[`${spec.key} b1 1-thread CPU ms/image`] = r3(one.mainMs);
          out[`${spec.key} b1 Caffe 1-thread CPU ms/image (${id})`] = c.caffeCpuMsB1OneThread!;
          out[`${spec.key} b1 chaiq/Caffe 1-thread CPU time ratio`] = r3(one.mainMs / c.caffeCpuMsB1OneThread!);
          if (quick || c.caffeCpuMsB8PerImageOneThread === undefined) continue;
          const eight = await timeNet(benchNet(spec.file, 1, 8), 1, 1, 0);
          out[`${spec.key} b8 1-thread CPU ms/image`] = r3(eight.mainMs / 8);
          out[`${spec.key} b8 Caffe 1-thread CPU ms/image (${id})`] = c.caffeCpuMsB8PerImageOneThread;
          out[`${spec.key} b8 chaiq/Caffe-b8 1-thread CPU time ratio`] = r3(eight.mainMs / 8 / c.caffeCpuMsB8PerImageOneThread);
        }
      } finally {
        setThreads(threads);
      }
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
