/**
 * Fast kernels for the reference executor and the simulator: float convolution and GEMM in WebAssembly SIMD
 * (packed micro-kernel, implicit im2col, direct depthwise; FMA where the engine has relaxed SIMD), pooling,
 * LRN and elementwise layer loops, and the integer convolution, spread over the cores with a persistent
 * worker pool. Falls back to plain JS (js.ts) when wasm SIMD / shared memory is unavailable or CHAIQ_NO_WASM=1.
 * Float accumulation order differs from Caffe's BLAS: results agree to ~1e-6·sqrt(K) relative; 3x3 stride-1 convs
 * in conv2dBatch run Winograd (winograd.ts: F(2x2,3x3) within ~5e-7, F(4x4,3x3) within ~1e-5 of the largest output).
 *
 * Layout: types.ts (operand shapes), config.ts (backend, threads, worker pool), wasm-features.ts (which build
 * of the module), wasm-runtime.ts (memory, arena, job protocol), weight-cache.ts (operands kept in wasm
 * memory), epilogue.ts (fused conv epilogue), conv.ts, winograd.ts, gemm.ts, layer-ops.ts, int-conv.ts, sim-conv.ts, sim-winograd.ts (the simulator's integer Winograd and GEMM), sim-dw.ts (its integer depthwise conv), js.ts (plain JS),
 * reference.ts. This folder imports nothing outside it.
 */
export type { Conv2dParams, ConvEpilogue } from './types';
export { getThreads, initKernels, kernelBackend, kernelStats, setThreads, setUseWasm, shutdownKernels } from './config';
export { clearWeightCache, isWasmArray, setWeightCacheBytes, wasmFloat32Array } from './weight-cache';
export { conv2d, conv2dBatch } from './conv';
export { sgemm } from './gemm';
export { add2InWasm, chanAffineInWasm, lrn075InWasm, poolInWasm, reluInWasm } from './layer-ops';
export { convInt, convIntJs, intAbsMax, requantDynamicFixedInt, requantXilinxInt, type IntOperand } from './int-conv';
export { relaxedSimdAvailable } from './wasm-features';
export { setWinograd, winogradCalls, winogradEnabled } from './winograd';
export { convIntGemm, convIntWinograd, setSimWinograd, simGemmFits, simGemmShape, simGemmStats, simPairStats, simWinogradFits, simWinogradShape, simWinogradStats, weightAbsMax, type SimWinogradMode } from './sim-winograd';
export { setSimDepthwise, simDwFits, simDwShape, simDwStats, type SimDepthwiseMode } from './sim-dw';
export { clearResidentPool, concatResident, convRequantResident, convRequantResidentPair, invalidateResident, maxPoolResident, quantizeResident, releaseResident, reluAppliedResident, reluResidentInPlace, reluTwinOf, residentStats, setResidentChain, setResidentWanted, type QuantizeSpec, type Requant } from './sim-conv';
export { eltwiseAddResident, hasNaN } from './sim-conv';
