// ---- the simulator's fixed chain (src/kernels/sim-conv.ts): integer activations kept in wasm memory twice, as
// int32 and as float32 holding the same integers (exact below 2^24), so the float convolution kernels read them in
// place. Included at the end of kernels.c (uses iacc/clamp64 and its SIMD helpers).

// int32 → float32 (dst may be src), returns max |x|, or -1 when it is 2^31 (the caller treats that as too large)
EXPORT(sim_i32_to_f32) int32_t sim_i32_to_f32(const int32_t* src, float* dst, int n) {
  v128_t m = wasm_i32x4_splat(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(src + i);
    m = wasm_u32x4_max(m, wasm_i32x4_abs(v));
    wasm_v128_store(dst + i, wasm_f32x4_convert_i32x4(v));
  }
  uint32_t r = hmax_u32(m);
  for (; i < n; i++) {
    const int32_t x = src[i];
    uint32_t v = x < 0 ? 0u - (uint32_t)x : (uint32_t)x;
    if (v > r) r = v;
    dst[i] = (float)x;
  }
  return r > 0x7fffffffu ? -1 : (int32_t)r;
}

#ifdef CHAIQ_FMA
#define RQ_MADD(acc, a, b) __builtin_wasm_relaxed_madd_f64x2((a), (b), (acc))
#else
#define RQ_MADD(acc, a, b) wasm_f64x2_add(wasm_f64x2_mul((a), (b)), (acc))
#endif
// The Xilinx requantization of 4 accumulators holding integers (int32 when accI32, else float32), before the clamp:
// u = t·2^-22 = acc·sv + bv with sv = S·2^-22 and bv = bq, exact while |t| < 2^52 (the scalings are by powers of two,
// the product an integer; fused or not on the FMA build, the same u), rounded half away as trunc(u ± 0.5) (exact:
// |u| < 2^30 with 22 fraction bits), the integer read from the low word of y + 1.5·2^52 (cheaper than trunc_sat).
static inline __attribute__((always_inline)) v128_t xilinx_lanes(v128_t a, int accI32, v128_t sv, v128_t bv) {
  const v128_t half = wasm_f64x2_splat(0.5), magic = wasm_f64x2_splat(6755399441055744.0), sign = wasm_f64x2_splat(-0.0);
  const v128_t a2 = wasm_i32x4_shuffle(a, a, 2, 3, 0, 1);
  const v128_t u0 = RQ_MADD(bv, accI32 ? wasm_f64x2_convert_low_i32x4(a) : wasm_f64x2_promote_low_f32x4(a), sv);
  const v128_t u1 = RQ_MADD(bv, accI32 ? wasm_f64x2_convert_low_i32x4(a2) : wasm_f64x2_promote_low_f32x4(a2), sv);
  const v128_t y0 = wasm_f64x2_add(wasm_f64x2_trunc(wasm_f64x2_add(u0, wasm_v128_or(half, wasm_v128_and(u0, sign)))), magic);
  const v128_t y1 = wasm_f64x2_add(wasm_f64x2_trunc(wasm_f64x2_add(u1, wasm_v128_or(half, wasm_v128_and(u1, sign)))), magic);
  return wasm_i32x4_shuffle(y0, y1, 0, 2, 4, 6);
}

