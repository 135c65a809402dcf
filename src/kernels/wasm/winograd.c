// Winograd F(2x2,3x3) for 3x3, stride 1, dilation 1, group 1 float convolutions (included by kernels.c: it uses
// its ukernel and epilogue). 16 products per 2x2 output tile instead of 36: the input tiles (4x4, stride 2) and
// the weights go to the transform domain (V = Bᵀ d B, U = G g Gᵀ), then for each of the 16 transform points a
// GEMM M = U·V over the input channels on the same MR x NR micro-kernel, then Y = Aᵀ M A + bias and the epilogue.
// The output is cut into blocks of R tile rows; a thread does a whole block (transform, 16 GEMMs, inverse
// transform) in its workspace, so the transformed data stays in cache.
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]   Aᵀ = [1 1 1 0; 0 1 -1 -1]
// Weights, transformed once (in double, then rounded): Up[xi][K panel][c][MR], K rounded up to MR (zero rows).

// m: output tile size (2: F(2x2,3x3), 16 transform points; 4: F(4x4,3x3), 36 points)
static inline int wino_kp(const ConvP* p) { return ((p->outC + MR - 1) / MR) * MR; }
static inline int wino_tiles_w(const ConvP* p, int m) { return (p->outW + m - 1) / m; }
// columns of the zero-padded strip of input rows one channel of a block reads (groups of 4 tiles, 4m+2 columns each)
static inline int wino_strip_w(const ConvP* p, int m) { return m * ((wino_tiles_w(p, m) + 3) & ~3) + 8; }
static inline int wino_nbp(const ConvP* p, int m, int R) { return ((R * wino_tiles_w(p, m) + NR - 1) / NR) * NR; }
static inline int wino_pts(int m) { return (m + 2) * (m + 2); }

// the first n (0..3) lanes of v, any 32-bit type (lane stores alias anything)
static inline void store_lanes32(int32_t* d, v128_t v, int n) {
  if (n > 0) wasm_v128_store32_lane(d, v, 0);
  if (n > 1) wasm_v128_store32_lane(d + 1, v, 1);
  if (n > 2) wasm_v128_store32_lane(d + 2, v, 2);
}

// The 2x8 outputs of four F(2x2) tiles at o and o + ow, 32-bit lanes of any type (the float forward's and the
// simulator's integer Winograd): y00 / y01 the even / odd columns of the first row, y10 / y11 of the second;
// ncol (1..8) columns, the second row only when two.
static inline void wino2_store_tiles(int32_t* o, int ow, v128_t y00, v128_t y01, v128_t y10, v128_t y11, int ncol, int two) {
  const v128_t r0a = wasm_i32x4_shuffle(y00, y01, 0, 4, 1, 5), r0b = wasm_i32x4_shuffle(y00, y01, 2, 6, 3, 7);
  const v128_t r1a = wasm_i32x4_shuffle(y10, y11, 0, 4, 1, 5), r1b = wasm_i32x4_shuffle(y10, y11, 2, 6, 3, 7);
  if (ncol == 8) {
    wasm_v128_store(o, r0a);
    wasm_v128_store(o + 4, r0b);
    if (two) {
      wasm_v128_store(o + ow, r1a);
      wasm_v128_store(o + ow + 4, r1b);
    }
    return;
  }
  if (ncol >= 4) wasm_v128_store(o, r0a); else store_lanes32(o, r0a, ncol);
  if (ncol > 4) store_lanes32(o + 4, r0b, ncol - 4);
  if (two) {
    if (ncol >= 4) wasm_v128_store(o + ow, r1a); else store_lanes32(o + ow, r1a, ncol);
    if (ncol > 4) store_lanes32(o + ow + 4, r1b, ncol - 4);
  }
}

// floats of the transformed weights
EXPORT(wino_w_floats) int wino_w_floats(const ConvP* p, int m) { return wino_pts(m) * wino_kp(p) * p->inC; }

// workspace floats of one thread for blocks of R tile rows: strip, MR zeros, V [pts][C][NBp], M [pts][Kp][NBp] (+ slack)
EXPORT(wino_ws_floats) int wino_ws_floats(const ConvP* p, int m, int R) {
  const int nbp = wino_nbp(p, m, R);
  return (m * R + 2) * wino_strip_w(p, m) + 16 + wino_pts(m) * nbp * (p->inC + wino_kp(p)) + 64;
}

