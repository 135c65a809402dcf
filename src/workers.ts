/**
 * A pool of worker threads that take indexed jobs one at a time, as they free up (image-level calibration and
 * simulation). The protocol: a worker says `ready`, gets `run` jobs and says `done` after each, gets `finish` when
 * none are left and answers with its `result`; `warn` and `error` may come at any time. Warnings are said once each;
 * the first error ends the run.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { ChaiqError } from './errors';
import type { SourceLoc, WarnFn } from './errors';

export type FromWorker<Done, Result> =
  | { type: 'ready' }
  | ({ type: 'done'; index: number } & Done)
  | { type: 'warn'; message: string; loc?: SourceLoc }
  | ({ type: 'result' } & Result)
  | { type: 'error'; message: string; loc?: SourceLoc; exitCode: number; internal?: boolean };

export interface WorkerPoolRun<Done, Result> {
  /** the compiled worker script */
  script: string;
  workerData: unknown;
  workers: number;
  /** the jobs, in the order they are handed out */
  indices: number[];
  /** the `run` message of job `index` (default `{ index }`) */
  job?: (index: number) => Record<string, unknown>;
  /** names the workers in the exit message ('calibration', 'simulation') */
  what: string;
  warn?: WarnFn;
  onDone: (m: { index: number } & Done) => void;
  onResult: (m: Result) => void;
}

export async function runOnWorkers<Done = object, Result = object>(o: WorkerPoolRun<Done, Result>): Promise<void> {
  const warned = new Set<string>();
  const pool: Worker[] = [];
  let next = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let live = Math.min(o.workers, o.indices.length);
      if (live === 0) return resolve();
      let failed = false;
      const fail = (e: Error) => {
        if (failed) return;
        failed = true;
        reject(e);
      };
      for (let w = 0; w < live && !failed; w++) {
        const worker = new Worker(o.script, { workerData: o.workerData });
        pool.push(worker);
        const feed = () => {
          if (failed) return;
          if (next < o.indices.length) {
            const index = o.indices[next++];
            worker.postMessage({ type: 'run', index, ...(o.job?.(index) ?? {}) });
          } else worker.postMessage({ type: 'finish' });
        };
        worker.on('message', (m: FromWorker<Done, Result>) => {
          switch (m.type) {
            case 'ready': feed(); break;
            case 'done': o.onDone(m); feed(); break;
            case 'warn': {
              const key = `${m.message}\u0000${JSON.stringify(m.loc ?? {})}`;
              if (!warned.has(key)) o.warn?.(m.message, m.loc);
              warned.add(key);
              break;
            }
            case 'result':
              o.onResult(m);
              if (--live === 0) resolve();
              break;
            case 'error':
              fail(m.internal ? new Error(m.message) : new ChaiqError(m.message, m.loc ?? {}, m.exitCode));
              break;
          }
        });
        worker.on('error', fail);
        worker.on('exit', (code) => {
          if (code !== 0) fail(new Error(`${o.what} worker exited with code ${code}`));
        });
      }
    });
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

/**
 * The compiled worker script `<folder>/<name>.js` under `src/` (next to the caller when it runs from dist/, else
 * from dist/ when it runs from the TypeScript sources, as in jest). `what` names the workers in the error.
 */
export function workerScript(callerDir: string, folder: string, name: string, what: string): string {
  const here = path.join(callerDir, `${name}.js`);
  if (fs.existsSync(here)) return here;
  const built = path.resolve(callerDir, `../../dist/src/${folder}/${name}.js`);
  if (fs.existsSync(built)) return built;
  throw new ChaiqError(`internal: the ${what} worker script is missing (${here}); run \`npm run build\``, {}, 70);
}
