/**
 * The image/MNIST input flags shared by quantize, simulate and forward: XportDNN's preprocessing
 * options (chaidnn-semantics.md §4.1) → an io/images `Preprocess`, and inputs → tensors.
 */
import type { Argv } from 'yargs';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import { loadMeanFile, meanForDims } from '../io/images';
import type { Preprocess } from '../io/images';
import { loadModelWithDims as loadModel } from '../pipeline/load';
import { withFlags } from './flags';
import { withExit2 } from '../io/net-input';
export { netInputDims } from '../pipeline/load';
import type { LoadedModel } from '../graph/load';

const usage = (msg: string) => new ChaiqError(msg, {}, 2);

/** `6,6,8` → numbers (python-eval style lists with brackets accepted, as XportDNN's eval()). */
export function parseList(s: string, what: string, n?: number): number[] {
  const t = String(s).trim().replace(/^[[(]|[\])]$/g, '');
  const v = t.split(/[,\s]+/).filter(Boolean).map(Number);
  if (v.length === 0 || v.some((x) => !Number.isFinite(x)) || (n !== undefined && v.length !== n))
    throw usage(`--${what} must be ${n ?? 'a list of'}${n ? ' comma-separated numbers' : ' numbers'}, got '${s}'`);
  return v;
}

/** The parsed preprocessing flags (yargs names). */
export interface PreprocessArgs {
  dims?: string;
  /** N,C,H,W the net is built with (overrides the prototxt) */
  input_shape?: string;
  /** image flags: undefined when not given (their defaults are applied by buildPreprocess) */
  transpose?: string;
  channel_swap?: string;
  raw_scale?: number;
  mean_value?: string;
  mean_file?: string;
  input_scale?: number;
  /** a factor on the --mean_file image (the `# input:` line of a rewritten net may name one) */
  mean_file_scale?: number;
}

/**
 * Adds XportDNN's preprocessing options and --input_shape. The image flags have no yargs defaults, so that
 * flags given explicitly can be told apart (buildPreprocess applies XportDNN's defaults).
 */
export function preprocessOptions<T>(y: Argv<T>, opts: { mnist?: boolean } = {}) {
  const withMnist = (d: string, m: string) => (opts.mnist ? `default ${d} (${m} with --mnist)` : `default ${d}`);
  const header = 'or what the `# input:` line of a --optimized_weights prototxt says';
  return y
    .option('input_shape', { type: 'string', describe: 'N,C,H,W the net runs at, e.g. 1,3,344,450 for a fully convolutional net (overrides the prototxt)' })
    .option('dims', { type: 'string', describe: 'C,H,W of the input (XportDNN\'s flag; default: the Input layer or --input_shape, and must agree with it)' })
    .option('transpose', { type: 'string', describe: 'images: axis order applied to the HWC image; default 2,0,1' })
    .option('channel_swap', { type: 'string', describe: 'images: channel order; default 2,1,0 (RGB → BGR), 0 on a 1-channel net' })
    .option('raw_scale', { type: 'number', describe: `images: pixels in [0,1] times this; ${withMnist('255.0', '1.0')}, ${header}` })
    .option('mean_value', { type: 'string', describe: `images: per-channel mean subtracted after raw_scale; ${withMnist('104,117,123', '0')}, ${header}` })
    .option('mean_file', { type: 'string', describe: 'images: mean image (.binaryproto or .npy), instead of --mean_value' })
    .option('input_scale', { type: 'number', describe: `images: multiplier after the mean; default 1.0` });
}

/**
 * Deploy prototxt (+ caffemodel) → model, with `--dims` checked before the net is built and used as
 * its input shape (a Data-layer net gets one); `inputShape` (N,C,H,W) overrides both (pipeline/load).
 */
export function loadModelWithDims(deploy: string, weightsFile: string | undefined, dimsArg: string | undefined,
  opts: { warn: WarnFn; inputShape?: number[] }): { model: LoadedModel; dims?: [number, number, number] } {
  const dims = dimsArg === undefined ? undefined : parseList(dimsArg, 'dims', 3);
  return withFlags(() => loadModel({ deploy, weights: weightsFile, dims, inputShape: opts.inputShape, warn: opts.warn }));
}

/** The Preprocess of the flags: raw_scale 255 and mean 104,117,123 by default, 1 and 0 for MNIST. */
export function buildPreprocess(args: PreprocessArgs, dims: [number, number, number], opts: { mnist?: boolean } = {}): Preprocess {
  if (args.mean_file !== undefined && args.mean_value !== undefined) throw usage('give --mean_value or --mean_file, not both');
  const mnist = !!opts.mnist;
  const C = dims[0];
  if (C !== 1 && C !== 3)
    throw usage(`image inputs fit 1- or 3-channel nets; this net input has ${C} channels (${dims.join('×')}): give the net input itself as .npy files (C,H,W or N,C,H,W)`);
  let mean: number[] | Float32Array;
  if (args.mean_file !== undefined) {
    mean = withExit2(() => meanForDims(loadMeanFile(args.mean_file!), dims), args.mean_file);
    const k = args.mean_file_scale;
    if (k !== undefined && k !== 1) mean = Float32Array.from(mean, (v) => v * k);
  } else if (args.mean_value !== undefined) {
    mean = parseList(args.mean_value, 'mean_value');
    if (mean.length !== 1 && mean.length !== C) throw usage(`--mean_value has ${mean.length} values, the input has ${C} channel${C > 1 ? 's' : ''}`);
  } else if (mnist) mean = [0];
  else if (C === 1) {
    // no default fits: XportDNN's is a BGR ImageNet mean
    throw usage('the default --mean_value 104,117,123 (XportDNN\'s, a BGR ImageNet mean) does not fit this 1-channel net: give the mean it was trained with, e.g. --mean_value 0');
  } else mean = [104, 117, 123];
  const pre: Preprocess = {
    dims,
    transpose: parseList(args.transpose ?? '2,0,1', 'transpose', 3),
    // one channel has one order: the RGB → BGR default applies to colour nets only
    channelSwap: args.channel_swap !== undefined ? parseList(args.channel_swap, 'channel_swap') : C === 1 ? [0] : [2, 1, 0],
    rawScale: args.raw_scale ?? (mnist ? 1 : 255),
    mean,
    inputScale: args.input_scale ?? 1,
  };
  return pre;
}


// moved to io/net-input (the library reads inputs too); re-exported for the commands that import them from here
export { loadInputImage, openMnist } from '../io/net-input';
export type { MnistInputs } from '../io/net-input';
export { boardInputWarning, boardMeanWarning, boardScale } from '../pipeline/board';
