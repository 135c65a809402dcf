// chaiq's one WebAssembly module: packed SIMD GEMM (MR x NR micro-kernel), implicit-im2col convolution, a
// direct depthwise conv, pooling, LRN, the elementwise layer loops (ReLU, channel affine, Eltwise SUM) and the
// simulator's integer convolution (i16 operands, i32 accumulators).
// Built twice by scripts/build-wasm.sh into src/kernels/wasm/kernels-wasm.ts (base64): plain SIMD128
// (multiply, then add) and, with -DCHAIQ_FMA -mrelaxed-simd, f32x4.relaxed_madd in the multiply-accumulate
// loops (fused on FMA hardware, like Caffe's OpenBLAS). No libc, no data segments, no stack use: every
// scratch buffer is passed in (`ws`), so several threads can share one linear memory.
#include <wasm_simd128.h>
#include <stdint.h>

#ifndef MR
#define MR 4
#endif
#define NR 8

// acc + a*b: fused (one rounding) in the FMA build, multiply then add otherwise
#ifdef CHAIQ_FMA
#define MADD(acc, a, b) __builtin_wasm_relaxed_madd_f32x4((a), (b), (acc))
#else
#define MADD(acc, a, b) wasm_f32x4_add((acc), wasm_f32x4_mul((a), (b)))
#endif
#define KC 256
#define NC 512

typedef struct {
  int32_t inC, inH, inW, outC, outH, outW, kH, kW, sH, sW, pH, pW, dH, dW, group;
  int32_t rawA;  // 1: conv_part reads the weights unpacked (small outputs, where packing would not pay)
} ConvP;

// What a conv applies to its final outputs, per output channel c (the in-place BatchNorm / Scale / ReLU layers
// that follow it, fused by the executor). Same arithmetic as those layers' own loops (relu, chan_affine below):
// BatchNorm y = f32((x - mean[c]) / sd[c]) and Scale y = f32(x * a[c] + b[c]) in double, ReLU y = x > 0 ? x : 0;
// then (flag 8) y = f32(y + res[i]) (Eltwise SUM with a residual of the output's layout) and ReLU again (16).
typedef struct {
  int32_t flags;  // 1: BatchNorm, 2: Scale, 4: ReLU, 8: + residual, 16: ReLU after the residual
  const double *mean, *sd, *a, *b;
  const float *res;
} EpiP;

static inline v128_t lo64(v128_t v) { return wasm_f64x2_promote_low_f32x4(v); }
static inline v128_t hi64(v128_t v) { return wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)); }
static inline v128_t pack32(v128_t lo, v128_t hi) {
  return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
}

// the epilogue of channel c over y[0..n) (res: the residual values for y[0..n))
static void epilogue(const EpiP* e, int c, float* y, const float* res, int n) {
  const int f = e->flags;
  const v128_t z = wasm_f32x4_splat(0.f);
  const double mu = (f & 1) ? e->mean[c] : 0, sd = (f & 1) ? e->sd[c] : 1;
  const double a = (f & 2) ? e->a[c] : 1, b = (f & 2) ? e->b[c] : 0;
  const v128_t vmu = wasm_f64x2_splat(mu), vsd = wasm_f64x2_splat(sd), va = wasm_f64x2_splat(a), vb = wasm_f64x2_splat(b);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(y + i);
    if (f & 1) v = pack32(wasm_f64x2_div(wasm_f64x2_sub(lo64(v), vmu), vsd), wasm_f64x2_div(wasm_f64x2_sub(hi64(v), vmu), vsd));
    if (f & 2) v = pack32(wasm_f64x2_add(wasm_f64x2_mul(lo64(v), va), vb), wasm_f64x2_add(wasm_f64x2_mul(hi64(v), va), vb));
    if (f & 4) v = wasm_v128_and(v, wasm_f32x4_gt(v, z));
    if (f & 8) v = wasm_f32x4_add(v, wasm_v128_load(res + i));
    if (f & 16) v = wasm_v128_and(v, wasm_f32x4_gt(v, z));
    wasm_v128_store(y + i, v);
  }
  for (; i < n; i++) {
    float v = y[i];
    if (f & 1) v = (float)(((double)v - mu) / sd);
    if (f & 2) v = (float)((double)v * a + b);
    if (f & 4) v = v > 0 ? v : 0.f;
    if (f & 8) v = v + res[i];
    if (f & 16) v = v > 0 ? v : 0.f;
    y[i] = v;
  }
}

