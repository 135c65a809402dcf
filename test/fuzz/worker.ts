/**
 * A fuzz worker thread: runs chaiq commands in-process (main(argv)) on the files of each case, with
 * stdout/stderr captured, and reports the exit code, the output and what the run left in out/.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parentPort } from 'worker_threads';
import { main } from '../../src/cli/main';

interface Job {
  dir: string;
  files: [string, Uint8Array][];
  argv: string[];
}

export interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  /** files under out/ and temporaries anywhere in the case directory */
  left: string[];
  ms: number;
}

function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(r + '/', ...walk(dir, r));
    else out.push(r);
  }
  return out;
}

async function run(job: Job): Promise<Outcome> {
  fs.rmSync(job.dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(job.dir, 'out'), { recursive: true });
  for (const [rel, data] of job.files) {
    fs.mkdirSync(path.dirname(path.join(job.dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(job.dir, rel), data);
  }
  const before = new Set(walk(job.dir));
  const argv = job.argv.map((a) => a.replace(/^@\//, job.dir + '/'));
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  const cap = (add: (s: string) => void) =>
    ((chunk: any, ...rest: any[]) => {
      add(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cb = rest.find((x) => typeof x === 'function');
      if (cb) cb();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = cap((s) => {
    if (stdout.length < 20000) stdout += s;
  });
  process.stderr.write = cap((s) => {
    if (stderr.length < 1_000_000) stderr += s;
  });
  process.exitCode = undefined;
  const t0 = Date.now();
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    code = 99;
    stderr += `harness: main threw: ${(e as Error)?.stack ?? e}\n`;
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = undefined;
  }
  const ms = Date.now() - t0;
  const left = walk(job.dir).filter((f) => !before.has(f) && (f.startsWith('out/') || /\.tmp$/.test(f)) && f !== 'out/');
  fs.rmSync(job.dir, { recursive: true, force: true });
  return { code, stdout, stderr, left, ms };
}

parentPort!.on('message', async (job: Job) => {
  parentPort!.postMessage(await run(job));
});
parentPort!.postMessage('ready');
