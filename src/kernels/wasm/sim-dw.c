// The simulator's exact integer depthwise convolution (group == inC == outC; src/kernels/sim-dw.ts), with the
// requantization fused into its output write: per channel, the input becomes int16 pairs of rows (r, r + dH) in
// zero-padded planes split by column phase (column j·sW + ph of the padded map is word j of phase ph), so each tap
// pair (kh, kh + 1) at column kw is one contiguous load and one i32x4.dot_i16x8_s over 4 output pixels. The int32
// sums wrap mod 2^32: exact whenever max|x|·Σ|w_c| < 2^31 with int16 operands (|x|, |w| <= 32767; the caller
// checks). Each 4 sums are requantized in registers as they are written (simd_emit: the lanes of sim.c's
// requant_xilinx_body / requant_dynfixed_body, or an exact int32 form of the Xilinx one; a channel past their bounds
// gets sim.c's body in place), into the int32 blob and its float32 twin. Included by kernels.c after sim.c.

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
// words per row of a phase plane, a multiple of 4: its columns, and the 4-lane reads of the last output's taps
static inline int simd_pw(const ConvP* p) {
  const int cols = (simd_wp(p) + p->sW - 1) / p->sW, reads = (p->kW - 1) * p->dW / p->sW + ((p->outW + 3) & ~3);
  return ((cols > reads ? cols : reads) + 3) & ~3;
}
// plane rows read: (OH-1)·sH + (kH-1)·dH + 1
static inline int simd_rows(const ConvP* p) { return (p->outH - 1) * p->sH + (p->kH - 1) * p->dH + 1; }

// int32 words of one thread's workspace: the phase planes, one padded row, the output row, the weight pairs, the
// plane rows' flags, the taps' offsets
EXPORT(simd_ws_words) int simd_ws_words(const ConvP* p) {
  const int PW = simd_pw(p);
  return simd_rows(p) * PW * p->sW + (p->sW * PW + 16) + (p->outW + 8) + ((p->kH + 1) / 2) * p->kW + simd_rows(p) + p->kW + 64;
}

// whether padded row r is read by some output row through an even tap row (the pair's first row)
static inline int simd_row_read(const ConvP* p, int r) {
  for (int kh = 0; kh < p->kH; kh += 2) {
    const int t = r - kh * p->dH;
    if (t >= 0 && t % p->sH == 0 && t / p->sH < p->outH) return 1;
  }
  return 0;
}

// words [0, n) of the pair row: word col = (x[r][col - pW], x[r + dH][col - pW]) as two int16 (low, high). The last
// vector of the row reads up to 3 values past it (the next row, or the zone past the blob) and writes up to 3 words
// past W, which the zeros then overwrite; the zeros may run 3 words past n (into the next plane row, built after it or
// never read, or the workspace's next buffer).
static void simd_pair_row(const ConvP* p, const int32_t* xa, const int32_t* xb, int32_t* d, int n) {
  const int W = p->inW, pW = p->pW;
  const v128_t z = wasm_i32x4_splat(0);
  for (int col = 0; col < pW; col += 4) wasm_v128_store(d + col, z);
  int col = pW;
  if (xa || xb) {
    for (int i = 0; i < W; i += 4) {
      const v128_t nv = wasm_i16x8_narrow_i32x4(xa ? wasm_v128_load(xa + i) : z, xb ? wasm_v128_load(xb + i) : z);
      wasm_v128_store(d + pW + i, wasm_i8x16_shuffle(nv, nv, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15));
    }
    col = pW + W;
  }
  for (; col < n; col += 4) wasm_v128_store(d + col, z);
}

