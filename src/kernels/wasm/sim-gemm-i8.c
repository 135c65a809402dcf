// The simulator's integer GEMM (simg_block, sim-winograd.c) on relaxed_dot_i8x16_i7x16: 16 multiply-adds per
// instruction where dot_i16x8 does 8. Exact only when the im2col values are in [0, 127] (the "i7" operand: x64
// lowers it to pmaddubsw's unsigned operand, so a set top bit would read as 128..255 there and as negative on arm)
// and the weights in [-128, 127]: then each pair sum of pmaddubsw is within ±2·127·128 < 32768 (no int16
// saturation) and the int32 sums are simg_block's, integer for integer. The caller checks the weights; every block
// checks its own gathered values and, when one is outside [0, 127], sets params word 21 and computes nothing (the
// caller then reruns the conv on simg_block). Relaxed-SIMD build only (included by kernels.c after sim-winograd.c).
// Layouts (int32 words, each four int8 rows 4cq..4cq+3): weights Wq[K/4 panel][C4'][4 output channels], the rows of
// a block of pixels V[NB/8 panel][C4'][8 pixels], C4' = ceil(C·kH·kW / 4).
#ifdef CHAIQ_FMA

// acc + the dots of four bytes per lane: i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw), widened pairwise (pmaddwd by 1).
// Not i32x4.relaxed_dot_i8x16_i7x16_add_s: Node 20's baseline compiler (Liftoff) gets it wrong (its scratch registers
// may be the accumulator's), so a module's first calls, before the optimizing tier, would return other sums.
typedef signed char simq_i8x16 __attribute__((vector_size(16)));
#define SIMQ_DOT(w, x, acc) \
  wasm_i32x4_add((acc), wasm_i32x4_extadd_pairwise_i16x8((v128_t)__builtin_wasm_relaxed_dot_i8x16_i7x16_s_i16x8((simq_i8x16)(w), (simq_i8x16)(x))))

static inline int simq_c4(const ConvP* p) { return (simg_cr(p) + 3) >> 2; }


// w int32 [K][C'] in [-128, 127] (the caller checks)
EXPORT(simq_pack_w) void simq_pack_w(const ConvP* p, const int32_t* w, int32_t* Wq) {
  const int C = simg_cr(p), K = p->outC, C4 = simq_c4(p), KP = simw_kp(p);
  int8_t* U = (int8_t*)Wq;
  for (int k = 0; k < KP; k++)
    for (int c = 0; c < 4 * C4; c++) U[4 * (((long)(k / 4) * C4 + c / 4) * 4 + (k & 3)) + (c & 3)] = k < K && c < C ? (int8_t)w[(long)k * C + c] : 0;
}

