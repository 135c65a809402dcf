/** Option and result types shared by the pipeline's stages. */
import type { WarnFn } from '../errors';
import type { Preprocess } from '../io/images';
import type { LoadedModel } from '../graph/load';
import type { Tensor } from '../tensor';

export type QuantMode = 'Xilinx' | 'DynamicFixed';

/** A progress display (the CLI's bar); the library's default shows nothing. */
export interface Progress {
  tick(n: number): void;
  stop(): void;
}
export type ProgressFactory = (total: number, label: string, unit?: string) => Progress;
export const NO_PROGRESS: Progress = { tick: () => undefined, stop: () => undefined };
export const noProgress: ProgressFactory = () => NO_PROGRESS;

/** How a front end names the options in warnings: the library's default is `option <name>`. */
export type OptionNamer = (option: string) => string;
export const apiOptionName: OptionNamer = (o) => `option ${o}`;

/** Where every stage reports: warnings, progress lines, progress bars, how options are named. */
export interface Reporter {
  warn?: WarnFn;
  /** progress lines (what was rewritten) */
  info?: (message: string) => void;
  progress?: ProgressFactory;
  optionName?: OptionNamer;
}

/**
 * The calibration inputs: images (decoded and preprocessed with the net's preprocessing, which the board rewrite
 * may change, hence `load(pre)`) or tensors that are the net input as they are (`.npy`).
 */
export interface CalibrationInputs {
  kind: 'images' | 'tensors';
  /** the chosen inputs as [1,C,H,W] tensors; `pre` applies to images only */
  load(pre: Preprocess): Promise<Tensor[]>;
}

/** What the image preprocessing is, once the net is loaded (a train/test net's transform_param gives defaults). */
export interface PreprocessContext {
  model: LoadedModel;
  dims: [number, number, number];
  inputs: CalibrationInputs['kind'];
  /** false: the preprocessing as given, without the net's transform_param defaults */
  fromTransform: boolean;
}
export interface ResolvedPreprocess {
  pre: Preprocess;
  /** the mean image's file, and whether the caller named it (else it is the transform_param's) */
  meanFile?: string;
  meanFileGiven?: boolean;
}
/** A preprocessing, or a function of the loaded net giving it (undefined for tensor inputs). */
export type PreprocessSpec = Preprocess | ((ctx: PreprocessContext) => ResolvedPreprocess | undefined);
