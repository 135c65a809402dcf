/**
 * Net inputs besides images, shared by quantize, simulate and forward: `.npy` samples (the net input as it
 * is, no image preprocessing), the `--input_shape` flag, and the `# input:` header line that
 * `quantize --optimized_weights` writes (what the rewritten net takes), read back as default preprocessing.
 */
import * as fs from 'fs';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import { parseList } from './preprocess';
import type { PreprocessArgs } from './preprocess';

const f32 = Math.fround;

/** The image preprocessing flags (yargs names) that were given on the command line. */
const IMAGE_FLAGS = ['transpose', 'channel_swap', 'raw_scale', 'mean_value', 'mean_file', 'input_scale'] as const;

export function givenImageFlags(args: PreprocessArgs): string[] {
  return IMAGE_FLAGS.filter((k) => args[k] !== undefined).map((k) => `--${k}`);
}

/** A warning when image preprocessing flags were given for inputs that take none (.npy). */
export function warnImageFlagsIgnored(args: PreprocessArgs, warn: WarnFn, what: string): void {
  const given = givenImageFlags(args);
  if (given.length) warn(`${given.join(', ')} ${given.length > 1 ? 'are' : 'is'} ignored: ${what} is the net input as it is (image preprocessing applies to images only)`);
}

// moved to io/net-input and pipeline/header (the library reads and writes them too); re-exported from here
export { loadNpyCalibration, npySampleCount, npySampleName, npySampleReader, npySamples } from '../io/net-input';
export { inputHeaderLine } from '../pipeline/header';

// ---- --input_shape ----

/** `--input_shape N,C,H,W` → numbers; `batchOne`: the command runs one image at a time, as CHaiDNN. */
export function parseInputShape(s: string | undefined, opts: { batchOne?: boolean } = {}): number[] | undefined {
  if (s === undefined) return undefined;
  const d = String(s).split(/[,x\s]+/).filter(Boolean).map(Number);
  if (d.length !== 4 || d.some((x) => !Number.isInteger(x) || x <= 0)) throw new ChaiqError(`--input_shape must be N,C,H,W (four positive integers, e.g. 1,3,224,224), got '${s}'`, {}, 2);
  if (opts.batchOne && d[0] !== 1) throw new ChaiqError(`--input_shape ${d.join(',')}: this command runs batch 1, as CHaiDNN does; give 1,${d.slice(1).join(',')}`, {}, 2);
  return d;
}

// ---- the `# input:` header of --optimized_weights ----

const num = (x: number) => (Number.isInteger(x) ? x.toFixed(1) : String(x));

export interface InputHeader {
  /** the prototxt came from quantize --optimized_weights */
  rewritten: boolean;
  /** its `# input:` line: the input the rewritten net takes */
  input?: { line: number; text: string; mean: number[] | 'image'; meanImageScale: number; channelSwap?: number[] };
}