// floats of the V and M one image shares between the threads in wino_phase (the whole map as one block)
EXPORT(wino_shared_floats) int wino_shared_floats(const ConvP* p, int m) {
  const int nbp = wino_nbp(p, m, (p->outH + m - 1) / m);
  return wino_pts(m) * nbp * (p->inC + wino_kp(p)) + 64;
}

// strip rows [0, srows) = input rows ih0.. of channel xc, zero padded (pW zeros on the left, zeros past the row)
static void wino_strip(const ConvP* p, const float* xc, float* strip, int ih0, int srows, int SW) {
  const int H = p->inH, W = p->inW;
  for (int r = 0; r < srows; r++) {
    float* s = strip + r * SW;
    const int ih = ih0 + r;
    if ((unsigned)ih >= (unsigned)H) {
      for (int i = 0; i < SW; i++) s[i] = 0.f;
      continue;
    }
    const float* xr = xc + ih * W;
    const int a = MIN(p->pW, SW), b = MIN(p->pW + W, SW);
    for (int i = 0; i < a; i++) s[i] = 0.f;
    for (int i = a; i < b; i++) s[i] = xr[i - p->pW];
    for (int i = b; i < SW; i++) s[i] = 0.f;
  }
}

// M[xi] = U[xi] · V[xi] for transform points [xi0,xi1): rows [i0,i1) of Kp x NB, inner dimension C in KC blocks
static void wino_gemms(const float* Up, const float* V, float* M, int C, int Kp, int i0, int i1, int NB, int NBp, int xi0,
                       int xi1, const float* zeros) {
  for (int xi = xi0; xi < xi1; xi++) {
    const float* U = Up + (long)xi * Kp * C;
    const float* Vx = V + (long)xi * C * NBp;
    float* Mx = M + (long)xi * Kp * NBp;
    for (int pc = 0; pc < C; pc += KC) {
      const int kc = MIN(KC, C - pc);
      for (int i = i0; i < i1; i += MR) {
        const float* a = U + (long)(i / MR) * C * MR + pc * MR;
        for (int jp = 0; jp < NB; jp += NR)
          ukernel(kc, a, Vx + (long)jp * C + pc * NR, Mx + (long)i * NBp + jp, NBp, pc == 0 ? zeros : 0);
      }
    }
  }
}

static void wino4_pack_w(const ConvP* p, const float* w, float* Up, int k0, int k1);

// U = G g Gᵀ of output channels [k0,k1) (raw weights w [K][C][3][3])
EXPORT(wino_pack_w) void wino_pack_w(const ConvP* p, int m, const float* w, float* Up, int k0, int k1) {
  if (m == 4) {
    wino4_pack_w(p, w, Up, k0, k1);
    return;
  }
  const int C = p->inC, K = p->outC, Kp = wino_kp(p);
  if (k1 > Kp) k1 = Kp;
  k0 = wino_pack_w_simd(p, 2, w, Up, k0, k1);
  for (int k = k0; k < k1; k++) {
    float* dst = Up + (k / MR) * C * MR + (k % MR);
    for (int c = 0; c < C; c++, dst += MR) {
      if (k >= K) {
        for (int xi = 0; xi < 16; xi++) dst[xi * Kp * C] = 0.f;
        continue;
      }
      const float* g = w + ((long)k * C + c) * 9;
      double t[4][3];  // G g
      for (int j = 0; j < 3; j++) {
        const double g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
        t[0][j] = g0;
        t[1][j] = 0.5 * (g0 + g1 + g2);
        t[2][j] = 0.5 * (g0 - g1 + g2);
        t[3][j] = g2;
      }
      for (int i = 0; i < 4; i++) {
        const double a = t[i][0], b = t[i][1], e = t[i][2];
        dst[(4 * i + 0) * Kp * C] = (float)a;
        dst[(4 * i + 1) * Kp * C] = (float)(0.5 * (a + b + e));
        dst[(4 * i + 2) * Kp * C] = (float)(0.5 * (a - b + e));
        dst[(4 * i + 3) * Kp * C] = (float)e;
      }
    }
  }
}

