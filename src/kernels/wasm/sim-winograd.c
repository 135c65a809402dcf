// Exact integer Winograd F(2x2,3x3) for the simulator's 3x3, stride-1, dilation-1, group-1 convolutions
// (src/kernels/sim-winograd.ts; included by kernels.c, uses its ConvP, MIN and EXPORT). With G' = 2G (integer
// entries), U' = G' g G'ᵀ is integer (|U'| <= 9 max|g|) and V = Bᵀ d B is integer (|V| <= 4 max|d|): both int16 when
// the caller's bound holds, so the 16 per-point channel sums run on i32x4.dot_i16x8_s (two channels per lane pair).
// The output transform (entries 0, ±1) gives 4y; int32 sums wrap mod 2^32, so 4y is exact whenever the true value
// is below 2^31 (the caller checks 4·max|x|·Σ|w_c| < 2^31), and y = 4y >> 2.
// Layouts (int32 words, each a pair of int16 for channels 2cp, 2cp+1):
//   weights Up[xi][K/4 panel][C2][4 output channels], xi = 4i + j the transform point, C2 = ceil(C/2);
//   input V[xi][NBp/8 panel][C2][8 tiles] of one block of R tile rows (NB tiles, NBp = NB rounded up to 8);
//   sums Mb[xi][4][NBp] of one 4-channel output panel.

static inline int simw_c2(const ConvP* p) { return (p->inC + 1) >> 1; }
static inline int simw_kp(const ConvP* p) { return (p->outC + 3) & ~3; }
static inline int simw_tw(const ConvP* p) { return (p->outW + 1) >> 1; }
static inline int simw_sw(const ConvP* p) { return 2 * ((simw_tw(p) + 3) & ~3) + 8; }
static inline int simw_nbp(const ConvP* p, int R) { return ((R * simw_tw(p) + 7) / 8) * 8; }

// int32 words of one thread's workspace for blocks of R tile rows: two strips, V, Mb (+ slack)
EXPORT(simw_ws_words) int simw_ws_words(const ConvP* p, int R) {
  const int nbp = simw_nbp(p, R);
  return 2 * (2 * R + 2) * simw_sw(p) + 16 * simw_c2(p) * nbp + 64 * nbp + 64;
}

// U' = G' g G'ᵀ of every output channel, g int32 [K][C][3][3] (|g| small enough for int16 U': the caller checks)
EXPORT(simw_pack_w) void simw_pack_w(const ConvP* p, const int32_t* w, int32_t* Up) {
  const int C = p->inC, K = p->outC, C2 = simw_c2(p), KP = simw_kp(p);
  int16_t* U = (int16_t*)Up;
  for (int k = 0; k < KP; k++) {
    for (int c = 0; c < 2 * C2; c++) {
      int32_t u[16];
      if (k >= K || c >= C) {
        for (int xi = 0; xi < 16; xi++) u[xi] = 0;
      } else {
        const int32_t* g = w + ((long)k * C + c) * 9;
        int32_t t[4][3];  // G' g
        for (int j = 0; j < 3; j++) {
          const int32_t g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
          t[0][j] = 2 * g0;
          t[1][j] = g0 + g1 + g2;
          t[2][j] = g0 - g1 + g2;
          t[3][j] = 2 * g2;
        }
        for (int i = 0; i < 4; i++) {
          const int32_t a = t[i][0], b = t[i][1], e = t[i][2];
          u[4 * i + 0] = 2 * a;
          u[4 * i + 1] = a + b + e;
          u[4 * i + 2] = a - b + e;
          u[4 * i + 3] = 2 * e;
        }
      }
      for (int xi = 0; xi < 16; xi++) {
        const long word = (((long)xi * (KP / 4) + k / 4) * C2 + c / 2) * 4 + (k & 3);
        U[2 * word + (c & 1)] = (int16_t)u[xi];
      }
    }
  }
}

