// chaiq non-conv layer loops in WebAssembly SIMD (ReLU, per-channel affine for BatchNorm/Scale/Bias, 2-way
// Eltwise SUM, MAX/AVE pooling). Every result equals the JS forward's bit for bit: double arithmetic where
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

// LRN across channels with beta = 0.75 for one image x[c][hw]: like the JS forward, in double,
// window sum of squares in channel order (squares of floats are exact in double), then
// y = x / (r·√r), r = √(k + a·sum). acc: hw doubles of scratch.
EXPORT(lrn_across075) void lrn_across075(const float *x, float *y, int c, int hw, int size, double k, double a,
                                         double *acc) {
  int pre = (size - 1) / 2;
  v128_t vk = wasm_f64x2_splat(k), va = wasm_f64x2_splat(a);
  for (int ch = 0; ch < c; ch++) {
    int lo = imax(0, ch - pre), hi = imin(c, ch - pre + size);
    for (int p = 0; p < hw; p++) acc[p] = 0;
    for (int cc = lo; cc < hi; cc++) {
      const float *xc = x + (long)cc * hw;
      int p = 0;
      for (; p + 2 <= hw; p += 2) {
        v128_t v = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(xc + p));
        wasm_v128_store(acc + p, wasm_f64x2_add(wasm_v128_load(acc + p), wasm_f64x2_mul(v, v)));
      }
      for (; p < hw; p++) acc[p] += (double)xc[p] * (double)xc[p];
    }
    const float *xo = x + (long)ch * hw;
    float *yo = y + (long)ch * hw;
    int p = 0;
    for (; p + 2 <= hw; p += 2) {
      v128_t r = wasm_f64x2_sqrt(wasm_f64x2_add(vk, wasm_f64x2_mul(va, wasm_v128_load(acc + p))));
      v128_t v = wasm_f64x2_promote_low_f32x4(wasm_v128_load64_zero(xo + p));
      v128_t q = wasm_f64x2_div(v, wasm_f64x2_mul(r, wasm_f64x2_sqrt(r)));
      wasm_v128_store64_lane(yo + p, wasm_f32x4_demote_f64x2_zero(q), 0);
    }
    for (; p < hw; p++) {
      double r = __builtin_sqrt(k + a * acc[p]);
      yo[p] = (float)((double)xo[p] / (r * __builtin_sqrt(r)));
    }
  }
}