// the first n lanes of v to tiles t.. of channel c in the NR-column panels (one store unless they straddle two)
static inline void wino_store_v(float* V, int C, int c, int t, v128_t v, int n) {
#define WPUT(l) if (n > l) V[((t + l) / NR) * C * NR + c * NR + ((t + l) % NR)] = wasm_f32x4_extract_lane(v, l);
  if (n == 4 && t % NR <= NR - 4) wasm_v128_store(V + (t / NR) * C * NR + c * NR + (t % NR), v);
  else { WPUT(0) WPUT(1) WPUT(2) WPUT(3) }
#undef WPUT
}

// the 4 transform-domain rows (Bᵀ applied along a row of 4 inputs) of 4 tiles from one strip row s (10 values)
#define WROW(s, d0, d1, d2, d3) { \
    const v128_t v0 = wasm_v128_load(s), v1 = wasm_v128_load((s) + 4), v2 = wasm_v128_load64_zero((s) + 8); \
    const v128_t e0 = wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6), o1 = wasm_i32x4_shuffle(v0, v1, 1, 3, 5, 7); \
    const v128_t e2 = wasm_i32x4_shuffle(e0, v2, 1, 2, 3, 4), o3 = wasm_i32x4_shuffle(o1, v2, 1, 2, 3, 5); \
    d0 = wasm_f32x4_sub(e0, e2); d1 = wasm_f32x4_add(o1, e2); d2 = wasm_f32x4_sub(e2, o1); d3 = wasm_f32x4_sub(o1, o3); }

// Tile rows [tr0, tr0+R) (R = tile rows per block; the last block may have fewer), in steps (phases): 1: the input
// transform of channels [c0,c1), 2: the GEMMs of points [xi0,xi1) for output channels [k0,k1) (k0 a multiple of MR),
// 4: the inverse transform and epilogue of output channels [k0,k1). V, M: 0 (in ws) or shared by the threads.
static void wino_block(const ConvP* p, const float* x, const float* Up, const float* bias, float* out, int tr0, int R,
                       int k0, int k1, int c0, int c1, int xi0, int xi1, int phases, float* V, float* M, float* ws,
                       const EpiP* ep) {
  const int C = p->inC, K = p->outC, Kp = wino_kp(p), H = p->inH, W = p->inW, OH = p->outH, OW = p->outW;
  const int TW = wino_tiles_w(p, 2), TH = (OH + 1) / 2, SW = wino_strip_w(p, 2);
  const int rows = MIN(R, TH - tr0), NBp = wino_nbp(p, 2, R), NB = rows * TW;
  float* strip = ws;
  float* zeros = strip + (2 * R + 2) * SW;
  for (int r = 0; r < MR; r++) zeros[r] = 0.f;
  if (!V) {
    V = zeros + 16;
    M = V + 16 * C * NBp;
  }
  const int ih0 = 2 * tr0 - p->pH, srows = 2 * rows + 2;
  // 1. input transform, channel by channel through the zero-padded strip
  for (int c = c0; c < c1 && (phases & 1); c++) {
    wino_strip(p, x + (long)c * H * W, strip, ih0, srows, SW);
    for (int tr = 0; tr < rows; tr++) {
      const float* s0 = strip + 2 * tr * SW;
      for (int tc = 0; tc < TW; tc += 4) {
        v128_t a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3;
        WROW(s0 + 2 * tc, a0, a1, a2, a3)
        WROW(s0 + SW + 2 * tc, b0, b1, b2, b3)
        WROW(s0 + 2 * SW + 2 * tc, c0, c1, c2, c3)
        WROW(s0 + 3 * SW + 2 * tc, d0, d1, d2, d3)
        const int t = tr * TW + tc, n = MIN(4, TW - tc);
        const long P = (long)C * NBp;  // floats per transform point
#define WCOL(j, A, B, Cc, D) \
        wino_store_v(V + (0 + j) * P, C, c, t, wasm_f32x4_sub(A, Cc), n); \
        wino_store_v(V + (4 + j) * P, C, c, t, wasm_f32x4_add(B, Cc), n); \
        wino_store_v(V + (8 + j) * P, C, c, t, wasm_f32x4_sub(Cc, B), n); \
        wino_store_v(V + (12 + j) * P, C, c, t, wasm_f32x4_sub(B, D), n);
        WCOL(0, a0, b0, c0, d0) WCOL(1, a1, b1, c1, d1) WCOL(2, a2, b2, c2, d2) WCOL(3, a3, b3, c3, d3)
#undef WCOL
      }
    }
  }
  // 2. the 16 GEMMs
  if (phases & 2) wino_gemms(Up, V, M, C, Kp, k0, MIN(Kp, (k1 + MR - 1) / MR * MR), NB, NBp, xi0, xi1, zeros);
  // 3. Y = Aᵀ M A + bias, then the epilogue of the block's output rows
  const long PM = (long)Kp * NBp;
  const int oh0 = 2 * tr0, oh1 = MIN(OH, 2 * (tr0 + rows));
  for (int k = k0; k < MIN(k1, K) && (phases & 4); k++) {
    const float* mk = M + (long)k * NBp;
    float* ok = out + (long)k * OH * OW;
    const v128_t vb = wasm_f32x4_splat(bias ? bias[k] : 0.f);
    for (int tr = 0; tr < rows; tr++) {
      const int oh = 2 * (tr0 + tr);
      for (int tc = 0; tc < TW; tc += 4) {
        const float* m = mk + tr * TW + tc;
        v128_t s0[4], s1[4];
        for (int j = 0; j < 4; j++) {
          const v128_t m0 = wasm_v128_load(m + j * PM), m1 = wasm_v128_load(m + (4 + j) * PM);
          const v128_t m2 = wasm_v128_load(m + (8 + j) * PM), m3 = wasm_v128_load(m + (12 + j) * PM);
          const v128_t u = wasm_f32x4_sub(m1, m2);
          s0[j] = wasm_f32x4_add(wasm_f32x4_add(m0, m1), m2);
          s1[j] = wasm_f32x4_sub(u, m3);
        }
        const v128_t y00 = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(s0[0], s0[1]), s0[2]), vb);
        const v128_t y01 = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_sub(s0[1], s0[2]), s0[3]), vb);
        const v128_t y10 = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(s1[0], s1[1]), s1[2]), vb);
        const v128_t y11 = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_sub(s1[1], s1[2]), s1[3]), vb);
        wino2_store_tiles((int32_t*)(ok + oh * OW + 2 * tc), OW, y00, y01, y10, y11, MIN(8, OW - 2 * tc), oh + 1 < OH);
      }
    }
    if (ep) epilogue(ep, k, ok + oh0 * OW, (ep->flags & 8) ? ep->res + (long)k * OH * OW + oh0 * OW : 0, (oh1 - oh0) * OW);
  }
}