// A GEMM's B operand ("source", passed as scalars: a struct would live on the shadow stack):
// kind 0: matrix [K,N] (stride ldb), 1: transposed matrix [N,K], 2: implicit im2col of image b under conv p.
#define BSRC int kind, const float *sb, int ldb, const ConvP *p

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define EXPORT(name) __attribute__((export_name(#name)))

EXPORT(geometry) int geometry(int what) {
  switch (what) {
    case 0: return MR;
    case 1: return NR;
    case 2: return KC;
    case 3: return NC;
    default: return 0;
  }
}

// A rows [0,M) of a row-major matrix (stride lda, K columns) -> panels of MR rows, k-major: Ap[panel][k][MR].
EXPORT(pack_a) void pack_a(const float* A, int lda, int M, int K, float* Ap) {
  for (int i = 0; i < M; i += MR) {
    int mr = MIN(MR, M - i);
    for (int k = 0; k < K; k++) {
      for (int r = 0; r < MR; r++) Ap[r] = r < mr ? A[(i + r) * lda + k] : 0.f;
      Ap += MR;
    }
  }
}

// B block rows [k0,k0+kc) x columns [n0,n0+nc) -> NR-column panels: Bp[panel][k][NR], zero padded.
static void pack_b(BSRC, int k0, int kc, int n0, int nc, float* Bp, int* ihb, int* iwb) {
  for (int jp = 0; jp < nc; jp += NR) {
    int nr = MIN(NR, nc - jp);
    int n = n0 + jp;
    float* d = Bp + (jp / NR) * kc * NR;
    if (kind == 0) {
      const float* b = sb + k0 * ldb + n;
      if (nr == NR) {
        for (int k = 0; k < kc; k++, b += ldb, d += NR) {
          wasm_v128_store(d, wasm_v128_load(b));
          wasm_v128_store(d + 4, wasm_v128_load(b + 4));
        }
      } else {
        for (int k = 0; k < kc; k++, b += ldb, d += NR)
          for (int j = 0; j < NR; j++) d[j] = j < nr ? b[j] : 0.f;
      }
    } else if (kind == 1) {
      const float* b = sb + n * ldb + k0;
      for (int k = 0; k < kc; k++, d += NR)
        for (int j = 0; j < NR; j++) d[j] = j < nr ? b[j * ldb + k] : 0.f;
    } else {
      const int H = p->inH, W = p->inW, HW = H * W, kHW = p->kH * p->kW;
      int oh = n / p->outW, ow = n - oh * p->outW;
      // all NR columns on one output row, unit stride: a k row is a contiguous run of the image
      int contiguous = nr == NR && p->sW == 1 && ow + NR <= p->outW;
      // same with stride 2: the even values of a run of 2*NR (MobileNet's and ResNet's strided first convs)
      int stride2 = nr == NR && p->sW == 2 && ow + NR <= p->outW;
      for (int j = 0; j < NR; j++) {
        if (j < nr) {
          ihb[j] = oh * p->sH - p->pH;
          iwb[j] = ow * p->sW - p->pW;
          if (++ow == p->outW) { ow = 0; oh++; }
        } else {
          ihb[j] = -(1 << 29);  // never in range -> zero padding
          iwb[j] = 0;
        }
      }
      int c = k0 / kHW, r = k0 - c * kHW;
      int ki = r / p->kW, kj = r - ki * p->kW;
      for (int k = 0; k < kc; k++, d += NR) {
        const float* xc = sb + c * HW;
        int dy = ki * p->dH, dx = kj * p->dW;
        if (stride2) {
          int ih = ihb[0] + dy, iw = iwb[0] + dx;
          if ((unsigned)ih >= (unsigned)H) {
            wasm_v128_store(d, wasm_f32x4_splat(0.f));
            wasm_v128_store(d + 4, wasm_f32x4_splat(0.f));
          } else if (iw >= 0 && iw + 2 * NR - 1 <= W) {
            // reads up to xr[2*NR-1], one past the last value used: at worst the next row, or the arena after x
            const float* xr = xc + ih * W + iw;
            v128_t v0 = wasm_v128_load(xr), v1 = wasm_v128_load(xr + 4);
            v128_t v2 = wasm_v128_load(xr + 8), v3 = wasm_v128_load(xr + 12);
            wasm_v128_store(d, wasm_i32x4_shuffle(v0, v1, 0, 2, 4, 6));
            wasm_v128_store(d + 4, wasm_i32x4_shuffle(v2, v3, 0, 2, 4, 6));
          } else {
            const float* xr = xc + ih * W;
            for (int j = 0; j < NR; j++) {
              int x = iw + 2 * j;
              d[j] = (unsigned)x < (unsigned)W ? xr[x] : 0.f;
            }
          }
        } else if (contiguous) {
          int ih = ihb[0] + dy, iw = iwb[0] + dx;
          if ((unsigned)ih >= (unsigned)H) {
            wasm_v128_store(d, wasm_f32x4_splat(0.f));
            wasm_v128_store(d + 4, wasm_f32x4_splat(0.f));
          } else if (iw >= 0 && iw + NR <= W) {
            const float* xr = xc + ih * W + iw;
            wasm_v128_store(d, wasm_v128_load(xr));
            wasm_v128_store(d + 4, wasm_v128_load(xr + 4));
          } else {
            const float* xr = xc + ih * W;
            for (int j = 0; j < NR; j++) {
              int x = iw + j;
              d[j] = (unsigned)x < (unsigned)W ? xr[x] : 0.f;
            }
          }
        } else if (p->sW == 1) {
          // unit stride, the panel straddles output rows (7x7 and 14x14 outputs): each run of columns on one
          // output row reads a run of one image row (columns past nr share one out-of-range row: zeros)
          for (int j = 0; j < NR;) {
            int e = j + 1;
            while (e < NR && ihb[e] == ihb[j]) e++;
            int ih = ihb[j] + dy;
            if ((unsigned)ih >= (unsigned)H) {
              for (; j < e; j++) d[j] = 0.f;
            } else {
              const float* xr = xc + ih * W;
              for (int iw = iwb[j] + dx; j < e; j++, iw++) d[j] = (unsigned)iw < (unsigned)W ? xr[iw] : 0.f;
            }
          }
        } else {
          for (int j = 0; j < NR; j++) {
            int ih = ihb[j] + dy, iw = iwb[j] + dx;
            d[j] = ((unsigned)ih < (unsigned)H && (unsigned)iw < (unsigned)W) ? xc[ih * W + iw] : 0.f;
          }
        }
        if (++kj == p->kW) {
          kj = 0;
          if (++ki == p->kH) { ki = 0; c++; }
        }
      }
    }
  }
}

// C[MR,NR] += A panel (kc x MR) times B panel (kc x NR); MR rows x 2 vectors of accumulators stay in registers
// init (may be 0): the tile starts from init[r] in every column of row r instead of from C (the first K block
// of a conv: its bias, the same sum bias + a0·b0 + a1·b1 + ... as initialising C first)
#define ROW_LOAD(r) v128_t c##r##0, c##r##1; \
    if (init) c##r##0 = c##r##1 = wasm_v128_load32_splat(init + r); \
    else { c##r##0 = wasm_v128_load(c + r * ldc); c##r##1 = wasm_v128_load(c + r * ldc + 4); }
#define ROW_STEP(r) { v128_t av = wasm_v128_load32_splat(a + r); \
    c##r##0 = MADD(c##r##0, av, b0); \
    c##r##1 = MADD(c##r##1, av, b1); }
#define ROW_STORE(r) wasm_v128_store(c + r * ldc, c##r##0); wasm_v128_store(c + r * ldc + 4, c##r##1);
#if MR == 4
#define ROWS(X) X(0) X(1) X(2) X(3)
#elif MR == 6
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#endif
static inline void ukernel(int kc, const float* restrict a, const float* restrict b, float* c, int ldc, const float* init) {
  ROWS(ROW_LOAD)
  for (int k = 0; k < kc; k++) {
    v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    ROWS(ROW_STEP)
    a += MR;
    b += NR;
  }
  ROWS(ROW_STORE)
}

// same, A read in place through MR row pointers (rows past mr repeat row 0; their results are discarded)
#define UROW_STEP(r) { v128_t av = wasm_v128_load32_splat(a##r + k); \
    c##r##0 = MADD(c##r##0, av, b0); \
    c##r##1 = MADD(c##r##1, av, b1); }
static inline void ukernel_raw(int kc, const float* a, int lda, int mr, const float* restrict b, float* c, int ldc,
                               const float* init) {
  const float* a0 = a;
  const float* a1 = a + (mr > 1 ? lda : 0);
  const float* a2 = a + (mr > 2 ? 2 * lda : 0);
  const float* a3 = a + (mr > 3 ? 3 * lda : 0);
  ROWS(ROW_LOAD)
  for (int k = 0; k < kc; k++) {
    v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    ROWS(UROW_STEP)
    b += NR;
  }
  ROWS(ROW_STORE)
}

// workspace floats one GEMM/conv thread needs
EXPORT(gemm_ws_floats) int gemm_ws_floats(void) { return KC * NC + MR * NR + 2 * NR + MR + 16; }

// C[m0:m1, n0:n1] += A·B, A packed (all M rows; m0 a multiple of MR), C row stride ldc.
// ep (may be 0): applied to each MR x nc tile once its last K block is done (while it is in L1); row i is
// channel chan0 + i, the residual of C[i][j] is res0[i * ldc + j]. init: 0 (accumulate onto C), 1 (start from
// rowInit[i]: the bias), 2 (start from 0).
static void gemm_drive(int rawA, int K, const float* Ap, int M, int m0, int m1, int n0, int n1, float* C, int ldc,
                       BSRC, float* ws, const EpiP* ep, int chan0, const float* res0, int init, const float* rowInit) {
  float* Bp = ws;
  float* tmp = ws + KC * NC;
  int* ihb = (int*)(tmp + MR * NR);
  int* iwb = ihb + NR;
  float* zeros = (float*)(iwb + NR);
  float* edge = zeros + MR;  // MR init values of a partial row panel (after `zeros`, inside the +16 slack)
  for (int r = 0; r < MR; r++) zeros[r] = 0.f;
  if (m1 > M) m1 = M;
  for (int jc = n0; jc < n1; jc += NC) {
    int nc = MIN(NC, n1 - jc);
    for (int pc = 0; pc < K; pc += KC) {
      int kc = MIN(KC, K - pc);
      pack_b(kind, sb, ldb, p, pc, kc, jc, nc, Bp, ihb, iwb);
      for (int i = m0; i < m1; i += MR) {
        int mr = MIN(MR, m1 - i);
        const float* a = rawA ? Ap + i * K + pc : Ap + (i / MR) * K * MR + pc * MR;
        const float* in = 0;
        if (pc == 0 && init) {
          if (init == 2) in = zeros;
          else if (mr == MR) in = rowInit + i;
          else {
            for (int r = 0; r < MR; r++) edge[r] = r < mr ? rowInit[i + r] : 0.f;
            in = edge;
          }
        }
        for (int jp = 0; jp < nc; jp += NR) {
          int nr = MIN(NR, nc - jp);
          float* c = C + i * ldc + jc + jp;
          const float* b = Bp + (jp / NR) * kc * NR;
          if (mr == MR && nr == NR) {
            if (rawA) ukernel_raw(kc, a, K, MR, b, c, ldc, in);
            else ukernel(kc, a, b, c, ldc, in);
          } else {
            for (int r = 0; r < MR; r++)
              for (int j = 0; j < NR; j++) tmp[r * NR + j] = (!in && r < mr && j < nr) ? c[r * ldc + j] : 0.f;
            if (rawA) ukernel_raw(kc, a, K, mr, b, tmp, NR, in);
            else ukernel(kc, a, b, tmp, NR, in);
            for (int r = 0; r < mr; r++)
              for (int j = 0; j < nr; j++) c[r * ldc + j] = tmp[r * NR + j];
          }
        }
        if (ep && pc + kc >= K)
          for (int r = 0; r < mr; r++)
            epilogue(ep, chan0 + i + r, C + (i + r) * ldc + jc, res0 ? res0 + (i + r) * ldc + jc : 0, nc);
      }
    }
  }
}

// sgemm slice: C[m0:m1, n0:n1] (+)= A·B with A pre-packed by pack_a.
EXPORT(gemm_part) void gemm_part(int M, int N, int K, const float* Ap, const float* B, int transB, float* C,
                                 int m0, int m1, int n0, int n1, int accumulate, float* ws) {
  if (m1 > M) m1 = M;
  if (!accumulate)
    for (int i = m0; i < m1; i++)
      for (int j = n0; j < n1; j++) C[i * N + j] = 0.f;
  gemm_drive(0, K, Ap, M, m0, m1, n0, n1, C, N, transB ? 1 : 0, B, transB ? K : N, 0, ws, 0, 0, 0, 0, 0);
}

// packed weights of all groups: group g at Ap + g * conv_packed_group_floats
EXPORT(pack_conv_weights) void pack_conv_weights(const ConvP* p, const float* w, float* Ap) {
  int G = p->group, Mg = p->outC / G, Kg = (p->inC / G) * p->kH * p->kW;
  int stride = ((Mg + MR - 1) / MR) * MR * Kg;
  for (int g = 0; g < G; g++) pack_a(w + g * Mg * Kg, Kg, Mg, Kg, Ap + g * stride);
}

// pack MR-row panels [q0,q1) of the weights, panels numbered across groups (group g owns ceil(Mg/MR) of them)
EXPORT(pack_conv_panels) void pack_conv_panels(const ConvP* p, const float* w, float* Ap, int q0, int q1) {
  int G = p->group, Mg = p->outC / G, Kg = (p->inC / G) * p->kH * p->kW;
  int ppg = (Mg + MR - 1) / MR;
  if (q1 > G * ppg) q1 = G * ppg;
  for (int q = q0; q < q1; q++) {
    int g = q / ppg, i = (q - g * ppg) * MR;
    pack_a(w + (g * Mg + i) * Kg, Kg, MIN(MR, Mg - i), Kg, Ap + q * MR * Kg);
  }
}

// conv slice: output channels [m0,m1) within every group, output pixels [n0,n1).
EXPORT(conv_part) void conv_part(const ConvP* p, const float* x, const float* Ap, const float* bias, float* out,
                                 int m0, int m1, int n0, int n1, float* ws, const EpiP* ep) {
  int G = p->group, Mg = p->outC / G, Cg = p->inC / G, Kg = Cg * p->kH * p->kW;
  int N = p->outH * p->outW;
  int stride = p->rawA ? Mg * Kg : ((Mg + MR - 1) / MR) * MR * Kg;
  if (m1 > Mg) m1 = Mg;
  int pointwise = p->kH == 1 && p->kW == 1 && p->sH == 1 && p->sW == 1 && p->pH == 0 && p->pW == 0;
  for (int g = 0; g < G; g++) {
    float* C = out + g * Mg * N;
    const float* xg = x + g * Cg * p->inH * p->inW;
    gemm_drive(p->rawA, Kg, Ap + g * stride, Mg, m0, m1, n0, n1, C, N, pointwise ? 0 : 2, xg, N, p, ws, ep, g * Mg,
               ep && (ep->flags & 8) ? ep->res + g * Mg * N : 0, bias ? 1 : 2, bias ? bias + g * Mg : 0);
  }
}

EXPORT(dw_ws_floats) int dw_ws_floats(const ConvP* p) {
  int Hp = p->inH + 2 * p->pH, Wp = p->inW + 2 * p->pW + 8;
  return 2 * (Hp * (Wp / 2 + 1) + 16) + Hp * Wp + 16 + 8;
}

// store the first n (1..3) lanes of v
static inline void store_lanes(float* d, v128_t v, int n) {
  d[0] = wasm_f32x4_extract_lane(v, 0);
  if (n > 1) d[1] = wasm_f32x4_extract_lane(v, 1);
  if (n > 2) d[2] = wasm_f32x4_extract_lane(v, 2);
}

// depthwise (group == inC == outC) slice: channels [c0,c1). The channel is copied into a zero-padded plane
// (with 8 spare columns and 16 spare floats) so the inner loops need no bounds checks and may read past the
// last output column; unit and stride-2 columns are vectorised over 4 outputs, other strides are scalar.
EXPORT(dw_part) void dw_part(const ConvP* p, const float* x, const float* w, const float* bias, float* out,
                             int c0, int c1, float* ws, const EpiP* ep) {
  const int H = p->inH, W = p->inW, kH = p->kH, kW = p->kW, sH = p->sH, sW = p->sW, dH = p->dH, dW = p->dW;
  const int OH = p->outH, OW = p->outW, pH = p->pH, pW = p->pW;
  const int Hp = H + 2 * pH, Wp = W + 2 * pW + 8;
  float* plane = ws;
  const int OHW = OH * OW;
  // the epilogue of channel c runs in the loop's increment, so that the `continue`s of the special cases reach it
  for (int c = c0; c < c1; ep ? epilogue(ep, c, out + c * OHW, (ep->flags & 8) ? ep->res + c * OHW : 0, OHW) : (void)0, c++) {
    const float* xc = x + c * H * W;
    const float* wc = w + c * kH * kW;
    float bv = bias ? bias[c] : 0.f;
    float* oc = out + c * OH * OW;
    for (int i = 0; i < pH * Wp; i++) plane[i] = 0.f;
    for (int i = (pH + H) * Wp; i < Hp * Wp + 16; i++) plane[i] = 0.f;
    for (int y = 0; y < H; y++) {
      float* pr = plane + (y + pH) * Wp;
      const float* xr = xc + y * W;
      for (int i = 0; i < pW; i++) pr[i] = 0.f;
      for (int i = 0; i < W; i++) pr[pW + i] = xr[i];
      for (int i = pW + W; i < Wp; i++) pr[i] = 0.f;
    }
    if (kH == 3 && kW == 3 && sW == 2) {
      // stride 2: split the padded plane into even and odd columns so every tap is a contiguous load
      const int Wh = Wp / 2 + 1;
      float* E = ws + Hp * Wp + 16;
      float* O = E + Hp * Wh + 16;
      for (int y = 0; y < Hp; y++) {
        const float* pr = plane + y * Wp;
        float* er = E + y * Wh;
        float* orr = O + y * Wh;
        for (int i = 0; i < Wh; i += 4) {
          v128_t lo = wasm_v128_load(pr + 2 * i), hi = wasm_v128_load(pr + 2 * i + 4);
          wasm_v128_store(er + i, wasm_i32x4_shuffle(lo, hi, 0, 2, 4, 6));
          wasm_v128_store(orr + i, wasm_i32x4_shuffle(lo, hi, 1, 3, 5, 7));
        }
      }
      const v128_t w0 = wasm_v128_load32_splat(wc), w1 = wasm_v128_load32_splat(wc + 1), w2 = wasm_v128_load32_splat(wc + 2);
      const v128_t w3 = wasm_v128_load32_splat(wc + 3), w4 = wasm_v128_load32_splat(wc + 4), w5 = wasm_v128_load32_splat(wc + 5);
      const v128_t w6 = wasm_v128_load32_splat(wc + 6), w7 = wasm_v128_load32_splat(wc + 7), w8 = wasm_v128_load32_splat(wc + 8);
      const v128_t vb = wasm_f32x4_splat(bv);
      // tap column j sits at padded column 2*ow + j*dW: plane (j*dW)&1, offset (j*dW)>>1
      const float* P1 = (dW & 1) ? O : E;
      const int q1 = dW >> 1, q2 = dW;  // 2*dW is even: plane E, offset dW
      for (int oh = 0; oh < OH; oh++) {
        float* orow = oc + oh * OW;
        const int y0 = oh * sH * Wh, y1 = y0 + dH * Wh, y2 = y1 + dH * Wh;
        for (int ow = 0; ow < OW; ow += 4) {
          v128_t acc = vb;
#define TAP(wv, P, y, q) acc = MADD(acc, wv, wasm_v128_load(P + y + ow + q));
          TAP(w0, E, y0, 0) TAP(w1, P1, y0, q1) TAP(w2, E, y0, q2)
          TAP(w3, E, y1, 0) TAP(w4, P1, y1, q1) TAP(w5, E, y1, q2)
          TAP(w6, E, y2, 0) TAP(w7, P1, y2, q1) TAP(w8, E, y2, q2)
#undef TAP
          if (ow + 4 <= OW) wasm_v128_store(orow + ow, acc);
          else store_lanes(orow + ow, acc, OW - ow);
        }
      }
      continue;
    }
    if (kH == 3 && kW == 3 && sW == 1) {
      // the common MobileNet case: 9 weights kept in registers across the whole plane
      const v128_t w0 = wasm_v128_load32_splat(wc), w1 = wasm_v128_load32_splat(wc + 1), w2 = wasm_v128_load32_splat(wc + 2);
      const v128_t w3 = wasm_v128_load32_splat(wc + 3), w4 = wasm_v128_load32_splat(wc + 4), w5 = wasm_v128_load32_splat(wc + 5);
      const v128_t w6 = wasm_v128_load32_splat(wc + 6), w7 = wasm_v128_load32_splat(wc + 7), w8 = wasm_v128_load32_splat(wc + 8);
      const v128_t vb = wasm_f32x4_splat(bv);
      for (int oh = 0; oh < OH; oh++) {
        float* orow = oc + oh * OW;
        const float* r0 = plane + oh * sH * Wp;
        const float* r1 = r0 + dH * Wp;
        const float* r2 = r1 + dH * Wp;
        for (int ow = 0; ow < OW; ow += 4) {
          v128_t acc;
          const int o = ow;
#define TAP(wv, r, j) acc = MADD(acc, wv, wasm_v128_load(r + o + (j) * dW));
          acc = vb;
          TAP(w0, r0, 0) TAP(w1, r0, 1) TAP(w2, r0, 2)
          TAP(w3, r1, 0) TAP(w4, r1, 1) TAP(w5, r1, 2)
          TAP(w6, r2, 0) TAP(w7, r2, 1) TAP(w8, r2, 2)
#undef TAP
          if (ow + 4 <= OW) wasm_v128_store(orow + ow, acc);
          else store_lanes(orow + ow, acc, OW - ow);
        }
      }
      continue;
    }
    for (int oh = 0; oh < OH; oh++) {
      float* orow = oc + oh * OW;
      const float* base = plane + oh * sH * Wp;
      if (sW == 1) {
        int ow = 0;
        for (; ow + 8 <= OW; ow += 8) {
          v128_t acc0 = wasm_f32x4_splat(bv), acc1 = acc0;
          for (int ki = 0; ki < kH; ki++) {
            const float* r = base + ki * dH * Wp + ow;
            for (int kj = 0; kj < kW; kj++) {
              v128_t wv = wasm_v128_load32_splat(wc + ki * kW + kj);
              acc0 = MADD(acc0, wv, wasm_v128_load(r + kj * dW));
              acc1 = MADD(acc1, wv, wasm_v128_load(r + kj * dW + 4));
            }
          }
          wasm_v128_store(orow + ow, acc0);
          wasm_v128_store(orow + ow + 4, acc1);
        }
        for (; ow < OW; ow += 4) {
          v128_t acc = wasm_f32x4_splat(bv);
          for (int ki = 0; ki < kH; ki++) {
            const float* r = base + ki * dH * Wp + ow;
            for (int kj = 0; kj < kW; kj++)
              acc = MADD(acc, wasm_v128_load32_splat(wc + ki * kW + kj), wasm_v128_load(r + kj * dW));
          }
          if (ow + 4 <= OW) wasm_v128_store(orow + ow, acc);
          else store_lanes(orow + ow, acc, OW - ow);
        }
      } else if (sW == 2) {
        for (int ow = 0; ow < OW; ow += 4) {
          v128_t acc = wasm_f32x4_splat(bv);
          for (int ki = 0; ki < kH; ki++) {
            const float* r = base + ki * dH * Wp + 2 * ow;
            for (int kj = 0; kj < kW; kj++) {
              v128_t wv = wasm_v128_load32_splat(wc + ki * kW + kj);
              v128_t lo = wasm_v128_load(r + kj * dW), hi = wasm_v128_load(r + kj * dW + 4);
              acc = MADD(acc, wv, wasm_i32x4_shuffle(lo, hi, 0, 2, 4, 6));
            }
          }
          if (ow + 4 <= OW) wasm_v128_store(orow + ow, acc);
          else store_lanes(orow + ow, acc, OW - ow);
        }
      } else {
        for (int ow = 0; ow < OW; ow++) {
          float s = bv;
          for (int ki = 0; ki < kH; ki++) {
            const float* r = base + ki * dH * Wp + ow * sW;
            for (int kj = 0; kj < kW; kj++) s += wc[ki * kW + kj] * r[kj * dW];
          }
          orow[ow] = s;
        }
      }
    }
  }
}

// C[m0:m1, n0:n1] (+)= A·Bᵀ for few rows (InnerProduct at small batch): B [N,K] is used in place, one row of B
// against up to 4 rows of A at a time, so B (the big weight matrix) streams through once per 4 rows.
EXPORT(gemv_t_part) void gemv_t_part(int M, int N, int K, const float* A, const float* B, float* C,
                                     int n0, int n1, int accumulate) {
  const int K4 = K & ~3;
  for (int j = n0; j < n1; j++) {
    const float* b = B + j * K;
    for (int i = 0; i < M; i += 4) {
      const int mr = MIN(4, M - i);
      const float* a0 = A + i * K;
      const float* a1 = A + (i + (mr > 1 ? 1 : 0)) * K;
      const float* a2 = A + (i + (mr > 2 ? 2 : 0)) * K;
      const float* a3 = A + (i + (mr > 3 ? 3 : 0)) * K;
      v128_t s0 = wasm_f32x4_splat(0.f), s1 = s0, s2 = s0, s3 = s0;
      for (int k = 0; k < K4; k += 4) {
        v128_t bv = wasm_v128_load(b + k);
        s0 = MADD(s0, wasm_v128_load(a0 + k), bv);
        s1 = MADD(s1, wasm_v128_load(a1 + k), bv);
        s2 = MADD(s2, wasm_v128_load(a2 + k), bv);
        s3 = MADD(s3, wasm_v128_load(a3 + k), bv);
      }
#define HSUM(v) ((wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) + \
                 (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3)))
      float r0 = HSUM(s0), r1 = HSUM(s1), r2 = HSUM(s2), r3 = HSUM(s3);
#undef HSUM
      for (int k = K4; k < K; k++) {
        r0 += a0[k] * b[k];
        r1 += a1[k] * b[k];
        r2 += a2[k] * b[k];
        r3 += a3[k] * b[k];
      }
      float* c = C + i * N + j;
      c[0] = accumulate ? c[0] + r0 : r0;
      if (mr > 1) c[N] = accumulate ? c[N] + r1 : r1;
      if (mr > 2) c[2 * N] = accumulate ? c[2 * N] + r2 : r2;
      if (mr > 3) c[3 * N] = accumulate ? c[3 * N] + r3 : r3;
    }
  }
}

// ---- pooling and LRN for runNet's activations in this memory (used in place, split across the threads):
// same results as the JS forwards bit for bit.
#define FLT_MAX_ 3.40282346638528859812e+38F
static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

// MAX pooling of `planes` planes (Caffe geometry given): JS `if (t > v) v = t` from -inf, -FLT_MAX if empty.
EXPORT(maxpool) void maxpool(const float *x, float *y, int planes, int h, int w, int oh, int ow, int kh, int kw,
                             int sh, int sw, int ph, int pw) {
  // px range whose window lies inside the row (strides 1 and 2): 4 outputs per f32x4
  int in0 = (pw + sw - 1) / sw, in1 = (w - kw + pw) / sw + 1; // px in [in0, in1): ws >= 0, ws + kw <= w
  for (int p = 0; p < planes; p++) {
    const float *xp = x + (long)p * h * w;
    float *yp = y + (long)p * oh * ow;
    for (int py = 0; py < oh; py++) {
      int hs = py * sh - ph, he = imin(hs + kh, h);
      hs = imax(hs, 0);
      float *yr = yp + py * ow;
      int px = 0;
      while (px < ow) {
        if (sw == 1 && px >= in0 && px + 4 <= in1 && px + 4 <= ow) {
          v128_t v = wasm_f32x4_splat(-__builtin_inff());
          for (int yy = hs; yy < he; yy++) {
            const float *r = xp + yy * w + px - pw;
            for (int kx = 0; kx < kw; kx++) v = wasm_f32x4_pmax(v, wasm_v128_load(r + kx));
          }
          // -inf (empty/all -inf/NaN) -> -FLT_MAX
          v128_t ninf = wasm_f32x4_eq(v, wasm_f32x4_splat(-__builtin_inff()));
          v = wasm_v128_bitselect(wasm_f32x4_splat(-FLT_MAX_), v, ninf);
          wasm_v128_store(yr + px, v);
          px += 4;
          continue;
        }
        if (sw == 2 && px >= in0 && px + 4 <= in1 && px + 4 <= ow) {
          // even lanes of 8 consecutive values (the 8th is read but unused: the arena has slack after x)
          v128_t v = wasm_f32x4_splat(-__builtin_inff());
          for (int yy = hs; yy < he; yy++) {
            const float *r = xp + yy * w + 2 * px - pw;
            for (int kx = 0; kx < kw; kx++) {
              v128_t a = wasm_v128_load(r + kx), b = wasm_v128_load(r + kx + 4);
              v = wasm_f32x4_pmax(v, wasm_i32x4_shuffle(a, b, 0, 2, 4, 6));
            }
          }
          v128_t ninf = wasm_f32x4_eq(v, wasm_f32x4_splat(-__builtin_inff()));
          v = wasm_v128_bitselect(wasm_f32x4_splat(-FLT_MAX_), v, ninf);
          wasm_v128_store(yr + px, v);
          px += 4;
          continue;
        }
        int ws = px * sw - pw, we = imin(ws + kw, w);
        ws = imax(ws, 0);
        float v = -__builtin_inff();
        for (int yy = hs; yy < he; yy++) {
          const float *r = xp + yy * w;
          for (int i = ws; i < we; i++) {
            float t = r[i];
            v = t > v ? t : v;
          }
        }
        yr[px] = v == -__builtin_inff() ? -FLT_MAX_ : v;
        px++;
      }
    }
  }
}

// AVE pooling: double sum in row order, divided by the padded window size (Caffe), like the JS code.
EXPORT(avepool) void avepool(const float *x, float *y, int planes, int h, int w, int oh, int ow, int kh, int kw,
                             int sh, int sw, int ph, int pw) {
  for (int p = 0; p < planes; p++) {
    const float *xp = x + (long)p * h * w;
    float *yp = y + (long)p * oh * ow;
    for (int py = 0; py < oh; py++) {
      int hs = py * sh - ph, he = imin(hs + kh, h + ph);
      int hsize = he - hs;
      hs = imax(hs, 0);
      he = imin(he, h);
      for (int px = 0; px < ow; px++) {
        int ws = px * sw - pw, we = imin(ws + kw, w + pw);
        int size = hsize * (we - ws);
        ws = imax(ws, 0);
        we = imin(we, w);
        double s = 0;
        for (int yy = hs; yy < he; yy++) {
          const float *r = xp + yy * w;
          for (int i = ws; i < we; i++) s += r[i];
        }
        yp[py * ow + px] = (float)(s / size);
      }
    }
  }
}

// LRN across channels with beta = 0.75 for pixels [p0,p1) of one image x[c][hw] (the JS lrn_across075 forward on a
// pixel range). acc: p1 - p0 doubles of scratch.
EXPORT(lrn075_part) void lrn075_part(const float *x, float *y, int c, int hw, int size, double k, double a,
                                     double *acc, int p0, int p1) {
  int pre = (size - 1) / 2, n = p1 - p0;
  v128_t vk = wasm_f64x2_splat(k), va = wasm_f64x2_splat(a);
  for (int ch = 0; ch < c; ch++) {
    int lo = imax(0, ch - pre), hi = imin(c, ch - pre + size);
    for (int p = 0; p < n; p++) acc[p] = 0;
    for (int cc = lo; cc < hi; cc++) {
      const float *xc = x + (long)cc * hw + p0;
      int p = 0;
      for (; p + 2 <= n; p += 2) {
        v128_t v = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(xc + p));
        wasm_v128_store(acc + p, wasm_f64x2_add(wasm_v128_load(acc + p), wasm_f64x2_mul(v, v)));
      }
      for (; p < n; p++) acc[p] += (double)xc[p] * (double)xc[p];
    }
    const float *xo = x + (long)ch * hw + p0;
    float *yo = y + (long)ch * hw + p0;
    int p = 0;
    for (; p + 2 <= n; p += 2) {
      v128_t r = wasm_f64x2_sqrt(wasm_f64x2_add(vk, wasm_f64x2_mul(va, wasm_v128_load(acc + p))));
      v128_t v = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(xo + p));
      v128_t q = wasm_f64x2_div(v, wasm_f64x2_mul(r, wasm_f64x2_sqrt(r)));
      wasm_v128_store64_lane(yo + p, wasm_f32x4_demote_f64x2_zero(q), 0);
    }
    for (; p < n; p++) {
      double r = __builtin_sqrt(k + a * acc[p]);
      yo[p] = (float)((double)xo[p] / (r * __builtin_sqrt(r)));
    }
  }
}

