// The simulator's exact integer depthwise convolution (group == inC == outC; src/kernels/sim-dw.ts), with the
// requantization fused into its output write: per channel, the input becomes int16 pairs of rows (r, r + dH) in
// zero-padded planes split by column phase (column j·sW + ph of the padded map is word j of phase ph), so each tap
// pair (kh, kh + 1) at column kw is one contiguous load and one i32x4.dot_i16x8_s over 4 output pixels. The int32
// sums wrap mod 2^32: exact whenever max|x|·Σ|w_c| < 2^31 with int16 operands (|x|, |w| <= 32767; the caller
// checks). Each output row's sums are requantized from a row buffer by requant_xilinx_body / requant_dynfixed_body
// (sim.c), the resident chain's own code, into the int32 blob and its float32 twin. Included by kernels.c after sim.c.

typedef struct {
  ConvP g;                     // words 0-15
  int32_t dynfixed, shift, lo, hi;  // 16-19
  const double* S;             // 20: Xilinx multipliers
  const double* bq;            // 21: Xilinx biases (at the output scale)
  const int32_t* bias;         // 22: DynamicFixed biases
  int32_t images;              // 23: 1, or 2 (a layer's fixed and local runs)
  const int32_t* x[2];         // 24-25
  int32_t* q[2];               // 26-27
  float* f[2];                 // 28-29
  const int32_t* w;            // 30: int32 [C][kH][kW]
  int32_t spare;               // 31
  double amax[2];              // 32-35: max |accumulator| of each image (max|x|·Σ|w_c|)
} SimDwP;

static inline int simd_wp(const ConvP* p) { return p->inW + 2 * p->pW; }
// words per row of a phase plane (with slack for the 4-lane reads past the last output)
static inline int simd_pw(const ConvP* p) { return (((simd_wp(p) + p->sW - 1) / p->sW + 8) + 3) & ~3; }
// plane rows read: (OH-1)·sH + (kH-1)·dH + 1
static inline int simd_rows(const ConvP* p) { return (p->outH - 1) * p->sH + (p->kH - 1) * p->dH + 1; }

// int32 words of one thread's workspace: the phase planes, one padded row, the output row, the weight pairs
EXPORT(simd_ws_words) int simd_ws_words(const ConvP* p) {
  const int PW = simd_pw(p);
  return simd_rows(p) * PW * p->sW + (p->sW * PW + 16) + (p->outW + 8) + ((p->kH + 1) / 2) * p->kW + 64;
}

// whether padded row r is read by some output row through an even tap row (the pair's first row)
static inline int simd_row_read(const ConvP* p, int r) {
  for (int kh = 0; kh < p->kH; kh += 2) {
    const int t = r - kh * p->dH;
    if (t >= 0 && t % p->sH == 0 && t / p->sH < p->outH) return 1;
  }
  return 0;
}

// padded input row r of channel xc (r - pH outside [0, H): zeros) as int16, 4 values from column i
static inline v128_t simd_row4(const int32_t* xr, int i) { return xr ? wasm_v128_load(xr + i) : wasm_i32x4_splat(0); }

// words [0, n) of the pair row: word col = (x[r][col - pW], x[r + dH][col - pW]) as two int16 (low, high)
static void simd_pair_row(const ConvP* p, const int32_t* xa, const int32_t* xb, int32_t* d, int n) {
  const int W = p->inW, pW = p->pW;
  int col = 0;
  for (; col < pW && col < n; col++) d[col] = 0;
  int i = 0;
  for (; i + 4 <= W && pW + i + 4 <= n; i += 4) {
    const v128_t nv = wasm_i16x8_narrow_i32x4(simd_row4(xa, i), simd_row4(xb, i));
    wasm_v128_store(d + pW + i, wasm_i8x16_shuffle(nv, nv, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15));
  }
  for (; i < W && pW + i < n; i++) {
    const uint32_t a = xa ? (uint16_t)(int16_t)xa[i] : 0, b = xb ? (uint16_t)(int16_t)xb[i] : 0;
    d[pW + i] = (int32_t)(a | (b << 16));
  }
  for (col = pW + i; col < n; col++) d[col] = 0;
}

// the phase planes of channel xc: plane ph, row r, word j = pair word of padded column j·sW + ph
static void simd_planes(const ConvP* p, const int32_t* xc, int32_t* planes, int32_t* row) {
  const int H = p->inH, W = p->inW, sW = p->sW, PW = simd_pw(p), Hr = simd_rows(p), dH = p->dH;
  for (int r = 0; r < Hr; r++) {
    if (!simd_row_read(p, r)) continue;
    const int ia = r - p->pH, ib = ia + dH;
    const int32_t* xa = (unsigned)ia < (unsigned)H ? xc + (long)ia * W : 0;
    const int32_t* xb = (unsigned)ib < (unsigned)H ? xc + (long)ib * W : 0;
    if (sW == 1) {
      simd_pair_row(p, xa, xb, planes + (long)r * PW, PW);
      continue;
    }
    simd_pair_row(p, xa, xb, row, sW * PW);
    if (sW == 2) {
      int32_t* E = planes + (long)r * PW;
      int32_t* O = planes + ((long)Hr + r) * PW;
      for (int j = 0; j < PW; j += 4) {
        const v128_t a = wasm_v128_load(row + 2 * j), b = wasm_v128_load(row + 2 * j + 4);
        wasm_v128_store(E + j, wasm_i32x4_shuffle(a, b, 0, 2, 4, 6));
        wasm_v128_store(O + j, wasm_i32x4_shuffle(a, b, 1, 3, 5, 7));
      }
      continue;
    }
    for (int ph = 0; ph < sW; ph++) {
      int32_t* d = planes + ((long)ph * Hr + r) * PW;
      for (int j = 0; j < PW; j++) d[j] = row[j * sW + ph];
    }
  }
}

