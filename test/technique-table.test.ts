/**
 * scripts/technique-table.sh, the README technique table (issue 14) at CI size: one row per net and config, one
 * column per recovery technique and one with all of them, each cell the fixed top-1 and its loss against the float
 * of the same held-out images; th_search is Xilinx's ("–" for DynamicFixed); a run that fails is a "failed" cell.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ROOT } from './helpers/cli';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-techtable-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function run(script: string, env: Record<string, string>, args: string[] = []) {
  const r = spawnSync('sh', [path.join(ROOT, 'scripts', script), ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// one thread: on these few images, starting workers costs more CPU than it saves, and a table does not depend on
// the thread count (test/sim-parallel.test.ts: the same bytes on 1, 2 and 4)
const CI = { ACC_MNIST_EVAL: '50', ACC_CAL_MNIST: '20', ACC_CIFAR_EVAL_PER_CLASS: '2', ACC_CAL_CIFAR: '4', CHAIQ_THREADS: '1' };

test('LeNet X6 and DF6, CIFAR-10 quick X6: the table, its losses against float, "–" for DynamicFixed th_search', () => {
  const out = path.join(tmp, 't');
  const env = { ...CI, ACC_OUT: out, TT_ROWS: 'lenet:X6 lenet:DF6 quick:X6', TT_COLUMNS: 'none th_search' };
  const r = run('technique-table.sh', env);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const lines = r.stdout.split('\n');
  expect(lines[0]).toBe('| net | mode, bits | float | no technique | `--th_search layer` |');
  const rows = lines.filter((l) => /^\| (LeNet|CIFAR)/.test(l));
  expect(rows.map((l) => l.split(' | ').slice(0, 2).join(' | '))).toEqual(['| LeNet | Xilinx 6', '| LeNet | DynamicFixed 6', '| CIFAR-10 quick | Xilinx 6']);
  for (const row of rows) {
    const float = +row.match(/^\| [^|]+ \| [^|]+ \| (\d+\.\d\d) % \|/)![1];
    const cells = [...row.matchAll(/(\d+\.\d\d) % \(([−+])(\d+\.\d\d)\)/g)];
    expect(cells.length).toBe(row.includes('DynamicFixed') ? 1 : 2);
    for (const [, top1, sign, loss] of cells) expect((sign === '−' ? -1 : 1) * +loss).toBeCloseTo(+top1 - float, 2);
  }
  expect(rows[1]).toMatch(/ – \|$/);
  // the float is the original net's (the none column's), the same images for every column
  const none = JSON.parse(fs.readFileSync(path.join(out, 'none/lenet-X6/sim.json'), 'utf8'));
  expect(rows[0]).toContain(`| ${(100 * none.accuracy.float.top1).toFixed(2)} % |`);
  expect(r.stdout).toMatch(/LeNet calibration 20 digits drawn \(seed 0\) from MNIST t10k 0–999, evaluation on t10k 1000–1049 \(50\)/);
  expect(r.stdout).toMatch(/CIFAR-10 calibration 4 images drawn \(seed 0\) from the first 20 per class of the 2000-JPEG subset, evaluation on 20 of the other 1800/);
  const cmds = fs.readFileSync(path.join(out, 'commands.txt'), 'utf8');
  expect(cmds).toMatch(/quantize .*--bitwidths 6,6,6 --calibration float --th_search layer --optimized_weights \S+\/th_search\/lenet-X6\/q\.caffemodel/);
  // DynamicFixed rows read the board's 0..255 input in Xilinx mode, every column (--optimized_weights named once)
  expect(cmds).toMatch(/quantize .*--quant_type DynamicFixed --fl_bitwidths auto --df_input xilinx --optimized_weights \S+\/dfx-none\/lenet-DF6\/q\.caffemodel --quantized_deploy_model/);
  expect(cmds).not.toMatch(/--optimized_weights \S+ .*--optimized_weights/);
  expect(cmds).toMatch(/simulate .*--weights \S+\/th_search\/quick-X6\/q\.caffemodel .*--mean_file/);
  expect(cmds).not.toMatch(/th_search\/lenet-DF6/);
  expect(cmds).toMatch(/simulate .*--metrics agreement/);
  // rerun with ACC_RESUME=1 and a command that would fail: every cell is kept, the same table
  const again = run('technique-table.sh', { ...env, ACC_RESUME: '1', CHAIQ: 'false' });
  expect(again.code).toBe(0);
  expect(again.stdout).toBe(r.stdout);
  // ACC_REPORT_ONLY=1: the table of what a run has finished, nothing run ("not run" for a column never run)
  const before = fs.readFileSync(path.join(out, 'commands.txt'), 'utf8');
  const report = run('technique-table.sh', { ...env, ACC_REPORT_ONLY: '1', CHAIQ: 'false', TT_COLUMNS: 'none th_search bias_correction' });
  expect(report.code).toBe(0);
  const rrows = report.stdout.split('\n').filter((l) => /^\| (LeNet|CIFAR)/.test(l));
  expect(rrows).toHaveLength(3);
  rrows.forEach((l, k) => expect(l).toBe(`${rows[k]} not run |`));
  expect(fs.readFileSync(path.join(out, 'commands.txt'), 'utf8')).toBe(before);
}, 240_000);

test('accuracy-table.sh with ACC_KEEP_GOING=1: a run that fails is a "failed" cell naming its log, the others go on', () => {
  const out = path.join(tmp, 'k');
  const env = { ...CI, ACC_OUT: out, ACC_NETS: 'lenet', ACC_CONFIGS: 'X8', ACC_KEEP_GOING: '1' };
  const r = run('accuracy-table.sh', env, ['bad:--no_such_flag', 'ok:']);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/\| lenet \| failed \| failed \(exit 2: \S+\/bad\/lenet-X8\/log\) \|/);
  expect(r.stdout).toMatch(/\| lenet \| \d+\.\d\d % \| \d+\.\d\d % \(\d+\.\d\d %\) \|/);
  expect(fs.readFileSync(path.join(out, 'bad/lenet-X8/log'), 'utf8')).toMatch(/no_such_flag/);
  // without it the script stops with the run's exit code and its messages
  const stop = run('accuracy-table.sh', { ...env, ACC_KEEP_GOING: '' }, ['bad:--no_such_flag']);
  expect(stop.code).toBe(2);
  expect(stop.stderr).toMatch(/no_such_flag/);
}, 120_000);