// Xilinx requantization of float32 accumulators holding integers with |acc| <= amax (acc may be outF), as
// requant_xilinx: t = acc·S[c] + bq[c]·2^22, y = clamp(sign(t)·((|t| + 2^21) >> 22), lo, hi); written as int32 to
// outQ and as float32 to outF. A channel whose |t| stays below 2^52 runs on xilinx_lanes, else in int64. Returns
// max |y|.
// accI32: acc holds int32 (the integer Winograd's sums, sim-winograd.c) instead of float32; outQ may be acc
static inline __attribute__((always_inline)) int32_t requant_xilinx_body(const void* acc0, int accI32, int32_t* outQ,
    float* outF, int C, int plane, const double* S, const double* bq, int lo, int hi, double amax) {
  const float* acc = (const float*)acc0;
  v128_t mx = wasm_i32x4_splat(0);
  int32_t ms = 0;
  const v128_t lov = wasm_i32x4_splat(lo), hiv = wasm_i32x4_splat(hi);
  for (int c = 0; c < C; c++) {
    const long o = (long)c * plane;
    const double s = S[c], b = bq[c] * 4194304.0;
    int i = 0;
    if (amax * s + (b < 0 ? -b : b) < 4503599627370496.0) {
      const v128_t sv = wasm_f64x2_splat(s * (1.0 / 4194304.0)), bv = wasm_f64x2_splat(bq[c]);
      for (; i + 4 <= plane; i += 4) {
        const v128_t q = wasm_i32x4_min(hiv, wasm_i32x4_max(lov, xilinx_lanes(wasm_v128_load(acc + o + i), accI32, sv, bv)));
        mx = wasm_u32x4_max(mx, wasm_i32x4_abs(q));
        wasm_v128_store(outQ + o + i, q);
        wasm_v128_store(outF + o + i, wasm_f32x4_convert_i32x4(q));
      }
    }
    const int64_t si = (int64_t)s, bi = (int64_t)bq[c] * (1LL << 22);
    for (; i < plane; i++) {
      const int64_t t = iacc(acc0, !accI32, o + i) * si + bi;
      const int32_t y = clamp64(t >= 0 ? (t + (1LL << 21)) >> 22 : -((-t + (1LL << 21)) >> 22), lo, hi);
      const int32_t ay = y < 0 ? -y : y;
      if (ay > ms) ms = ay;
      outQ[o + i] = y;
      outF[o + i] = (float)y;
    }
  }
  const int32_t m = (int32_t)hmax_u32(mx);
  return m > ms ? m : ms;
}
EXPORT(sim_requant_xilinx) int32_t sim_requant_xilinx(const void* acc, int accI32, int32_t* outQ, float* outF, int C, int plane,
                                                      const double* S, const double* bq, int lo, int hi, double amax) {
  return accI32 ? requant_xilinx_body(acc, 1, outQ, outF, C, plane, S, bq, lo, hi, amax)
                : requant_xilinx_body(acc, 0, outQ, outF, C, plane, S, bq, lo, hi, amax);
}

// DynamicFixed requantization of float32 accumulators holding integers with |acc| <= amax, as requant_dynfixed:
// t = acc + bias[c]; y = clamp(sign(t)·((|t| + 2^(shift-1)) >> shift), lo, hi) (shift <= 0: t·2^-shift), to outQ
// (int32) and outF (float32). In int32 lanes while |t| + 2^(shift-1) < 2^31 (1 <= shift <= 30), else int64.
// Returns max |y|.
static inline __attribute__((always_inline)) int32_t requant_dynfixed_body(const void* acc0, int accI32, int32_t* outQ,
    float* outF, int C, int plane, const int32_t* bias, int shift, int lo, int hi, double amax) {
  const float* acc = (const float*)acc0;
  v128_t mx = wasm_i32x4_splat(0);
  int32_t ms = 0;
  const v128_t lov = wasm_i32x4_splat(lo), hiv = wasm_i32x4_splat(hi);
  for (int c = 0; c < C; c++) {
    const long o = (long)c * plane;
    const int32_t b = bias[c];
    int i = 0;
    if (shift >= 1 && shift <= 30 && amax + (b < 0 ? -(double)b : (double)b) + (double)(1 << (shift - 1)) < 2147483648.0) {
      const v128_t bv = wasm_i32x4_splat(b), hv = wasm_i32x4_splat(1 << (shift - 1));
      for (; i + 4 <= plane; i += 4) {
        const v128_t a = wasm_v128_load(acc + o + i);
        const v128_t t = wasm_i32x4_add(accI32 ? a : wasm_i32x4_trunc_sat_f32x4(a), bv);
        const v128_t neg = wasm_i32x4_shr(t, 31);
        const v128_t r = wasm_u32x4_shr(wasm_i32x4_add(wasm_i32x4_abs(t), hv), shift);
        v128_t y = wasm_i32x4_sub(wasm_v128_xor(r, neg), neg);
        y = wasm_i32x4_min(hiv, wasm_i32x4_max(lov, y));
        mx = wasm_u32x4_max(mx, wasm_i32x4_abs(y));
        wasm_v128_store(outQ + o + i, y);
        wasm_v128_store(outF + o + i, wasm_f32x4_convert_i32x4(y));
      }
    }
    for (; i < plane; i++) {
      const int64_t t = iacc(acc0, !accI32, o + i) + b;
      int32_t y;
      if (shift > 0) {
        const int64_t h = 1LL << (shift - 1);
        y = clamp64(t >= 0 ? (t + h) >> shift : -((-t + h) >> shift), lo, hi);
      } else {
        y = clamp64(t * (1LL << -shift), lo, hi);
      }
      const int32_t ay = y < 0 ? -y : y;
      if (ay > ms) ms = ay;
      outQ[o + i] = y;
      outF[o + i] = (float)y;
    }
  }
  const int32_t m = (int32_t)hmax_u32(mx);
  return m > ms ? m : ms;
}
EXPORT(sim_requant_dynfixed) int32_t sim_requant_dynfixed(const void* acc, int accI32, int32_t* outQ, float* outF, int C, int plane,
                                                          const int32_t* bias, int shift, int lo, int hi, double amax) {
  return accI32 ? requant_dynfixed_body(acc, 1, outQ, outF, C, plane, bias, shift, lo, hi, amax)
                : requant_dynfixed_body(acc, 0, outQ, outF, C, plane, bias, shift, lo, hi, amax);
}