// one output row's int32 sums into acc[0, OW rounded up to 4): plane rows oh·sH + 2m·dH, weight pairs wp[m][kw]
static inline void simd_out_row(const ConvP* p, const int32_t* planes, const int32_t* wp, int oh, int32_t* acc) {
  const int kH2 = (p->kH + 1) / 2, kW = p->kW, sW = p->sW, dW = p->dW, PW = simd_pw(p), Hr = simd_rows(p), OW = p->outW;
  if (kH2 == 2 && kW == 3) {
    // 3x3 (MobileNet): the 6 weight pairs in registers
    const v128_t w0 = wasm_i32x4_splat(wp[0]), w1 = wasm_i32x4_splat(wp[1]), w2 = wasm_i32x4_splat(wp[2]);
    const v128_t w3 = wasm_i32x4_splat(wp[3]), w4 = wasm_i32x4_splat(wp[4]), w5 = wasm_i32x4_splat(wp[5]);
    // tap column kw of the pair rows (kh 0, 1) and (2, 3): phase (kw·dW) % sW, offset (kw·dW) / sW
#define SIMD_TAP(kw) (planes + ((long)(((kw) * dW) % sW) * Hr + oh * p->sH) * PW + ((kw) * dW) / sW)
    const int32_t *t0 = SIMD_TAP(0), *t1 = SIMD_TAP(1), *t2 = SIMD_TAP(2);
#undef SIMD_TAP
    const long du = (long)2 * p->dH * PW;
    const int32_t *u0 = t0 + du, *u1 = t1 + du, *u2 = t2 + du;
    for (int ow = 0; ow < OW; ow += 4) {
      v128_t a = wasm_i32x4_dot_i16x8(wasm_v128_load(t0 + ow), w0);
      a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(t1 + ow), w1));
      a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(t2 + ow), w2));
      a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(u0 + ow), w3));
      a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(u1 + ow), w4));
      a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(u2 + ow), w5));
      wasm_v128_store(acc + ow, a);
    }
    return;
  }
  for (int ow = 0; ow < OW; ow += 4) wasm_v128_store(acc + ow, wasm_i32x4_splat(0));
  for (int m = 0; m < kH2; m++) {
    for (int kw = 0; kw < kW; kw++) {
      const int c = kw * dW, ph = c % sW, off = c / sW;
      const int32_t* t = planes + ((long)ph * Hr + oh * p->sH + 2 * m * p->dH) * PW + off;
      const v128_t wv = wasm_i32x4_splat(wp[m * kW + kw]);
      for (int ow = 0; ow < OW; ow += 4)
        wasm_v128_store(acc + ow, wasm_i32x4_add(wasm_v128_load(acc + ow), wasm_i32x4_dot_i16x8(wasm_v128_load(t + ow), wv)));
    }
  }
}

// channels [c0, c1) of image m: convolution, then each output row requantized into q and its twin f; returns max |y|
EXPORT(simd_part) int32_t simd_part(const SimDwP* P, int m, int c0, int c1, int32_t* ws) {
  const ConvP* p = &P->g;
  const int H = p->inH, W = p->inW, OH = p->outH, OW = p->outW, kH = p->kH, kW = p->kW, kH2 = (kH + 1) / 2;
  const int PW = simd_pw(p), Hr = simd_rows(p);
  int32_t* planes = ws;
  int32_t* row = planes + (long)Hr * PW * p->sW;
  int32_t* acc = row + p->sW * PW + 16;
  int32_t* wp = acc + OW + 8;
  const int32_t* x = P->x[m];
  int32_t* q = P->q[m];
  float* f = P->f[m];
  const double amax = P->amax[m];
  int32_t mx = 0;
  if (c1 > p->outC) c1 = p->outC;
  for (int c = c0; c < c1; c++) {
    // weight pairs (w[2m'][kw], w[2m'+1][kw]); a missing odd row pairs with 0
    const int32_t* wc = P->w + (long)c * kH * kW;
    for (int mm = 0; mm < kH2; mm++)
      for (int kw = 0; kw < kW; kw++) {
        const uint32_t a = (uint16_t)(int16_t)wc[2 * mm * kW + kw];
        const uint32_t b = 2 * mm + 1 < kH ? (uint16_t)(int16_t)wc[(2 * mm + 1) * kW + kw] : 0;
        wp[mm * kW + kw] = (int32_t)(a | (b << 16));
      }
    simd_planes(p, x + (long)c * H * W, planes, row);
    for (int oh = 0; oh < OH; oh++) {
      simd_out_row(p, planes, wp, oh, acc);
      const long o = (long)c * OH * OW + (long)oh * OW;
      const int32_t y = P->dynfixed
        ? requant_dynfixed_body(acc, 1, q + o, f + o, 1, OW, P->bias + c, P->shift, P->lo, P->hi, amax)
        : requant_xilinx_body(acc, 1, q + o, f + o, 1, OW, P->S + c, P->bq + c, P->lo, P->hi, amax);
      if (y > mx) mx = y;
    }
  }
  return mx;
}
