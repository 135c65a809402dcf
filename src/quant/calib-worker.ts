/**
 * A calibration worker thread: rebuilds the float net from the layers' parameters and blobs, then runs the
 * images it is handed (pass 1: statistics and each image's Σx, Σx²; pass 2: the exact histograms planned from
 * the merged pass-1 statistics) and returns its collector. Warnings go to the main thread.
 */
import { parentPort, workerData } from 'worker_threads';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import { setThreads } from '../kernels';
import { buildNet } from '../graph/build';
import { StatsCollector } from '../calib/stats';
import { observeImage } from './calibrate-image';
import type { CalibWorkerSetup, ImageSums } from './calibrate-parallel';
import type { Tensor } from '../tensor';
import { sharedWeightMap } from '../shared-weights';

async function serve(setup: CalibWorkerSetup & { pass1?: unknown }): Promise<void> {
  const port = parentPort!;
  const fail = (e: unknown) => {
    if (e instanceof ChaiqError) port.postMessage({ type: 'error', message: e.message, loc: e.loc, exitCode: e.exitCode });
    else port.postMessage({ type: 'error', message: (e as Error)?.stack ?? String(e), exitCode: 70, internal: true });
  };
  try {
    setThreads(setup.kernelThreads);
    const n = setup.net;
    const net = buildNet({ name: n.name, layer: n.layers } as any, { weights: sharedWeightMap(n.weights), inputShape: n.inputShape, phase: n.phase });
    net.layers.forEach((l, i) => (l.loc = n.locs[i]));
    net.file = n.file;
    const warn: WarnFn = (message, loc) => port.postMessage({ type: 'warn', message, loc });
    const opts = { method: 'max' as const, warn, allowNonFinite: setup.allowNonFinite };
    const pass = setup.pass1 ? 2 : 1;
    const chunk = setup.pass1 ? StatsCollector.fromJSON(setup.pass1) : new StatsCollector(setup.settings as any);
    if (pass === 2) chunk.beginExactPass();
    const warned = new Set<string>();
    let busy = Promise.resolve();
    port.on('message', (m: { type: 'run'; index: number; image: Tensor } | { type: 'finish' }) => {
      busy = busy.then(async () => {
        if (m.type === 'finish') {
          port.postMessage({ type: 'result', stats: chunk.toJSON() });
          return;
        }
        if (pass === 2) {
          await observeImage(net, m.image, m.index, chunk, 2, opts, warned);
          port.postMessage({ type: 'done', index: m.index });
          return;
        }
        // a collector of its own per image: its Σx, Σx² are this image's alone
        const one = new StatsCollector(setup.settings as any);
        await observeImage(net, m.image, m.index, one, 1, opts, warned);
        const sums: ImageSums = {};
        for (const [k, b] of one.blobs) sums[k] = [b.sum, b.sumSq];
        chunk.merge(one, 'calibration image');
        port.postMessage({ type: 'done', index: m.index, sums });
      }).catch(fail);
    });
    port.postMessage({ type: 'ready' });
  } catch (e) {
    fail(e);
  }
}

void serve(workerData);
