/** What CHaiDNN's image reader feeds the board (chaidnn-semantics §3.3), against the preprocessing calibrated with. */
import type { Preprocess } from '../io/images';

/**
 * The factor between the net input this preprocessing makes and what CHaiDNN's image reader feeds the board,
 * BGR pixels 0..255 minus the mean with neither raw_scale nor input_scale (§3.3): x_net = x_board·boardScale.
 */
export function boardScale(pre: Preprocess): number {
  return Math.fround(pre.inputScale * (pre.rawScale / 255));
}

/** A warning when the board would feed the input at another scale than the one calibrated here (CHaiDNN issues #53, #120). */
export function boardInputWarning(pre: Preprocess, fix: string): string | undefined {
  const s = boardScale(pre);
  if (s === 1) return undefined;
  return `CHaiDNN's image reader feeds pixels (0..255) minus the mean, with no raw_scale (here ${pre.rawScale}) or input_scale ` +
    `(here ${pre.inputScale}): the board's input is ${Number((1 / s).toPrecision(6))}× the one used here; ${fix}`;
}

/** A warning when the mean is an image: CHaiDNN's reader subtracts one value per channel (§3.3). */
export function boardMeanWarning(pre: Preprocess): string | undefined {
  if (Array.isArray(pre.mean)) return undefined;
  const [C, H, W] = pre.dims;
  const per = H * W;
  const avg = Array.from({ length: C }, (_, c) => {
    let t = 0;
    for (let i = 0; i < per; i++) t += pre.mean[c * per + i];
    return (t / per).toFixed(1);
  });
  return `CHaiDNN's image reader subtracts one mean per channel, not a mean image: the board will subtract per-channel values (these channel averages are ${avg.join(',')}), not the image used here`;
}
