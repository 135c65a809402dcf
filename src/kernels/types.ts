/** The kernels' operand descriptions (their own module so that js.ts and the wasm side share them without a cycle). */

export interface Conv2dParams {
  inC: number; inH: number; inW: number; outC: number; outH: number; outW: number;
  kH: number; kW: number; strideH: number; strideW: number; padH: number; padW: number;
  dilH: number; dilW: number; group: number;
}

/**
 * Per-output-channel work applied to a convolution's final outputs inside the kernel (while they are in cache,
 * on every thread): what the in-place BatchNorm / Scale / ReLU layers after it, and an Eltwise SUM with a
 * residual, would do, with the same arithmetic (BatchNorm y = f32((x - mean[c]) / sd[c]) and Scale
 * y = f32(x·a[c] + b[c]) in double, ReLU y = x > 0 ? x : 0, residual y = f32(y + r)), so results are identical
 * to running those layers. Order: bn, scale, relu, residual, reluAfterResidual.
 */
export interface ConvEpilogue {
  bn?: { mean: Float64Array; sd: Float64Array };
  scale?: { a: Float64Array; b: Float64Array };
  relu?: boolean;
  /** [n, outC, outH, outW], the layout of the output */
  residual?: Float32Array;
  reluAfterResidual?: boolean;
}
