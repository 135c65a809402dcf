/**
 * --th_search (issue 14 §1): each Xilinx activation threshold chosen among the methods' candidates by the
 * downstream error. On a hand-made net the search picks the candidate a brute-force simulation finds best;
 * on LeNet the CLI's output lints clean, is byte-identical on rerun, and the flag's usage errors are exit 2.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { buildNet } from '../src/graph/build';
import { collectStats } from '../src/calib/stats';
import { thresholdsFromStats } from '../src/quant/calibrate';
import { versionStatsKey } from '../src/quant/calibrate-image';
import { buildXilinxPlan } from '../src/quant/xilinx';
import { applyPlanToNetParam } from '../src/print/precision';
import { compileSim, runSim } from '../src/sim/simulate';
import { runNet } from '../src/exec/executor';
import { searchThresholds, thresholdCandidates } from '../src/recover/threshold-search';
import { versionStats } from '../src/quant/calibrate';
import { setThreads } from '../src/kernels';
import type { NetParam } from '../src/proto/message';
import type { Tensor } from '../src/tensor';
import { randTensor } from './quant-net';
import { cliServer, CORPUS, ROOT } from './helpers/cli';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
const cli = cliServer();
afterAll(() => cli.close());

setThreads(1);
const quiet = () => undefined;
const bitwidths = { in: 6, params: 6, out: 6 };

describe('threshold search', () => {
  // data → conv (2 channels) → relu → conv: the input's outliers make max, percentile and mse disagree
  const param: NetParam = {
    name: 'ts',
    layer: [
      { name: 'data', type: 'Input', top: ['data'], input_param: { shape: [{ dim: [1, 2, 6, 6] }] } },
      { name: 'c1', type: 'Convolution', bottom: ['data'], top: ['c1'], convolution_param: { num_output: 3, kernel_size: [3], pad: [1] } },
      { name: 'r1', type: 'ReLU', bottom: ['c1'], top: ['c1'] },
      { name: 'c2', type: 'Convolution', bottom: ['c1'], top: ['c2'], convolution_param: { num_output: 2, kernel_size: [1] } },
    ],
  };
  const weights = new Map<string, Tensor[]>([
    ['c1', [randTensor([3, 2, 3, 3], 11, 0.5), randTensor([3], 12, 0.1)]],
    ['c2', [randTensor([2, 3, 1, 1], 13, 0.8), randTensor([2], 14, 0.1)]],
  ]);
  const images = [0, 1, 2, 3].map((s) => {
    const t = randTensor([1, 2, 6, 6], 70 + s, 1);
    t.data[s] = 6 + s; // an outlier per image
    return t;
  });

  async function statsOf(net: ReturnType<typeof buildNet>) {
    return collectStats(async (emit) => {
      for (const x of images) {
        emit('data@data', x.data);
        await runNet(net, x, { warn: quiet, fuse: false, onLayer: (node, tops) => node.tops.forEach((t, i) => emit(`${t}@${node.name}`, tops[i].data)) });
      }
    }, { exact: false });
  }

  /** Σ‖fixed − float‖² / Σ‖float‖² of blob c2 with the thresholds given. */
  async function netError(net: ReturnType<typeof buildNet>, thOf: (li: number, ti: number) => number): Promise<number> {
    const plan = buildXilinxPlan(net, thOf, { bitwidths, pow2: false, warn: quiet }).plan;
    const prog = compileSim(buildNet(applyPlanToNetParam(param, plan), { weights, warn: quiet }), { reference: true, warn: quiet });
    let e = 0;
    let r = 0;
    for (const x of images) {
      const s = await runSim(prog, x, { reference: true, keep: ['c2'], warn: quiet });
      const q = s.outputs.get('c2')!.data;
      const f = s.reference.get('c2')!.data;
      for (let i = 0; i < f.length; i++) {
        e += (q[i] - f[i]) ** 2;
        r += f[i] ** 2;
      }
    }
    return e / r;
  }

  test('net: every threshold is the best candidate by brute force, the error never grows, and it is deterministic', async () => {
    const net = buildNet(param, { weights, warn: quiet });
    const stats = await statsOf(net);
    const base = thresholdsFromStats(net, stats, 'mse', 6);
    const r = await searchThresholds({ net, netParam: param, stats, thOf: base.thOf, method: 'mse', bitwidths, pow2: false, images, objective: 'net' });
    expect(r.chosen.map((c) => c.key)).toEqual(['data@data', 'c1@r1', 'c2@c2']);
    // brute force, threshold by threshold with the earlier ones as chosen: the candidate of least error
    const fixed = new Map<string, number>();
    const thOf = (li: number, ti: number) => fixed.get(versionStatsKey(net, li, ti)) ?? base.thOf(li, ti);
    const order: [number, number][] = [[0, 0], [2, 0], [3, 0]];
    for (const [k, [li, ti]] of order.entries()) {
      const key = versionStatsKey(net, li, ti);
      const cands = thresholdCandidates(versionStats(net, stats, li, ti), 'mse', base.thOf(li, ti), 6, false);
      expect(cands.length).toBeGreaterThan(1);
      const errs: number[] = [];
      for (const c of cands) {
        fixed.set(key, c.th);
        errs.push(await netError(net, thOf));
      }
      const best = errs.indexOf(Math.min(...errs));
      expect(r.chosen[k].th).toBe(cands[best].th);
      expect(r.chosen[k].after).toBeCloseTo(errs[best], 12);
      expect(r.chosen[k].before).toBeCloseTo(errs[0], 12);
      expect(r.chosen[k].after).toBeLessThanOrEqual(r.chosen[k].before);
      fixed.set(key, cands[best].th);
    }
    // the plan returned is the one with the chosen thresholds
    expect(await netError(net, r.thOf)).toBeLessThanOrEqual(await netError(net, base.thOf));
    const again = await searchThresholds({ net, netParam: param, stats, thOf: base.thOf, method: 'mse', bitwidths, pow2: false, images, objective: 'net' });
    expect(again.chosen).toEqual(r.chosen);
  });

  test('layer: the error measured is at the readers (the input at c1, c1 at c2), never above the starting one', async () => {
    const net = buildNet(param, { weights, warn: quiet });
    const stats = await statsOf(net);
    const base = thresholdsFromStats(net, stats, 'max', 6);
    const r = await searchThresholds({ net, netParam: param, stats, thOf: base.thOf, method: 'max', bitwidths, pow2: false, images, objective: 'layer' });
    expect(r.chosen).toHaveLength(3);
    for (const c of r.chosen) expect(c.after).toBeLessThanOrEqual(c.before);
    // with max on this input (outliers of 6..11), a clipping threshold wins at the first conv
    expect(r.chosen[0].method).not.toBe('max');
  });
});

