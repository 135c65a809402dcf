/**
 * Train/test prototxts in quantize and simulate: the deploy net CHaiDNN runs (src/graph/deploy.ts), and the input's
 * transform_param (a train/test net's data layer, or the Input a conversion left) as the default of the
 * preprocessing flags. Caffe's DataTransformer computes (pixel − mean)·scale on 0..255 pixels: raw_scale 255,
 * mean_value/mean_file, input_scale = scale. Flags given win, with a warning when they make another input.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ChaiqError } from '../errors';
import type { WarnFn } from '../errors';
import { inputTransform } from '../graph/deploy';
import { locOfMsg } from '../graph/build';
import type { NetParam } from '../proto/message';
import { formatPy2Float } from '../io/floatfmt';
import { parseList } from './preprocess';
import { withFlags } from './flags';
import { deployOfTrainTest as pipelineDeployOfTrainTest } from '../pipeline/deploy';
import type { PreprocessArgs } from './preprocess';

function arr<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** The transform's mean file: as written (from here), else next to the prototxt. */
function resolveMeanFile(name: string, prototxt: string): string | undefined {
  for (const f of [path.resolve(name), path.resolve(path.dirname(prototxt), name)]) if (fs.existsSync(f)) return f;
  return undefined;
}

const near = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));
const list = (v: number[]) => v.map((x) => formatPy2Float(x)).join(',');

/**
 * `args` with raw_scale, mean and input_scale defaulted from the net's input transform_param (unchanged when it has
 * none). `file` is the prototxt (for mean_file paths and messages).
 */
export function withTransformDefaults<A extends PreprocessArgs>(args: A, net: NetParam, file: string, warn: WarnFn): A {
  const found = inputTransform(net);
  if (!found) return args;
  const { layer, transform: t } = found;
  const where = `the ${layer.type} layer '${layer.name}' (transform_param)`;
  const loc = locOfMsg(layer, file) ?? { file };
  const scale = t.scale === undefined ? 1 : Number(t.scale);
  const meanValues = arr<number>(t.mean_value).map(Number);
  const meanFile = t.mean_file === undefined ? undefined : String(t.mean_file);
  const out: A = { ...args };
  const r = args.raw_scale ?? 255;
  const s = args.input_scale ?? scale;
  out.raw_scale = r;
  out.input_scale = s;
  // each flag not given takes the transform's value; what the flags make of a 0..255 pixel: (pixel − mean·255/r)·(r·s/255)
  if (!near((r * s) / 255, scale)) {
    warn(`--raw_scale ${formatPy2Float(r)} --input_scale ${formatPy2Float(s)} scale the pixels by ${formatPy2Float((r * s) / 255)}, ${where} by ${formatPy2Float(scale)}: using the flags`, loc);
  }
  const crop = Number(t.crop_size ?? 0);
  if (crop > 0) warn(`${where} crops the stored images to ${crop}×${crop} at their centre; chaiq resizes each image to the input's size instead: give images cropped so`, loc);
  const userMean = args.mean_value !== undefined || args.mean_file !== undefined;
  if (!userMean) {
    if (meanFile !== undefined) {
      const f = resolveMeanFile(meanFile, file);
      if (!f) {
        throw new ChaiqError(`${where} subtracts mean_file "${meanFile}", which is not found (from here or next to the prototxt): give --mean_file FILE or --mean_value`, loc, 1);
      }
      out.mean_file = f;
    } else if (meanValues.length) {
      out.mean_value = meanValues.map(String).join(',');
    } else out.mean_value = '0';
  } else if (args.mean_value !== undefined) {
    const given = parseList(args.mean_value, 'mean_value').map((m) => (m * 255) / r);
    const want = meanValues.length ? meanValues : meanFile === undefined ? [0] : undefined;
    const same = want !== undefined && (given.length === want.length || given.length === 1 || want.length === 1) &&
      given.every((g, i) => near(g, want[want.length === 1 ? 0 : i])) && want.every((w, i) => near(w, given[given.length === 1 ? 0 : i]));
    if (!same) warn(`--mean_value ${args.mean_value} differs from ${where}, which subtracts ${want ? list(want) : `mean_file "${meanFile}"`}: using the flags`, loc);
  } else if (meanFile === undefined || path.basename(meanFile) !== path.basename(args.mean_file!)) {
    warn(`--mean_file ${args.mean_file} differs from ${where}, which subtracts ${meanFile !== undefined ? `mean_file "${meanFile}"` : list(meanValues.length ? meanValues : [0])}: using the flags`, loc);
  }
  return out;
}

// moved to the pipeline (the library); re-exported for the commands that import them from here
export { printDeployNet, setInputTransform, transformOf } from '../pipeline/deploy';
export type { TrainTestModel } from '../pipeline/deploy';

/** The pipeline's deployOfTrainTest, its messages naming the CLI's flags. */
export function deployOfTrainTest(...a: Parameters<typeof pipelineDeployOfTrainTest>): ReturnType<typeof pipelineDeployOfTrainTest> {
  return withFlags(() => pipelineDeployOfTrainTest(...a));
}