// ---- the elementwise layer loops (ReLU, BatchNorm/Scale/Bias affine, 2-way Eltwise SUM). Every result equals
// the JS forward's bit for bit: double arithmetic where the JS code does more than one rounding-sensitive op
// (f64x2), single f32 ops only where IEEE double rounding of one +,*,max is innocuous (53 >= 2*24+2 bits).

// y = max(x, 0) as JS `x > 0 ? x : 0` (NaN and -0 give +0)
EXPORT(relu) void relu(const float* x, float* y, int n) {
  v128_t z = wasm_f32x4_splat(0.0f);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    wasm_v128_store(y + i, wasm_v128_and(v, wasm_f32x4_gt(v, z)));
  }
  for (; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

// y = a + b (one f32 add == fround(double add))
EXPORT(add2) void add2(const float* a, const float* b, float* y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  for (; i < n; i++) y[i] = a[i] + b[i];
}

// planes of `inner` values, plane p uses channel (m0 + p) % mid. mode 0: y = (x - a[c]) / b[c]  (BatchNorm)
// mode 1: y = x * a[c] + b[c]  (Scale, Bias with a = 1); all in double like the JS code.
EXPORT(chan_affine) void chan_affine(const float* x, float* y, int planes, int inner, int mid, const double* a,
                                     const double* b, int mode, int m0) {
  for (int p = 0; p < planes; p++) {
    int m = (m0 + p) % mid;
    double ad = a[m], bd = b[m];
    v128_t va = wasm_f64x2_splat(ad), vb = wasm_f64x2_splat(bd);
    const float* xp = x + (long)p * inner;
    float* yp = y + (long)p * inner;
    int i = 0;
    if (mode == 0) {
      for (; i + 4 <= inner; i += 4) {
        v128_t v = wasm_v128_load(xp + i);
        v128_t l = wasm_f64x2_div(wasm_f64x2_sub(lo64(v), va), vb);
        v128_t h = wasm_f64x2_div(wasm_f64x2_sub(hi64(v), va), vb);
        wasm_v128_store(yp + i, pack32(l, h));
      }
      for (; i < inner; i++) yp[i] = (float)(((double)xp[i] - ad) / bd);
    } else {
      for (; i + 4 <= inner; i += 4) {
        v128_t v = wasm_v128_load(xp + i);
        v128_t l = wasm_f64x2_add(wasm_f64x2_mul(lo64(v), va), vb);
        v128_t h = wasm_f64x2_add(wasm_f64x2_mul(hi64(v), va), vb);
        wasm_v128_store(yp + i, pack32(l, h));
      }
      for (; i < inner; i++) yp[i] = (float)((double)xp[i] * ad + bd);
    }
  }
}

// ---- integer convolution for the simulator: out[oc][pixel] = sum over k of w[oc][k] * x(pixel, k), int16
// operands, int32 accumulators that wrap (i32x4.dot_i16x8_s: the sum is exact mod 2^32 in any order, so it
// equals any int32 reference bit for bit). No bias, no rounding: the caller does the fixed-point steps.
// Weights are packed [outC][KP] with KP = Kg rounded up to 8 (zero padded); the im2col of IPIX pixels at a
// time goes to ws as [pixel][KP].
#define IPIX 32
static inline int kpad(const ConvP* p) { return (((p->inC / p->group) * p->kH * p->kW) + 7) & ~7; }

// bytes of workspace one thread needs
EXPORT(iconv_ws_bytes) int iconv_ws_bytes(const ConvP* p) { return IPIX * kpad(p) * 2 + 64; }

// int16 weights [outC][Kg] -> [outC][KP]
EXPORT(iconv_pack_w) void iconv_pack_w(const ConvP* p, const int16_t* w, int16_t* wp) {
  const int Kg = (p->inC / p->group) * p->kH * p->kW, KP = kpad(p);
  for (int o = 0; o < p->outC; o++)
    for (int k = 0; k < KP; k++) wp[o * KP + k] = k < Kg ? w[o * Kg + k] : 0;
}

static inline int32_t hsum_i32(v128_t v) {
  return (int32_t)((uint32_t)wasm_i32x4_extract_lane(v, 0) + (uint32_t)wasm_i32x4_extract_lane(v, 1) +
                   (uint32_t)wasm_i32x4_extract_lane(v, 2) + (uint32_t)wasm_i32x4_extract_lane(v, 3));
}

// output pixels [n0,n1) of every channel of every group; x int16 [inC][inH][inW], out int32 [outC][outH*outW]
EXPORT(iconv_part) void iconv_part(const ConvP* p, const int16_t* x, const int16_t* wp, int32_t* out, int n0, int n1,
                                   int16_t* ws) {
  const int G = p->group, Mg = p->outC / G, Cg = p->inC / G, kH = p->kH, kW = p->kW;
  const int H = p->inH, W = p->inW, OW = p->outW, N = p->outH * OW, KP = kpad(p), K8 = KP >> 3;
  if (n1 > N) n1 = N;
  for (int g = 0; g < G; g++) {
    const int16_t* xg = x + g * Cg * H * W;
    for (int nb = n0; nb < n1; nb += IPIX) {
      const int np = MIN(IPIX, n1 - nb);
      // im2col of pixels [nb, nb+np): row j = the K values pixel nb+j reads (zero padding outside the image)
      for (int j = 0; j < IPIX; j++) {
        int16_t* d = ws + j * KP;
        if (j >= np) break;  // rows past np feed only accumulators that are not stored
        const int n = nb + j, oh = n / OW, ow = n - oh * OW;
        const int ih0 = oh * p->sH - p->pH, iw0 = ow * p->sW - p->pW;
        int k = 0;
        for (int c = 0; c < Cg; c++) {
          const int16_t* xc = xg + c * H * W;
          for (int ki = 0; ki < kH; ki++) {
            const int ih = ih0 + ki * p->dH;
            if ((unsigned)ih >= (unsigned)H) {
              for (int kj = 0; kj < kW; kj++) d[k++] = 0;
              continue;
            }
            const int16_t* xr = xc + ih * W;
            for (int kj = 0; kj < kW; kj++) {
              const int iw = iw0 + kj * p->dW;
              d[k++] = (unsigned)iw < (unsigned)W ? xr[iw] : 0;
            }
          }
        }
        for (; k < KP; k++) d[k] = 0;
      }
      // 2 channels x 4 pixels of accumulators
      for (int m = 0; m < Mg; m += 2) {
        const int two = m + 1 < Mg;
        const int16_t* w0 = wp + (g * Mg + m) * KP;
        const int16_t* w1 = two ? w0 + KP : w0;
        int32_t* o0 = out + (g * Mg + m) * N + nb;
        int32_t* o1 = o0 + N;
        for (int j = 0; j < np; j += 4) {
          const int16_t* c0 = ws + j * KP;
          const int16_t *c1 = c0 + KP, *c2 = c1 + KP, *c3 = c2 + KP;
          v128_t a00 = wasm_i32x4_splat(0), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
          for (int k = 0; k < K8; k++) {
            const v128_t v0 = wasm_v128_load(w0 + 8 * k), v1 = wasm_v128_load(w1 + 8 * k);
            const v128_t x0 = wasm_v128_load(c0 + 8 * k), x1 = wasm_v128_load(c1 + 8 * k);
            const v128_t x2 = wasm_v128_load(c2 + 8 * k), x3 = wasm_v128_load(c3 + 8 * k);
            a00 = wasm_i32x4_add(a00, wasm_i32x4_dot_i16x8(v0, x0));
            a01 = wasm_i32x4_add(a01, wasm_i32x4_dot_i16x8(v0, x1));
            a02 = wasm_i32x4_add(a02, wasm_i32x4_dot_i16x8(v0, x2));
            a03 = wasm_i32x4_add(a03, wasm_i32x4_dot_i16x8(v0, x3));
            a10 = wasm_i32x4_add(a10, wasm_i32x4_dot_i16x8(v1, x0));
            a11 = wasm_i32x4_add(a11, wasm_i32x4_dot_i16x8(v1, x1));
            a12 = wasm_i32x4_add(a12, wasm_i32x4_dot_i16x8(v1, x2));
            a13 = wasm_i32x4_add(a13, wasm_i32x4_dot_i16x8(v1, x3));
          }
          const int q = MIN(4, np - j);
          o0[j] = hsum_i32(a00);
          if (q > 1) o0[j + 1] = hsum_i32(a01);
          if (q > 2) o0[j + 2] = hsum_i32(a02);
          if (q > 3) o0[j + 3] = hsum_i32(a03);
          if (two) {
            o1[j] = hsum_i32(a10);
            if (q > 1) o1[j + 1] = hsum_i32(a11);
            if (q > 2) o1[j + 2] = hsum_i32(a12);
            if (q > 3) o1[j + 3] = hsum_i32(a13);
          }
        }
      }
    }
  }
}

// ---- the simulator's requantization of exact integer accumulators (int32, or float32 holding integers), per
// output channel c of `plane` values, into saturated integers [lo, hi] (lo = 0 with a fused ReLU). In int64, exact
// while |acc|·S + |b| < 2^63 (the caller checks S, b < 2^31·2^22).
static inline int64_t iacc(const void* acc, int isF32, long i) {
  return isF32 ? (int64_t)((const float*)acc)[i] : (int64_t)((const int32_t*)acc)[i];
}
static inline int32_t clamp64(int64_t y, int32_t lo, int32_t hi) { return y > hi ? hi : y < lo ? lo : (int32_t)y; }

// Xilinx: t = acc·S[c] + bq[c]·2^22; y = sign(t)·((|t| + 2^21) >> 22)
EXPORT(requant_xilinx) void requant_xilinx(const void* acc, int isF32, int32_t* out, int C, int plane, const double* S,
                                           const double* bq, int lo, int hi) {
  for (int c = 0; c < C; c++) {
    const int64_t s = (int64_t)S[c], b = (int64_t)bq[c] * (1LL << 22);
    const long o = (long)c * plane;
    for (int i = 0; i < plane; i++) {
      const int64_t t = iacc(acc, isF32, o + i) * s + b;
      const int64_t y = t >= 0 ? (t + (1LL << 21)) >> 22 : -((-t + (1LL << 21)) >> 22);
      out[o + i] = clamp64(y, lo, hi);
    }
  }
}

// DynamicFixed: t = acc + bias[c]; shift > 0: y = sign(t)·((|t| + 2^(shift-1)) >> shift); shift <= 0: t·2^-shift
// (the caller keeps shift in [-30, 61]: |t| < 2^33)
EXPORT(requant_dynfixed) void requant_dynfixed(const void* acc, int isF32, int32_t* out, int C, int plane, const int32_t* bias,
                                               int shift, int lo, int hi) {
  for (int c = 0; c < C; c++) {
    const int64_t b = bias[c];
    const long o = (long)c * plane;
    if (shift > 0) {
      const int64_t h = 1LL << (shift - 1);
      for (int i = 0; i < plane; i++) {
        const int64_t t = iacc(acc, isF32, o + i) + b;
        out[o + i] = clamp64(t >= 0 ? (t + h) >> shift : -((-t + h) >> shift), lo, hi);
      }
    } else {
      for (int i = 0; i < plane; i++) out[o + i] = clamp64((iacc(acc, isF32, o + i) + b) * (1LL << -shift), lo, hi);
    }
  }
}

// the largest of four unsigned lanes
static inline uint32_t hmax_u32(v128_t m) {
  uint32_t r = 0;
  for (int l = 0; l < 4; l++) {
    uint32_t v = (uint32_t)wasm_i32x4_extract_lane(m, 0);
    if (v > r) r = v;
    m = wasm_i32x4_shuffle(m, m, 1, 2, 3, 0);
  }
  return r;
}

// max |x| over n int32 values (|INT32_MIN| wraps: the caller treats a negative result as "too large")
EXPORT(iabsmax) int32_t iabsmax(const int32_t* x, int n) {
  v128_t m = wasm_i32x4_splat(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) m = wasm_u32x4_max(m, wasm_i32x4_abs(wasm_v128_load(x + i)));
  uint32_t r = hmax_u32(m);
  for (; i < n; i++) {
    uint32_t v = x[i] < 0 ? 0u - (uint32_t)x[i] : (uint32_t)x[i];
    if (v > r) r = v;
  }
  return r > 0x7fffffffu ? -1 : (int32_t)r;
}

#include "sim-metrics.c"
// Winograd F(2x2,3x3) for 3x3 stride-1 convs (uses ukernel and epilogue above)
#include "winograd-pack.c"
#include "winograd.c"
#include "sim.c"
#include "sim-dw.c"
#include "sim-twin-ops.c"
#include "sim-winograd.c"
#include "sim-gemm-i8.c"
#include "sim-eltwise.c"
