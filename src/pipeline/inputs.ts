/**
 * Calibration inputs for quantize: a directory of images (sub-directories searched, names sorted) or of `.npy` net
 * inputs, an MNIST idx3 file, or tensors in memory. A seeded choice of `size` of them (io/calibset), `indices` first.
 */
import * as path from 'path';
import { OptionError } from '../errors';
import { calibrationKind, chooseIndices, selectCalibrationFiles } from '../io/calibset';
import { loadInputImage, loadNpyCalibration, openMnist } from '../io/net-input';
import type { Tensor } from '../tensor';
import type { CalibrationInputs } from './types';

/** Which inputs: `size` of them (default 8, XportDNN's), drawn with `seed` (default 0), `indices` first. */
export interface CalibrationSelection {
  size?: number;
  seed?: number;
  indices?: number[];
}

const sizeOf = (s: CalibrationSelection) => s.size ?? 8;

/** Images (.png, .jpg) or .npy net inputs under `dir`. What the directory holds is read when first asked. */
export function calibrationFromDirectory(dir: string, sel: CalibrationSelection = {}): CalibrationInputs {
  const size = sizeOf(sel);
  const seed = sel.seed ?? 0;
  const indices = sel.indices ?? [];
  return {
    get kind() {
      return calibrationKind(dir, true).kind === 'npy' ? 'tensors' : 'images';
    },
    async load(pre) {
      const listing = calibrationKind(dir, true);
      if (listing.kind === 'npy') return loadNpyCalibration(dir, listing.files.map((f) => path.join(dir, f)), { size, seed, indices, dims: pre.dims });
      // images of DIR and of its sub-directories (a class-per-folder set such as digits/<label>/), sorted
      const out: Tensor[] = [];
      for (const f of selectCalibrationFiles(dir, { size, seed, indices, recursive: true })) out.push(await loadInputImage(f, pre));
      return out;
    },
  };
}

/** Images of an MNIST idx3 file (.gz accepted). */
export function calibrationFromMnist(file: string, sel: CalibrationSelection = {}): CalibrationInputs {
  const size = sizeOf(sel);
  return {
    kind: 'images',
    async load(pre) {
      const m = openMnist(file, pre);
      if (size > m.count) throw new OptionError(`{calibrationSize} ${size} is larger than the ${m.count} images in the file (XportDNN fails here too: it draws without replacement)`, { file }, 1);
      return chooseIndices(m.count, size, sel.seed ?? 0, sel.indices ?? [], file).map((k) => m.tensor(k));
    },
  };
}

/** Net inputs in memory ([1,C,H,W] each), used as they are. */
export function calibrationFromTensors(tensors: Tensor[]): CalibrationInputs {
  return { kind: 'tensors', load: async () => tensors };
}
