/**
 * Net inputs read from files: an image (decoded, then preprocessed as XportDNN's caffe.io.Transformer), an MNIST
 * idx3 file, and `.npy` samples (the net input as it is, no image preprocessing).
 */
import { ChaiqError, OptionError } from '../errors';
import { chooseIndices } from './calibset';
import { loadImage, preprocess } from './images';
import type { Preprocess } from './images';
import { loadMnist } from './mnist';
import { readNpy, readNpyRange, readNpyShape } from './npy';
import type { Tensor } from '../tensor';

/** Errors of an input file name it; bad content is exit 1 like any bad input (a missing path was a usage error earlier). */
function asUsage(e: unknown, file: string): unknown {
  if (e instanceof ChaiqError && !e.loc.file) e.loc = { file };
  return e;
}

export function withExit2<T>(f: () => T, file: string): T {
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

/** How many samples a .npy holds for a net input of C,H,W: (C,H,W) and (1,C,H,W) are one, (N,C,H,W) N. */
export function npySampleCount(file: string, dims: readonly number[]): number {
  const s = readNpyShape(file);
  const fits = (t: number[]) => t.length === 3 && t.every((d, i) => d === dims[i]);
  if (fits(s)) return 1;
  if (s.length === 4 && fits(s.slice(1))) return s[0];
  throw new ChaiqError(`.npy of shape (${s.join(',')}) does not fit the net input ${dims.join('×')}: give one sample (${dims.join(',')} or 1,${dims.join(',')}) or a stack (N,${dims.join(',')})`, { file });
}

/**
 * Sample k of a .npy as a [1,C,H,W] tensor: its bytes alone (a stack of thousands is never held whole, nor read
 * by every image worker); a Fortran-order stack is read whole once and kept while its samples are asked for.
 */
export function npySampleReader(dims: readonly number[]): (file: string, k: number) => Tensor {
  let last: { file: string; t: Tensor } | undefined;
  const per = dims.reduce((a, b) => a * b, 1);
  return (file, k) => {
    let data: Float32Array;
    const r = last?.file === file ? undefined : readNpyRange(file, k * per, per, `.npy has no sample ${k}`);
    if (r) data = r.data;
    else {
      if (last?.file !== file) last = { file, t: readNpy(file) };
      data = last.t.data.slice(k * per, (k + 1) * per);
    }
    if (data.length !== per) throw new ChaiqError(`.npy has no sample ${k}`, { file });
    for (let i = 0; i < per; i++) {
      if (!Number.isFinite(data[i])) throw new ChaiqError(`.npy sample ${k} holds ${data[i]} (at flat index ${i}): the net input must be finite`, { file });
    }
    return { shape: [1, ...dims], data };
  };
}

/** Every sample of the given .npy files, in file order, then index order. */
export function npySamples(files: string[], dims: readonly number[]): { file: string; index: number; count: number }[] {
  return files.flatMap((file) => {
    const count = npySampleCount(file, dims);
    return Array.from({ length: count }, (_, index) => ({ file, index, count }));
  });
}

/** Calibration from .npy files: a seeded choice among all their samples, as for images (io/calibset). */
export function loadNpyCalibration(dir: string, files: string[], opts: { size: number; seed: number; indices: number[]; dims: readonly number[] }): Tensor[] {
  const all = npySamples(files, opts.dims);
  if (opts.size > all.length) throw new OptionError(`{calibrationSize} ${opts.size} is larger than the ${all.length} samples in the directory's .npy files`, { file: dir }, 2);
  const read = npySampleReader(opts.dims);
  return chooseIndices(all.length, opts.size, opts.seed, opts.indices, dir).map((i) => read(all[i].file, all[i].index));
}

/** `name[k]` for a sample of a stack, the name alone for a single one. */
export const npySampleName = (name: string, s: { index: number; count: number }) => (s.count > 1 ? `${name}[${s.index}]` : name);
