/**
 * Plain-JS kernels: the fallback when WebAssembly SIMD is unavailable (or CHAIQ_NO_WASM=1), and the
 * "JS im2col + GEMM" row of the kernel bench. Same results as the wasm path up to float32 summation order.
 */

let colBuf = new Float32Array(0);

/** Geometry of one 2-D convolution (declared here, below index.ts, which re-exports it). */
export interface Conv2dParams {
  inC: number; inH: number; inW: number; outC: number; outH: number; outW: number;
  kH: number; kW: number; strideH: number; strideW: number; padH: number; padW: number;
  dilH: number; dilW: number; group: number;
}

/** C[M,N] (+)= A[M,K]·B; B is [K,N] or, with transB, [N,K]. Offsets let callers address sub-matrices. */
export function sgemmJs(
  M: number, N: number, K: number,
  A: Float32Array, aOff: number, B: Float32Array, bOff: number, C: Float32Array, cOff: number,
  transB: boolean, accumulate: boolean,
): void {
  if (transB) {
    for (let i = 0; i < M; i++) {
      const ai = aOff + i * K;
      for (let j = 0; j < N; j++) {
        const bj = bOff + j * K;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[ai + k] * B[bj + k];
        const ci = cOff + i * N + j;
        C[ci] = accumulate ? C[ci] + s : s;
      }
    }
    return;
  }
  if (!accumulate) C.fill(0, cOff, cOff + M * N);
  // i-k-j order: the inner loop streams one row of B into one row of C
  for (let i = 0; i < M; i++) {
    const ci = cOff + i * N;
    const ai = aOff + i * K;
    for (let k = 0; k < K; k++) {
      const a = A[ai + k];
      if (a === 0) continue;
      const bk = bOff + k * N;
      for (let j = 0; j < N; j++) C[ci + j] += a * B[bk + j];
    }
  }
}

/** Caffe's im2col of channels [c0, c0+cg) of one image into col[cg*kH*kW, outH*outW]. */
export function im2colJs(x: Float32Array, c0: number, cg: number, p: Conv2dParams, col: Float32Array): void {
  const { inH: h, inW: w, kH, kW, strideH: sh, strideW: sw, padH: ph, padW: pw, dilH: dh, dilW: dw, outH: oh, outW: ow } = p;
  let r = 0;
  for (let c = 0; c < cg; c++) {
    const xc = (c0 + c) * h * w;
    for (let ki = 0; ki < kH; ki++) {
      for (let kj = 0; kj < kW; kj++, r++) {
        const base = r * oh * ow;
        for (let y = 0; y < oh; y++) {
          const iy = y * sh - ph + ki * dh;
          const row = base + y * ow;
          if (iy < 0 || iy >= h) {
            col.fill(0, row, row + ow);
            continue;
          }
          const xr = xc + iy * w;
          for (let xo = 0; xo < ow; xo++) {
            const ix = xo * sw - pw + kj * dw;
            col[row + xo] = ix >= 0 && ix < w ? x[xr + ix] : 0;
          }
        }
      }
    }
  }
}

/** Depthwise (group == inC == outC) direct convolution. */
export function depthwiseJs(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array): void {
  const { inH: H, inW: W, kH, kW, strideH: sh, strideW: sw, padH: ph, padW: pw, dilH: dh, dilW: dw, outH: OH, outW: OW } = p;
  for (let c = 0; c < p.outC; c++) {
    const xc = c * H * W;
    const wc = c * kH * kW;
    const bv = bias ? bias[c] : 0;
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let s = 0;
        for (let ki = 0; ki < kH; ki++) {
          const iy = oy * sh - ph + ki * dh;
          if (iy < 0 || iy >= H) continue;
          for (let kj = 0; kj < kW; kj++) {
            const ix = ox * sw - pw + kj * dw;
            if (ix >= 0 && ix < W) s += w[wc + ki * kW + kj] * x[xc + iy * W + ix];
          }
        }
        out[(c * OH + oy) * OW + ox] = s + bv;
      }
    }
  }
}

/** One image: im2col + GEMM per group (1x1/stride-1/pad-0 convs use the image as the GEMM's B directly). */
export function conv2dJs(x: Float32Array, w: Float32Array, bias: Float32Array | null, p: Conv2dParams, out: Float32Array): void {
  if (p.group === p.inC && p.group === p.outC) {
    depthwiseJs(x, w, bias, p, out);
    return;
  }
  const G = p.group;
  const cg = p.inC / G;
  const mg = p.outC / G;
  const K = cg * p.kH * p.kW;
  const N = p.outH * p.outW;
  const pointwise = p.kH === 1 && p.kW === 1 && p.strideH === 1 && p.strideW === 1 && p.padH === 0 && p.padW === 0;
  if (!pointwise && colBuf.length < K * N) colBuf = new Float32Array(K * N);
  for (let o = 0; o < p.outC; o++) out.fill(bias ? bias[o] : 0, o * N, (o + 1) * N);
  for (let g = 0; g < G; g++) {
    if (pointwise) {
      sgemmJs(mg, N, K, w, g * mg * K, x, g * cg * N, out, g * mg * N, false, true);
    } else {
      im2colJs(x, g * cg, cg, p, colBuf);
      sgemmJs(mg, N, K, w, g * mg * K, colBuf, 0, out, g * mg * N, false, true);
    }
  }
}
