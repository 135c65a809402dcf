// The simulator's error sums (src/sim/metrics.ts accumulateFixedError): float reference x against fixed
// integers q dequantized as the JS does, b = (float)(q * scale). The order of the adds is the JS loop's: the
// values in consecutive blocks of ERR_BLOCK, each block's sums added in index order from 0, then the block sums
// added block by block into 0. A block's sums do not depend on which routine or thread computes them, so the
// blocks run in f64x2 lanes (two blocks a vector, several vectors: independent chains of adds) and are split
// between the threads (JOB_ERR_SUMS); the maximum and the count of values on the rails are order-free.
// Per block and operand: [Σx², Σb², Σx·b, Σ(x−b)², max|x−b| (NaN if any is NaN), #(|q| ≥ m)]
//
// The float32 route (err_pass2_f, err_block_f), taken when the scales are float32s (formatScale's always are) and
// a pair of blocks has every |q| ≤ 2^24: b = (float)q · (float)scale in f32x4 lanes is the float32 the double
// route rounds (float)((double)q · scale) to (the double product is exact, so both round it once), and x², b², x·b
// are exact in double (two float32 significands), so they may be fused into their adds (relaxed madd, fused or not:
// the same bits). Otherwise the blocks take the double route (err_group4, err_group2x2, err_block_one): the same
// sums, 1.5-2 times the instructions, mostly because clang turns promote(demote(v)) of an f64x2 into per-lane
// scalar conversions, and the rails count needs no pass of its own there.
//
// With `relu`, one more operand after q (and q2): max(q, 0) against max(x, 0) as the reference's ReLU kernel writes
// it (relu in kernels.c: x > 0 ? x : +0, so NaN, -0 and -Inf give +0), the sums of the in-place ReLU's row that
// follows the layer, taken in the same pass (the same values as a call on the ReLU's two blobs, bit for bit).
// With `twin` too, the pass applies that ReLU: each block, once every operand has read it, gets max(q, 0) in q and
// (float) in its twin (sim_relu_twin's values), and its largest max(q, 0) in top[block].

#define ERR_BLOCK 4096

// the parameters of one call, in wasm memory (sim-metrics.ts writes them; q2 0: one operand)
typedef struct {
  const float* x;
  int32_t n;
  const int32_t* q;
  const int32_t* q2;
  int32_t m;
  int32_t m2;
  double* blk; // 6 doubles per operand per block
  int32_t relu; // 1: the operand max(q, 0) against max(x, 0) after the others (q's scale and rail)
  double scale;
  double scale2;
  float* twin; // not 0 (with relu): max(q, 0) is written into q (q2 is never q) and twin, its maxima into top
  int32_t* top;
} ErrP;

// the operands of a call, and so the doubles of a block's slot: 6 each
static inline int err_nops(const ErrP* p) { return (p->q2 ? 2 : 1) + (p->relu ? 1 : 0); }

// ---- one block whatever its length: lanes (Σx², Σb²) and (Σx·b, Σe²), each sum added in index order
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
  // element k: (x², b²) into (Σx², Σb²), (x·b, e²) into (Σx·b, Σe²), k = 0..3 in order
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

// the sums of block b (ERR_BLOCK values, fewer for the last) for one or two operands
static __attribute__((noinline)) void err_block_one(const ErrP* p, int b, int two) {
  const int o = b * ERR_BLOCK;
  const int n = (p->n - o < ERR_BLOCK ? p->n - o : ERR_BLOCK);
  const float* x = p->x + o;
  const int32_t* q = p->q + o;
  const int32_t* q2 = two ? p->q2 + o : q;
  double* out = p->blk + 6 * err_nops(p) * b;
  ErrSums4 a, c;
  err_sums_init(&a);
  err_sums_init(&c);
  const v128_t S = wasm_f64x2_splat(p->scale), S2 = wasm_f64x2_splat(p->scale2);
  const v128_t M = wasm_i32x4_splat(p->m), M2 = wasm_i32x4_splat(p->m2);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t x4 = wasm_v128_load(x + i);
    v128_t xlo = wasm_f64x2_promote_low_f32x4(x4);
    v128_t xhi = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(x4, x4, 2, 3, 2, 3));
    err_sums_add4(&a, xlo, xhi, wasm_v128_load(q + i), S, M);
    if (two) err_sums_add4(&c, xlo, xhi, wasm_v128_load(q2 + i), S2, M2);
  }
  err_sums_finish(&a, x, q, i, n, p->scale, p->m, out);
  if (two) err_sums_finish(&c, x, q2, i, n, p->scale2, p->m2, out + 6);
}

