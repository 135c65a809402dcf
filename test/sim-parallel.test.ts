/**
 * Every core and more than one machine: `simulate --threads N` (images on worker threads), `--shard K/N` +
 * `--save_results` + `merge-results`, `--metrics none|agreement`; all give the bytes of one run.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, CORPUS, ROOT } from './helpers/cli';
import { ExactSum } from '../src/sim/exact-sum';
import { parseShard, shardSlice } from '../src/sim/results';
import { resolveThreads, splitThreads } from '../src/threads';
import { ChaiqError } from '../src/errors';

const LENET = path.join(CORPUS, 'models/lenet_mnist_ahmdtaha');
const WEIGHTS = path.join(LENET, 'lenet_iter_10000.caffemodel');
const Q8 = path.join(ROOT, 'test/fixtures/quant/quantized/lenet_xilinx_888.prototxt');
const MNIST = path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz');
const LABELS = path.join(CORPUS, 'data/mnist/t10k-labels-idx1-ubyte.gz');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-simpar-'));
/** merge-results and the usage errors, which start no workers: main() in one node process */
const server = cliServer();
afterAll(() => {
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const sim = (...more: string[]) => ['simulate', '--deploy_model', Q8, '--weights', WEIGHTS, '--mnist', MNIST, '--mnist_labels', LABELS, '--limit', '13', ...more];

/** The CLI with workers started whatever the image count (CHAIQ_WORKER_START_MS=0), as on a big machine. */
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/chaiq.js'), ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, CHAIQ_WORKER_START_MS: '0', ...env },
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('simulate: 1, 2 and 4 threads, shards merged: the same bytes', () => {
  const runs: Record<string, { code: number; stdout: string; stderr: string; saved: string }> = {};
  beforeAll(() => {
    for (const t of ['1', '2', '4']) {
      const f = path.join(tmp, `t${t}.json`);
      const r = cli(sim('--threads', t, '--save_results', f));
      runs[t] = { ...r, saved: r.code === 0 ? fs.readFileSync(f, 'utf8') : '' };
    }
  });

  test('text report and results file identical across --threads 1, 2, 4', () => {
    for (const t of ['1', '2', '4']) expect(runs[t].code).toBe(0);
    expect(runs['1'].stdout).toMatch(/^simulated 13 image\(s\), Xilinx mode/);
    expect(runs['1'].stdout).toMatch(/per layer, worst first/);
    expect(runs['2'].stdout).toBe(runs['1'].stdout);
    expect(runs['4'].stdout).toBe(runs['1'].stdout);
    expect(runs['2'].saved).toBe(runs['1'].saved);
    expect(runs['4'].saved).toBe(runs['1'].saved);
  });

  test('3 shards merged give the report of one run, text and json', async () => {
    const files = [0, 1, 2].map((k) => {
      const f = path.join(tmp, `shard${k}.json`);
      const r = cli(sim('--shard', `${k}/3`, '--save_results', f, '--threads', '1'));
      expect(r.code).toBe(0);
      return f;
    });
    const m = await server.run(['merge-results', files[2], files[0], files[1]]);
    expect(m.stderr).toBe('');
    expect(m.code).toBe(0);
    expect(m.stdout).toBe(runs['1'].stdout);
    const one = await server.run(['merge-results', '--format', 'json', path.join(tmp, 't2.json')]);
    const mj = await server.run(['merge-results', '--format', 'json', ...files]);
    expect(JSON.parse(mj.stdout).images).toBe(13);
    expect(mj.stdout).toBe(one.stdout);
    // refused: a shard twice, a whole run with a shard, another run (--top differs)
    const dup = await server.run(['merge-results', files[0], files[0]]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/shard0\.json: error: shard 0\/3 is already in/);
    const whole = await server.run(['merge-results', files[0], path.join(tmp, 't1.json')]);
    expect(whole.code).toBe(1);
    expect(whole.stderr).toMatch(/t1\.json: error: this file holds a run over all inputs/);
    // the file of a run with --top 3: its identity says so
    const other = path.join(tmp, 'top3.json');
    const j = JSON.parse(fs.readFileSync(files[1], 'utf8'));
    j.identity.options.top = 3;
    fs.writeFileSync(other, JSON.stringify(j));
    const mixed = await server.run(['merge-results', files[0], other]);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toMatch(/top3\.json: error: not a shard of the same run as .*shard0\.json: another --top \(3 vs 5\)/);
    // a missing shard: the report of what is there, said
    const part = await server.run(['merge-results', files[0], files[2]]);
    expect(part.code).toBe(0);
    expect(part.stderr).toMatch(/warning: merge-results: shard\(s\) 1\/3 missing: the report covers 9 of the 13 inputs/);
  });
});

test('--metrics none runs the fixed chain alone; agreement adds the float net, not the table', async () => {
  const none = cli(sim('--metrics', 'none', '--threads', '2'));
  expect(none.code).toBe(0);
  expect(none.stdout).toBe("simulated 13 image(s), Xilinx mode; classes from 'loss'\naccuracy on 13 labelled: fixed top-1 100.00% top-5 100.00% (the float net not run)\n");
  const ag = cli(sim('--metrics', 'agreement', '--format', 'json', '--threads', '1'));
  expect(ag.code).toBe(0);
  const j = JSON.parse(ag.stdout);
  expect(j.metrics).toBe('agreement');
  expect(j.agreement.top1).toBe(1);
  expect(j.accuracy.float.top1).toBe(1);
  expect(j.layers).toEqual([]);
  const bad = await server.run(sim('--metrics', 'some'));
  expect(bad.code).toBe(2);
  expect(bad.stderr).toBe("error: --metrics must be one of layers, agreement, none, got 'some'\n");
});

test('usage errors: --threads, CHAIQ_THREADS', async () => {
  const t0 = await server.run(sim('--threads', '0'));
  expect(t0.code).toBe(2);
  expect(t0.stderr).toBe("error: --threads must be a positive integer, got '0'\n");
  const env = cli(sim(), { CHAIQ_THREADS: 'many' });
  expect(env.code).toBe(2);
  expect(env.stderr).toBe("error: CHAIQ_THREADS must be a positive integer, got 'many'\n");
});

test('quantize: calibration on 1, 2 and 4 threads gives the same prototxt and statistics file', () => {
  const out: string[] = [];
  for (const t of ['1', '2', '4']) {
    const q = path.join(tmp, `q${t}.prototxt`);
    const st = path.join(tmp, `s${t}.json`);
    const r = cli(['quantize', '-q', '--deploy_model', path.join(LENET, 'mnist_deploy.prototxt'), '--weights', WEIGHTS, '--mnist', MNIST,
      '--calibration_size', '12', '--bitwidths', '8,8,8', '--quantized_deploy_model', q, '--save_stats', st, '--threads', t]);
    expect(r.code).toBe(0);
    out.push(fs.readFileSync(q, 'utf8') + fs.readFileSync(st, 'utf8'));
  }
  expect(out[0]).toMatch(/th_layer_out/);
  expect(out[1]).toBe(out[0]);
  expect(out[2]).toBe(out[0]);
});

describe('pieces', () => {
  test('exact sums: any order and grouping, the same value and the same canonical form', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const xs = Array.from({ length: 2000 }, () => (rnd() - 0.5) * 10 ** Math.floor(rnd() * 30 - 10));
    const a = new ExactSum();
    xs.forEach((x) => a.add(x));
    const b = new ExactSum();
    const c = new ExactSum();
    [...xs].reverse().forEach((x, i) => (i % 3 ? b : c).add(x));
    b.addSum(c);
    expect(b.value()).toBe(a.value());
    expect(JSON.stringify(b.toJSON())).toBe(JSON.stringify(a.toJSON()));
    const big = new ExactSum();
    [1e100, 1, -1e100].forEach((x) => big.add(x));
    expect(big.value()).toBe(1);
    const inf = new ExactSum();
    [1, Infinity].forEach((x) => inf.add(x));
    expect(inf.value()).toBe(Infinity);
    expect(ExactSum.fromJSON(inf.toJSON())!.value()).toBe(Infinity);
  });

  test('shards: contiguous slices that cover every input once', () => {
    const xs = Array.from({ length: 10 }, (_, i) => i);
    const parts = [0, 1, 2].map((k) => shardSlice(xs, parseShard(`${k}/3`)));
    expect(parts).toEqual([[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]);
    expect(shardSlice(xs, parseShard('4/7'))).toEqual([5, 6]);
    expect(() => parseShard('1/0')).toThrow(ChaiqError);
    expect(() => parseShard('-1/2')).toThrow(/K\/N/);
  });

  test('threads: flag > CHAIQ_THREADS > the machine; workers × kernel threads ≤ threads', () => {
    expect(resolveThreads(3, { CHAIQ_THREADS: '5' })).toBe(3);
    expect(resolveThreads(undefined, { CHAIQ_THREADS: '5' })).toBe(5);
    expect(resolveThreads(undefined, {})).toBe(Math.min(64, os.availableParallelism()));
    expect(() => resolveThreads(undefined, { CHAIQ_THREADS: '2.5' })).toThrow(/CHAIQ_THREADS/);
    expect(splitThreads(16, 1000)).toEqual({ workers: 16, kernelThreads: 1 });
    expect(splitThreads(2, 1)).toEqual({ workers: 1, kernelThreads: 2 });
    expect(splitThreads(16, 6)).toEqual({ workers: 3, kernelThreads: 5 });
    for (const [t, n] of [[2, 50], [4, 3], [7, 100], [1, 9]]) {
      const s = splitThreads(t, n);
      expect(s.workers * s.kernelThreads).toBeLessThanOrEqual(t);
    }
  });
});
