/**
 * chaiq as a library: quantize an FP32 Caffe model for Xilinx's CHaiDNN (Xilinx or DynamicFixed precision blocks)
 * and simulate the result in CHaiDNN's integer arithmetic.
 *
 * ```js
 * const chaiq = require('chaiq');
 * const q = await chaiq.quantize({
 *   mode: 'Xilinx', deploy: 'lenet.prototxt', weights: 'lenet.caffemodel', bitwidths: { in: 8, params: 8, out: 8 },
 *   inputs: chaiq.calibrationFromDirectory('digits/', { size: 32 }),
 *   preprocess: { ...chaiq.XPORTDNN_PREPROCESS, dims: [1, 28, 28], channelSwap: [0], mean: [0], inputScale: 1 / 256 },
 * });
 * fs.writeFileSync('lenet_q8.prototxt', q.text);
 * ```
 *
 * Every stage is exported too (load, rewrite for the board, calibrate, plan, check, print, simulate). Bad input
 * throws a ChaiqError (`loc` says where, `exitCode` what the CLI would exit with); a bad option an OptionError,
 * whose message names the option. Warnings go to `warn` (default: dropped).
 */
export { ChaiqError, OptionError, formatError } from './errors';
export type { SourceLoc, WarnFn } from './errors';
export type { Tensor } from './tensor';
export { XPORTDNN_PREPROCESS } from './io/images';
export type { Preprocess } from './io/images';
export type { Net, LayerNode } from './graph/types';
export type { PrecisionPlan } from './quant/plan';
export type { Bitwidths } from './quant/xilinx';
export type { FlTriple } from './quant/dynamicfixed';
export type { ThresholdMethod } from './calib/threshold';
export type { CalibrationMode } from './quant/progressive';
export type { StatsCollector } from './calib/stats';

export { quantize } from './pipeline/quantize';
export type { QuantizeOptions, QuantizeResult } from './pipeline/quantize';
export { simulate, samplesFromDirectory } from './pipeline/simulate';
export type { RuntimeOptions, Sample, SimulateOptions, SimulationResult } from './pipeline/simulate';
export { calibrationFromDirectory, calibrationFromMnist, calibrationFromTensors } from './pipeline/inputs';
export type { CalibrationSelection } from './pipeline/inputs';
export type { CalibrationInputs, PreprocessContext, PreprocessSpec, Progress, ProgressFactory, QuantMode, Reporter, ResolvedPreprocess } from './pipeline/types';

// the stages, for a pipeline of one's own
export { loadNet, loadModelWithDims, netInputDims } from './pipeline/load';
export type { LoadOptions, LoadedNet } from './pipeline/load';
export { foldBatchNormForBoard, foldInputScaleForBoard, recenterInputForBoard, rescaleOntoGrid } from './pipeline/rewrite';
export type { NetWithParam, RebuildContext } from './pipeline/rewrite';
export { calibrateStats, progressiveCalibration, thresholdsOf } from './pipeline/calibrate';
export type { Thresholds } from './pipeline/calibrate';
export { planDynamicFixed, planXilinx } from './pipeline/plan';
export type { PlanResult } from './pipeline/plan';
export { assertPlanValid, planViolations } from './pipeline/check';
export { printCaffemodel, printPrecisionPrototxt, printQuantizeReport, printXdnnJson } from './pipeline/print';
export { boardScale } from './pipeline/board';