describe('quantize --th_search', () => {
  const MNIST = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
  const DEPLOY = path.join(ROOT, 'models/lenet/lenet.prototxt');
  const WEIGHTS = path.join(ROOT, 'models/lenet/lenet_iter_10000.caffemodel');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-thsearch-'));
  const base = ['quantize', '--deploy_model', DEPLOY, '--weights', WEIGHTS, '--mnist', MNIST, '--calibration_size', '20', '--bitwidths', '6,6,6'];

  test.each([
    [['--th_search', 'tensor'], /--th_search must be one of layer, net, group, got 'tensor'/],
    [['--th_search', 'layer', '--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto'], /--th_search chooses Xilinx thresholds; it needs --quant_type Xilinx/],
    [['--th_search', 'net', '--calibration', 'progressive'], /it needs --calibration float/],
    [['--th_search_images', '4'], /--th_search_images needs --th_search layer\|net/],
    [['--th_search', 'net', '--th_search_images', '0'], /--th_search_images must be a positive integer/],
  ].map(([extra, msg]) => [(extra as string[]).join(' '), extra, msg] as [string, string[], RegExp]))('%s is a usage error (2), nothing written', async (_, extra, msg) => {
    const out = path.join(tmp, 'nope.prototxt');
    const r = await cli.run([...base, '--quantized_deploy_model', out, ...extra]);
    expect(r.stderr).toMatch(msg);
    expect(r.code).toBe(2);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('LeNet Xilinx 6, --th_search net with --optimized_weights: lint clean, byte-identical on rerun', async () => {
    const run = (o: string) => cli.run([...base, '--th_search', 'net', '--th_search_images', '4', '--quantized_deploy_model', `${o}.prototxt`, '--optimized_weights', `${o}.caffemodel`]);
    const a = path.join(tmp, 'a');
    const b = path.join(tmp, 'b');
    const r = await run(a);
    expect(r.stderr).not.toMatch(/: error:/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/threshold search \(net error, 4 images\): \d+ of \d+ thresholds changed from kl/);
    expect((await run(b)).code).toBe(0);
    expect(fs.readFileSync(`${b}.prototxt`, 'utf8').replace(/b\.caffemodel/, 'a.caffemodel')).toBe(fs.readFileSync(`${a}.prototxt`, 'utf8'));
    const lint = await cli.run(['lint', `${a}.prototxt`, '--weights', `${a}.caffemodel`]);
    expect((lint.stdout + lint.stderr).split('\n').filter((l) => /: (error|warning):/.test(l))).toEqual([]);
    expect(lint.code).toBe(0);
  });
});
