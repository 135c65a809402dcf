// chaiq non-conv layer loops in WebAssembly SIMD (ReLU, per-channel affine for BatchNorm/Scale/Bias, 2-way
// Eltwise SUM). Every result equals the JS forward's bit for bit: double arithmetic where
// the JS code does more than one rounding-sensitive op (f64x2), single f32 ops only where IEEE double
// rounding of one +,*,max is innocuous (53 >= 2*24+2 bits). Built by src/exec/wasm/build.sh.
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define FLT_MAX_ 3.40282346638528859812e+38F

// y = max(x, 0) as JS `x > 0 ? x : 0` (NaN and -0 give +0)
EXPORT(relu) void relu(const float *x, float *y, int n) {
  v128_t z = wasm_f32x4_splat(0.0f);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(x + i);
    wasm_v128_store(y + i, wasm_v128_and(v, wasm_f32x4_gt(v, z)));
  }
  for (; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0.0f;
}

// y = a + b (one f32 add == fround(double add))
EXPORT(add2) void add2(const float *a, const float *b, float *y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(y + i, wasm_f32x4_add(wasm_v128_load(a + i), wasm_v128_load(b + i)));
  for (; i < n; i++) y[i] = a[i] + b[i];
}

static inline v128_t lo64(v128_t v) { return wasm_f64x2_promote_low_f32x4(v); }
static inline v128_t hi64(v128_t v) { return wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)); }
static inline v128_t pack32(v128_t lo, v128_t hi) {
  return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
}

// planes of `inner` values, plane p uses channel (m0 + p) % mid. mode 0: y = (x - a[c]) / b[c]  (BatchNorm)
// mode 1: y = x * a[c] + b[c]  (Scale, Bias with a = 1); all in double like the JS code.
EXPORT(chan_affine) void chan_affine(const float *x, float *y, int planes, int inner, int mid, const double *a,
                                     const double *b, int mode, int m0) {
  for (int p = 0; p < planes; p++) {
    int m = (m0 + p) % mid;
    double ad = a[m], bd = b[m];
    v128_t va = wasm_f64x2_splat(ad), vb = wasm_f64x2_splat(bd);
    const float *xp = x + (long)p * inner;
    float *yp = y + (long)p * inner;
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


// MAX/AVE pooling and LRN (beta 0.75) live in src/kernels/wasm/kernels.c (threaded, in the kernels' memory).