// ---- two full blocks in the two lanes of each vector: lane j holds block b + j's sums. No NaN flag: Σe² of a
// block is NaN exactly when some e is (e² ≥ 0 otherwise, and sums of +Inf stay +Inf).
typedef struct {
  v128_t r2, f2, d, e2, mx;
  v128_t sat0, sat1; // int32 lanes of block b, b + 1
} ErrLanes;

static inline __attribute__((always_inline)) void err_lanes_init(ErrLanes* a) {
  a->r2 = a->f2 = a->d = a->e2 = a->mx = wasm_f64x2_splat(0.0);
  a->sat0 = a->sat1 = wasm_i32x4_splat(0);
}

// one value of each block: x (f64x2), qd its integers as doubles; x2: add x² (a second operand shares the first's)
static inline __attribute__((always_inline)) void err_lanes_el(ErrLanes* a, v128_t x, v128_t qd, v128_t S, int x2) {
  const v128_t b = wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_mul(qd, S)));
  const v128_t e = wasm_f64x2_sub(x, b);
  if (x2) a->r2 = wasm_f64x2_add(a->r2, wasm_f64x2_mul(x, x));
  a->f2 = wasm_f64x2_add(a->f2, wasm_f64x2_mul(b, b));
  a->d = wasm_f64x2_add(a->d, wasm_f64x2_mul(x, b));
  a->e2 = wasm_f64x2_add(a->e2, wasm_f64x2_mul(e, e));
  a->mx = wasm_f64x2_pmax(a->mx, wasm_f64x2_abs(e));
}

// four consecutive indices of blocks b and b + 1 (f32x4 loads X0, X1) as f64x2 pairs (x of b, x of b + 1), in index order
typedef struct { v128_t x0, x1, x2, x3; } ErrX;
static inline __attribute__((always_inline)) ErrX err_lanes_x(v128_t X0, v128_t X1) {
  const v128_t xl = wasm_i32x4_shuffle(X0, X1, 0, 4, 1, 5), xh = wasm_i32x4_shuffle(X0, X1, 2, 6, 3, 7);
  ErrX r = { wasm_f64x2_promote_low_f32x4(xl), wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(xl, xl, 2, 3, 2, 3)),
             wasm_f64x2_promote_low_f32x4(xh), wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(xh, xh, 2, 3, 2, 3)) };
  return r;
}

// four values of each block, in index order: x from err_lanes_x, Q0 of block b, Q1 of block b + 1
static inline __attribute__((always_inline)) void err_lanes_add4(ErrLanes* a, const ErrX* x, v128_t Q0, v128_t Q1, v128_t S, v128_t M, int x2) {
  a->sat0 = wasm_i32x4_sub(a->sat0, wasm_u32x4_ge(wasm_i32x4_abs(Q0), M));
  a->sat1 = wasm_i32x4_sub(a->sat1, wasm_u32x4_ge(wasm_i32x4_abs(Q1), M));
  const v128_t ql = wasm_i32x4_shuffle(Q0, Q1, 0, 4, 1, 5), qh = wasm_i32x4_shuffle(Q0, Q1, 2, 6, 3, 7);
  err_lanes_el(a, x->x0, wasm_f64x2_convert_low_i32x4(ql), S, x2);
  err_lanes_el(a, x->x1, wasm_f64x2_convert_low_i32x4(wasm_i32x4_shuffle(ql, ql, 2, 3, 2, 3)), S, x2);
  err_lanes_el(a, x->x2, wasm_f64x2_convert_low_i32x4(qh), S, x2);
  err_lanes_el(a, x->x3, wasm_f64x2_convert_low_i32x4(wasm_i32x4_shuffle(qh, qh, 2, 3, 2, 3)), S, x2);
}

