/**
 * Choosing the calibration images (chaidnn-semantics.md §4.2). XportDNN takes os.listdir order and
 * np.random.choice with an optional seed; we make it deterministic: names sorted (code-point order),
 * a seeded mulberry32 PRNG (seed default 0), `indices` first, then random extra ones from the rest,
 * returned in ascending index order (XportDNN sorts its chosen indices too).
 */
import * as fs from 'fs';
import * as path from 'path';
import { ChaiqError, OptionError } from '../errors';
import { fsErrorWords } from './fserr';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];
/** net inputs as they are (no image preprocessing): one sample (C,H,W / 1,C,H,W) or a stack (N,C,H,W) */
export const NPY_EXTENSION = '.npy';

export const isNpyFile = (f: string) => path.extname(f).toLowerCase() === NPY_EXTENSION;

export interface CalibSelectOptions {
  /** number of images (default: all) */
  size?: number;
  /** PRNG seed (default 0) */
  seed?: number;
  /** indices into the sorted listing that must be included (XportDNN --calibration_indices) */
  indices?: number[];
  /** also list sub-directories (default false, like XportDNN) */
  recursive?: boolean;
}

/** mulberry32: a small, documented 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Image files of a directory (relative paths sorted by code point), non-recursive unless asked. */
export function listImageFiles(dir: string, recursive = false): string[] {
  return listFiles(dir, recursive, IMAGE_EXTENSIONS);
}

/** Image and .npy files of a directory (sorted, as listImageFiles). */
export function listInputFiles(dir: string, recursive = false): string[] {
  return listFiles(dir, recursive, [...IMAGE_EXTENSIONS, NPY_EXTENSION]);
}

/**
 * What a calibration directory holds: images, or .npy net inputs; both at once is refused (one takes the
 * image preprocessing, the other none, so the set would mix two kinds of input).
 */
export function calibrationKind(dir: string, recursive = false): { kind: 'images' | 'npy'; files: string[] } {
  const all = listInputFiles(dir, recursive);
  const npy = all.filter(isNpyFile);
  if (npy.length === 0) return { kind: 'images', files: all };
  if (npy.length === all.length) return { kind: 'npy', files: npy };
  const img = all.find((f) => !isNpyFile(f))!;
  throw new ChaiqError(`the directory mixes images (${all.length - npy.length}, e.g. ${img}) and .npy inputs (${npy.length}, e.g. ${npy[0]}): ` +
    'images are preprocessed, .npy files are taken as the net input as they are; keep one kind', { file: dir });
}

function listFiles(dir: string, recursive: boolean, extensions: string[]): string[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new ChaiqError('calibration directory not found', { file: dir });
  }
  if (!st.isDirectory()) throw new ChaiqError('calibration directory is not a directory', { file: dir });
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (recursive) walk(r);
      } else if (extensions.includes(path.extname(e.name).toLowerCase())) {
        let isFile = e.isFile();
        if (e.isSymbolicLink()) {
          // a link to an image that is not there is a missing image, not a file to skip silently
          try {
            isFile = fs.statSync(path.join(dir, r)).isFile();
          } catch (err) {
            throw new ChaiqError(`cannot read this input: it is a symbolic link and its target cannot be read (${fsErrorWords(err)})`, { file: path.join(dir, r) });
          }
        }
        if (isFile) out.push(r);
      }
    }
  };
  walk('');
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The calibration files (absolute-or-as-given paths joined onto `dir`). */
export function selectCalibrationFiles(dir: string, opts: CalibSelectOptions = {}): string[] {
  const files = listImageFiles(dir, opts.recursive ?? false);
  if (files.length === 0) {
    throw new ChaiqError(`calibration directory has no images (${IMAGE_EXTENSIONS.join(', ')}) or ${NPY_EXTENSION} inputs${opts.recursive ? '' : ' (sub-directories are not searched)'}`, { file: dir });
  }
  const size = opts.size ?? files.length;
  if (!Number.isInteger(size) || size < 1) throw new OptionError(`{calibrationSize} must be a positive integer, got ${size}`, {}, 1);
  if (size > files.length) {
    throw new OptionError(`{calibrationSize} ${size} is larger than the ${files.length} images in the directory (XportDNN fails here too: it draws without replacement)`, { file: dir }, 1);
  }
  return chooseIndices(files.length, size, opts.seed ?? 0, opts.indices ?? [], dir).map((i) => path.join(dir, files[i]));
}

/**
 * Which `size` of `n` calibration items to use: the given indices first, then a seeded partial
 * Fisher–Yates over the rest (mulberry32); sorted. Same inputs, same choice, on every machine.
 */
export function chooseIndices(n: number, size: number, seed: number, given: number[] = [], file?: string): number[] {
  const chosen = new Set<number>();
  for (const i of given) {
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw new OptionError(`{calibrationIndices}: index ${i} is out of range (0..${n - 1})`, { file }, 1);
    }
    if (chosen.has(i)) throw new OptionError(`{calibrationIndices}: index ${i} given twice`, {}, 1);
    chosen.add(i);
  }
  if (chosen.size > size) {
    throw new OptionError(`{calibrationIndices} gives ${chosen.size} images but {calibrationSize} is ${size}`, {}, 1);
  }
  const rest: number[] = [];
  for (let i = 0; i < n; i++) if (!chosen.has(i)) rest.push(i);
  const rnd = mulberry32(seed);
  const need = Math.min(size - chosen.size, rest.length);
  for (let k = 0; k < need; k++) {
    const j = k + Math.floor(rnd() * (rest.length - k));
    [rest[k], rest[j]] = [rest[j], rest[k]];
    chosen.add(rest[k]);
  }
  return [...chosen].sort((a, b) => a - b);
}
