// The simulator's error sums (src/sim/metrics.ts accumulateFixedError): float reference x against fixed
// integers q dequantized as the JS does, b = (float)(q * scale). Each sum is added in index order, as the JS
// loop adds it (one lane of an f64x2 per sum), so the results are the JS ones bit for bit; the maximum and
// the count of values on the rails do not depend on the order.
// out: [Σx², Σb², Σx·b, Σ(x−b)², max|x−b| (NaN if any is NaN), #(|q| ≥ m)]

typedef struct {
  v128_t rf; // (Σx², Σb²)
  v128_t de; // (Σx·b, Σe²)
  v128_t mx;  // max |e| of the non-NaN errors (pmax: one instruction, where max propagates NaN in several)
  v128_t nan; // some error was NaN
  v128_t sat;
} ErrSums4;

static inline __attribute__((always_inline)) void err_sums_init(ErrSums4* a) {
  a->rf = wasm_f64x2_splat(0.0);
  a->de = wasm_f64x2_splat(0.0);
  a->mx = wasm_f64x2_splat(0.0);
  a->nan = wasm_i32x4_splat(0);
  a->sat = wasm_i32x4_splat(0);
}

// four values: x as two f64x2 halves, q4 their integers
static inline __attribute__((always_inline)) void err_sums_add4(ErrSums4* a, v128_t xlo, v128_t xhi, v128_t q4, v128_t S, v128_t M) {
  a->sat = wasm_i32x4_sub(a->sat, wasm_u32x4_ge(wasm_i32x4_abs(q4), M)); // |INT32_MIN| is 2^31 unsigned
  v128_t qlo = wasm_f64x2_convert_low_i32x4(q4);
  v128_t qhi = wasm_f64x2_convert_low_i32x4(wasm_i32x4_shuffle(q4, q4, 2, 3, 2, 3));
  v128_t blo = wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_mul(qlo, S)));
  v128_t bhi = wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_mul(qhi, S)));
  v128_t elo = wasm_f64x2_sub(xlo, blo);
  v128_t ehi = wasm_f64x2_sub(xhi, bhi);
  a->mx = wasm_f64x2_pmax(a->mx, wasm_f64x2_abs(elo));
  a->mx = wasm_f64x2_pmax(a->mx, wasm_f64x2_abs(ehi));
  a->nan = wasm_v128_or(a->nan, wasm_v128_or(wasm_f64x2_ne(elo, elo), wasm_f64x2_ne(ehi, ehi)));
  // element k: (x², b²) into (Σx², Σb²), (x·b, e²) into (Σx·b, Σe²), k = 0..3 in order; the products of two
  // elements at once, then paired by element
  v128_t rf = a->rf, de = a->de;
  v128_t xx = wasm_f64x2_mul(xlo, xlo), bb = wasm_f64x2_mul(blo, blo), xb = wasm_f64x2_mul(xlo, blo), ee = wasm_f64x2_mul(elo, elo);
  rf = wasm_f64x2_add(rf, wasm_i64x2_shuffle(xx, bb, 0, 2)); de = wasm_f64x2_add(de, wasm_i64x2_shuffle(xb, ee, 0, 2));
  rf = wasm_f64x2_add(rf, wasm_i64x2_shuffle(xx, bb, 1, 3)); de = wasm_f64x2_add(de, wasm_i64x2_shuffle(xb, ee, 1, 3));
  xx = wasm_f64x2_mul(xhi, xhi); bb = wasm_f64x2_mul(bhi, bhi); xb = wasm_f64x2_mul(xhi, bhi); ee = wasm_f64x2_mul(ehi, ehi);
  rf = wasm_f64x2_add(rf, wasm_i64x2_shuffle(xx, bb, 0, 2)); de = wasm_f64x2_add(de, wasm_i64x2_shuffle(xb, ee, 0, 2));
  rf = wasm_f64x2_add(rf, wasm_i64x2_shuffle(xx, bb, 1, 3)); de = wasm_f64x2_add(de, wasm_i64x2_shuffle(xb, ee, 1, 3));
  a->rf = rf;
  a->de = de;
}

