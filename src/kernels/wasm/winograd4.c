// Winograd F(4x4,3x3) (included by winograd.c): 36 transform points per 4x4 output tile (6x6 input tiles at
// stride 4), 2.25 multiplications per output instead of 9 (F(2x2,3x3): 4). Same layout and driver as F(2x2,3x3).
//   Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]
//   G  = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
//   Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]

static void wino4_pack_w(const ConvP* p, const float* w, float* Up, int k0, int k1) {
  const int C = p->inC, K = p->outC, Kp = wino_kp(p);
  const long P = (long)Kp * C;
  if (k1 > Kp) k1 = Kp;
  k0 = wino_pack_w_simd(p, 4, w, Up, k0, k1);
  for (int k = k0; k < k1; k++) {
    float* dst = Up + (k / MR) * C * MR + (k % MR);
    for (int c = 0; c < C; c++, dst += MR) {
      if (k >= K) {
        for (int xi = 0; xi < 36; xi++) dst[xi * P] = 0.f;
        continue;
      }
      const float* g = w + ((long)k * C + c) * 9;
      // products with the rounded reciprocals (divisions are slow; the result is rounded to float32 anyway)
      const double i6 = 1.0 / 6, i12 = 1.0 / 12, i24 = 1.0 / 24;
#define G6(a, b, e, o) \
      o##0 = 0.25 * (a); o##1 = -((a) + (b) + (e)) * i6; o##2 = -((a) - (b) + (e)) * i6; \
      o##3 = (a) * i24 + (b) * i12 + (e) * i6; o##4 = (a) * i24 - (b) * i12 + (e) * i6; o##5 = (e);
      double r0_0, r0_1, r0_2, r0_3, r0_4, r0_5, r1_0, r1_1, r1_2, r1_3, r1_4, r1_5, r2_0, r2_1, r2_2, r2_3, r2_4, r2_5;
      // columns j of G g (G along the kernel rows)
      G6((double)g[0], (double)g[3], (double)g[6], r0_)
      G6((double)g[1], (double)g[4], (double)g[7], r1_)
      G6((double)g[2], (double)g[5], (double)g[8], r2_)
      double o0, o1, o2, o3, o4, o5;
#define GROW(i) G6(r0_##i, r1_##i, r2_##i, o) \
      dst[(6 * i + 0) * P] = (float)o0; dst[(6 * i + 1) * P] = (float)o1; dst[(6 * i + 2) * P] = (float)o2; \
      dst[(6 * i + 3) * P] = (float)o3; dst[(6 * i + 4) * P] = (float)o4; dst[(6 * i + 5) * P] = (float)o5;
      GROW(0) GROW(1) GROW(2) GROW(3) GROW(4) GROW(5)
#undef GROW
#undef G6
    }
  }
}

// Bᵀ on 6 vectors
#define BT6(d0, d1, d2, d3, d4, d5, o0, o1, o2, o3, o4, o5) { \
    const v128_t q12 = wasm_f32x4_add(d1, d2), m12 = wasm_f32x4_sub(d1, d2), q34 = wasm_f32x4_add(d3, d4); \
    const v128_t m42 = wasm_f32x4_sub(d4, d2), m31 = wasm_f32x4_sub(d3, d1); \
    o0 = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_mul(f4, d0), wasm_f32x4_mul(f5, d2)), d4); \
    o1 = wasm_f32x4_sub(q34, wasm_f32x4_mul(f4, q12)); \
    o2 = wasm_f32x4_add(wasm_f32x4_sub(d4, d3), wasm_f32x4_mul(f4, m12)); \
    o3 = wasm_f32x4_add(m42, wasm_f32x4_mul(f2, m31)); \
    o4 = wasm_f32x4_sub(m42, wasm_f32x4_mul(f2, m31)); \
    o5 = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_mul(f4, d1), wasm_f32x4_mul(f5, d3)), d5); }

