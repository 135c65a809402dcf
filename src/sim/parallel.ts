/**
 * Simulation over many images: one image at a time on this thread, or spread over worker threads (one net
 * per worker, cli/sim-worker.ts). Images are handed out as workers free up; since every image's figures are
 * summed exactly (results.ts), the merged accumulators do not depend on which worker ran which image.
 */
import { runOnWorkers } from '../workers';
import type { WarnFn } from '../errors';
import type { Net, LayerNode } from '../graph/types';
import type { Tensor } from '../tensor';
import { runNet } from '../exec/executor';
import { addClassification } from './metrics';
import { newSimStats, runSim } from './simulate';
import type { SimProgram, SimResult } from './simulate';
import { accumulatorsFromJSON, addFixedClassification, addImageStats, mergeAccumulators, newSimAccumulators } from './results';
import type { MetricsLevel, SimAccumulators } from './results';
import type { SharedWeights } from '../shared-weights';

export interface SimSample {
  name: string;
  /** class index, -1 unknown */
  label: number;
  load: () => Promise<Tensor>;
}

/** How one image is simulated and scored. */
export interface ImageRunner {
  net: Net;
  prog: SimProgram;
  outBlob: string;
  metrics: MetricsLevel;
  top: number;
  warn: WarnFn;
  /** the NaN/Inf check of the float run on one sample (metrics 'layers') */
  guard: (sample: string, warn: WarnFn) => (node: LayerNode, tops: Tensor[]) => void;
  /** keep every blob (--output_dir, --report: main thread only) */
  keepAll?: boolean;
  /** the blobs to keep otherwise (default: the output blob) */
  keep?: string[];
  /** --float_layers */
  floatLayers?: Set<string>;
  onResult?: (r: SimResult) => void;
}

/** Runs one image and adds its figures to `acc`. */
export async function simulateImage(run: ImageRunner, s: SimSample, acc: SimAccumulators): Promise<void> {
  const x = await s.load();
  const label = s.label >= 0 ? s.label : undefined;
  const keep = run.keepAll ? 'all' : run.keep ?? [run.outBlob];
  acc.images++;
  if (run.metrics === 'layers') {
    const onReference = run.guard(s.name, run.warn);
    const net = run.net;
    onReference(net.layers.find((l) => l.tops.includes(net.inputs[0].name)) ?? net.layers[0], [x]);
    const stats = newSimStats();
    const r = await runSim(run.prog, x, { stats, keep, onReference, floatLayers: run.floatLayers });
    run.onResult?.(r);
    addImageStats(acc, stats);
    const fx = r.outputs.get(run.outBlob);
    const fl = r.reference.get(run.outBlob);
    if (fx && fl) addClassification(acc.classification, fl.data, fx.data, label, run.top);
    return;
  }
  // the fixed chain alone; the float net (the fast executor) only for the agreement figures
  const stats = newSimStats();
  const r = await runSim(run.prog, x, { stats, keep, reference: false, floatLayers: run.floatLayers });
  // 'agreement': the float net's outputs stand in as the result's reference (detection agreement reads them)
  if (run.metrics === 'agreement') for (const [b, t] of await runNet(run.net, x, { keep: [run.outBlob], warn: run.warn, reuseBuffers: true })) r.reference.set(b, t);
  run.onResult?.(r);
  if (stats.input) addImageStats(acc, { layers: new Map(), input: stats.input });
  const fx = r.outputs.get(run.outBlob);
  if (!fx) return;
  if (run.metrics === 'none') {
    addFixedClassification(acc.classification, fx.data, label, run.top);
    return;
  }
  const fl = r.reference.get(run.outBlob);
  if (fl) addClassification(acc.classification, fl.data, fx.data, label, run.top);
}

/** What a worker needs to rebuild the run: the command's arguments, and how many kernel threads it may use. */
export interface WorkerSetup {
  args: Record<string, unknown>;
  kernelThreads: number;
  /** the net's blobs, shared by every worker (read instead of the caffemodel) */
  weights?: SharedWeights;
}


/**
 * Simulates the samples `indices` on `workers` worker threads, each of which rebuilds the run from `setup.args`
 * (the same code path as this thread). Worker warnings are printed once each; the first error ends the run.
 */
export async function simulateOnWorkers(script: string, setup: WorkerSetup, indices: number[], workers: number, warn: WarnFn, onDone: () => void): Promise<SimAccumulators> {
  const acc = newSimAccumulators();
  await runOnWorkers<object, { acc: unknown }>({
    script, workerData: setup, workers, indices, what: 'simulation', warn,
    onDone: () => onDone(),
    onResult: (m) => mergeAccumulators(acc, accumulatorsFromJSON(m.acc)),
  });
  return acc;
}
