/** The `# input:` line of a prototxt written for the board: what its rewritten net takes (read back by simulate). */
import type { Preprocess } from '../io/images';

const num = (x: number) => (Number.isInteger(x) ? x.toFixed(1) : String(x));

/**
 * The line that says what a rewritten net takes, for a preprocessing whose board scale is 1 (raw_scale ×
 * input_scale = 255): pixels 0..255 minus a per-channel mean (times input_scale, which scales the mean too),
 * or the --mean_file image times `meanImageScale`; no scale; the channel order when it is not the BGR of
 * CHaiDNN's reader.
 */
export function inputHeaderLine(pre: Preprocess, meanImageScale = 1): string {
  const m = pre.mean;
  const mean = m instanceof Float32Array ? `the mean image of --mean_file${meanImageScale !== 1 ? ` × ${num(meanImageScale)}` : ''}` : m.map((x) => num(x * pre.inputScale)).join(',');
  const swap = pre.dims[0] === 3 && pre.channelSwap.join(',') !== '2,1,0' ? `; channel_swap ${pre.channelSwap.join(',')} (the reader gives BGR, 2,1,0)` : '';
  return `# input: pixels 0..255 minus ${mean}, no scale (as CHaiDNN's image reader feeds it)${swap}`;
}