// lane j into out + j·stride
static inline __attribute__((always_inline)) void err_lanes_store(const ErrLanes* a, double* out, int stride) {
  out[0] = wasm_f64x2_extract_lane(a->r2, 0); out[stride] = wasm_f64x2_extract_lane(a->r2, 1);
  out[1] = wasm_f64x2_extract_lane(a->f2, 0); out[stride + 1] = wasm_f64x2_extract_lane(a->f2, 1);
  out[2] = wasm_f64x2_extract_lane(a->d, 0); out[stride + 2] = wasm_f64x2_extract_lane(a->d, 1);
  out[3] = wasm_f64x2_extract_lane(a->e2, 0); out[stride + 3] = wasm_f64x2_extract_lane(a->e2, 1);
  out[4] = out[3] != out[3] ? out[3] : wasm_f64x2_extract_lane(a->mx, 0);
  out[stride + 4] = out[stride + 3] != out[stride + 3] ? out[stride + 3] : wasm_f64x2_extract_lane(a->mx, 1);
  out[5] = hsum_i32(a->sat0); out[stride + 5] = hsum_i32(a->sat1);
}

// blocks b .. b + 3 (all full), one operand: two vectors of lanes per sum, eight chains of adds
static __attribute__((noinline)) void err_group4(const ErrP* p, int b) {
  const int o = b * ERR_BLOCK;
  const float* x = p->x + o;
  const int32_t* q = p->q + o;
  const v128_t S = wasm_f64x2_splat(p->scale), M = wasm_i32x4_splat(p->m);
  ErrLanes a, c;
  err_lanes_init(&a);
  err_lanes_init(&c);
  for (int i = 0; i < ERR_BLOCK; i += 4) {
    const ErrX x01 = err_lanes_x(wasm_v128_load(x + i), wasm_v128_load(x + ERR_BLOCK + i));
    err_lanes_add4(&a, &x01, wasm_v128_load(q + i), wasm_v128_load(q + ERR_BLOCK + i), S, M, 1);
    const ErrX x23 = err_lanes_x(wasm_v128_load(x + 2 * ERR_BLOCK + i), wasm_v128_load(x + 3 * ERR_BLOCK + i));
    err_lanes_add4(&c, &x23, wasm_v128_load(q + 2 * ERR_BLOCK + i), wasm_v128_load(q + 3 * ERR_BLOCK + i), S, M, 1);
  }
  const int st = 6 * err_nops(p);
  err_lanes_store(&a, p->blk + st * b, st);
  err_lanes_store(&c, p->blk + st * (b + 2), st);
}

// blocks b, b + 1 (full), two operands sharing the reference's loads
static __attribute__((noinline)) void err_group2x2(const ErrP* p, int b) {
  const int o = b * ERR_BLOCK;
  const float* x = p->x + o;
  const int32_t* q = p->q + o;
  const int32_t* q2 = p->q2 + o;
  const v128_t S = wasm_f64x2_splat(p->scale), M = wasm_i32x4_splat(p->m);
  const v128_t S2 = wasm_f64x2_splat(p->scale2), M2 = wasm_i32x4_splat(p->m2);
  ErrLanes a, c;
  err_lanes_init(&a);
  err_lanes_init(&c);
  for (int i = 0; i < ERR_BLOCK; i += 4) {
    const ErrX xs = err_lanes_x(wasm_v128_load(x + i), wasm_v128_load(x + ERR_BLOCK + i));
    err_lanes_add4(&a, &xs, wasm_v128_load(q + i), wasm_v128_load(q + ERR_BLOCK + i), S, M, 1);
    err_lanes_add4(&c, &xs, wasm_v128_load(q2 + i), wasm_v128_load(q2 + ERR_BLOCK + i), S2, M2, 0);
  }
  c.r2 = a.r2; // the same values added in the same order
  const int st = 6 * err_nops(p);
  err_lanes_store(&a, p->blk + st * b, st);
  err_lanes_store(&c, p->blk + st * b + 6, st);
}


