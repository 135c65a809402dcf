/**
 * The accuracy-recovery stages of `quantize` (issue 14), each a function the command calls in one line:
 * they rewrite the float model and hand back the rebuilt net.
 */
import type { Net } from '../graph/types';
import type { NetParam } from '../proto/message';
import type { Rewritten } from '../quant/rewrite';
import { equalizeNet, unpairedConvolutions } from './equalize';
import { biasCorrector, correctBiases, type CorrectedLayer } from './bias-correction';
import { optimizeRounding } from './rounding';
import type { PrecisionPlan } from '../quant/plan';
import type { Tensor } from '../tensor';
import type { WarnFn } from '../errors';

/** A progress bar as src/cli/progress.ts makes it. */
export interface Progress {
  tick(n: number): void;
  stop(): void;
}

type Rebuild = (r: Rewritten) => { net: Net; netParam: NetParam };

/** --equalize: cross-layer equalization of every eligible conv pair. */
export function equalizeStage(net: Net, netParam: NetParam, rebuild: Rebuild, opts: { info: (msg: string) => void; warn: WarnFn; flag: string; file?: string }): { net: Net; netParam: NetParam } {
  const r = equalizeNet(net, netParam);
  if (!r.pairs.length) {
    // the flag was asked for and changes nothing: a warning, with what stands in the way
    opts.warn(`${opts.flag}: ${noPairReason(unpairedConvolutions(net))}; nothing equalized`, opts.file ? { file: opts.file } : {});
    return { net, netParam };
  }
  const lo = Math.min(...r.pairs.map((p) => p.minFactor));
  const hi = Math.max(...r.pairs.map((p) => p.maxFactor));
  opts.info(`equalized ${r.pairs.length} convolution pairs (channel factors ${lo.toPrecision(3)} to ${hi.toPrecision(3)})`);
  return rebuild(r);
}

/** Why no pair was found, the first few convolutions' reasons named. */
function noPairReason(why: string[]): string {
  if (!why.length) return 'the net has no convolution with weights';
  const shown = why.slice(0, 4).join(', ') + (why.length > 4 ? `, and ${why.length - 4} more` : '');
  return `no conv → conv pair with only ReLU or pooling layers between them (${shown})`;
}

/** --bias_correction: IBC on the calibration images, after the plan is made; the plan stays valid. `opts.reference`: the float net to match, when `net` was already rewritten (rounded). */
export async function biasCorrectionStage(
  net: Net, netParam: NetParam, plan: PrecisionPlan, images: Tensor[], rebuild: Rebuild,
  opts: { warn: WarnFn; info: (msg: string) => void; progress: (total: number, label: string) => Progress; reference?: Net },
): Promise<Net> {
  const n = net.layers.filter((l) => l.def?.fixed === 'conv' && plan.has(l.name)).length;
  const bar = opts.progress(n, 'bias correction');
  let r;
  try {
    r = await correctBiases({ net, netParam, plan, images, reference: opts.reference, warn: opts.warn, onLayer: () => bar.tick(1) });
  } finally {
    bar.stop();
  }
  reportBiasCorrection(net, r.corrected, r.weights, images.length, opts.info, '');
  return rebuild({ net: netParam, weights: r.weights }).net;
}

/** The summary line of a bias correction: how many convs moved their bias, and the largest mean error measured. */
function reportBiasCorrection(net: Net, corrected: CorrectedLayer[], weights: Map<string, Tensor[]>, images: number, info: (msg: string) => void, how: string): void {
  const moved = corrected.filter((c) => {
    const before = net.layers.find((l) => l.name === c.layer)!.blobs[1].data;
    const after = weights.get(c.layer)![1].data;
    return before.some((v, i) => v !== after[i]);
  }).length;
  const worst = Math.max(0, ...corrected.map((c) => Math.max(...Array.from(c.meanError, Math.abs))));
  info(`bias correction: ${moved} of ${corrected.length} convolutions moved their bias (largest mean error measured ${worst.toPrecision(3)}) on ${images} images${how}`);
}

/**
 * --optimize_rounding: each HW conv's weights rounded to minimise its output error, on the plan's grids. With
 * `biasCorrection` (both flags), the two run in one sweep in net order: each conv is fitted with the convs
 * before it rounded and bias-corrected, on the error about its mean (the bias correction after it removes the
 * mean), then its bias is corrected against the original float net.
 */
export async function roundingStage(
  net: Net, netParam: NetParam, plan: PrecisionPlan, images: Tensor[], rebuild: Rebuild,
  opts: { seed: number; warn: WarnFn; info: (msg: string) => void; progress: (total: number, label: string) => Progress; biasCorrection?: boolean },
): Promise<Net> {
  const convs = net.layers.filter((l) => l.def?.fixed === 'conv' && plan.has(l.name)).length;
  const bar = opts.progress(opts.biasCorrection ? 2 * convs : convs, opts.biasCorrection ? 'optimizing rounding, bias correction' : 'optimizing rounding');
  let r;
  let bc;
  try {
    bc = opts.biasCorrection ? await biasCorrector({ net, netParam, plan, images, warn: opts.warn, onLayer: () => bar.tick(1) }) : undefined;
    const joint = bc ? { centered: true, beforeLayer: (node: { index: number }, w: Map<string, Tensor[]>) => bc!.run(w, node.index) } : {};
    r = await optimizeRounding({ net, netParam, plan, images, seed: opts.seed, warn: opts.warn, onLayer: () => bar.tick(1), ...joint });
    await bc?.run(r.weights);
  } finally {
    bar.stop();
  }
  const before = r.layers.reduce((a, l) => a + l.before, 0);
  const after = r.layers.reduce((a, l) => a + l.after, 0);
  const flipped = r.layers.reduce((a, l) => a + l.flipped, 0);
  opts.info(`optimized rounding of ${r.layers.length} convolutions: ${flipped} weights rounded the other way, summed output ${bc ? 'error variance' : 'MSE'} ${before.toPrecision(3)} → ${after.toPrecision(3)} on ${images.length} images`);
  if (bc) reportBiasCorrection(net, bc.corrected, r.weights, images.length, opts.info, ', each after the rounding of the convolutions before it');
  return rebuild({ net: netParam, weights: r.weights }).net;
}