// the lanes, then the values from i on one by one, into out[0..5]
static inline __attribute__((always_inline)) void err_sums_finish(const ErrSums4* a, const float* x, const int32_t* q, int i, int n, double scale, int32_t m, double* out) {
  double r2 = wasm_f64x2_extract_lane(a->rf, 0), f2 = wasm_f64x2_extract_lane(a->rf, 1);
  double d = wasm_f64x2_extract_lane(a->de, 0), e2 = wasm_f64x2_extract_lane(a->de, 1);
  double m0 = wasm_f64x2_extract_lane(a->mx, 0), m1 = wasm_f64x2_extract_lane(a->mx, 1);
  double amax = wasm_v128_any_true(a->nan) ? __builtin_nan("") : (m0 > m1 ? m0 : m1);
  int s = wasm_i32x4_extract_lane(a->sat, 0) + wasm_i32x4_extract_lane(a->sat, 1) + wasm_i32x4_extract_lane(a->sat, 2) + wasm_i32x4_extract_lane(a->sat, 3);
  for (; i < n; i++) {
    double xa = x[i];
    double b = (float)((double)q[i] * scale);
    double e = xa - b;
    r2 += xa * xa;
    f2 += b * b;
    d += xa * b;
    e2 += e * e;
    double ae = e < 0 ? -e : e;
    if (ae != ae) amax = ae;
    else if (ae > amax) amax = ae;
    uint32_t v = q[i] < 0 ? 0u - (uint32_t)q[i] : (uint32_t)q[i];
    if (v >= (uint32_t)m) s++;
  }
  out[0] = r2; out[1] = f2; out[2] = d; out[3] = e2; out[4] = amax; out[5] = s;
}

EXPORT(err_sums_fixed) void err_sums_fixed(const float* x, const int32_t* q, int n, double scale, int32_t m, double* out) {
  ErrSums4 a;
  err_sums_init(&a);
  const v128_t S = wasm_f64x2_splat(scale);
  const v128_t M = wasm_i32x4_splat(m);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t x4 = wasm_v128_load(x + i);
    err_sums_add4(&a, wasm_f64x2_promote_low_f32x4(x4), wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(x4, x4, 2, 3, 2, 3)), wasm_v128_load(q + i), S, M);
  }
  err_sums_finish(&a, x, q, i, n, scale, m, out);
}

// Two fixed versions of one reference (a layer's cumulative and local results) in one pass: the same sums as
// two err_sums_fixed calls, bit for bit (each sum's adds in index order), out[0..5] and out[6..11]. The two
// dependency chains of adds overlap, so the pair costs about what one did.
EXPORT(err_sums_fixed2) void err_sums_fixed2(const float* x, int n, const int32_t* q, double scale, int32_t m,
                                            const int32_t* q2, double scale2, int32_t m2, double* out) {
  ErrSums4 a, b;
  err_sums_init(&a);
  err_sums_init(&b);
  const v128_t S = wasm_f64x2_splat(scale), S2 = wasm_f64x2_splat(scale2);
  const v128_t M = wasm_i32x4_splat(m), M2 = wasm_i32x4_splat(m2);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t x4 = wasm_v128_load(x + i);
    v128_t xlo = wasm_f64x2_promote_low_f32x4(x4);
    v128_t xhi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(x4, x4, 2, 3, 2, 3));
    err_sums_add4(&a, xlo, xhi, wasm_v128_load(q + i), S, M);
    err_sums_add4(&b, xlo, xhi, wasm_v128_load(q2 + i), S2, M2);
  }
  err_sums_finish(&a, x, q, i, n, scale, m, out);
  err_sums_finish(&b, x, q2, i, n, scale2, m2, out + 6);
}