// the phase planes of channel xc: plane ph, row r, word j = pair word of padded column j·sW + ph; rows whose flag in
// read is 0 are not built (nothing reads them)
static void simd_planes(const ConvP* p, const int32_t* xc, int32_t* planes, int32_t* row, const int32_t* read) {
  const int H = p->inH, W = p->inW, sW = p->sW, PW = simd_pw(p), Hr = simd_rows(p), dH = p->dH;
  for (int r = 0; r < Hr; r++) {
    if (!read[r]) continue;
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

// the 4 lanes of v at o (n < 4: its first n lanes only; the next values may belong to another thread)
static inline void simd_store(void* o0, v128_t v, int n) {
  int32_t* o = (int32_t*)o0;
  if (n >= 4) {
    wasm_v128_store(o, v);
    return;
  }
  o[0] = wasm_i32x4_extract_lane(v, 0);
  if (n > 1) o[1] = wasm_i32x4_extract_lane(v, 1);
  if (n > 2) o[2] = wasm_i32x4_extract_lane(v, 2);
}

// How 4 sums become output values: kind 0 the raw int32 sums into q (requantized afterwards by sim.c's body), 1 Xilinx,
// 2 DynamicFixed, each on the lanes of requant_xilinx_body / requant_dynfixed_body's SIMD loops (the same integers), 3
// Xilinx on int32 lanes (below),
// into q and its twin f (its first ns lanes); the running max |y| of the first n lanes in *mx.
// Xilinx (kind 1): sim.c's xilinx_lanes (|t| < 2^52), then clamped in int32 lanes.
// DynamicFixed: t = acc + bias in int32 (|t| + 2^(shift-1) < 2^31), y = sign(t)·((|t| + 2^(shift-1)) >> shift).
// kind 3, Xilinx on int32 lanes: y is non-decreasing in acc and clamped, so acc clamped to [al, ah] (outside which y
// is at the rail it has at al or ah, checked per channel by simd_xilinx_range) gives the same y; there t fits int32
// (S and B wrap mod 2^32, t does not) and y = sign(t)·((|t| + 2^21) >> 22) as in the int64 loop, in the form below.
static inline __attribute__((always_inline)) void simd_emit(int kind, v128_t a, int32_t* q, float* f, int n, int ns,
    v128_t s, v128_t b, int shift, v128_t lov, v128_t hiv, v128_t* mx) {
  if (kind == 0) {
    simd_store(q, a, ns);
    return;
  }
  v128_t y;
  if (kind == 1) {
    y = xilinx_lanes(a, 1, s, b);
  } else if (kind == 3) {
    // Xilinx on int32 lanes: acc clamped to [al, ah] (b: al, ah, B), where y is already at its rails
    const v128_t ac = wasm_i32x4_min(wasm_i32x4_shuffle(b, b, 1, 1, 1, 1), wasm_i32x4_max(wasm_i32x4_shuffle(b, b, 0, 0, 0, 0), a));
    const v128_t t = wasm_i32x4_add(wasm_i32x4_mul(ac, s), wasm_i32x4_shuffle(b, b, 2, 2, 2, 2));
    // sign(t)·((|t| + 2^21) >> 22) = (t + 2^21 - [t < 0]) >> 22 (arithmetic): for t < 0 it is ceil((t - 2^21) / 2^22)
    y = wasm_i32x4_shr(wasm_i32x4_add(wasm_i32x4_add(t, wasm_i32x4_splat(1 << 21)), wasm_i32x4_shr(t, 31)), 22);
  } else {
    // sign(t)·((|t| + h) >> shift) = (t + h - [t < 0]) >> shift (arithmetic), h = 2^(shift-1), as kind 3
    const v128_t t = wasm_i32x4_add(a, b);
    y = wasm_i32x4_shr(wasm_i32x4_add(wasm_i32x4_add(t, s), wasm_i32x4_shr(t, 31)), shift);
  }
  y = wasm_i32x4_min(hiv, wasm_i32x4_max(lov, y));
  v128_t ay = wasm_i32x4_abs(y);
  if (n < 4) ay = wasm_v128_and(ay, wasm_i32x4_gt(wasm_i32x4_splat(n), wasm_i32x4_make(0, 1, 2, 3)));
  *mx = wasm_u32x4_max(*mx, ay);
  simd_store(q, y, ns);
  simd_store(f, wasm_f32x4_convert_i32x4(y), ns);
}

// Geometry the channel loop reads (locals: the stores to q and f could alias ConvP's fields)
typedef struct {
  int OH, OW, kH2, kW;
  long rowStep, du;  // words from one output row's first plane row to the next's; between pair rows m and m + 1
} SimdGeo;

// one channel's output rows (plane rows oh·sH + 2m·dH, weight pairs wp[m][kw], tap column kw at word tap[kw] of the
// row) emitted into q and f (simd_emit); a row's last vector is written whole when the channel's values go on that
// far (the next rows' first values, written next). acc: OW + 4 words
static inline __attribute__((always_inline)) void simd_channel(int kind, SimdGeo G, const int32_t* restrict planes,
    const int32_t* wp, const int32_t* tap, int32_t* restrict q, float* restrict f, int32_t* restrict acc, v128_t s,
    v128_t b, int shift, v128_t lov, v128_t hiv, v128_t* mx) {
  const int OH = G.OH, OW = G.OW, kH2 = G.kH2, kW = G.kW;
  if (kH2 == 2 && kW == 3) {
    // 3x3 (MobileNet): the 6 weight pairs in registers
    const v128_t w0 = wasm_i32x4_splat(wp[0]), w1 = wasm_i32x4_splat(wp[1]), w2 = wasm_i32x4_splat(wp[2]);
    const v128_t w3 = wasm_i32x4_splat(wp[3]), w4 = wasm_i32x4_splat(wp[4]), w5 = wasm_i32x4_splat(wp[5]);
    const int p0 = tap[0], p1 = tap[1], p2 = tap[2];
    const long du = G.du;
    for (int oh = 0; oh < OH; oh++) {
      const int32_t *t0 = planes + oh * G.rowStep + p0, *t1 = planes + oh * G.rowStep + p1, *t2 = planes + oh * G.rowStep + p2;
      const int32_t *u0 = t0 + du, *u1 = t1 + du, *u2 = t2 + du;
      int32_t* qr = q + (long)oh * OW;
      float* fr = f + (long)oh * OW;
      const int rem = (OH - oh) * OW;
      for (int ow = 0; ow < OW; ow += 4) {
        v128_t a = wasm_i32x4_dot_i16x8(wasm_v128_load(t0 + ow), w0);
        a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(t1 + ow), w1));
        a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(t2 + ow), w2));
        a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(u0 + ow), w3));
        a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(u1 + ow), w4));
        a = wasm_i32x4_add(a, wasm_i32x4_dot_i16x8(wasm_v128_load(u2 + ow), w5));
        simd_emit(kind, a, qr + ow, fr + ow, OW - ow, MIN(4, rem - ow), s, b, shift, lov, hiv, mx);
      }
    }
    return;
  }
  for (int oh = 0; oh < OH; oh++) {
    const int32_t* base = planes + oh * G.rowStep;
    for (int ow = 0; ow < OW; ow += 4) wasm_v128_store(acc + ow, wasm_i32x4_splat(0));
    for (int m = 0; m < kH2; m++) {
      for (int kw = 0; kw < kW; kw++) {
        const int32_t* t = base + m * G.du + tap[kw];
        const v128_t wv = wasm_i32x4_splat(wp[m * kW + kw]);
        for (int ow = 0; ow < OW; ow += 4)
          wasm_v128_store(acc + ow, wasm_i32x4_add(wasm_v128_load(acc + ow), wasm_i32x4_dot_i16x8(wasm_v128_load(t + ow), wv)));
      }
    }
    const int rem = (OH - oh) * OW;
    for (int ow = 0; ow < OW; ow += 4)
      simd_emit(kind, wasm_v128_load(acc + ow), q + (long)oh * OW + ow, f + (long)oh * OW + ow, OW - ow, MIN(4, rem - ow), s, b, shift, lov, hiv, mx);
  }
}

