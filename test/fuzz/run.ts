/**
 * `npm run fuzz [-- --cases N --seed S --workers W --save DIR --replay DIR]`: seeded mutants of real
 * prototxts, caffemodels, .npy inputs and PNG/JPEG images, run through info, fmt, lint, diff, forward
 * and quantize in worker threads. A bad outcome is an exit code other than 0/1/2, a stack trace or
 * "internal error", more than one error line (warnings allowed), an error line that names no file of
 * the case, a run over 10 s, or an output file left behind by a failed run. Bad cases are saved (--save,
 * default fuzz-failures/) as a directory of files + case.json, which --replay DIR runs again.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { FuzzCase, loadSeeds, makeCase, REPO } from './cases';
import { rng } from './mutate';
import type { Outcome } from './worker';

export interface FuzzOptions {
  cases: number;
  seed: number;
  workers: number;
  timeoutMs: number;
  save?: string;
  replay?: string;
  quiet?: boolean;
  /** one JSON line per case (what, exit code, ms, first error line) */
  log?: string;
}

export interface Bad {
  c: FuzzCase;
  why: string;
  outcome?: Outcome;
}

export interface FuzzSummary {
  cases: number;
  bad: Bad[];
  seconds: number;
  byCode: Record<string, number>;
  byCommand: Record<string, number>;
}

const STACK = /\n\s+at .*:\d+:\d+\)?$|\n\s+at /m;

/** Why an outcome is bad, or undefined. */
export function judge(c: FuzzCase, o: Outcome, dir: string): string | undefined {
  const cmd = c.argv[0];
  if (![0, 1, 2].includes(o.code)) return `exit code ${o.code}`;
  if (/internal error/i.test(o.stderr)) return 'internal error';
  if (STACK.test(o.stderr)) return 'stack trace';
  const errs = o.stderr.split('\n').filter((l) => /(^|: )error: /.test(l));
  // fmt reports every syntax error of the one file (each located); lint puts its findings on stdout
  const many = cmd === 'fmt' && errs.length > 1 && errs.every((l) => l.startsWith(dir + '/net.prototxt:'));
  if (errs.length > 1 && !many) return `${errs.length} error lines`;
  const verdictOnly = (cmd === 'lint' || cmd === 'diff' || (cmd === 'fmt' && c.argv.includes('--check'))) && o.code === 1;
  if (o.code !== 0 && errs.length === 0 && !verdictOnly) return 'failed without an error line';
  for (const l of errs) if (!l.startsWith(dir + '/')) return 'error line names no file of the case';
  if (o.code !== 0 && o.left.length) return `left ${o.left.join(', ')} behind`;
  return undefined;
}

class Pool {
  private idle: { w: Worker; dir: string }[] = [];
  private waiting: ((x: { w: Worker; dir: string }) => void)[] = [];
  private n = 0;
  constructor(private root: string, size: number) {
    for (let i = 0; i < size; i++) this.spawn();
  }
  private spawn(): void {
    const w = new Worker(path.join(REPO, 'dist/test/fuzz/worker.js'), { resourceLimits: { maxOldGenerationSizeMb: 2048 }, stdout: false, stderr: false });
    const slot = { w, dir: path.join(this.root, `w${this.n++}`) };
    w.once('message', () => this.release(slot));
    w.on('error', () => undefined);
  }
  private release(slot: { w: Worker; dir: string }): void {
    const next = this.waiting.shift();
    if (next) next(slot);
    else this.idle.push(slot);
  }
  private acquire(): Promise<{ w: Worker; dir: string }> {
    const s = this.idle.pop();
    return s ? Promise.resolve(s) : new Promise((res) => this.waiting.push(res));
  }
  async run(c: FuzzCase, timeoutMs: number): Promise<{ outcome?: Outcome; hang?: boolean; crash?: string; dir: string }> {
    const slot = await this.acquire();
    return new Promise((resolve) => {
      const done = (r: { outcome?: Outcome; hang?: boolean; crash?: string }, keep: boolean) => {
        clearTimeout(timer);
        slot.w.removeAllListeners('message');
        slot.w.removeAllListeners('exit');
        if (keep) this.release(slot);
        else {
          void slot.w.terminate();
          fs.rmSync(slot.dir, { recursive: true, force: true });
          this.spawn();
        }
        resolve({ ...r, dir: slot.dir });
      };
      const timer = setTimeout(() => done({ hang: true }, false), timeoutMs);
      slot.w.once('message', (o: Outcome) => done({ outcome: o }, true));
      slot.w.once('exit', (code) => done({ crash: `worker exited (${code})` }, false));
      slot.w.postMessage({ dir: slot.dir, files: c.files, argv: c.argv });
    });
  }
  async close(): Promise<void> {
    for (const s of this.idle) await s.w.terminate();
  }
}