// strip rows [0, srows) = input rows ih0.. of channel xc (int32), zero padded; a null xc gives zeros
static void simw_strip(const ConvP* p, const int32_t* xc, int32_t* strip, int ih0, int srows, int SW) {
  const int H = p->inH, W = p->inW;
  for (int r = 0; r < srows; r++) {
    int32_t* s = strip + r * SW;
    const int ih = ih0 + r;
    if (!xc || (unsigned)ih >= (unsigned)H) {
      for (int i = 0; i < SW; i++) s[i] = 0;
      continue;
    }
    const int32_t* xr = xc + ih * W;
    const int a = MIN(p->pW, SW), b = MIN(p->pW + W, SW);
    for (int i = 0; i < a; i++) s[i] = 0;
    for (int i = a; i < b; i++) s[i] = xr[i - p->pW];
    for (int i = b; i < SW; i++) s[i] = 0;
  }
}

// Bᵀ along a row of 4 tiles from strip row s (10 values): d0 = x0 - x2, d1 = x1 + x2, d2 = x2 - x1, d3 = x1 - x3
#define SIMW_ROW(s, d0, d1, d2, d3) { \
    const v128_t v0 = wasm_v128_load(s), v1 = wasm_v128_load((s) + 4), v2 = wasm_v128_load64_zero((s) + 8); \
    const v128_t e0 = wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6), o1 = wasm_i32x4_shuffle(v0, v1, 1, 3, 5, 7); \
    const v128_t e2 = wasm_i32x4_shuffle(e0, v2, 1, 2, 3, 4), o3 = wasm_i32x4_shuffle(o1, v2, 1, 2, 3, 5); \
    d0 = wasm_i32x4_sub(e0, e2); d1 = wasm_i32x4_add(o1, e2); d2 = wasm_i32x4_sub(e2, o1); d3 = wasm_i32x4_sub(o1, o3); }

// the 16 transform points of 4 tiles whose top-left strip value is s
#define SIMW_TILES(s, SW, V) { \
    v128_t a0, a1, a2, a3, b0, b1, b2, b3, c0, c1, c2, c3, d0, d1, d2, d3; \
    SIMW_ROW(s, a0, a1, a2, a3) SIMW_ROW((s) + SW, b0, b1, b2, b3) \
    SIMW_ROW((s) + 2 * SW, c0, c1, c2, c3) SIMW_ROW((s) + 3 * SW, d0, d1, d2, d3) \
    V[0] = wasm_i32x4_sub(a0, c0); V[1] = wasm_i32x4_sub(a1, c1); V[2] = wasm_i32x4_sub(a2, c2); V[3] = wasm_i32x4_sub(a3, c3); \
    V[4] = wasm_i32x4_add(b0, c0); V[5] = wasm_i32x4_add(b1, c1); V[6] = wasm_i32x4_add(b2, c2); V[7] = wasm_i32x4_add(b3, c3); \
    V[8] = wasm_i32x4_sub(c0, b0); V[9] = wasm_i32x4_sub(c1, b1); V[10] = wasm_i32x4_sub(c2, b2); V[11] = wasm_i32x4_sub(c3, b3); \
    V[12] = wasm_i32x4_sub(b0, d0); V[13] = wasm_i32x4_sub(b1, d1); V[14] = wasm_i32x4_sub(b2, d2); V[15] = wasm_i32x4_sub(b3, d3); }

// Mb[xi][j][t..t+8) = Σ over channel pairs of U'[xi][k0+j]·V[xi][t..t+8), j < 4
static inline void simw_ukernel(int C2, const int32_t* restrict u, const int32_t* restrict v, int32_t* m, int ldm) {
  v128_t a00 = wasm_i32x4_splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  for (int cp = 0; cp < C2; cp++) {
    const v128_t v0 = wasm_v128_load(v + 8 * cp), v1 = wasm_v128_load(v + 8 * cp + 4);
    const v128_t u0 = wasm_v128_load32_splat(u + 4 * cp), u1 = wasm_v128_load32_splat(u + 4 * cp + 1);
    a00 = wasm_i32x4_add(a00, wasm_i32x4_dot_i16x8(u0, v0));
    a01 = wasm_i32x4_add(a01, wasm_i32x4_dot_i16x8(u0, v1));
    a10 = wasm_i32x4_add(a10, wasm_i32x4_dot_i16x8(u1, v0));
    a11 = wasm_i32x4_add(a11, wasm_i32x4_dot_i16x8(u1, v1));
    const v128_t u2 = wasm_v128_load32_splat(u + 4 * cp + 2), u3 = wasm_v128_load32_splat(u + 4 * cp + 3);
    a20 = wasm_i32x4_add(a20, wasm_i32x4_dot_i16x8(u2, v0));
    a21 = wasm_i32x4_add(a21, wasm_i32x4_dot_i16x8(u2, v1));
    a30 = wasm_i32x4_add(a30, wasm_i32x4_dot_i16x8(u3, v0));
    a31 = wasm_i32x4_add(a31, wasm_i32x4_dot_i16x8(u3, v1));
  }
  wasm_v128_store(m, a00);
  wasm_v128_store(m + 4, a01);
  wasm_v128_store(m + ldm, a10);
  wasm_v128_store(m + ldm + 4, a11);
  wasm_v128_store(m + 2 * ldm, a20);
  wasm_v128_store(m + 2 * ldm + 4, a21);
  wasm_v128_store(m + 3 * ldm, a30);
  wasm_v128_store(m + 3 * ldm + 4, a31);
}


