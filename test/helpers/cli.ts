import { fork, spawnSync, type ChildProcess } from 'child_process';
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

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The CLI's main() in one plain node process per test file (test/helpers/cli-server.js), commands run one after
 * the other: runCli's results without a node start and a load of dist/ per command. For tests about what a
 * command computes or prints; the process itself (bin/chaiq.js, stdin, environment, a fresh process per run) is
 * runCli's. `env` is added to the process's environment. Call close() in afterAll.
 */
export function cliServer(env: Record<string, string> = {}): { run(args: string[]): Promise<CliResult>; close(): void } {
  let child: ChildProcess | undefined;
  let next = 0;
  const pending = new Map<number, { resolve: (r: CliResult) => void; reject: (e: Error) => void }>();
  const start = () => {
    const c = fork(path.join(__dirname, 'cli-server.js'), [], { cwd: ROOT, env: { ...process.env, ...env }, execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    c.on('message', (m: CliResult & { id: number }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      p?.resolve({ code: m.code, stdout: m.stdout, stderr: m.stderr });
    });
    c.on('exit', (code, signal) => {
      if (child === c) child = undefined;
      for (const p of pending.values()) p.reject(new Error(`cli-server exited (${signal ?? code}) during a command`));
      pending.clear();
    });
    c.unref();
    (c.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
    return c;
  };
  return {
    run(args: string[]) {
      child ??= start();
      const id = next++;
      const c = child;
      return new Promise<CliResult>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        (c.channel as unknown as { ref?: () => void } | undefined)?.ref?.();
        c.send({ id, args });
      }).finally(() => {
        if (pending.size === 0) (c.channel as unknown as { unref?: () => void } | undefined)?.unref?.();
      });
    },
    close() {
      child?.disconnect();
      child = undefined;
    },
  };
}