// Bᵀ along one strip row s for 4 tiles (lane j: s[4j .. 4j+5])
#define WROW4(s, o) { \
    const v128_t q0 = wasm_v128_load(s), q1 = wasm_v128_load((s) + 4), q2 = wasm_v128_load((s) + 8); \
    const v128_t q3 = wasm_v128_load((s) + 12), q4 = wasm_v128_load((s) + 16); \
    const v128_t t0 = wasm_i32x4_shuffle(q0, q1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(q2, q3, 0, 4, 1, 5); \
    const v128_t t2 = wasm_i32x4_shuffle(q0, q1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(q2, q3, 2, 6, 3, 7); \
    const v128_t d0 = wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5), d1 = wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7); \
    const v128_t d2 = wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5), d3 = wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7); \
    const v128_t d4 = wasm_i32x4_shuffle(d0, q4, 1, 2, 3, 4), d5 = wasm_i32x4_shuffle(d1, q4, 1, 2, 3, 5); \
    BT6(d0, d1, d2, d3, d4, d5, o##0, o##1, o##2, o##3, o##4, o##5) }

// Aᵀ on 6 vectors
#define AT6(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3) { \
    const v128_t p12 = wasm_f32x4_add(m1, m2), n12 = wasm_f32x4_sub(m1, m2); \
    const v128_t p34 = wasm_f32x4_add(m3, m4), n34 = wasm_f32x4_sub(m3, m4); \
    o0 = wasm_f32x4_add(wasm_f32x4_add(m0, p12), p34); \
    o1 = wasm_f32x4_add(n12, wasm_f32x4_mul(f2, n34)); \
    o2 = wasm_f32x4_add(p12, wasm_f32x4_mul(f4, p34)); \
    o3 = wasm_f32x4_add(wasm_f32x4_add(n12, wasm_f32x4_mul(f8, n34)), m5); }

// 4 lanes a, b, c, d -> their transpose (tile j's 4 consecutive outputs in vector j)
#define TRANSPOSE4(a, b, c, d) { \
    const v128_t t0 = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5); \
    const v128_t t2 = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7); \
    a = wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5); b = wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7); \
    c = wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5); d = wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7); }

// the first n (0..16) of 16 consecutive outputs (4 vectors)
static inline void wino4_store_row(float* o, v128_t a, v128_t b, v128_t c, v128_t d, int n) {
  if (n >= 16) {
    wasm_v128_store(o, a);
    wasm_v128_store(o + 4, b);
    wasm_v128_store(o + 8, c);
    wasm_v128_store(o + 12, d);
    return;
  }
  if (n >= 4) wasm_v128_store(o, a); else if (n > 0) store_lanes(o, a, n);
  if (n >= 8) wasm_v128_store(o + 4, b); else if (n > 4) store_lanes(o + 4, b, n - 4);
  if (n >= 12) wasm_v128_store(o + 8, c); else if (n > 8) store_lanes(o + 8, c, n - 8);
  if (n > 12) store_lanes(o + 12, d, n - 12);
}

