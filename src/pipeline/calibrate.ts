/**
 * Calibrate: activation statistics of the float net over the calibration inputs (quant/calibrate), or XportDNN's
 * progressive thresholds (calib/progressive), as a threshold per blob version for the planner.
 */
import * as path from 'path';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import type { Net } from '../graph/types';
import type { Preprocess } from '../io/images';
import { progressiveThresholds, stackBatch } from '../quant/progressive';
import type { StatsCollector } from '../calib/stats';
import type { ThresholdMethod } from '../calib/threshold';
import { collectStats, thresholdsFromStats } from '../quant/calibrate';
import type { Bitwidths } from '../quant/xilinx';
import type { Tensor } from '../tensor';
import type { ProgressFactory } from './types';
import { noProgress } from './types';

export interface StatsOptions {
  method: ThresholdMethod;
  warn: WarnFn;
  /** statistics to continue from (sharded KL: pass-1 statistics, the exact pass to run) */
  given?: StatsCollector;
  /** the first pass only (a shard) */
  pass1Only?: boolean;
  allowNonfinite?: boolean;
  /** recorded in the statistics: what was calibrated (dims, preprocessing, prototxt name) */
  settings: { bw: number; calibration: Record<string, unknown> };
  /** the file NaN/Inf activations come from when the net names none */
  weightsFile: string;
  progress?: ProgressFactory;
  threads?: number;
}

/** Statistics of the float net over `images` (KL: two passes). */
export async function calibrateStats(net: Net, images: Tensor[], o: StatsOptions): Promise<StatsCollector> {
  const passes = o.method === 'kl' && !o.pass1Only && !o.given ? 2 : 1;
  const bar = (o.progress ?? noProgress)(images.length * passes, 'calibrating');
  try {
    return await collectStats(net, images, {
      method: o.method,
      warn: o.warn,
      stats: o.given,
      pass1Only: o.pass1Only,
      allowNonFinite: !!o.allowNonfinite,
      settings: o.settings,
      threads: o.threads,
      onProgress: (d) => bar.tick(d),
    });
  } catch (e) {
    // bad values in the activations come from the weights (or the net): name the file
    if (e instanceof ChaiqError && !e.loc.file) e.loc = { file: o.weightsFile };
    throw e;
  } finally {
    bar.stop();
  }
}

/** What the statistics record about the calibration (shards must agree on it to merge). */
export function calibrationSettings(pre: Preprocess, deploy: string, o: { tensors: boolean; meanFile?: string }): Record<string, unknown> {
  const dims = pre.dims;
  // a mean image is recorded by its file name, not its C·H·W values
  return o.tensors ? { dims, input: 'npy', deploy: path.basename(deploy) }
    : { dims, raw_scale: pre.rawScale, ...(o.meanFile !== undefined ? { mean_file: path.basename(o.meanFile) } : { mean: pre.mean }), input_scale: pre.inputScale, deploy: path.basename(deploy) };
}

/** A threshold per blob version, and where each came from (the method, or its fallback). */
export interface Thresholds {
  thOf: ReturnType<typeof thresholdsFromStats>['thOf'];
  report: { method: Map<string, string> };
  /** shared groups' thresholds chosen by --th_search group (buildXilinxPlan's groupTh) */
  groupTh?: ReadonlyMap<string, number>;
}

/** Thresholds from statistics (`method` on each blob's histogram). */
export function thresholdsOf(net: Net, stats: StatsCollector, method: ThresholdMethod, bw: number, warn: WarnFn): Thresholds {
  return thresholdsFromStats(net, stats, method, bw, warn);
}

/** XportDNN's progressive calibration: all images as one batch, layer by layer on the quantized net. */
export async function progressiveCalibration(net: Net, images: Tensor[], o: { bitwidths: Bitwidths; method: ThresholdMethod; pow2: boolean; warn: WarnFn; progress?: ProgressFactory }): Promise<Thresholds> {
  const bar = (o.progress ?? noProgress)(net.layers.length, 'calibrating (progressive)', 'layers');
  try {
    const r = await progressiveThresholds(net, stackBatch(images), { bitwidths: o.bitwidths, method: o.method, pow2: o.pow2, warn: o.warn, onProgress: () => bar.tick(1) });
    return { thOf: r.thOf, report: { method: r.method } };
  } finally {
    bar.stop();
  }
}