function saveCase(dir: string, b: Bad): void {
  const d = path.join(dir, `case-${b.c.id}`);
  fs.rmSync(d, { recursive: true, force: true });
  for (const [rel, data] of b.c.files) {
    fs.mkdirSync(path.dirname(path.join(d, 'files', rel)), { recursive: true });
    fs.writeFileSync(path.join(d, 'files', rel), data);
  }
  fs.writeFileSync(path.join(d, 'case.json'), JSON.stringify({ id: b.c.id, what: b.c.what, argv: b.c.argv, files: b.c.files.map(([r]) => r), why: b.why, code: b.outcome?.code, stderr: b.outcome?.stderr }, null, 2) + '\n');
}

function loadReplay(dir: string): FuzzCase[] {
  return fs
    .readdirSync(dir)
    .filter((n) => fs.existsSync(path.join(dir, n, 'case.json')))
    .sort()
    .map((n) => {
      const j = JSON.parse(fs.readFileSync(path.join(dir, n, 'case.json'), 'utf8'));
      return { id: j.id, what: j.what, argv: j.argv, files: (j.files as string[]).map((r) => [r, fs.readFileSync(path.join(dir, n, 'files', r))] as [string, Uint8Array]) };
    });
}

export async function runFuzz(opts: FuzzOptions): Promise<FuzzSummary> {
  const t0 = Date.now();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-fuzz-'));
  const pool = new Pool(root, opts.workers);
  const seeds = opts.replay ? undefined : loadSeeds();
  const replay = opts.replay ? loadReplay(opts.replay) : undefined;
  const total = replay ? replay.length : opts.cases;
  const bad: Bad[] = [];
  const byCode: Record<string, number> = {};
  const byCommand: Record<string, number> = {};
  let next = 0;
  let finished = 0;
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      // each case has its own stream: case i is the same whatever the worker count or --cases
      const c = replay ? replay[i] : makeCase(seeds!, rng((opts.seed * 0x9e3779b1 + i) >>> 0), i);
      const r = await pool.run(c, opts.timeoutMs);
      const why = r.hang ? `no answer in ${opts.timeoutMs / 1000} s` : r.crash ?? judge(c, r.outcome!, r.dir);
      const key = r.outcome ? String(r.outcome.code) : r.hang ? 'hang' : 'crash';
      byCode[key] = (byCode[key] ?? 0) + 1;
      byCommand[c.argv[0]] = (byCommand[c.argv[0]] ?? 0) + 1;
      if (opts.log) fs.appendFileSync(opts.log, JSON.stringify({ id: c.id, what: c.what, code: key, ms: r.outcome?.ms, err: r.outcome?.stderr.split('\n').find((l) => /error: /.test(l)) }) + '\n');
      if (why) {
        const b = { c, why, outcome: r.outcome };
        bad.push(b);
        if (opts.save) saveCase(opts.save, b);
        if (!opts.quiet) process.stdout.write(`BAD case ${c.id}: ${c.what}: ${why}\n  ${(r.outcome?.stderr ?? '').trim().split('\n').slice(0, 3).join('\n  ')}\n`);
      }
      finished++;
      if (!opts.quiet && finished % 1000 === 0) {
        const s = (Date.now() - t0) / 1000;
        process.stdout.write(`${finished}/${total} cases, ${bad.length} bad, ${(finished / s).toFixed(1)} cases/s\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, lane));
  await pool.close();
  fs.rmSync(root, { recursive: true, force: true });
  return { cases: total, bad, seconds: (Date.now() - t0) / 1000, byCode, byCommand };
}

function arg(name: string, def?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

if (require.main === module) {
  const opts: FuzzOptions = {
    cases: Number(arg('cases', '2000')),
    seed: Number(arg('seed', '1')),
    workers: Number(arg('workers', String(Math.max(1, Math.min(2, os.cpus().length))))),
    timeoutMs: Number(arg('timeout', '10')) * 1000,
    save: arg('save', 'fuzz-failures'),
    replay: arg('replay'),
    log: arg('log'),
  };
  runFuzz(opts).then((s) => {
    process.stdout.write(`\n${s.cases} cases in ${s.seconds.toFixed(0)} s (${(s.cases / s.seconds).toFixed(1)} cases/s), seed ${opts.seed}: ${s.bad.length} bad outcome(s)\n`);
    process.stdout.write(`exit codes: ${Object.entries(s.byCode).map(([k, v]) => `${k}: ${v}`).join(', ')}; commands: ${Object.entries(s.byCommand).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
    if (s.bad.length && opts.save) process.stdout.write(`saved to ${opts.save}/ (npm run fuzz -- --replay ${opts.save})\n`);
    process.exit(s.bad.length ? 1 : 0);
  });
}