// y(acc) of requant_xilinx_body's int64 loop
static inline int32_t simd_y_xilinx(int64_t acc, int64_t s, int64_t b, int lo, int hi) {
  const int64_t t = acc * s + b;
  return clamp64(t >= 0 ? (t + (1LL << 21)) >> 22 : -((-t + (1LL << 21)) >> 22), lo, hi);
}

// For accumulators |acc| <= amax, multiplier s (0 <= s < 2^31) and b = bq·2^22: [al, ah] within [-amax, amax] such
// that y(acc) = y(al) for acc <= al and y(acc) = y(ah) for acc >= ah (y is non-decreasing: there it is at a rail),
// and |t| + 2^21 < 2^31 on [al, ah]. 0 when there is none (kind 1 then).
static int simd_xilinx_range(int64_t s, int64_t b, int lo, int hi, int64_t amax, int32_t* al, int32_t* ah) {
  if (s < 0 || s >= (1LL << 31) || amax >= (1LL << 31) || lo > hi) return 0;
  int64_t l = -amax, h = amax;
  if (s > 0) {
    // the acc where t reaches the rails' rounding edges (t = hi·2^22 - 2^21, lo·2^22 + 2^21), a step outwards for
    // the division's rounding; each checked on the exact y below
    const double th = (double)hi * 4194304.0 - 2097152.0, tl = (double)lo * 4194304.0 + 2097152.0;
    const double ch = __builtin_ceil((th - (double)b) / (double)s) + 1, cl = __builtin_floor((tl - (double)b) / (double)s) - 1;
    if (ch < (double)h) h = ch > (double)l ? (int64_t)ch : l;
    if (cl > (double)l) l = cl < (double)h ? (int64_t)cl : h;
    if (h < amax && simd_y_xilinx(h, s, b, lo, hi) != hi) return 0;
    if (l > -amax && simd_y_xilinx(l, s, b, lo, hi) != lo) return 0;
  } else {
    l = h = 0;  // t = b whatever acc is
  }
  if (l > h) return 0;
  const int64_t tl = l * s + b, th = h * s + b;
  const int64_t m = (tl < 0 ? -tl : tl) > (th < 0 ? -th : th) ? (tl < 0 ? -tl : tl) : (th < 0 ? -th : th);
  if (m + (1LL << 21) >= (1LL << 31)) return 0;
  *al = (int32_t)l;
  *ah = (int32_t)h;
  return 1;
}