#include "winograd4.c"

// output channels [k0,k1) (k0 a multiple of MR) of blocks [b0,b1) of R tile rows each (tiles of m x m outputs)
EXPORT(wino_part) void wino_part(const ConvP* p, int m, const float* x, const float* Up, const float* bias, float* out, int R,
                                 int b0, int b1, int k0, int k1, float* ws, const EpiP* ep) {
  const int TH = (p->outH + m - 1) / m;
  for (int b = b0; b < b1 && b * R < TH; b++) {
    if (m == 4) wino4_block(p, x, Up, bias, out, b * R, R, k0, k1, 0, p->inC, 0, 36, 7, 0, 0, ws, ep);
    else wino_block(p, x, Up, bias, out, b * R, R, k0, k1, 0, p->inC, 0, 16, 7, 0, 0, ws, ep);
  }
}

// One step of a whole map shared by the threads (one block; V, M: wino_shared_floats at V): phase 1: the input
// transform of channels [lo,hi); 2: the GEMMs of transform points [lo,hi); 4: the output channels [lo,hi).
EXPORT(wino_phase) void wino_phase(const ConvP* p, int m, int phase, const float* x, const float* Up, const float* bias,
                                   float* out, float* V, int lo, int hi, float* ws, const EpiP* ep) {
  const int TH = (p->outH + m - 1) / m, C = p->inC, K = p->outC;
  float* M = V + (long)wino_pts(m) * C * wino_nbp(p, m, TH);
  const int k0 = phase == 4 ? lo : 0, k1 = phase == 4 ? hi : K;
  const int c0 = phase == 1 ? lo : 0, c1 = phase == 1 ? hi : C;
  const int xi0 = phase == 2 ? lo : 0, xi1 = phase == 2 ? hi : wino_pts(m);
  if (m == 4) wino4_block(p, x, Up, bias, out, 0, TH, k0, k1, c0, c1, xi0, xi1, phase, V, M, ws, ep);
  else wino_block(p, x, Up, bias, out, 0, TH, k0, k1, c0, c1, xi0, xi1, phase, V, M, ws, ep);
}