static void wino4_block(const ConvP* p, const float* x, const float* Up, const float* bias, float* out, int tr0, int R,
                        int k0, int k1, int c0, int c1, int xi0, int xi1, int phases, float* V, float* M, float* ws,
                        const EpiP* ep) {
  const int C = p->inC, K = p->outC, Kp = wino_kp(p), H = p->inH, W = p->inW, OH = p->outH, OW = p->outW;
  const int TW = wino_tiles_w(p, 4), TH = (OH + 3) / 4, SW = wino_strip_w(p, 4);
  const int rows = MIN(R, TH - tr0), NBp = wino_nbp(p, 4, R), NB = rows * TW;
  const v128_t f2 = wasm_f32x4_splat(2.f), f4 = wasm_f32x4_splat(4.f), f5 = wasm_f32x4_splat(5.f), f8 = wasm_f32x4_splat(8.f);
  float* strip = ws;
  float* zeros = strip + (4 * R + 2) * SW;
  for (int r = 0; r < MR; r++) zeros[r] = 0.f;
  if (!V) {
    V = zeros + 16;
    M = V + 36 * C * NBp;
  }
  const long P = (long)C * NBp;
  // 1. input transform
  for (int c = c0; c < c1 && (phases & 1); c++) {
    wino_strip(p, x + (long)c * H * W, strip, 4 * tr0 - p->pH, 4 * rows + 2, SW);
    for (int tr = 0; tr < rows; tr++) {
      const float* s0 = strip + 4 * tr * SW;
      for (int tc = 0; tc < TW; tc += 4) {
        v128_t a0, a1, a2, a3, a4, a5, b0, b1, b2, b3, b4, b5, c0, c1, c2, c3, c4, c5;
        v128_t h0, h1, h2, h3, h4, h5, e0, e1, e2, e3, e4, e5, g0, g1, g2, g3, g4, g5;
        WROW4(s0 + 4 * tc, a)
        WROW4(s0 + SW + 4 * tc, b)
        WROW4(s0 + 2 * SW + 4 * tc, c)
        WROW4(s0 + 3 * SW + 4 * tc, h)
        WROW4(s0 + 4 * SW + 4 * tc, e)
        WROW4(s0 + 5 * SW + 4 * tc, g)
        const int t = tr * TW + tc, n = MIN(4, TW - tc);
#define WCOL4(j) { v128_t o0, o1, o2, o3, o4, o5; BT6(a##j, b##j, c##j, h##j, e##j, g##j, o0, o1, o2, o3, o4, o5) \
        wino_store_v(V + (0 + j) * P, C, c, t, o0, n); wino_store_v(V + (6 + j) * P, C, c, t, o1, n); \
        wino_store_v(V + (12 + j) * P, C, c, t, o2, n); wino_store_v(V + (18 + j) * P, C, c, t, o3, n); \
        wino_store_v(V + (24 + j) * P, C, c, t, o4, n); wino_store_v(V + (30 + j) * P, C, c, t, o5, n); }
        WCOL4(0) WCOL4(1) WCOL4(2) WCOL4(3) WCOL4(4) WCOL4(5)
#undef WCOL4
      }
    }
  }
  // 2. the 36 GEMMs
  if (phases & 2) wino_gemms(Up, V, M, C, Kp, k0, MIN(Kp, (k1 + MR - 1) / MR * MR), NB, NBp, xi0, xi1, zeros);
  // 3. Y = Aᵀ M A + bias, then the epilogue of the block's output rows
  const long PM = (long)Kp * NBp;
  const int oh0 = 4 * tr0, oh1 = MIN(OH, 4 * (tr0 + rows));
  for (int k = k0; k < MIN(k1, K) && (phases & 4); k++) {
    const float* mk = M + (long)k * NBp;
    float* ok = out + (long)k * OH * OW;
    const v128_t vb = wasm_f32x4_splat(bias ? bias[k] : 0.f);
    for (int tr = 0; tr < rows; tr++) {
      const int oh = 4 * (tr0 + tr);
      for (int tc = 0; tc < TW; tc += 4) {
        const float* m = mk + tr * TW + tc;
        // Aᵀ down each of the 6 columns j: u<r>_<j>
        v128_t u0_0, u1_0, u2_0, u3_0, u0_1, u1_1, u2_1, u3_1, u0_2, u1_2, u2_2, u3_2;
        v128_t u0_3, u1_3, u2_3, u3_3, u0_4, u1_4, u2_4, u3_4, u0_5, u1_5, u2_5, u3_5;
#define UCOL(j) AT6(wasm_v128_load(m + (0 + j) * PM), wasm_v128_load(m + (6 + j) * PM), wasm_v128_load(m + (12 + j) * PM), \
                    wasm_v128_load(m + (18 + j) * PM), wasm_v128_load(m + (24 + j) * PM), wasm_v128_load(m + (30 + j) * PM), \
                    u0_##j, u1_##j, u2_##j, u3_##j)
        UCOL(0) UCOL(1) UCOL(2) UCOL(3) UCOL(4) UCOL(5)
#undef UCOL
        const int ncol = MIN(16, OW - 4 * tc);
#define YROW(r) if (oh + r < OH) { v128_t y0, y1, y2, y3; \
          AT6(u##r##_0, u##r##_1, u##r##_2, u##r##_3, u##r##_4, u##r##_5, y0, y1, y2, y3) \
          y0 = wasm_f32x4_add(y0, vb); y1 = wasm_f32x4_add(y1, vb); y2 = wasm_f32x4_add(y2, vb); y3 = wasm_f32x4_add(y3, vb); \
          TRANSPOSE4(y0, y1, y2, y3) wino4_store_row(ok + (oh + r) * OW + 4 * tc, y0, y1, y2, y3, ncol); }
        YROW(0) YROW(1) YROW(2) YROW(3)
#undef YROW
      }
    }
    if (ep) epilogue(ep, k, ok + oh0 * OW, (ep->flags & 8) ? ep->res + (long)k * OH * OW + oh0 * OW : 0, (oh1 - oh0) * OW);
  }
}