// channels [c0, c1) of image m: the convolution with each output requantized as it is written into q and its twin f;
// a channel whose bound is past the lanes' (|t| >= 2^52 in Xilinx mode, the int32 one in DynamicFixed) gets its raw
// sums, requantized afterwards in place by sim.c's body (its int64 loop). Returns max |y|.
EXPORT(simd_part) int32_t simd_part(const SimDwP* P, int m, int c0, int c1, int32_t* ws) {
  const ConvP* p = &P->g;
  const int H = p->inH, W = p->inW, OH = p->outH, OW = p->outW, kH = p->kH, kW = p->kW, kH2 = (kH + 1) / 2;
  const int PW = simd_pw(p), Hr = simd_rows(p), shift = P->shift;
  int32_t* planes = ws;
  int32_t* row = planes + (long)Hr * PW * p->sW;
  int32_t* acc = row + p->sW * PW + 16;
  int32_t* wp = acc + OW + 8;
  int32_t* read = wp + kH2 * kW;
  int32_t* tap = read + Hr;
  for (int r = 0; r < Hr; r++) read[r] = simd_row_read(p, r);
  const SimdGeo G = {OH, OW, kH2, kW, (long)p->sH * PW, (long)2 * p->dH * PW};
  // tap column kw: phase (kw·dW) % sW, offset (kw·dW) / sW
  for (int kw = 0; kw < kW; kw++) tap[kw] = (kw * p->dW) % p->sW * Hr * PW + (kw * p->dW) / p->sW;
  const int32_t* x = P->x[m];
  int32_t* q = P->q[m];
  float* f = P->f[m];
  const double amax = P->amax[m];
  const v128_t lov = wasm_i32x4_splat(P->lo), hiv = wasm_i32x4_splat(P->hi);
  v128_t mxv = wasm_i32x4_splat(0);
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
    simd_planes(p, x + (long)c * H * W, planes, row, read);
    const long o = (long)c * OH * OW;
    int kind;
    v128_t sv, bv;
    if (!P->dynfixed) {
      const double sc = P->S[c], bc = P->bq[c] * 4194304.0;
      int32_t al, ah;
      if (simd_xilinx_range((int64_t)sc, (int64_t)P->bq[c] * (1LL << 22), P->lo, P->hi, (int64_t)amax, &al, &ah)) {
        kind = 3;
        sv = wasm_i32x4_splat((int32_t)(int64_t)sc);
        bv = wasm_i32x4_make(al, ah, (int32_t)(uint32_t)(uint64_t)((int64_t)P->bq[c] * (1LL << 22)), 0);
      } else {
        kind = amax * sc + (bc < 0 ? -bc : bc) < 4503599627370496.0 ? 1 : 0;
        sv = wasm_f64x2_splat(sc * (1.0 / 4194304.0));
        bv = wasm_f64x2_splat(P->bq[c]);
      }
    } else {
      const int32_t bc = P->bias[c];
      kind = shift >= 1 && shift <= 30 && amax + (bc < 0 ? -(double)bc : (double)bc) + (double)(1 << (shift - 1)) < 2147483648.0 ? 2 : 0;
      sv = wasm_i32x4_splat(shift >= 1 && shift <= 30 ? 1 << (shift - 1) : 0);
      bv = wasm_i32x4_splat(bc);
    }
#define SIMD_ROWS(k) simd_channel(k, G, planes, wp, tap, q + o, f + o, acc, sv, bv, shift, lov, hiv, &mxv);
    if (kind == 3) {
      SIMD_ROWS(3)
    } else if (kind == 1) {
      SIMD_ROWS(1)
    } else if (kind == 2) {
      SIMD_ROWS(2)
    } else {
      SIMD_ROWS(0)
      const int32_t y = P->dynfixed
        ? requant_dynfixed_body(q + o, 1, q + o, f + o, 1, OH * OW, P->bias + c, shift, P->lo, P->hi, amax)
        : requant_xilinx_body(q + o, 1, q + o, f + o, 1, OH * OW, P->S + c, P->bq + c, P->lo, P->hi, amax);
      if (y > mx) mx = y;
    }
#undef SIMD_ROWS
  }
  const int32_t mv = (int32_t)hmax_u32(mxv);
  return mv > mx ? mv : mx;
}