// m[j][0..8) = Σ over row quads of Wq[k0+j]·V[0..8), j < 4
static inline void simq_ukernel(int C4, const int32_t* restrict u, const int32_t* restrict v, int32_t* m, int ldm) {
  v128_t a00 = wasm_i32x4_splat(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  for (int cq = 0; cq < C4; cq++) {
    const v128_t v0 = wasm_v128_load(v + 8 * cq), v1 = wasm_v128_load(v + 8 * cq + 4);
    const v128_t u0 = wasm_v128_load32_splat(u + 4 * cq), u1 = wasm_v128_load32_splat(u + 4 * cq + 1);
    a00 = SIMQ_DOT(u0, v0, a00);
    a01 = SIMQ_DOT(u0, v1, a01);
    a10 = SIMQ_DOT(u1, v0, a10);
    a11 = SIMQ_DOT(u1, v1, a11);
    const v128_t u2 = wasm_v128_load32_splat(u + 4 * cq + 2), u3 = wasm_v128_load32_splat(u + 4 * cq + 3);
    a20 = SIMQ_DOT(u2, v0, a20);
    a21 = SIMQ_DOT(u2, v1, a21);
    a30 = SIMQ_DOT(u3, v0, a30);
    a31 = SIMQ_DOT(u3, v1, a31);
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

static inline v128_t simq_load4(const int32_t* x, int j, int nb) {
  if (!x) return wasm_i32x4_splat(0);
  if (j + 4 <= nb) return wasm_v128_load(x + j);
  return wasm_i32x4_make(j < nb ? x[j] : 0, j + 1 < nb ? x[j + 1] : 0, j + 2 < nb ? x[j + 2] : 0, j + 3 < nb ? x[j + 3] : 0);
}

// row quad cq of V from rows r[0..4) (nb values each; a null row: zeros), zero past nb up to 8·NP; returns the OR
// of the values (outside [0, 127] exactly when a bit above the lowest 7 is set)
static inline v128_t simq_put_quads(int32_t* V, int C4, int cq, const int32_t* r0, const int32_t* r1, const int32_t* r2,
                                    const int32_t* r3, int nb, int NP) {
  v128_t any = wasm_i32x4_splat(0);
  for (int j = 0; j < NP * 8; j += 4) {
    const v128_t a0 = simq_load4(r0, j, nb), a1 = simq_load4(r1, j, nb), a2 = simq_load4(r2, j, nb), a3 = simq_load4(r3, j, nb);
    any = wasm_v128_or(any, wasm_v128_or(wasm_v128_or(a0, a1), wasm_v128_or(a2, a3)));
    // bytes (row, pixel) -> (pixel, row): each word the four rows of one pixel
    const v128_t b = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(a0, a1), wasm_i16x8_narrow_i32x4(a2, a3));
    wasm_v128_store(V + ((long)(j >> 3) * C4 + cq) * 8 + (j & 7), wasm_i8x16_shuffle(b, b, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
  }
  return any;
}

// pixel block b of NB pixels, output channels [k0, k1) (k0 a multiple of 4); nothing when params word 21 is set
static void simq_block(const ConvP* p, const int32_t* x, const int32_t* Wq, int32_t* out, int NB, int b, int k0, int k1,
                       int32_t* ws) {
  int32_t* bad = (int32_t*)p + 21;
  const int C = simg_cr(p), K = p->outC, C4 = simq_c4(p), N = p->outH * p->outW, n0 = b * NB;
  if (n0 >= N || __atomic_load_n(bad, __ATOMIC_RELAXED)) return;
  if (k1 > K) k1 = K;
  const int nb = MIN(NB, N - n0), NP = (nb + 7) / 8;
  int32_t* V = ws;
  int32_t* tmp = V + C4 * NB;
  v128_t any = wasm_i32x4_splat(0);
  if (simg_direct(p)) {
    for (int cq = 0; cq < C4; cq++) {
      const int32_t* r = x + (long)(4 * cq) * N + n0;
      const int c = 4 * cq;
      any = wasm_v128_or(any, simq_put_quads(V, C4, cq, r, c + 1 < C ? r + N : 0, c + 2 < C ? r + 2 * N : 0, c + 3 < C ? r + 3 * N : 0, nb, NP));
    }
  } else {
    int32_t* rows = tmp + 4 * 8;
    for (int cq = 0; cq < C4; cq++) {
      const int c = 4 * cq;
      for (int q = 0; q < 4 && c + q < C; q++) simg_gather(p, x, c + q, n0, nb, rows + q * NB);
      any = wasm_v128_or(any, simq_put_quads(V, C4, cq, rows, c + 1 < C ? rows + NB : 0, c + 2 < C ? rows + 2 * NB : 0,
                                             c + 3 < C ? rows + 3 * NB : 0, nb, NP));
    }
  }
  if (wasm_v128_any_true(wasm_v128_and(any, wasm_i32x4_splat(~127)))) {
    __atomic_store_n(bad, 1, __ATOMIC_RELAXED);
    return;
  }
  simg_panels(simq_ukernel, C4, Wq, V, out, tmp, k0, k1, n0, NP, N);
}

#endif
