// The Winograd weight transforms U = G g Gᵀ (winograd.c: F(2x2,3x3), winograd4.c: F(4x4,3x3)) four output
// channels at a time: the four lanes of one MR = 4 panel row, two f64x2 halves, one f32x4 store per transform
// point instead of four scalar ones. Each lane does the scalar code's double operations in its order (no fused
// multiply-add: separate mul and add intrinsics), so the rounded floats are the same bit for bit.
// Included by kernels.c before winograd.c.

// No arrays: everything stays in wasm locals (the module must not use the shadow stack).
#define F2M(x, y) wasm_f64x2_mul((x), (y))
#define F2A(x, y) wasm_f64x2_add((x), (y))
#define F2S(x, y) wasm_f64x2_sub((x), (y))

// X0..X8 = the 9 weights of output channels (a, b) at one input channel, as lane pairs
#define WLOAD(X, a, b) \
  const v128_t X##0 = wasm_f64x2_make((a)[0], (b)[0]), X##1 = wasm_f64x2_make((a)[1], (b)[1]), \
               X##2 = wasm_f64x2_make((a)[2], (b)[2]), X##3 = wasm_f64x2_make((a)[3], (b)[3]), \
               X##4 = wasm_f64x2_make((a)[4], (b)[4]), X##5 = wasm_f64x2_make((a)[5], (b)[5]), \
               X##6 = wasm_f64x2_make((a)[6], (b)[6]), X##7 = wasm_f64x2_make((a)[7], (b)[7]), \
               X##8 = wasm_f64x2_make((a)[8], (b)[8]);

// lanes lo (channels k, k+1) and hi (k+2, k+3) of one point to its 4 floats
#define WSTORE(d, lo, hi) \
  wasm_v128_store((d), wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5))

// G of F(2x2,3x3) on (a, b, e): a, (a+b+e)/2, (a-b+e)/2, e
#define G4V(a, b, e, o) \
  const v128_t o##0 = (a), o##1 = F2M(h, F2A(F2A((a), (b)), (e))), o##2 = F2M(h, F2A(F2S((a), (b)), (e))), o##3 = (e);

// G6 of winograd4.c: a/4, -(a+b+e)/6, -(a-b+e)/6, a/24 + b/12 + e/6, a/24 - b/12 + e/6, e (products with the
// rounded reciprocals)
#define G6V(a, b, e, o) \
  const v128_t o##0 = F2M(q, (a)), o##1 = F2M(wasm_f64x2_neg(F2A(F2A((a), (b)), (e))), i6), \
               o##2 = F2M(wasm_f64x2_neg(F2A(F2S((a), (b)), (e))), i6), \
               o##3 = F2A(F2A(F2M((a), i24), F2M((b), i12)), F2M((e), i6)), \
               o##4 = F2A(F2S(F2M((a), i24), F2M((b), i12)), F2M((e), i6)), o##5 = (e);

// U of output channels k..k+3 (weights ga..gd) at one input channel: point xi at dst + xi * P
static inline void wpack2(const float* ga, const float* gb, const float* gc, const float* gd, float* dst, long P) {
  const v128_t h = wasm_f64x2_splat(0.5);
  WLOAD(L, ga, gb)
  WLOAD(H, gc, gd)
  // columns j of G g: cj_i = (G g)[i][j]
  G4V(L0, L3, L6, Lc0_) G4V(L1, L4, L7, Lc1_) G4V(L2, L5, L8, Lc2_)
  G4V(H0, H3, H6, Hc0_) G4V(H1, H4, H7, Hc1_) G4V(H2, H5, H8, Hc2_)
#define WROW2(i) { G4V(Lc0_##i, Lc1_##i, Lc2_##i, Lo) G4V(Hc0_##i, Hc1_##i, Hc2_##i, Ho) \
    WSTORE(dst + (4 * i + 0) * P, Lo0, Ho0); WSTORE(dst + (4 * i + 1) * P, Lo1, Ho1); \
    WSTORE(dst + (4 * i + 2) * P, Lo2, Ho2); WSTORE(dst + (4 * i + 3) * P, Lo3, Ho3); }
  WROW2(0) WROW2(1) WROW2(2) WROW2(3)
#undef WROW2
}

static inline void wpack4(const float* ga, const float* gb, const float* gc, const float* gd, float* dst, long P) {
  const v128_t q = wasm_f64x2_splat(0.25), i6 = wasm_f64x2_splat(1.0 / 6), i12 = wasm_f64x2_splat(1.0 / 12),
               i24 = wasm_f64x2_splat(1.0 / 24);
  WLOAD(L, ga, gb)
  WLOAD(H, gc, gd)
  G6V(L0, L3, L6, Lr0_) G6V(L1, L4, L7, Lr1_) G6V(L2, L5, L8, Lr2_)
  G6V(H0, H3, H6, Hr0_) G6V(H1, H4, H7, Hr1_) G6V(H2, H5, H8, Hr2_)
#define WROW4(i) { G6V(Lr0_##i, Lr1_##i, Lr2_##i, Lo) G6V(Hr0_##i, Hr1_##i, Hr2_##i, Ho) \
    WSTORE(dst + (6 * i + 0) * P, Lo0, Ho0); WSTORE(dst + (6 * i + 1) * P, Lo1, Ho1); \
    WSTORE(dst + (6 * i + 2) * P, Lo2, Ho2); WSTORE(dst + (6 * i + 3) * P, Lo3, Ho3); \
    WSTORE(dst + (6 * i + 4) * P, Lo4, Ho4); WSTORE(dst + (6 * i + 5) * P, Lo5, Ho5); }
  WROW4(0) WROW4(1) WROW4(2) WROW4(3) WROW4(4) WROW4(5)
#undef WROW4
}

// Transforms the output channels [k0, k) for the largest k <= k1 reachable in whole MR = 4 panels of real
// channels (k0 a multiple of 4); returns k, where the scalar loop goes on (partial panels, padding rows, MR != 4).
static int wino_pack_w_simd(const ConvP* p, int m, const float* w, float* Up, int k0, int k1) {
  const int C = p->inC, K = p->outC, Kp = ((K + MR - 1) / MR) * MR;
  const long P = (long)Kp * C;
  int k = k0;
  if (MR != 4 || k0 % 4) return k0;
  for (; k + 4 <= k1 && k + 4 <= K; k += 4) {
    float* dst = Up + (long)(k / 4) * C * 4;
    const float* g = w + (long)k * C * 9;
    const long s = (long)C * 9;
    for (int c = 0; c < C; c++, dst += 4, g += 9) {
      if (m == 4) wpack4(g, g + s, g + 2 * s, g + 3 * s, dst, P);
      else wpack2(g, g + s, g + 2 * s, g + 3 * s, dst, P);
    }
  }
  return k;
}

#undef F2M
#undef F2A
#undef F2S
#undef WLOAD
#undef WSTORE
#undef G4V
#undef G6V
