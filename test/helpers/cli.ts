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

/** stderr without the warnings about the board's input (CHaiDNN's image reader: no input scale, per-channel mean) */
export function withoutBoardWarnings(stderr: string): string {
  return stderr.split('\n').filter((l) => !/CHaiDNN's image reader/.test(l)).join('\n');
}