// Tile rows [tr0, tr0 + R) (fewer in the last block): with phases & 1 the input transform of channel pairs [cp0, cp1)
// into V; with phases & 2 the GEMMs and output transform of output channels [k0, k1) (k0 a multiple of 4) from V.
static void simw_block(const ConvP* p, const int32_t* x, const int32_t* Up, int32_t* out, int tr0, int R, int cp0,
                       int cp1, int k0, int k1, int phases, int32_t* V, int32_t* Mb, int32_t* sa, int32_t* sb) {
  const int C = p->inC, K = p->outC, C2 = simw_c2(p), KP4 = simw_kp(p) / 4, H = p->inH, W = p->inW;
  const int OH = p->outH, OW = p->outW, TW = simw_tw(p), TH = (OH + 1) / 2, SW = simw_sw(p);
  if (tr0 >= TH) return;
  if (k1 > K) k1 = K;
  if (cp1 > C2) cp1 = C2;
  const int rows = MIN(R, TH - tr0), NBp = simw_nbp(p, R), NP = NBp / 8, NB = rows * TW;
  const int srows = 2 * rows + 2, ih0 = 2 * tr0 - p->pH;
  // 1. input transform, a channel pair at a time
  for (int cp = cp0; cp < cp1 && (phases & 1); cp++) {
    simw_strip(p, x + (long)(2 * cp) * H * W, sa, ih0, srows, SW);
    simw_strip(p, 2 * cp + 1 < C ? x + (long)(2 * cp + 1) * H * W : 0, sb, ih0, srows, SW);
    for (int tr = 0; tr < rows; tr++) {
      for (int tc = 0; tc < TW; tc += 4) {
        v128_t va[16], vb[16];
        SIMW_TILES(sa + 2 * tr * SW + 2 * tc, SW, va)
        SIMW_TILES(sb + 2 * tr * SW + 2 * tc, SW, vb)
        const int t = tr * TW + tc, n = MIN(4, TW - tc);
#pragma clang loop unroll(full)
        for (int xi = 0; xi < 16; xi++) {
          // lanes: (tile t+l of channel 2cp, of 2cp+1) as one int32
          const v128_t nv = wasm_i16x8_narrow_i32x4(va[xi], vb[xi]);
          const v128_t pr = wasm_i8x16_shuffle(nv, nv, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
          int32_t* d = V + ((long)xi * NP * C2 + cp) * 8;
          if (n == 4 && (t & 7) <= 4) {
            wasm_v128_store(d + (long)(t >> 3) * C2 * 8 + (t & 7), pr);
          } else {
#define SIMW_PUT(l) if (n > l) d[(long)((t + l) >> 3) * C2 * 8 + ((t + l) & 7)] = wasm_i32x4_extract_lane(pr, l);
            SIMW_PUT(0) SIMW_PUT(1) SIMW_PUT(2) SIMW_PUT(3)
#undef SIMW_PUT
          }
        }
      }
    }
  }
  // 2. per panel of 4 output channels: the 16 point GEMMs, then 4y = Aᵀ M A, y = 4y >> 2
  const long PM = 4L * NBp;
  for (int kp = k0 / 4; kp * 4 < k1 && (phases & 2); kp++) {
    for (int xi = 0; xi < 16; xi++) {
      const int32_t* u = Up + ((long)xi * KP4 + kp) * C2 * 4;
      for (int jp = 0; jp < (NB + 7) / 8; jp++) simw_ukernel(C2, u, V + ((long)xi * NP + jp) * C2 * 8, Mb + xi * PM + jp * 8, NBp);
    }
    for (int j = 0; j < 4 && kp * 4 + j < k1; j++) {
      const int32_t* mk = Mb + j * NBp;
      int32_t* ok = out + (long)(kp * 4 + j) * OH * OW;
      for (int tr = 0; tr < rows; tr++) {
        const int oh = 2 * (tr0 + tr);
        for (int tc = 0; tc < TW; tc += 4) {
          const int32_t* m = mk + tr * TW + tc;
          v128_t s0[4], s1[4];
          for (int q = 0; q < 4; q++) {
            const v128_t m0 = wasm_v128_load(m + q * PM), m1 = wasm_v128_load(m + (4 + q) * PM);
            const v128_t m2 = wasm_v128_load(m + (8 + q) * PM), m3 = wasm_v128_load(m + (12 + q) * PM);
            s0[q] = wasm_i32x4_add(wasm_i32x4_add(m0, m1), m2);
            s1[q] = wasm_i32x4_sub(wasm_i32x4_sub(m1, m2), m3);
          }
          const v128_t y00 = wasm_i32x4_shr(wasm_i32x4_add(wasm_i32x4_add(s0[0], s0[1]), s0[2]), 2);
          const v128_t y01 = wasm_i32x4_shr(wasm_i32x4_sub(wasm_i32x4_sub(s0[1], s0[2]), s0[3]), 2);
          const v128_t y10 = wasm_i32x4_shr(wasm_i32x4_add(wasm_i32x4_add(s1[0], s1[1]), s1[2]), 2);
          const v128_t y11 = wasm_i32x4_shr(wasm_i32x4_sub(wasm_i32x4_sub(s1[1], s1[2]), s1[3]), 2);
          wino2_store_tiles(ok + oh * OW + 2 * tc, OW, y00, y01, y10, y11, MIN(8, OW - 2 * tc), oh + 1 < OH);
        }
      }
    }
  }
}

static void simg_block(const ConvP* p, const int32_t* x, const int32_t* Wp, int32_t* out, int NB, int b, int k0, int k1,
                       int32_t* ws);
#ifdef CHAIQ_FMA
static void simq_block(const ConvP* p, const int32_t* x, const int32_t* Wq, int32_t* out, int NB, int b, int k0, int k1,
                       int32_t* ws);
#endif

// Block b of R tile rows, output channels [k0, k1) (k0 a multiple of 4), in the thread's workspace ws.
// R = -1 / -2: one step of the whole map shared by the threads, V at the address in params word 16: -1 the input
// transform of channel pairs [k0, k1), -2 the output channels [k0, k1) (b = 0). R = -3: a GEMM conv (simg_block),
// pixel block b of the block size in params word 17; R = -4 (relaxed build): the same on int8 quads (simq_block).
// Word 18 non-zero: a pair of images (R >= 0, -3 or -4), b = 2·block + image.
EXPORT(simw_part) void simw_part(const ConvP* p, const int32_t* x, const int32_t* Up, int32_t* out, int R, int b, int k0,
                                 int k1, int32_t* ws) {
  // two images in one call (params word 18 set): blocks alternate between (x, out) and (words 19, 20)
  const int32_t* pw = (const int32_t*)p;
  if (pw[18] && R != -1 && R != -2) {
    if (b & 1) {
      x = (const int32_t*)(long)pw[19];
      out = (int32_t*)(long)pw[20];
    }
    b >>= 1;
  }
  if (R == -3) {
    simg_block(p, x, Up, out, ((const int32_t*)p)[17], b, k0, k1, ws);
    return;
  }
#ifdef CHAIQ_FMA
  if (R == -4) {
    simq_block(p, x, Up, out, ((const int32_t*)p)[17], b, k0, k1, ws);
    return;
  }
#endif
  const int shared = R < 0, Rb = shared ? (p->outH + 1) / 2 : R, SW = simw_sw(p);
  int32_t* sa = ws;
  int32_t* sb = sa + (2 * Rb + 2) * SW;
  int32_t* V = shared ? (int32_t*)(long)((const int32_t*)p)[16] : sb + (2 * Rb + 2) * SW;
  int32_t* Mb = shared ? sb + (2 * Rb + 2) * SW : V + 16 * simw_c2(p) * simw_nbp(p, Rb);
  if (!shared) simw_block(p, x, Up, out, b * R, R, 0, simw_c2(p), k0, k1, 3, V, Mb, sa, sb);
  else if (R == -1) simw_block(p, x, Up, out, 0, Rb, k0, k1, 0, 0, 1, V, Mb, sa, sb);
  else simw_block(p, x, Up, out, 0, Rb, 0, 0, k0, k1, 2, V, Mb, sa, sb);
}

// ---- Any ungrouped convolution on the same dot_i16x8 micro-kernel, as a GEMM over im2col rows:
// out[k][n] = Σ_r w[k][r]·X[r][n], r = (c, i, j) of C' = C·kH·kW rows (the weights' [K][C][kH][kW] order), n an output
// pixel, X[r][n] the input under tap (i, j) of pixel n (0 in the padding). int32 sums that wrap (exact when
// max|x|·Σ|w_c| < 2^31, int16 operands: the caller checks). Weights Wp[K/4 panel][C2'][4] (pairs of rows), the rows
// of a block of pixels gathered into V[NB/8 panel][C2'][8]; a 1x1 stride-1 unpadded conv reads its rows in place.

static inline int simg_cr(const ConvP* p) { return p->inC * p->kH * p->kW; }
static inline int simg_c2(const ConvP* p) { return (simg_cr(p) + 1) >> 1; }
static inline int simg_direct(const ConvP* p) {
  return p->kH == 1 && p->kW == 1 && p->sH == 1 && p->sW == 1 && p->pH == 0 && p->pW == 0 && p->outH == p->inH && p->outW == p->inW;
}


EXPORT(simg_pack_w) void simg_pack_w(const ConvP* p, const int32_t* w, int32_t* Wp) {
  const int C = simg_cr(p), K = p->outC, C2 = simg_c2(p), KP = simw_kp(p);
  int16_t* U = (int16_t*)Wp;
  for (int k = 0; k < KP; k++)
    for (int c = 0; c < 2 * C2; c++) U[2 * (((long)(k / 4) * C2 + c / 2) * 4 + (k & 3)) + (c & 1)] = k < K && c < C ? (int16_t)w[(long)k * C + c] : 0;
}

// row pair cp of V from rows xa, xb (nb values each; xb null: zeros), zero past nb up to 8·NP
static inline void simg_put_pairs(int32_t* V, int C2, int cp, const int32_t* xa, const int32_t* xb, int nb, int NP) {
  for (int j = 0; j < NP * 8; j += 4) {
    v128_t a, bv;
    if (j + 4 <= nb) {
      a = wasm_v128_load(xa + j);
      bv = xb ? wasm_v128_load(xb + j) : wasm_i32x4_splat(0);
    } else {
      int32_t ta[4], tb[4];
      for (int l = 0; l < 4; l++) {
        ta[l] = j + l < nb ? xa[j + l] : 0;
        tb[l] = xb && j + l < nb ? xb[j + l] : 0;
      }
      a = wasm_i32x4_make(ta[0], ta[1], ta[2], ta[3]);
      bv = wasm_i32x4_make(tb[0], tb[1], tb[2], tb[3]);
    }
    const v128_t nv = wasm_i16x8_narrow_i32x4(a, bv);
    wasm_v128_store(V + ((long)(j >> 3) * C2 + cp) * 8 + (j & 7),
                    wasm_i8x16_shuffle(nv, nv, 0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15));
  }
}

// im2col row r = (c, i, j) of output pixels [n0, n0 + nb) into d
static void simg_gather(const ConvP* p, const int32_t* x, int r, int n0, int nb, int32_t* d) {
  const int KK = p->kH * p->kW, c = r / KK, i = (r - c * KK) / p->kW, j = r - c * KK - i * p->kW;
  const int H = p->inH, W = p->inW, OW = p->outW, sW = p->sW;
  const int offh = i * p->dH - p->pH, offw = j * p->dW - p->pW;
  const int32_t* xc = x + (long)c * H * W;
  int oh = n0 / OW, ow = n0 - oh * OW;
  for (int k = 0; k < nb; oh++, ow = 0) {
    const int len = MIN(OW - ow, nb - k), ih = oh * p->sH + offh;
    int32_t* o = d + k;
    k += len;
    if ((unsigned)ih >= (unsigned)H) {
      for (int t = 0; t < len; t++) o[t] = 0;
      continue;
    }
    // taps inside the row: 0 <= (ow + t)·sW + offw < W for t in [t0, t1)
    const int iw0 = ow * sW + offw;
    int t0 = iw0 >= 0 ? 0 : (-iw0 + sW - 1) / sW, t1 = iw0 > W - 1 ? 0 : (W - 1 - iw0) / sW + 1;
    if (t1 > len) t1 = len;
    if (t0 > t1) t0 = t1;
    const int32_t* xr = xc + (long)ih * W;
    for (int t = 0; t < t0; t++) o[t] = 0;
    if (sW == 1) for (int t = t0; t < t1; t++) o[t] = xr[iw0 + t];
    else for (int t = t0; t < t1; t++) o[t] = xr[iw0 + t * sW];
    for (int t = t1; t < len; t++) o[t] = 0;
  }
}

// the output channels [k0, k1) of a block of NP·8 pixels from n0: micro-kernel uk (a panel of 4 channels × 8 pixels
// over Cw words of packed rows) into out, through tmp where the panel passes the last channel or pixel
typedef void (*SimgUkernel)(int, const int32_t* restrict, const int32_t* restrict, int32_t*, int);
static inline __attribute__((always_inline)) void simg_panels(SimgUkernel uk, int Cw, const int32_t* W, const int32_t* V, int32_t* out,
                                                              int32_t* tmp, int k0, int k1, int n0, int NP, int N) {
  for (int kp = k0 / 4; kp * 4 < k1; kp++) {
    const int32_t* u = W + (long)kp * Cw * 4;
    const int nk = MIN(4, k1 - kp * 4);
    for (int jp = 0; jp < NP; jp++) {
      const int n = n0 + jp * 8;
      if (nk == 4 && n + 8 <= N) {
        uk(Cw, u, V + (long)jp * Cw * 8, out + (long)(kp * 4) * N + n, N);
        continue;
      }
      uk(Cw, u, V + (long)jp * Cw * 8, tmp, 8);
      for (int j = 0; j < nk; j++)
        for (int l = 0; l < 8 && n + l < N; l++) out[(long)(kp * 4 + j) * N + n + l] = tmp[j * 8 + l];
    }
  }
}

// pixel block b of NB pixels, output channels [k0, k1) (k0 a multiple of 4)
static void simg_block(const ConvP* p, const int32_t* x, const int32_t* Wp, int32_t* out, int NB, int b, int k0, int k1,
                       int32_t* ws) {
  const int C = simg_cr(p), K = p->outC, C2 = simg_c2(p), N = p->outH * p->outW, n0 = b * NB;
  if (n0 >= N) return;
  if (k1 > K) k1 = K;
  const int nb = MIN(NB, N - n0), NP = (nb + 7) / 8;
  int32_t* V = ws;
  int32_t* tmp = V + C2 * NB;
  if (simg_direct(p)) {
    for (int cp = 0; cp < C2; cp++) {
      const int32_t* xa = x + (long)(2 * cp) * N + n0;
      simg_put_pairs(V, C2, cp, xa, 2 * cp + 1 < C ? xa + N : 0, nb, NP);
    }
  } else {
    int32_t* ra = tmp + 4 * 8;
    int32_t* rb = ra + NB;
    for (int cp = 0; cp < C2; cp++) {
      simg_gather(p, x, 2 * cp, n0, nb, ra);
      if (2 * cp + 1 < C) simg_gather(p, x, 2 * cp + 1, n0, nb, rb);
      simg_put_pairs(V, C2, cp, ra, 2 * cp + 1 < C ? rb : 0, nb, NP);
    }
  }
  simg_panels(simw_ukernel, C2, Wp, V, out, tmp, k0, k1, n0, NP, N);
}