// ---- the float32 route

// the float32 route's rails counts of one block (q, and q2 when two) into s[0], s[1]: #(|q| ≥ m) as #(|q| > m − 1)
// (m ≥ 1); returns whether every |q| ≤ 2^24 (q exact as a float32). The counts are right only then (|INT32_MIN| is
// negative as an int32): otherwise the block takes the double route, which counts again.
static inline __attribute__((always_inline)) int err_rails(const ErrP* p, int o, int n, int two, int* s) {
  const int32_t* q = p->q + o;
  const int32_t* q2 = (two ? p->q2 : p->q) + o;
  const v128_t M1 = wasm_i32x4_splat(p->m - 1), M21 = wasm_i32x4_splat(p->m2 - 1);
  v128_t sat = wasm_i32x4_splat(0), sat2 = sat, top = sat;
  int i = 0;
  if (two) {
    for (; i + 4 <= n; i += 4) {
      const v128_t a = wasm_i32x4_abs(wasm_v128_load(q + i)), a2 = wasm_i32x4_abs(wasm_v128_load(q2 + i));
      sat = wasm_i32x4_sub(sat, wasm_i32x4_gt(a, M1));
      sat2 = wasm_i32x4_sub(sat2, wasm_i32x4_gt(a2, M21));
      top = wasm_u32x4_max(top, wasm_u32x4_max(a, a2));
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      const v128_t a = wasm_i32x4_abs(wasm_v128_load(q + i));
      sat = wasm_i32x4_sub(sat, wasm_i32x4_gt(a, M1));
      top = wasm_u32x4_max(top, a);
    }
  }
  top = wasm_u32x4_max(top, wasm_i32x4_shuffle(top, top, 2, 3, 0, 1));
  top = wasm_u32x4_max(top, wasm_i32x4_shuffle(top, top, 1, 0, 3, 2));
  uint32_t t = (uint32_t)wasm_i32x4_extract_lane(top, 0);
  int c = hsum_i32(sat), c2 = hsum_i32(sat2);
  for (; i < n; i++) {
    const uint32_t v = q[i] < 0 ? 0u - (uint32_t)q[i] : (uint32_t)q[i], v2 = q2[i] < 0 ? 0u - (uint32_t)q2[i] : (uint32_t)q2[i];
    c += v >= (uint32_t)p->m;
    c2 += v2 >= (uint32_t)p->m2;
    t = v > t ? v : t;
    t = v2 > t ? v2 : t;
  }
  s[0] = c;
  s[1] = c2;
  return t <= (1u << 24);
}

#ifdef CHAIQ_FMA
#define ERR_MADD(acc, a, b) __builtin_wasm_relaxed_madd_f64x2((a), (b), (acc))
#else
#define ERR_MADD(acc, a, b) wasm_f64x2_add((acc), wasm_f64x2_mul((a), (b)))
#endif

// one value of each lane's block: x, b (exact float32s as doubles); x2: add x² (a second operand shares the first's).
// The largest |e| (order-free, so shared by blocks) into *mx, or with mn the largest and the smallest e into *mx and
// *mn (two instructions instead of abs's three)
static inline __attribute__((always_inline)) void err_lanes_el_f(ErrLanes* a, v128_t x, v128_t b, int x2, v128_t* mx, v128_t* mn) {
  const v128_t e = wasm_f64x2_sub(x, b);
  if (x2) a->r2 = ERR_MADD(a->r2, x, x);
  a->f2 = ERR_MADD(a->f2, b, b);
  a->d = ERR_MADD(a->d, x, b);
  a->e2 = wasm_f64x2_add(a->e2, wasm_f64x2_mul(e, e));
  if (mn) {
    *mx = wasm_f64x2_pmax(*mx, e);
    *mn = wasm_f64x2_pmin(*mn, e);
  } else {
    *mx = wasm_f64x2_pmax(*mx, wasm_f64x2_abs(e));
  }
}