/** The leading comment lines of a prototxt: the --optimized_weights provenance and its `# input:` line. */
export function readInputHeader(file: string, warn: WarnFn): InputHeader {
  let text = '';
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(4096);
      text = buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0));
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return { rewritten: false };
  }
  const h: InputHeader = { rewritten: false };
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length - 1; i++) {
    const l = lines[i].trim();
    if (l === '') continue;
    if (!l.startsWith('#')) break;
    if (/^#\s*rewritten by chaiq quantize --optimized_weights\b/.test(l)) h.rewritten = true;
    const m = /^#\s*input:\s*pixels 0\.\.255 minus (.+?), no scale\b(.*)$/.exec(l);
    if (!/^#\s*input:/.test(l)) continue;
    const where = { file, line: i + 1, col: 1 };
    let mean: number[] | 'image' | undefined;
    let meanImageScale = 1;
    if (m) {
      const img = /^the mean image(?: of --mean_file| given)?(?: × ([0-9.eE+-]+))?$/.exec(m[1]);
      if (img) {
        mean = 'image';
        if (img[1] !== undefined) meanImageScale = Number(img[1]);
      } else if (/^-?[0-9.eE+-]+(,-?[0-9.eE+-]+)*$/.test(m[1])) mean = m[1].split(',').map(Number);
    }
    if (!m || mean === undefined || (mean !== 'image' && mean.some((x) => !Number.isFinite(x))) || !Number.isFinite(meanImageScale)) {
      warn('this `# input:` line is not one chaiq wrote; it is ignored (give the preprocessing flags)', where);
      continue;
    }
    const swap = /\bchannel_swap (\d+(?:,\d+)*)/.exec(m[2]);
    h.input = { line: i + 1, text: l, mean, meanImageScale, ...(swap ? { channelSwap: swap[1].split(',').map(Number) } : {}) };
  }
  return h;
}

/** What a PreprocessArgs carries besides the flags: the factor of a mean image named by the header. */
export interface HeaderPreprocessArgs extends PreprocessArgs {
  mean_file_scale?: number;
}

/**
 * The preprocessing the header names, as defaults: flags given explicitly still win, with a warning where
 * they disagree with it.
 */
export function applyInputHeader<T extends PreprocessArgs>(args: T, h: InputHeader, file: string, warn: WarnFn): T & HeaderPreprocessArgs {
  const inp = h.input;
  if (!inp) return args;
  const out: T & HeaderPreprocessArgs = { ...args };
  const where = { file, line: inp.line, col: 1 };
  const disagree = (flag: string, given: unknown, header: string) =>
    warn(`--${flag} ${given} disagrees with the input this prototxt takes (${header}, as its \`# input:\` line says): the flag wins`, where);
  if (args.raw_scale === undefined) out.raw_scale = 255;
  else if (f32(args.raw_scale) !== 255) disagree('raw_scale', args.raw_scale, 'pixels 0..255, raw_scale 255');
  if (args.input_scale === undefined) out.input_scale = 1;
  else if (f32(args.input_scale) !== 1) disagree('input_scale', args.input_scale, 'no scale, input_scale 1');
  if (inp.mean === 'image') {
    if (args.mean_value !== undefined) disagree('mean_value', args.mean_value, 'pixels minus a mean image');
    else if (args.mean_file === undefined) throw new ChaiqError('this prototxt takes pixels minus a mean image (its `# input:` line): give that image with --mean_file', where, 2);
    else if (inp.meanImageScale !== 1) out.mean_file_scale = inp.meanImageScale;
  } else {
    const want = inp.mean;
    if (args.mean_value === undefined && args.mean_file === undefined) out.mean_value = want.map(String).join(',');
    else if (args.mean_file !== undefined) disagree('mean_file', args.mean_file, `pixels minus ${want.map(num).join(',')}`);
    else {
      const got = parseList(args.mean_value!, 'mean_value');
      const n = Math.max(got.length, want.length);
      const at = (v: number[], i: number) => (v.length === 1 ? v[0] : v[i]);
      const same = (got.length === 1 || want.length === 1 || got.length === want.length) && Array.from({ length: n }, (_, i) => f32(at(got, i)) === f32(at(want, i))).every(Boolean);
      if (!same) disagree('mean_value', args.mean_value, `pixels minus ${want.map(num).join(',')}`);
    }
  }
  if (inp.channelSwap) {
    if (args.channel_swap === undefined) out.channel_swap = inp.channelSwap.join(',');
    else if (parseList(args.channel_swap, 'channel_swap').join(',') !== inp.channelSwap.join(',')) disagree('channel_swap', args.channel_swap, `channel_swap ${inp.channelSwap.join(',')}`);
  }
  return out;
}

/** What the board-input warnings of simulate tell the user to do, knowing where the prototxt came from. */
export function boardInputFix(h: InputHeader): string {
  if (h.input) return `this prototxt came from quantize --optimized_weights, and its \`# input:\` line says what it takes: leave out the flags that disagree with it`;
  if (h.rewritten) return 'this prototxt came from quantize --optimized_weights, which could not fold the scale into its first layers: these figures hold only if your application scales the input itself';
  return 'these figures hold only if your application scales the input itself (quantize --optimized_weights folds the scale into the first layers)';
}
