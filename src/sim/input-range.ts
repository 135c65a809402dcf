/**
 * How much of the net input the board clips. CHaiDNN quantizes the image once, with the first layer's input
 * format (§3.3, §3.4); a DynamicFixed fl chosen without data (XportDNN's default 2,5,2: range ±32 at 8 bit)
 * saturates a mean-subtracted 0..255 input silently, so the commands that see images measure it.
 */
import type { LayerNode, Net } from '../graph/types';
import type { PrecisionBlock } from '../quant/plan';
import type { FixedFormat } from '../chaidnn/format';

/** Warn when more than this fraction of the input values is clipped. */
export const INPUT_CLIP_WARN = 0.01;

export interface InputClip {
  /** the input blob and the layer whose input format quantizes it */
  blob: string;
  layer: string;
  fmt: FixedFormat;
  clipped: number;
  total: number;
}

/** [min, max] of the values a format represents: ±th (Xilinx), [-2^(bw-1), 2^(bw-1)-1]·2^-fl (DynamicFixed). */
export function formatRange(fmt: FixedFormat): [number, number] {
  if (fmt.mode === 'Xilinx') return [-Math.fround(fmt.th), Math.fround(fmt.th)];
  return [-(2 ** (fmt.bw - 1)) * 2 ** -fmt.fl, (2 ** (fmt.bw - 1) - 1) * 2 ** -fmt.fl];
}

/** One quantization step of the format. */
export function formatStep(fmt: FixedFormat): number {
  return fmt.mode === 'Xilinx' ? Math.fround(fmt.th) / (2 ** (fmt.bw - 1) - 1) : 2 ** -fmt.fl;
}

/**
 * How many values the quantizer clamps by more than one step beyond the format's range: a value within a
 * step of the rail (MNIST's 1.0 at fl 7, range ..0.992) loses no more than rounding does.
 */
export function clippedCount(x: ArrayLike<number>, fmt: FixedFormat): number {
  const [lo, hi] = formatRange(fmt);
  const step = formatStep(fmt);
  const a = lo - step;
  const b = hi + step;
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] > b || x[i] < a) n++;
  return n;
}

/** Adds one input's values to `acc` (created on first use). */
export function addInputClip(acc: InputClip | undefined, x: ArrayLike<number>, blob: string, layer: string, fmt: FixedFormat): InputClip {
  const a = acc ?? { blob, layer, fmt, clipped: 0, total: 0 };
  a.clipped += clippedCount(x, fmt);
  a.total += x.length;
  return a;
}

/**
 * The DynamicFixed input format a plan gives the net input: that of the first layer reading it with
 * bw_layer_in and fl_layer_in (CHaiDNN quantizes the image with it).
 */
export function planInputFormat(net: Net, plan: Map<string, PrecisionBlock>): { blob: string; layer: LayerNode; fmt: FixedFormat } | undefined {
  const blob = net.inputs[0]?.name;
  if (blob === undefined) return undefined;
  for (const l of net.layers) {
    if (!l.bottoms.includes(blob)) continue;
    const b = plan.get(l.name);
    if (b && typeof b.bw_layer_in === 'number' && typeof b.fl_layer_in === 'number') {
      return { blob, layer: l, fmt: { mode: 'DynamicFixed', bw: b.bw_layer_in, fl: b.fl_layer_in } };
    }
  }
  return undefined;
}

const pct = (f: number) => `${(100 * f).toFixed(f < 0.001 ? 3 : 1)} %`;

/** The warning for a DynamicFixed input that clips more than INPUT_CLIP_WARN of its values, else undefined. */
export function inputClipWarning(c: InputClip | undefined): string | undefined {
  if (!c || c.total === 0 || c.fmt.mode !== 'DynamicFixed') return undefined;
  const f = c.clipped / c.total;
  if (!(f > INPUT_CLIP_WARN)) return undefined;
  const [lo, hi] = formatRange(c.fmt);
  return `the net input "${c.blob}" saturates: ${pct(f)} of its values lie beyond ${lo}..${hi}, the range of fl_layer_in ${c.fmt.fl} ` +
    `(bw ${c.fmt.bw}) of layer "${c.layer}", and are clipped on the board; ` +
    (c.fmt.fl > 0 ? 'quantize with --fl_bitwidths auto, or a smaller input fl' : 'fl 0 is the smallest CHaiDNN accepts; a first layer in Xilinx mode reads the input at any threshold (quantize --df_input xilinx)');
}

/** The clipped fraction of `images` at the input format of `plan` (quantize: a uniform DynamicFixed fl meets data). */
export function measureInputClip(net: Net, plan: Map<string, PrecisionBlock>, images: { data: ArrayLike<number> }[]): InputClip | undefined {
  const f = planInputFormat(net, plan);
  if (!f) return undefined;
  let acc: InputClip | undefined;
  for (const x of images) acc = addInputClip(acc, x.data, f.blob, f.layer.name, f.fmt);
  return acc;
}