// four values of each of two blocks: x from err_lanes_x, Q0 / Q1 the blocks' integers, Sf the scale splat as float32
static inline __attribute__((always_inline)) void err_lanes_add4_f(ErrLanes* a, const ErrX* x, v128_t Q0, v128_t Q1, v128_t Sf, int x2, v128_t* mx, v128_t* mn) {
  const ErrX b = err_lanes_x(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(Q0), Sf), wasm_f32x4_mul(wasm_f32x4_convert_i32x4(Q1), Sf));
  err_lanes_el_f(a, x->x0, b.x0, x2, mx, mn);
  err_lanes_el_f(a, x->x1, b.x1, x2, mx, mn);
  err_lanes_el_f(a, x->x2, b.x2, x2, mx, mn);
  err_lanes_el_f(a, x->x3, b.x3, x2, mx, mn);
}

// as err_lanes_store, the rails counts s0, s1 from err_rails
static inline __attribute__((always_inline)) void err_lanes_store_f(ErrLanes* a, double* out, int stride, int s0, int s1) {
  a->sat0 = wasm_i32x4_make(s0, 0, 0, 0);
  a->sat1 = wasm_i32x4_make(s1, 0, 0, 0);
  err_lanes_store(a, out, stride);
}

// max|e| from the largest and the smallest e, both from 0 (so ≥ +0, and −0 never wins)
static inline v128_t err_max_abs(v128_t mx, v128_t mn) { return wasm_f64x2_pmax(mx, wasm_f64x2_neg(mn)); }

// blocks b, b + 1 (full) against operand k (0: q, scale, m; 1: q2, scale2, m2) on the float32 route, into
// blk + stride·b + 6·slot; x2: add x² (else the caller copies operand 0's: the same values added in the same order);
// rl: max(q, 0) against max(x, 0) (the ReLU's row; x2 then adds max(x, 0)²).
// The rails are counted in the same loop (both blocks' count in block b's slot, 0 in b + 1's: err_sums_total adds
// them). Returns 0 when some |q| > 2^24: the sums written are wrong then, and the caller redoes the blocks.
// One operand a pass: two in one loop need more registers than V8 has and spill; two blocks in the lanes keep
// the chains of adds off the critical path.
static inline __attribute__((always_inline)) int err_pass2_f(const ErrP* p, int b, int k, int x2, int stride, int slot, int rl) {
  const int o = b * ERR_BLOCK;
  const float* x = p->x + o;
  const int32_t* q = (k ? p->q2 : p->q) + o;
  const v128_t Sf = wasm_f32x4_splat((float)(k ? p->scale2 : p->scale)), M1 = wasm_i32x4_splat((k ? p->m2 : p->m) - 1);
  ErrLanes a;
  err_lanes_init(&a);
  v128_t mx = wasm_f64x2_splat(0.0), mn = mx, sat = wasm_i32x4_splat(0), top = sat;
  const v128_t z = wasm_i32x4_splat(0);
  for (int i = 0; i < ERR_BLOCK; i += 4) {
    v128_t Q0 = wasm_v128_load(q + i), Q1 = wasm_v128_load(q + ERR_BLOCK + i);
    v128_t X0 = wasm_v128_load(x + i), X1 = wasm_v128_load(x + ERR_BLOCK + i);
    if (rl) {
      Q0 = wasm_i32x4_max(Q0, z);
      Q1 = wasm_i32x4_max(Q1, z);
      X0 = wasm_v128_and(X0, wasm_f32x4_gt(X0, z)); // kernels.c relu's bits
      X1 = wasm_v128_and(X1, wasm_f32x4_gt(X1, z));
    }
    const v128_t a0 = wasm_i32x4_abs(Q0), a1 = wasm_i32x4_abs(Q1);
    sat = wasm_i32x4_add(sat, wasm_i32x4_add(wasm_i32x4_gt(a0, M1), wasm_i32x4_gt(a1, M1)));
    top = wasm_u32x4_max(top, wasm_u32x4_max(a0, a1));
    const ErrX xs = err_lanes_x(X0, X1);
    err_lanes_add4_f(&a, &xs, Q0, Q1, Sf, x2, &mx, &mn);
    if (rl && p->twin) {
      int32_t* qw = (int32_t*)q;
      wasm_v128_store(qw + i, Q0);
      wasm_v128_store(qw + ERR_BLOCK + i, Q1);
      wasm_v128_store(p->twin + o + i, wasm_f32x4_convert_i32x4(Q0));
      wasm_v128_store(p->twin + o + ERR_BLOCK + i, wasm_f32x4_convert_i32x4(Q1));
    }
  }
  a.mx = err_max_abs(mx, mn);
  err_lanes_store_f(&a, p->blk + stride * b + 6 * slot, stride, -hsum_i32(sat), 0);
  top = wasm_u32x4_max(top, wasm_i32x4_shuffle(top, top, 2, 3, 0, 1));
  top = wasm_u32x4_max(top, wasm_i32x4_shuffle(top, top, 1, 0, 3, 2));
  const uint32_t t = (uint32_t)wasm_i32x4_extract_lane(top, 0);
  if (rl && p->twin) p->top[b] = p->top[b + 1] = (int32_t)t;
  return t <= (1u << 24);
}

