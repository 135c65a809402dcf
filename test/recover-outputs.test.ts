/**
 * Acceptance 3 of issue 14: what every recovery technique writes (alone, all together, and the plain run with and
 * without --optimized_weights) lints clean with its weights and is byte-identical on rerun, for LeNet and
 * CIFAR-10 quick in Xilinx 6 and DynamicFixed 6 (CI-sized: 20 digits, 4 CIFAR images). CIFAR-10 quick runs the
 * plain and all-techniques variants only, unless CHAIQ_FULL_RECOVER=1: every technique alone is already run on LeNet.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cliServer, CORPUS, ROOT } from './helpers/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-recover-out-'));
/** the reruns and the lints: one long-lived node process, so a rerun also shows that nothing a process keeps changes the bytes */
const server = cliServer({ CHAIQ_THREADS: '1' });
afterAll(() => {
  server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** runCli, but asynchronous, so a run (a fresh process) and its rerun (in the server) share the two cores */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'bin/chaiq.js'), ...args], { cwd: ROOT, env: { ...process.env, CHAIQ_THREADS: '1' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const M = `${CORPUS}/models`;
const NETS = {
  lenet: {
    deploy: `${ROOT}/models/lenet/lenet.prototxt`, weights: `${ROOT}/models/lenet/lenet_iter_10000.caffemodel`,
    cal: ['--mnist', `${CORPUS}/data/mnist/t10k-images-idx3-ubyte.gz`, '--calibration_size', '20'],
  },
  quick: {
    deploy: `${M}/cifar10_quick_v1_everpeace/cifar10_quick.prototxt`, weights: `${M}/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel`,
    cal: ['--calibration_directory', `${CORPUS}/images/cifar10`, '--calibration_size', '4', '--dims', '3,32,32', '--channel_swap', '0,1,2',
      '--raw_scale', '255', '--mean_file', `${M}/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto`],
  },
};
const MODES = { X6: ['--bitwidths', '6,6,6'], DF6: ['--bitwidths', '6,6,6', '--quant_type', 'DynamicFixed', '--fl_bitwidths', 'auto'] };
const VARIANTS: Record<string, string[]> = {
  plain: [],
  optimized_weights: ['--optimized_weights'],
  equalize: ['--equalize', '--optimized_weights'],
  bias_correction: ['--bias_correction', '--optimized_weights'],
  optimize_rounding: ['--optimize_rounding', '--optimized_weights'],
  all: ['--equalize', '--bias_correction', '--optimize_rounding', '--optimized_weights'],
};

const cases = Object.keys(NETS).flatMap((net) => Object.keys(MODES).map((mode) => ({ net, mode })));

const variantsOf = (net: string) =>
  Object.entries(VARIANTS).filter(([v]) => net === 'lenet' || process.env.CHAIQ_FULL_RECOVER || v === 'plain' || v === 'all');

test.each(cases)('$net $mode: every technique lints clean and reruns byte for byte', async ({ net, mode }) => {
  const n = NETS[net as keyof typeof NETS];
  const summary: string[] = [];
  for (const [variant, flags] of variantsOf(net)) {
    const outs = ['a', 'b'].map((k) => path.join(tmp, `${net}-${mode}-${variant}-${k}`));
    const args = (o: string) => ['quantize', '-q', '--deploy_model', n.deploy, '--weights', n.weights, ...n.cal, ...MODES[mode as keyof typeof MODES],
      ...flags.flatMap((f) => (f === '--optimized_weights' ? [f, `${o}.caffemodel`] : [f])), '--quantized_deploy_model', `${o}.prototxt`];
    const [r1, r2] = await Promise.all([run(args(outs[0])), server.run(args(outs[1]))]);
    expect([variant, r1.code, r1.stderr.match(/: error: .*/)?.[0]]).toEqual([variant, 0, undefined]);
    expect([variant, r2.code]).toEqual([variant, 0]);
    const [a, b] = outs;
    // the prototxt names its caffemodel in its header: the same up to the file name
    const text = (o: string) => fs.readFileSync(`${o}.prototxt`, 'utf8').split(path.basename(o)).join('OUT');
    expect([variant, text(b) === text(a)]).toEqual([variant, true]);
    const withWeights = flags.includes('--optimized_weights');
    if (withWeights) expect([variant, fs.readFileSync(`${b}.caffemodel`).equals(fs.readFileSync(`${a}.caffemodel`))]).toEqual([variant, true]);
    const lint = await server.run(['lint', `${a}.prototxt`, '--weights', withWeights ? `${a}.caffemodel` : n.weights]);
    // clean: at most the note on a valid Q(6,fl) with fl > 6 that the plain --optimized_weights run gets too
    const found = (lint.stdout + lint.stderr).split('\n').filter((l) => /: (error|warning):/.test(l));
    expect([variant, found.filter((l) => !/: warning: .*\[fl-range\]$/.test(l))]).toEqual([variant, []]);
    expect([variant, lint.code]).toEqual([variant, 0]);
    summary.push(`${variant}: ${found.length} fl-range note(s)`);
  }
  expect(summary).toHaveLength(variantsOf(net).length);
}, 300_000);
