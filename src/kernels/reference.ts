/**
 * Plain reference kernels (float32 storage, float64 accumulation). Slow but obviously right: used by the
 * float forwards when the fast kernels (src/kernels/index.ts) do not cover a case, and as the oracle in tests.
 */

export interface ConvGeom {
  /** input channels, height, width (one image) */
  c: number;
  h: number;
  w: number;
  /** output channels */
  o: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  group: number;
  /** output height/width (conv: computed by the caller with Caffe's floor rule) */
  oh: number;
  ow: number;
}

/**
 * C[M,N] (+)= A[M,K] · B, B stored [K,N] (or [N,K] when transB). Row-major, float64 sums.
 */
export function gemmRef(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  B: Float32Array,
  C: Float32Array,
  opts: { transB?: boolean; accumulate?: boolean; aOff?: number; bOff?: number; cOff?: number } = {},
): void {
  const aOff = opts.aOff ?? 0;
  const bOff = opts.bOff ?? 0;
  const cOff = opts.cOff ?? 0;
  if (opts.transB) {
    for (let i = 0; i < M; i++) {
      const ai = aOff + i * K;
      for (let j = 0; j < N; j++) {
        const bj = bOff + j * K;
        let s = 0;
        for (let k = 0; k < K; k++) s += A[ai + k] * B[bj + k];
        const ci = cOff + i * N + j;
        C[ci] = opts.accumulate ? C[ci] + s : s;
      }
    }
    return;
  }
  const acc = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    const ci = cOff + i * N;
    if (opts.accumulate) for (let j = 0; j < N; j++) acc[j] = C[ci + j];
    else acc.fill(0);
    const ai = aOff + i * K;
    for (let k = 0; k < K; k++) {
      const a = A[ai + k];
      if (a === 0) continue;
      const bk = bOff + k * N;
      for (let j = 0; j < N; j++) acc[j] += a * B[bk + j];
    }
    for (let j = 0; j < N; j++) C[ci + j] = acc[j];
  }
}

/** Caffe's im2col for one group of one image: col[(cg*kh*kw), oh*ow]. */
function im2col(x: Float32Array, xOff: number, cg: number, g: ConvGeom, col: Float32Array): void {
  const { h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow } = g;
  let r = 0;
  for (let c = 0; c < cg; c++) {
    const xc = xOff + c * h * w;
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++, r++) {
        const base = r * oh * ow;
        for (let y = 0; y < oh; y++) {
          const iy = y * sh - ph + ki * dh;
          const row = base + y * ow;
          if (iy < 0 || iy >= h) {
            for (let xo = 0; xo < ow; xo++) col[row + xo] = 0;
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

/** Caffe's col2im (accumulating) for one group: the inverse scatter of im2col. */
function col2im(col: Float64Array, cg: number, g: ConvGeom, y: Float64Array, yOff: number): void {
  // here g.h/g.w are the IMAGE (deconv output) size and g.oh/g.ow the column grid (deconv input) size
  const { h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow } = g;
  let r = 0;
  for (let c = 0; c < cg; c++) {
    const yc = yOff + c * h * w;
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++, r++) {
        const base = r * oh * ow;
        for (let yy = 0; yy < oh; yy++) {
          const iy = yy * sh - ph + ki * dh;
          if (iy < 0 || iy >= h) continue;
          const yr = yc + iy * w;
          for (let xo = 0; xo < ow; xo++) {
            const ix = xo * sw - pw + kj * dw;
            if (ix >= 0 && ix < w) y[yr + ix] += col[base + yy * ow + xo];
          }
        }
      }
    }
  }
}

/**
 * Convolution of a batch: x [n,c,h,w], weight [o, c/group, kh, kw], bias [o] or undefined → out [n,o,oh,ow].
 */
export function conv2dRef(n: number, x: Float32Array, weight: Float32Array, bias: Float32Array | undefined, g: ConvGeom, out: Float32Array): void {
  const cg = g.c / g.group;
  const og = g.o / g.group;
  const K = cg * g.kh * g.kw;
  const P = g.oh * g.ow;
  const pointwise = g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;
  const col = pointwise ? undefined : new Float32Array(K * P);
  for (let b = 0; b < n; b++) {
    for (let gi = 0; gi < g.group; gi++) {
      const xOff = (b * g.c + gi * cg) * g.h * g.w;
      const cOff = (b * g.o + gi * og) * P;
      if (col) {
        im2col(x, xOff, cg, g, col);
        gemmRef(og, P, K, weight, col, out, { aOff: gi * og * K, cOff });
      } else {
        gemmRef(og, P, K, weight, x, out, { aOff: gi * og * K, bOff: xOff, cOff });
      }
    }
    if (bias) {
      for (let o = 0; o < g.o; o++) {
        const bv = bias[o];
        const off = (b * g.o + o) * P;
        for (let i = 0; i < P; i++) out[off + i] += bv;
      }
    }
  }
}

/**
 * Deconvolution (Caffe: the backward pass of a convolution): x [n,c,h,w], weight [c, o/group, kh, kw]
 * → out [n,o,oh,ow] with oh = sh*(h-1) + dh*(kh-1)+1 - 2ph.
 */
export function deconv2dRef(n: number, x: Float32Array, weight: Float32Array, bias: Float32Array | undefined, g: ConvGeom, out: Float32Array): void {
  const cg = g.c / g.group;
  const og = g.o / g.group;
  const K = og * g.kh * g.kw;
  const P = g.h * g.w;
  const col = new Float64Array(K * P);
  // geometry seen from the "convolution" whose backward this is: image = output, grid = input
  const cg2: ConvGeom = { ...g, h: g.oh, w: g.ow, oh: g.h, ow: g.w };
  const y = new Float64Array(g.o * g.oh * g.ow);
  for (let b = 0; b < n; b++) {
    y.fill(0);
    for (let gi = 0; gi < g.group; gi++) {
      col.fill(0);
      // col[K,P] = W_g^T [K, cg] · x_g [cg, P]
      for (let ci = 0; ci < cg; ci++) {
        const wRow = (gi * cg + ci) * K;
        const xRow = (b * g.c + gi * cg + ci) * P;
        for (let k = 0; k < K; k++) {
          const wv = weight[wRow + k];
          if (wv === 0) continue;
          const cr = k * P;
          for (let p = 0; p < P; p++) col[cr + p] += wv * x[xRow + p];
        }
      }
      col2im(col, og, cg2, y, gi * og * g.oh * g.ow);
    }
    const OP = g.oh * g.ow;
    for (let o = 0; o < g.o; o++) {
      const bv = bias ? bias[o] : 0;
      const off = o * OP;
      const dst = (b * g.o + o) * OP;
      for (let i = 0; i < OP; i++) out[dst + i] = y[off + i] + bv;
    }
  }
}
