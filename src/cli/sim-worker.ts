/**
 * A simulation worker thread: rebuilds the run from the command's arguments (the same code as the main
 * thread, so the same net, weights and inputs), then simulates the images it is handed and returns its
 * accumulators. Its warnings go to the main thread, which prints each once.
 */
import { parentPort, workerData } from 'worker_threads';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import { setThreads } from '../kernels';
import { nonFiniteGuard, prepareSimulate } from './commands/simulate';
import { simulateImage } from '../sim/parallel';
import type { WorkerSetup } from '../sim/parallel';
import { accumulatorsJSON, newSimAccumulators } from '../sim/results';
import { provideWeights } from '../shared-weights';

async function serve(setup: WorkerSetup): Promise<void> {
  const port = parentPort!;
  setThreads(setup.kernelThreads);
  const fail = (e: unknown) => {
    if (e instanceof ChaiqError) port.postMessage({ type: 'error', message: e.message, loc: e.loc, exitCode: e.exitCode });
    else port.postMessage({ type: 'error', message: (e as Error)?.stack ?? String(e), exitCode: 70, internal: true });
  };
  try {
    if (setup.weights) provideWeights(String(setup.args.weights), setup.weights);
    // the main thread has said the setup's warnings already
    const s = await prepareSimulate(setup.args as any, () => undefined);
    const warn: WarnFn = (message, loc) => port.postMessage({ type: 'warn', message, loc });
    s.prog.warn = warn;
    const args = setup.args as any;
    const runner = { net: s.net, prog: s.prog, outBlob: s.outBlob, metrics: s.metrics, top: args.top, warn, guard: (name: string, w: WarnFn) => nonFiniteGuard(name, !!args.allow_nonfinite, w) };
    const acc = newSimAccumulators();
    let busy = Promise.resolve();
    port.on('message', (m: { type: 'run'; index: number } | { type: 'finish' }) => {
      busy = busy.then(async () => {
        if (m.type === 'run') {
          await simulateImage(runner, s.samples[m.index], acc);
          port.postMessage({ type: 'done', index: m.index });
        } else port.postMessage({ type: 'result', acc: accumulatorsJSON(acc) });
      }).catch(fail);
    });
    port.postMessage({ type: 'ready' });
  } catch (e) {
    fail(e);
  }
}

void serve(workerData as WorkerSetup);
