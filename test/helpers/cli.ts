import { spawnSync } from 'child_process';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '../..');
export const CORPUS = path.resolve(ROOT, '../shared/corpus');

/** Runs the built CLI (dist/, built by test/globalSetup.js) as a user would. */
export function runCli(args: string[], opts: { cwd?: string; input?: string; bin?: string } = {}) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', opts.bin ?? 'chaiq.js'), ...args], {
    cwd: opts.cwd ?? ROOT,
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Runs test/helpers/<script> (plain node on dist/: jest's sandbox slows the simulator's and kernels' loops several
 * times) with `args` and `input` on stdin; returns its stdout parsed as JSON, throws with its stderr if it fails.
 */
export function runNodeHelper<T>(script: string, args: string[] = [], input?: string): T {
  const r = spawnSync(process.execPath, [path.join(__dirname, script), ...args], { input, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${script} exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** stderr without the warnings about the board's input (CHaiDNN's image reader: no input scale, per-channel mean) */
export function withoutBoardWarnings(stderr: string): string {
  return stderr.split('\n').filter((l) => !/CHaiDNN's image reader/.test(l)).join('\n');
}

/**
 * The CLI's main() in this process, stdout and stderr captured: what runCli gives without a node start and a
 * load of dist/ per call (most of the cost of a small command). For tests about what a command computes; the
 * process boundary itself (bin/chaiq.js, exit status, stdin) is runCli's.
 */
export async function runMain(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import('../../src/cli/main');
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  const cap = (add: (s: string) => void) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      add(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
      if (cb) cb();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = cap((s) => (stdout += s));
  process.stderr.write = cap((s) => (stderr += s));
  process.exitCode = undefined;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = undefined;
  }
}
