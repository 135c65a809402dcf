// Operations on resident int32 blobs and their float32 twins (src/kernels/sim-conv.ts) for the simulator's
// per-layer runs: sim_quantize (sim.c) on float32 lanes when the parameters allow it (every kind: float32
// parameters, rails within ±2^22, for kind 0 a power-of-two p ≥ 1), else on f64x2 lanes; the same operations per
// value either way, so the same integers and twins (the float reference's blobs quantized for the local runs,
// float values read by HW layers); the ReLU of a blob in place on both.

static inline __attribute__((always_inline)) v128_t squant_round_away(v128_t v) {
  v128_t a = wasm_f64x2_floor(wasm_f64x2_add(wasm_f64x2_abs(v), wasm_f64x2_splat(0.5)));
  return wasm_v128_bitselect(wasm_f64x2_neg(a), a, wasm_f64x2_lt(v, wasm_f64x2_splat(0.0)));
}

// two values (an f64x2 of float32 values) to their clamped integers as doubles; NaN gives 0
static inline __attribute__((always_inline)) v128_t squant2(int kind, v128_t d, v128_t A, v128_t B, v128_t C, v128_t LO, v128_t HI) {
  const v128_t nan = wasm_f64x2_ne(d, d);
  v128_t v;
  if (kind == 0) {
    d = wasm_f64x2_pmin(d, B); // b < d ? b : d
    d = wasm_f64x2_pmax(d, A); // d < a ? a : d
    v = squant_round_away(wasm_f64x2_mul(d, C));
  } else {
    d = wasm_f64x2_pmin(d, A);
    d = wasm_f64x2_pmax(d, wasm_f64x2_neg(A));
    if (kind == 1) {
      v = squant_round_away(wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_div(d, B))));
    } else {
      v128_t t = wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_mul(d, B)));
      v = wasm_f64x2_floor(wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_add(t, wasm_f64x2_splat(0.5)))));
    }
  }
  v = wasm_f64x2_pmin(v, HI);
  v = wasm_f64x2_pmax(v, LO);
  return wasm_v128_andnot(v, nan);
}

// C round() of t clamped to the rails [LO, HI] (float32 integers), on float32 lanes: round(clamp(t)) is
// clamp(round(t)) (round is non-decreasing and keeps integers), and clamping first keeps an infinite t (a float32
// quotient or product past the range, finite in double) from giving NaN below; trunc(t) + trunc(2·(t − trunc(t)))
// is round(t), each step exact
static inline __attribute__((always_inline)) v128_t squant_round_clamped_f32(v128_t t, v128_t LO, v128_t HI) {
  t = wasm_f32x4_pmax(wasm_f32x4_pmin(t, HI), LO);
  const v128_t tr = wasm_f32x4_trunc(t);
  const v128_t fr = wasm_f32x4_sub(t, tr);
  return wasm_f32x4_add(tr, wasm_f32x4_trunc(wasm_f32x4_add(fr, fr)));
}

// kind 1 on float32 lanes, four values at once: with th and sf float32 values the clamp is the same, and the
// float32 quotient is (float)(d / sf) (a double holds 2·24 + 2 bits: rounding twice is rounding once). Returns the
// integers as float32 values (NaN: 0).
static inline __attribute__((always_inline)) v128_t squant_input_f32(v128_t x4, v128_t A, v128_t B, v128_t LO, v128_t HI) {
  const v128_t nan = wasm_f32x4_ne(x4, x4);
  v128_t d = wasm_f32x4_pmin(x4, A);
  d = wasm_f32x4_pmax(d, wasm_f32x4_neg(A));
  return wasm_v128_andnot(squant_round_clamped_f32(wasm_f32x4_div(d, B), LO, HI), nan);
}

// integer-valued float32 lanes with |v| ≤ 2^22 (−0 included) to int32: v + 1.5·2^23 is exact and its bits are
// those of 1.5·2^23 plus v (one int32 step a unit there); i32x4.trunc_sat_f32x4 is several instructions in V8
static inline __attribute__((always_inline)) v128_t squant_f32_to_i32(v128_t v) {
  const v128_t magic = wasm_f32x4_splat(12582912.0f);
  return wasm_i32x4_sub(wasm_f32x4_add(v, magic), magic);
}

// kind 2 on float32 lanes: with th and inv float32 values the clamp is the same, (float)(d · inv) is the float32
// product (the double one is exact), and (float)((double)t + 0.5) is t + 0.5 rounded once (the double sum is exact
// below 2^52, and above both are t)
static inline __attribute__((always_inline)) v128_t squant_pack_f32(v128_t x4, v128_t A, v128_t B, v128_t LO, v128_t HI) {
  const v128_t nan = wasm_f32x4_ne(x4, x4);
  v128_t d = wasm_f32x4_pmin(x4, A);
  d = wasm_f32x4_pmax(d, wasm_f32x4_neg(A));
  v128_t v = wasm_f32x4_floor(wasm_f32x4_add(wasm_f32x4_mul(d, B), wasm_f32x4_splat(0.5f)));
  v = wasm_f32x4_pmin(v, HI);
  v = wasm_f32x4_pmax(v, LO);
  return wasm_v128_andnot(v, nan);
}