// err_pass2_f with and without x², and the ReLU's operand (a loop each: V8 would test x2 in the loop)
static __attribute__((noinline)) int err_pass2_fx(const ErrP* p, int b, int stride) { return err_pass2_f(p, b, 0, 1, stride, 0, 0); }
static __attribute__((noinline)) int err_pass2_f2(const ErrP* p, int b, int stride) { return err_pass2_f(p, b, 1, 0, stride, 1, 0); }
static __attribute__((noinline)) int err_pass2_fr(const ErrP* p, int b, int stride, int slot) { return err_pass2_f(p, b, 0, 1, stride, slot, 1); }

// block b's sums of the ReLU's operand (max(q, 0) against max(x, 0)) on the double route, serially, into out[0..5]
// (and with twin, the ReLU applied to the block)
static __attribute__((noinline)) void err_block_relu(const ErrP* p, int b, double* out) {
  const int o = b * ERR_BLOCK, n = p->n - o < ERR_BLOCK ? p->n - o : ERR_BLOCK;
  const float* x = p->x + o;
  const int32_t* q = p->q + o;
  double r2 = 0, f2 = 0, d = 0, e2 = 0, amax = 0;
  int s = 0;
  if (p->twin) {
    int32_t* qw = (int32_t*)q;
    float* f = p->twin + o;
    int32_t t = 0;
    for (int i = 0; i < n; i++) {
      const int32_t v = q[i] > 0 ? q[i] : 0;
      qw[i] = v;
      f[i] = (float)v;
      t = v > t ? v : t;
    }
    p->top[b] = t;
  }
  for (int i = 0; i < n; i++) {
    const double xa = x[i] > 0 ? x[i] : 0.0f;
    const int32_t v = q[i] > 0 ? q[i] : 0; // max(q, 0) is max(q, 0) again once written
    const double bv = (float)((double)v * p->scale), e = xa - bv;
    r2 += xa * xa;
    f2 += bv * bv;
    d += xa * bv;
    e2 += e * e;
    const double ae = e < 0 ? -e : e;
    if (ae != ae) amax = ae;
    else if (ae > amax) amax = ae;
    if ((uint32_t)v >= (uint32_t)p->m) s++;
  }
  out[0] = r2; out[1] = f2; out[2] = d; out[3] = e2; out[4] = e2 != e2 ? e2 : amax; out[5] = s;
}

// one block of n ≤ ERR_BLOCK values, one operand, on the float32 route (rails count s): the serial sums
static __attribute__((noinline)) void err_block_f(const float* x, const int32_t* q, int n, float sf, int s, double* out) {
  double r2 = 0, f2 = 0, d = 0, e2 = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    const double xa = x[i], b = (float)q[i] * sf, e = xa - b;
    r2 += xa * xa;
    f2 += b * b;
    d += xa * b;
    e2 += e * e;
    const double ae = e < 0 ? -e : e;
    if (ae > amax) amax = ae;
  }
  out[0] = r2; out[1] = f2; out[2] = d; out[3] = e2; out[4] = e2 != e2 ? e2 : amax; out[5] = s;
}

