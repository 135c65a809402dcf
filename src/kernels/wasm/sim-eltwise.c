// The simulator's Eltwise SUM on resident blobs (src/kernels/sim-conv.ts eltwiseAddResident): the saturating
// integer add of k int32 blobs, written as int32 and as its float32 twin in one pass; and the NaN scan that the
// local runs taken from the quantized reference need (src/sim/local.ts).

// q = clamp(Σ_j xs[j][i], lo, hi), f = (float)q; returns max |q| (-1 when it is 2^31). The caller guarantees
// Σ_j max|xs[j]| < 2^31, so the int32 sums are exact, as the JS loop's double sums.
EXPORT(sim_eltwise_add) int32_t sim_eltwise_add(const int32_t* const* xs, int k, int32_t* q, float* f, int n, int lo, int hi) {
  const v128_t LO = wasm_i32x4_splat(lo), HI = wasm_i32x4_splat(hi);
  v128_t m = wasm_i32x4_splat(0);
  const int32_t* a = xs[0];
  const int32_t* b = xs[1];
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t s = wasm_i32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i));
    for (int j = 2; j < k; j++) s = wasm_i32x4_add(s, wasm_v128_load(xs[j] + i));
    s = wasm_i32x4_min(wasm_i32x4_max(s, LO), HI);
    wasm_v128_store(q + i, s);
    wasm_v128_store(f + i, wasm_f32x4_convert_i32x4(s));
    m = wasm_u32x4_max(m, wasm_i32x4_abs(s));
  }
  uint32_t r = hmax_u32(m);
  for (; i < n; i++) {
    int32_t s = 0;
    for (int j = 0; j < k; j++) s += xs[j][i];
    s = s < lo ? lo : s > hi ? hi : s;
    q[i] = s;
    f[i] = (float)s;
    const uint32_t v = s < 0 ? 0u - (uint32_t)s : (uint32_t)s;
    if (v > r) r = v;
  }
  return r > 0x7fffffffu ? -1 : (int32_t)r;
}

// 1 when x[0..n) holds a NaN, else 0
EXPORT(sim_any_nan) int32_t sim_any_nan(const float* x, int n) {
  v128_t acc = wasm_i32x4_splat(0);
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const v128_t a = wasm_v128_load(x + i), b = wasm_v128_load(x + i + 4);
    const v128_t c = wasm_v128_load(x + i + 8), d = wasm_v128_load(x + i + 12);
    acc = wasm_v128_or(acc, wasm_v128_or(wasm_v128_or(wasm_f32x4_ne(a, a), wasm_f32x4_ne(b, b)), wasm_v128_or(wasm_f32x4_ne(c, c), wasm_f32x4_ne(d, d))));
  }
  for (; i + 4 <= n; i += 4) {
    const v128_t a = wasm_v128_load(x + i);
    acc = wasm_v128_or(acc, wasm_f32x4_ne(a, a));
  }
  for (; i < n; i++) {
    const v128_t a = wasm_f32x4_splat(x[i]);
    acc = wasm_v128_or(acc, wasm_f32x4_ne(a, a));
  }
  return wasm_v128_any_true(acc);
}