// kind 0 on float32 lanes: with minv, maxv float32 values the clamp is the same, and with p = 2^k, k ≥ 0, d · p is
// the double product (exact in float32, or past its range: then past the rails too)
static inline __attribute__((always_inline)) v128_t squant_dynfixed_f32(v128_t x4, v128_t A, v128_t B, v128_t C, v128_t LO, v128_t HI) {
  const v128_t nan = wasm_f32x4_ne(x4, x4);
  v128_t d = wasm_f32x4_pmin(x4, B);
  d = wasm_f32x4_pmax(d, A);
  return wasm_v128_andnot(squant_round_clamped_f32(wasm_f32x4_mul(d, C), LO, HI), nan);
}

// c is 2^k with 0 ≤ k ≤ 126
static inline int squant_pow2(double c) {
  if (!(c >= 1 && c <= 0x1p126)) return 0;
  union { double d; uint64_t u; } v = { c };
  return (v.u & 0xfffffffffffffull) == 0;
}

// the float32 loop of one kind over [i, n) by fours
#define SQUANT_F32_LOOP(EXPR) \
  for (; i + 4 <= n; i += 4) { \
    const v128_t x4 = wasm_v128_load(x + i); \
    const v128_t v = EXPR; \
    const v128_t y = squant_f32_to_i32(v); \
    wasm_v128_store(q + i, y); \
    wasm_v128_store(f + i, wasm_f32x4_add(v, Z)); /* (float)y: v without its −0 */ \
    r4 = wasm_i32x4_max(r4, wasm_i32x4_abs(y)); \
  }

EXPORT(sim_quantize4) int32_t sim_quantize4(int kind, const float* x, int32_t* q, float* f, int n, double a, double b, double c,
                                            int lo, int hi) {
  // a threshold ≤ 0 (or NaN): the scalar loop's order of the two clamps matters
  if (kind != 0 && !(a > 0)) return sim_quantize(kind, x, q, f, n, a, b, c, lo, hi);
  const v128_t A = wasm_f64x2_splat(a), B = wasm_f64x2_splat(b), C = wasm_f64x2_splat(c);
  const v128_t LO = wasm_f64x2_splat((double)lo), HI = wasm_f64x2_splat((double)hi);
  v128_t r4 = wasm_i32x4_splat(0);
  int i = 0;
  // the float32 lanes: the same integers when the parameters are finite float32 values and the rails within ±2^22
  const int f32ok = (double)(float)a == a && (double)(float)b == b && a - a == 0 && b - b == 0 && lo >= -4194304 &&
                    hi <= 4194304 && lo <= hi && (kind == 0 ? squant_pow2(c) : b != 0);
  if (f32ok) {
    const v128_t A4 = wasm_f32x4_splat((float)a), B4 = wasm_f32x4_splat((float)b), C4 = wasm_f32x4_splat((float)c);
    const v128_t LO4 = wasm_f32x4_splat((float)lo), HI4 = wasm_f32x4_splat((float)hi), Z = wasm_f32x4_splat(0.0f);
    if (kind == 0) SQUANT_F32_LOOP(squant_dynfixed_f32(x4, A4, B4, C4, LO4, HI4))
    else if (kind == 1) SQUANT_F32_LOOP(squant_input_f32(x4, A4, B4, LO4, HI4))
    else SQUANT_F32_LOOP(squant_pack_f32(x4, A4, B4, LO4, HI4))
  }
  for (; i + 4 <= n; i += 4) {
    v128_t x4 = wasm_v128_load(x + i);
    v128_t lo2 = squant2(kind, wasm_f64x2_promote_low_f32x4(x4), A, B, C, LO, HI);
    v128_t hi2 = squant2(kind, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(x4, x4, 2, 3, 2, 3)), A, B, C, LO, HI);
    v128_t y = wasm_i32x4_shuffle(wasm_i32x4_trunc_sat_f64x2_zero(lo2), wasm_i32x4_trunc_sat_f64x2_zero(hi2), 0, 1, 4, 5);
    wasm_v128_store(q + i, y);
    wasm_v128_store(f + i, wasm_f32x4_convert_i32x4(y));
    r4 = wasm_i32x4_max(r4, wasm_i32x4_abs(y));
  }
  int32_t r = sim_quantize(kind, x + i, q + i, f + i, n - i, a, b, c, lo, hi);
  r4 = wasm_i32x4_max(r4, wasm_i32x4_shuffle(r4, r4, 2, 3, 0, 1));
  r4 = wasm_i32x4_max(r4, wasm_i32x4_shuffle(r4, r4, 1, 0, 3, 2));
  const int32_t v = wasm_i32x4_extract_lane(r4, 0);
  return v > r ? v : r;
}

// max(q, 0) in place on q and on its twin f ((float)max(q,0) is max((float)q, 0)); returns max |q| after it
EXPORT(sim_relu_twin) int32_t sim_relu_twin(int32_t* q, float* f, int n) {
  const v128_t z = wasm_i32x4_splat(0);
  v128_t m = z;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_i32x4_max(wasm_v128_load(q + i), z);
    wasm_v128_store(q + i, v);
    wasm_v128_store(f + i, wasm_f32x4_convert_i32x4(v));
    m = wasm_i32x4_max(m, v);
  }
  m = wasm_i32x4_max(m, wasm_i32x4_shuffle(m, m, 2, 3, 0, 1));
  m = wasm_i32x4_max(m, wasm_i32x4_shuffle(m, m, 1, 0, 3, 2));
  int32_t r = wasm_i32x4_extract_lane(m, 0);
  for (; i < n; i++) {
    const int32_t v = q[i] > 0 ? q[i] : 0;
    q[i] = v;
    f[i] = (float)v;
    if (v > r) r = v;
  }
  return r;
}