// float32 holding integers (a pooled twin) → int32, returns max |x| (the values are below 2^24)
EXPORT(sim_f32_to_i32) int32_t sim_f32_to_i32(const float* src, int32_t* dst, int n) {
  v128_t m = wasm_i32x4_splat(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_i32x4_trunc_sat_f32x4(wasm_v128_load(src + i));
    m = wasm_u32x4_max(m, wasm_i32x4_abs(v));
    wasm_v128_store(dst + i, v);
  }
  int32_t r = (int32_t)hmax_u32(m);
  for (; i < n; i++) {
    const int32_t v = (int32_t)src[i];
    const int32_t a = v < 0 ? -v : v;
    if (a > r) r = a;
    dst[i] = v;
  }
  return r;
}

// C round() of a float32 value: |v| + 0.5 is exact in double (v has 24 significant bits; below 2^-28 the floor is 0)
static inline double round_away(double v) {
  const double a = __builtin_floor((v < 0 ? -v : v) + 0.5);
  return v < 0 ? -a : a;
}

// The quantizers of a float (ARM) value read by a HW layer, as chaidnn/arith.ts, into int32 q and its float32 twin:
// kind 0: DynamicFixed, q = clamp(round(clamp(d, minv, maxv)·p), lo, hi) in double;
// kind 1: Xilinx network input, q = clamp(round(float(clamp(d, ±th) / sf)), ±m);
// kind 2: Xilinx SW→HW pack, q = clamp(floor(float(float(clamp(d, ±th)·inv) + 0.5)), ±m). NaN gives 0.
// a, b: (minv, maxv), (th, sf) or (th, inv); c: p (kind 0). Returns max |q|.
EXPORT(sim_quantize) int32_t sim_quantize(int kind, const float* x, int32_t* q, float* f, int n, double a, double b, double c,
                                          int lo, int hi) {
  int32_t r = 0;
  for (int i = 0; i < n; i++) {
    double d = x[i];
    double v;
    if (d != d) {
      v = 0;
    } else if (kind == 0) {
      if (d > b) d = b;
      else if (d < a) d = a;
      v = round_away(d * c);
    } else {
      if (d > a) d = a;
      else if (d < -a) d = -a;
      if (kind == 1) v = round_away((double)(float)(d / b));
      else v = __builtin_floor((double)(float)((double)(float)(d * b) + 0.5));
    }
    if (v > hi) v = hi;
    else if (v < lo) v = lo;
    const int32_t y = (int32_t)v;
    q[i] = y;
    f[i] = (float)y;
    const int32_t ay = y < 0 ? -y : y;
    if (ay > r) r = ay;
  }
  return r;
}
