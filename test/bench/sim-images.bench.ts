/**
 * `chaiq simulate` over many images as a user runs it: whole `node bin/chaiq.js` processes on files (a seeded
 * random-weight caffemodel, prototxts annotated by `chaiq quantize`, the images as one N×C×H×W .npy), so the
 * figure holds everything the command does: loading, weight quantization, the image-level workers the CLI starts
 * for many images (src/threads.ts splitThreads), the progress, the report. Against it, `chaiq forward` on the same
 * images (one batch) and the float forward of one image in this process (runNet, reused buffers: sim.bench.ts's
 * baseline). Per image: the whole run ÷ N, and the marginal cost (T(N) − T(N/3)) ÷ (2N/3), which leaves out the
 * start-up both commands pay once. sim.bench.ts measures one image at a time in one process.
 * Rounds (CHAIQ_BENCH_ROUNDS, default 2) run every command once each, interleaved; figures are medians.
 * CHAIQ_BENCH_IMAGES (default 36) sets N; CHAIQ_BENCH_QUICK=1 runs GoogLeNet only, one round.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { runNet } from '../../src/exec/executor';
import { initKernels } from '../../src/kernels';
import { writeCaffemodel } from '../../src/proto/write-caffemodel';
import { writeNpy } from '../../src/io/npy';
import { benchNet, corpusFile, median, nowMs, randomInput } from './netutil';

const BIN = path.join(__dirname, '..', '..', '..', 'bin', 'chaiq.js');

/** Runs the CLI; its wall time in ms (a failure stops the bench: a figure of a failed run means nothing). */
function chaiq(args: string[]): number {
  const t0 = nowMs();
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = nowMs() - t0;
  if (r.status !== 0) throw new Error(`chaiq ${args[0]} exited ${r.status}: ${(r.stderr || '').trim().split('\n').pop()}`);
  return ms;
}

interface Files { dir: string; prototxt: string; weights: string; x8: string; d8: string; inputs: Map<number, string> }

/** The net's files: random weights (benchNet's), the corpus prototxt, X8 and DF8 annotations, N-image inputs. */
function writeFiles(file: string, sizes: number[]): { files: Files; inputShape: number[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-bench-'));
  const b = benchNet(file);
  const weights = path.join(dir, 'w.caffemodel');
  writeCaffemodel(weights, 'bench', b.net.layers.filter((l) => l.blobs && l.blobs.length).map((l) => ({ name: l.name, type: l.type, blobs: l.blobs! })));
  const prototxt = path.join(dir, 'net.prototxt');
  fs.copyFileSync(corpusFile(path.join('prototxt', file)), prototxt);
  fs.mkdirSync(path.join(dir, 'calib'));
  writeNpy(path.join(dir, 'calib', 'c.npy'), randomInput(b.inputShape, 300));
  const common = ['--deploy_model', prototxt, '--weights', weights, '--calibration_directory', path.join(dir, 'calib'), '--calibration_size', '1', '--bitwidths', '8,8,8'];
  const x8 = path.join(dir, 'x8.prototxt');
  const d8 = path.join(dir, 'd8.prototxt');
  chaiq(['quantize', ...common, '--th_method', 'max', '--quantized_deploy_model', x8]);
  chaiq(['quantize', ...common, '--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto', '--quantized_deploy_model', d8]);
  const inputs = new Map<number, string>();
  for (const n of sizes) {
    const f = path.join(dir, `in${n}.npy`);
    writeNpy(f, randomInput([n, ...b.inputShape.slice(1)], 400));
    inputs.set(n, f);
  }
  return { files: { dir, prototxt, weights, x8, d8, inputs }, inputShape: b.inputShape };
}

async function floatOneImageMs(file: string, inputShape: number[]): Promise<number> {
  const b = benchNet(file);
  const x = randomInput(inputShape, 300);
  await runNet(b.net, x, { warn: () => {}, reuseBuffers: true });
  const t: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = nowMs();
    await runNet(b.net, x, { warn: () => {}, reuseBuffers: true });
    t.push(nowMs() - t0);
  }
  return median(t);
}

async function measure(key: string, file: string, n: number, rounds: number, out: Record<string, number | string>): Promise<void> {
  const small = Math.max(2, Math.round(n / 3));
  const { files: f, inputShape } = writeFiles(file, [small, n]);
  try {
    const runs: Record<string, (k: number) => string[]> = {
      forward: (k) => ['forward', '--deploy_model', f.prototxt, '--weights', f.weights, '--input', f.inputs.get(k)!],
    };
    for (const [mode, proto] of [['Xilinx', f.x8], ['DynamicFixed', f.d8]] as const) {
      for (const m of ['none', 'layers']) runs[`${mode} --metrics ${m}`] = (k) => ['simulate', '--deploy_model', proto, '--weights', f.weights, '--input', f.inputs.get(k)!, '--metrics', m];
    }
    // rounds interleave every command and the in-process float forward; medians over rounds
    const times: Record<string, Record<number, number[]>> = {};
    const fl: number[] = [];
    for (let r = 0; r < rounds; r++) {
      fl.push(await floatOneImageMs(file, inputShape));
      for (const [name, args] of Object.entries(runs)) {
        times[name] ??= { [small]: [], [n]: [] };
        for (const k of [small, n]) times[name][k].push(chaiq(args(k)));
      }
    }
    fl.push(await floatOneImageMs(file, inputShape));
    const t: Record<string, Record<number, number>> = {};
    for (const [name, x] of Object.entries(times)) t[name] = { [small]: median(x[small]), [n]: median(x[n]) };
    const float1 = median(fl);
    out[`${key}: float forward of one image, this process (ms)`] = float1.toFixed(0);
    const fwd = t.forward;
    const marginal = (x: Record<number, number>) => (x[n] - x[small]) / (n - small);
    out[`${key}: chaiq forward, ${n} images (s; ms/image whole, marginal)`] = `${(fwd[n] / 1000).toFixed(1)}; ${(fwd[n] / n).toFixed(0)}, ${marginal(fwd).toFixed(0)}`;
    for (const name of Object.keys(runs).filter((r) => r !== 'forward')) {
      const x = t[name];
      out[`${key} ${name}, ${n} images: s; ÷ forward (whole); marginal ÷ forward, ÷ one-image float`] =
        `${(x[n] / 1000).toFixed(1)}; ${(x[n] / fwd[n]).toFixed(2)}×; ${(marginal(x) / marginal(fwd)).toFixed(2)}×, ${(marginal(x) / float1).toFixed(2)}×`;
    }
  } finally {
    fs.rmSync(f.dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  await initKernels();
  const quick = process.env.CHAIQ_BENCH_QUICK === '1';
  const n = Math.max(6, Number(process.env.CHAIQ_BENCH_IMAGES ?? 36) | 0);
  const nets: Array<[string, string]> = [['googlenet', 'bvlc_googlenet.prototxt'], ['resnet50', 'resnet50.prototxt'], ['mobilenet_v1', 'mobilenet_v1.prototxt']];
  out.threads = `${os.availableParallelism?.() ?? os.cpus().length} (the CLI's default)`;
  const rounds = quick ? 1 : Math.max(1, Number(process.env.CHAIQ_BENCH_ROUNDS ?? 2) | 0);
  for (const [key, file] of quick ? nets.slice(0, 1) : nets) await measure(key, file, n, rounds, out);
  out['load average at the end (1, 5, 15 min)'] = os.loadavg().map((v) => v.toFixed(2)).join(', ');
  return out;
}