// the scale is a float32 (the float32 route may apply)
static inline int err_scale_f32(double s) { return (double)(float)s == s; }

// the sums of blocks [b0, b1) into p->blk; returns how many took the double route (tests)
EXPORT(err_sums_part) int err_sums_part(const ErrP* p, int b0, int b1) {
  const int full = p->n / ERR_BLOCK, two = p->q2 != 0, st = 6 * err_nops(p), rs = two ? 2 : 1;
  const int f32 = err_scale_f32(p->scale) && p->m >= 1 && (!two || (err_scale_f32(p->scale2) && p->m2 >= 1));
  int b = b0, slow = 0;
  if (!f32) {
    if (two) for (; b + 2 <= b1 && b + 2 <= full; b += 2) err_group2x2(p, b);
    else for (; b + 4 <= b1 && b + 4 <= full; b += 4) err_group4(p, b);
  }
  for (; f32 && b + 2 <= b1 && b + 2 <= full; b += 2) {
    if (err_pass2_fx(p, b, st) && (!two || err_pass2_f2(p, b, st))) {
      if (two) p->blk[st * b + 6] = p->blk[st * b], p->blk[st * (b + 1) + 6] = p->blk[st * (b + 1)];
      // every |q| ≤ 2^24, so every max(q, 0) too: that pass cannot fail
      if (p->relu) err_pass2_fr(p, b, st, rs);
      continue;
    }
    if (two) {
      err_group2x2(p, b);
    } else {
      err_block_one(p, b, 0);
      err_block_one(p, b + 1, 0);
    }
    if (p->relu) err_block_relu(p, b, p->blk + st * b + 6 * rs), err_block_relu(p, b + 1, p->blk + st * (b + 1) + 6 * rs);
    slow += 2;
  }
  // the double route's groups of full blocks, and every block from here, take the ReLU's operand serially
  if (p->relu && !f32) for (int c = b0; c < b; c++) err_block_relu(p, c, p->blk + st * c + 6 * rs);
  for (; b < b1; b++) {
    const int o = b * ERR_BLOCK, n = p->n - o < ERR_BLOCK ? p->n - o : ERR_BLOCK;
    int s[2];
    if (f32 && err_rails(p, o, n, two, s)) {
      err_block_f(p->x + o, p->q + o, n, (float)p->scale, s[0], p->blk + st * b);
      if (two) err_block_f(p->x + o, p->q2 + o, n, (float)p->scale2, s[1], p->blk + st * b + 6);
    } else {
      err_block_one(p, b, two);
      slow++;
    }
    if (p->relu) err_block_relu(p, b, p->blk + st * b + 6 * rs); // after the operands: it may write q
  }
  return f32 ? slow : b1 - b0;
}

// the block sums added in block order (from 0), the maxima and counts combined, into out[6k .. 6k + 5] per operand k
EXPORT(err_sums_total) void err_sums_total(const ErrP* p, double* out) {
  const int nb = (p->n + ERR_BLOCK - 1) / ERR_BLOCK, nq = err_nops(p);
  for (int k = 0; k < nq; k++) {
    double r2 = 0, f2 = 0, d = 0, e2 = 0, amax = 0, s = 0;
    int nan = 0;
    for (int b = 0; b < nb; b++) {
      const double* v = p->blk + 6 * (nq * b + k);
      r2 += v[0];
      f2 += v[1];
      d += v[2];
      e2 += v[3];
      if (v[4] != v[4]) nan = 1;
      else if (v[4] > amax) amax = v[4];
      s += v[5];
    }
    double* o = out + 6 * k;
    o[0] = r2; o[1] = f2; o[2] = d; o[3] = e2; o[4] = nan ? __builtin_nan("") : amax; o[5] = s;
  }
}
