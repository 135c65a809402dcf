/**
 * The image/MNIST input flags shared by quantize, simulate and forward: XportDNN's preprocessing
 * options (chaidnn-semantics.md §4.1) → an io/images `Preprocess`, and inputs → tensors.
 */
import type { Argv } from 'yargs';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import { buildNet } from '../graph/build';
import type { Net } from '../graph/types';
import { loadImage, loadMeanFile, meanForDims, preprocess } from '../io/images';
import type { Preprocess } from '../io/images';
import { loadMnist } from '../io/mnist';
import { readCaffemodel } from '../proto/caffemodel';
import { loadNetText } from '../graph/load';
import type { LoadedModel } from '../graph/load';
import type { Tensor } from '../tensor';

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
 * `--dims C,H,W` checked against the declared input: the Input layer of the prototxt, or `override`
 * (a full N,C,H,W input shape given on the command line). undefined when --dims is not given.
 */
export function checkDims(dimsArg: string | undefined, netParam: LoadedModel['net'], file: string, override?: number[]): [number, number, number] | undefined {
  if (dimsArg === undefined) return undefined;
  const d = parseList(dimsArg, 'dims', 3);
  if (override) {
    if (override.length !== 4 || d.some((x, i) => x !== override[i + 1]))
      throw usage(`--dims ${d.join(',')} disagrees with --input_shape ${override.join(',')}`);
    return d as [number, number, number];
  }
  const inputLayer = netParam.layer.find((l) => l.type === 'Input');
  const declared: number[] | undefined = inputLayer?.input_param?.shape?.[0]?.dim?.map(Number);
  if (declared && declared.length === 4 && d.some((x, i) => x !== declared[i + 1]))
    throw new ChaiqError(`--dims ${d.join(',')} disagrees with the Input layer "${inputLayer!.name}" of shape (${declared.join(',')}); --input_shape 1,${d.join(',')} runs the net at another size`, { file }, 2);
  if (declared && declared.length !== 4) throw new ChaiqError(`the Input layer has shape (${declared.join(',')}); CHaiDNN needs (1,C,H,W)`, { file }, 2);
  return d as [number, number, number];
}

/**
 * Deploy prototxt (+ caffemodel) → model, with `--dims` checked before the net is built and used as
 * its input shape (a Data-layer net gets one); `inputShape` (N,C,H,W) overrides both.
 */
export function loadModelWithDims(deploy: string, weightsFile: string | undefined, dimsArg: string | undefined,
  opts: { warn: WarnFn; inputShape?: number[] }): { model: LoadedModel; dims?: [number, number, number] } {
  const r = loadModelWithDimsOnly(deploy, weightsFile, dimsArg, opts);
  // --input_shape alone gives the C,H,W too
  const s = opts.inputShape;
  return r.dims || !s || s.length !== 4 ? r : { ...r, dims: [s[1], s[2], s[3]] };
}

function loadModelWithDimsOnly(deploy: string, weightsFile: string | undefined, dimsArg: string | undefined,
  opts: { warn: WarnFn; inputShape?: number[] }): { model: LoadedModel; dims?: [number, number, number] } {
  const t = loadNetText(deploy, { warn: opts.warn });
  const dims = checkDims(dimsArg, t.net, deploy, opts.inputShape);
  let weights: Map<string, Tensor[]> | undefined;
  if (weightsFile) {
    const names = new Set(t.net.layer.map((l) => String(l.name ?? '')));
    weights = readCaffemodel(weightsFile, { only: (n) => names.has(n) }).weights;
  }
  const inputShape = opts.inputShape ?? (dims ? [1, ...dims] : undefined);
  const graph = buildNet(t.net, { file: deploy, weights, weightsFile, warn: opts.warn, inputShape });
  checkBlobSizes(graph, deploy);
  return { model: { ...t, graph }, dims };
}

/** Typed arrays (and wasm memory) hold at most this many float32 values per blob. */
const MAX_BLOB_VALUES = 2 ** 31 - 1;

/** A net that is to run: every blob must fit in memory (a mangled shape would fail deep in an allocation). */
function checkBlobSizes(net: Net, file: string): void {
  for (const node of net.layers) {
    node.topShapes.forEach((shape, i) => {
      if (!shape) return;
      const n = shape.reduce((a, d) => a * d, 1);
      if (n > MAX_BLOB_VALUES)
        throw new ChaiqError(`layer '${node.name}' (${node.type}): top '${node.tops[i]}' of shape (${shape.join(',')}) would hold ${n} values, more than chaiq can run (2^31 − 1 per blob)`, node.loc ?? { file });
    });
  }
}

/** C,H,W of the net's (single) input when fully known. */
export function netInputDims(net: Net): [number, number, number] | undefined {
  const s = net.inputs[0]?.shape;
  return s && s.length === 4 && s.slice(1).every((x) => x > 0) ? [s[1], s[2], s[3]] : undefined;
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

/** Errors of an input file name it; bad content is exit 1 like any bad input (a missing path was a usage error earlier). */
function asUsage(e: unknown, file: string): unknown {
  if (e instanceof ChaiqError && !e.loc.file) e.loc = { file };
  return e;
}

function withExit2<T>(f: () => T, file: string): T {
  try {
    return f();
  } catch (e) {
    throw asUsage(e, file);
  }
}

/** One image file → a [1,C,H,W] tensor. */
export async function loadInputImage(file: string, pre: Preprocess): Promise<Tensor> {
  let img;
  try {
    img = await loadImage(file);
  } catch (e) {
    if (e instanceof ChaiqError) throw asUsage(e, file);
    throw new ChaiqError(`cannot decode image: ${(e as Error).message}`, { file });
  }
  const [C, H, W] = pre.dims;
  return { shape: [1, C, H, W], data: preprocess(img, pre) };
}

/** An MNIST idx3 file (.gz accepted) as inputs of the net. */
export interface MnistInputs {
  count: number;
  labels?: number[];
  /** image k as [1,1,rows,cols]: pixel/255, then raw_scale, mean, input_scale as for images */
  tensor(k: number): Tensor;
}

export function openMnist(file: string, pre: Preprocess, labelsFile?: string): MnistInputs {
  const { images, labels } = withExit2(() => loadMnist(file, labelsFile), file);
  const [n, , rows, cols] = images.shape;
  const [C, H, W] = pre.dims;
  if (C !== 1 || H !== rows || W !== cols) throw new ChaiqError(`MNIST images are 1×${rows}×${cols}, the net input is ${C}×${H}×${W}`, { file }, 2);
  const mean = Array.isArray(pre.mean) ? (pre.mean[0] ?? 0) : 0;
  const per = rows * cols;
  return {
    count: n,
    labels,
    tensor: (k) => {
      const data = new Float32Array(per);
      for (let i = 0; i < per; i++) {
        let v = Math.fround(images.data[k * per + i] / 255);
        v = Math.fround(v * Math.fround(pre.rawScale));
        v = Math.fround(v - mean);
        data[i] = Math.fround(v * Math.fround(pre.inputScale));
      }
      return { shape: [1, 1, rows, cols], data };
    },
  };
}
