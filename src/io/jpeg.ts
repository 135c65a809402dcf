/**
 * JPEG decoding that reproduces libjpeg-turbo with its default settings (what PIL, OpenCV and caffe.io use):
 * JDCT_ISLOW integer IDCT (jidctint.c), "fancy" triangle-filter chroma upsampling (jdsample.c) and the
 * fixed-point YCbCr→RGB tables of jdcolor.c. Checked pixel for pixel against PIL (scripts/jpeg_reference.py).
 *
 * jpeg-js does the marker parsing and Huffman decoding (baseline and progressive) but keeps its quantized
 * coefficient blocks private, then runs a float-ish IDCT and replicates chroma pixels — up to ~55 levels off
 * libjpeg on colour edges. We evaluate jpeg-js's own decoder.js with one line changed so that parse() keeps
 * the per-component coefficient blocks, and do everything after entropy decoding here. If that source ever
 * changes shape (other jpeg-js version), or the image is not 1- or 3-component, we fall back to jpeg-js.
 */
import * as fs from 'fs';
import * as jpeg from 'jpeg-js';

/** 8-bit samples, HWC: channels 1 (grayscale source) or 3 (RGB). */
export interface DecodedJpeg {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
  /** true when decoded by the libjpeg-exact path, false for the jpeg-js fallback */
  exact: boolean;
}

interface RawComponent {
  h: number;
  v: number;
  blocks: Int32Array[][];
  quantizationTable: Int32Array;
}

interface RawFrame {
  precision: number;
  samplesPerLine: number;
  scanLines: number;
  maxH: number;
  maxV: number;
  componentsOrder: number[];
  components: Record<number, RawComponent>;
}

interface RawJpeg {
  width: number;
  height: number;
  jfif: unknown;
  adobe: { transformCode: number } | null;
  frame: RawFrame;
}

interface ParserModule {
  JpegImage: (new () => { opts: object; parse(data: Uint8Array): void }) & { resetMaxMemoryUsage(bytes: number): void };
}

/** the two lines of jpeg-js 0.4.x's decoder.js that we change (each must occur exactly once) */
const PATCHES: [string, string][] = [
  ['lines: buildComponentData(frame, component),', 'lines: null,'],
  ['this.components = [];', 'this.components = []; this.frame = frame;'],
];
let parserModule: ParserModule | null | undefined;

/** jpeg-js's decoder.js with parse() keeping the frame (coefficient blocks) instead of running its IDCT. */
function parser(): ParserModule | null {
  if (parserModule !== undefined) return parserModule;
  parserModule = null;
  try {
    let src = fs.readFileSync(require.resolve('jpeg-js/lib/decoder.js'), 'utf8');
    if (!src.includes('var JpegImage = ') || PATCHES.some(([a]) => src.split(a).length !== 2)) return null;
    for (const [a, b] of PATCHES) src = src.replace(a, b);
    const make = new Function('module', 'exports', 'require', `${src}\nreturn JpegImage;`) as (
      m: object, e: object, r: NodeRequire) => ParserModule['JpegImage'];
    parserModule = { JpegImage: make({ exports: {} }, {}, require) };
  } catch {
    parserModule = null;
  }
  return parserModule;
}

// ---------------------------------------------------------------- jidctint.c jpeg_idct_islow
const CONST_BITS = 13;
const PASS1_BITS = 2;
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/** DESCALE(x, n): round right shift of a (possibly > 32-bit) integer held exactly in a double */
function descale(x: number, n: number): number {
  return Math.floor((x + 2 ** (n - 1)) / 2 ** n);
}

/**
 * jdmaster.c prepare_range_limit_table, post-IDCT part indexed by (x & 1023): x + 128 clamped to 0..255 for
 * |x| < 512; wraps like libjpeg beyond that (only for corrupt data).
 */
const IDCT_LIMIT = (() => {
  const t = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) t[i] = i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;
  return t;
})();

/**
 * Integer 8×8 inverse DCT of one block of quantized coefficients (natural order), dequantized by `q`,
 * written as 8 rows of 8 samples at out[o + r·stride + c]. Same arithmetic as jpeg_idct_islow; the
 * all-zero-AC shortcuts there give the same results as the full computation, so they are omitted.
 */
export function idctIslow(coef: ArrayLike<number>, q: ArrayLike<number>, out: Uint8Array, o: number, stride: number, ws: Float64Array): void {
  // pass 1: columns → ws, scaled up by 2^PASS1_BITS
  for (let c = 0; c < 8; c++) {
    let z2 = coef[16 + c] * q[16 + c];
    let z3 = coef[48 + c] * q[48 + c];
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    z2 = coef[c] * q[c];
    z3 = coef[32 + c] * q[32 + c];
    let tmp0 = (z2 + z3) * 8192;
    let tmp1 = (z2 - z3) * 8192;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = coef[56 + c] * q[56 + c];
    tmp1 = coef[40 + c] * q[40 + c];
    tmp2 = coef[24 + c] * q[24 + c];
    tmp3 = coef[8 + c] * q[8 + c];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    const n = CONST_BITS - PASS1_BITS;
    ws[c] = descale(tmp10 + tmp3, n);
    ws[56 + c] = descale(tmp10 - tmp3, n);
    ws[8 + c] = descale(tmp11 + tmp2, n);
    ws[48 + c] = descale(tmp11 - tmp2, n);
    ws[16 + c] = descale(tmp12 + tmp1, n);
    ws[40 + c] = descale(tmp12 - tmp1, n);
    ws[24 + c] = descale(tmp13 + tmp0, n);
    ws[32 + c] = descale(tmp13 - tmp0, n);
  }
  // pass 2: rows → samples, descaled by 2^(CONST_BITS+PASS1_BITS+3), +128 and range-limited
  const n2 = CONST_BITS + PASS1_BITS + 3;
  for (let r = 0; r < 8; r++) {
    const w = r * 8;
    let z2 = ws[w + 2];
    let z3 = ws[w + 6];
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    let tmp0 = (ws[w] + ws[w + 4]) * 8192;
    let tmp1 = (ws[w] - ws[w + 4]) * 8192;
    const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
    tmp0 = ws[w + 7];
    tmp1 = ws[w + 5];
    tmp2 = ws[w + 3];
    tmp3 = ws[w + 1];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    const p = o + r * stride;
    out[p] = IDCT_LIMIT[descale(tmp10 + tmp3, n2) & 1023];
    out[p + 7] = IDCT_LIMIT[descale(tmp10 - tmp3, n2) & 1023];
    out[p + 1] = IDCT_LIMIT[descale(tmp11 + tmp2, n2) & 1023];
    out[p + 6] = IDCT_LIMIT[descale(tmp11 - tmp2, n2) & 1023];
    out[p + 2] = IDCT_LIMIT[descale(tmp12 + tmp1, n2) & 1023];
    out[p + 5] = IDCT_LIMIT[descale(tmp12 - tmp1, n2) & 1023];
    out[p + 3] = IDCT_LIMIT[descale(tmp13 + tmp0, n2) & 1023];
    out[p + 4] = IDCT_LIMIT[descale(tmp13 - tmp0, n2) & 1023];
  }
}

/** A component's samples at its own (downsampled) resolution: w×h valid samples, row stride `stride`. */
export interface Plane {
  w: number;
  h: number;
  stride: number;
  data: Uint8Array;
}

function componentPlane(comp: RawComponent, w: number, h: number): Plane {
  const bx = Math.ceil(w / 8), by = Math.ceil(h / 8);
  const stride = bx * 8;
  const data = new Uint8Array(stride * by * 8);
  const ws = new Float64Array(64);
  const zero = new Int32Array(64);
  const q = comp.quantizationTable;
  if (!q) throw new Error('missing quantization table');
  for (let r = 0; r < by; r++) {
    const row = comp.blocks[r];
    for (let c = 0; c < bx; c++) idctIslow(row?.[c] ?? zero, q, data, r * 8 * stride + c * 8, stride, ws);
  }
  return { w, h, stride, data };
}

// ---------------------------------------------------------------- jdsample.c (libjpeg-turbo)
/**
 * Upsample a component plane by (hr, vr) to W×H like libjpeg-turbo's jinit_upsampler with
 * do_fancy_upsampling: h2v1 / h2v2 triangle filters when the plane is wider than 2 samples, h1v2 triangle
 * filter, else pixel replication. Context rows beyond the plane's edges repeat its first / last row
 * (jdmainct.c), columns beyond its width repeat the edge column.
 */
export function upsample(p: Plane, hr: number, vr: number, W: number, H: number): Uint8Array {
  const out = new Uint8Array(W * H);
  const { w, h, stride, data: d } = p;
  const row = (y: number): number => (y < 0 ? 0 : y >= h ? h - 1 : y) * stride;
  if (hr === 1 && vr === 1) {
    for (let y = 0; y < H; y++) out.set(d.subarray(y * stride, y * stride + W), y * W);
  } else if (hr === 2 && vr === 1 && w > 2) {
    const line = new Uint8Array(2 * w);
    for (let y = 0; y < H; y++) {
      const s = y * stride;
      let v = d[s];
      line[0] = v;
      line[1] = (v * 3 + d[s + 1] + 2) >> 2;
      for (let x = 1; x < w - 1; x++) {
        v = d[s + x] * 3;
        line[2 * x] = (v + d[s + x - 1] + 1) >> 2;
        line[2 * x + 1] = (v + d[s + x + 1] + 2) >> 2;
      }
      v = d[s + w - 1];
      line[2 * w - 2] = (v * 3 + d[s + w - 2] + 1) >> 2;
      line[2 * w - 1] = v;
      out.set(line.subarray(0, W), y * W);
    }
  } else if (hr === 1 && vr === 2) {
    for (let y = 0; y < H; y++) {
      const iy = y >> 1;
      const s0 = row(iy), s1 = row(y & 1 ? iy + 1 : iy - 1);
      const bias = y & 1 ? 2 : 1;
      for (let x = 0; x < W; x++) out[y * W + x] = (d[s0 + x] * 3 + d[s1 + x] + bias) >> 2;
    }
  } else if (hr === 2 && vr === 2 && w > 2) {
    const line = new Uint8Array(2 * w);
    const cs = new Int32Array(w);
    for (let y = 0; y < H; y++) {
      const iy = y >> 1;
      const s0 = row(iy), s1 = row(y & 1 ? iy + 1 : iy - 1);
      for (let x = 0; x < w; x++) cs[x] = d[s0 + x] * 3 + d[s1 + x];
      line[0] = (cs[0] * 4 + 8) >> 4;
      line[1] = (cs[0] * 3 + cs[1] + 7) >> 4;
      for (let x = 1; x < w - 1; x++) {
        line[2 * x] = (cs[x] * 3 + cs[x - 1] + 8) >> 4;
        line[2 * x + 1] = (cs[x] * 3 + cs[x + 1] + 7) >> 4;
      }
      line[2 * w - 2] = (cs[w - 1] * 3 + cs[w - 2] + 8) >> 4;
      line[2 * w - 1] = (cs[w - 1] * 4 + 7) >> 4;
      out.set(line.subarray(0, W), y * W);
    }
  } else {
    // h2v1 / h2v2 on planes ≤ 2 wide, and any other integral factors: replication (int_upsample)
    for (let y = 0; y < H; y++) {
      const s = ((y / vr) | 0) * stride;
      for (let x = 0; x < W; x++) out[y * W + x] = d[s + ((x / hr) | 0)];
    }
  }
  return out;
}

// ---------------------------------------------------------------- jdcolor.c ycc_rgb_convert
const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const FIX = (x: number): number => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256), CB_B = new Int32Array(256), CR_G = new Int32Array(256), CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (FIX(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (FIX(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -FIX(0.71414) * x;
  CB_G[i] = -FIX(0.34414) * x + ONE_HALF;
}
const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Y, Cb, Cr full-size planes → interleaved RGB with libjpeg's fixed-point tables. */
export function yccToRgb(Y: Uint8Array, Cb: Uint8Array, Cr: Uint8Array): Uint8Array {
  const n = Y.length;
  const out = new Uint8Array(n * 3);
  for (let i = 0, o = 0; i < n; i++, o += 3) {
    const y = Y[i], cb = Cb[i], cr = Cr[i];
    out[o] = clamp8(y + CR_R[cr]);
    out[o + 1] = clamp8(y + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
    out[o + 2] = clamp8(y + CB_B[cb]);
  }
  return out;
}

/**
 * libjpeg's jpeg_color_space guess for 3 components (jdapimin.c default_decompress_parms): JFIF → YCbCr;
 * Adobe marker → transform 0 = RGB, else YCbCr; otherwise component ids 'R','G','B' → RGB, else YCbCr.
 */
function isRgbColorSpace(raw: RawJpeg): boolean {
  if (raw.jfif) return false;
  if (raw.adobe) return raw.adobe.transformCode === 0;
  const ids = raw.frame.componentsOrder;
  return ids[0] === 0x52 && ids[1] === 0x47 && ids[2] === 0x42;
}

function fallback(buf: Uint8Array): DecodedJpeg {
  const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048, maxResolutionInMP: 400 });
  return { width: img.width, height: img.height, channels: 3, data: img.data, exact: false };
}

/** Decode JPEG bytes like libjpeg-turbo's defaults (PIL Image.open(f) / cv2.imread). Throws Error on bad data. */
export function decodeJpegLibjpeg(buf: Uint8Array): DecodedJpeg {
  const mod = parser();
  if (!mod) return fallback(buf);
  const dec = new mod.JpegImage();
  dec.opts = { colorTransform: undefined, useTArray: true, formatAsRGBA: false, tolerantDecoding: true, maxResolutionInMP: 400, maxMemoryUsageInMB: 2048 };
  mod.JpegImage.resetMaxMemoryUsage(2048 * 1024 * 1024);
  dec.parse(buf instanceof Uint8Array ? buf : new Uint8Array(buf));
  const raw = dec as unknown as RawJpeg;
  const frame = raw.frame;
  const ncomp = frame?.componentsOrder.length ?? 0;
  if (!frame || (ncomp !== 1 && ncomp !== 3) || frame.precision !== 8) return fallback(buf);
  const W = frame.samplesPerLine, H = frame.scanLines;
  if (!(W > 0 && H > 0)) throw new Error('image has zero width or height');
  const planes: Uint8Array[] = [];
  for (const id of frame.componentsOrder) {
    const comp = frame.components[id];
    if (frame.maxH % comp.h !== 0 || frame.maxV % comp.v !== 0) return fallback(buf); // libjpeg: JERR_FRACT_SAMPLE_NOTIMPL
    // jdinput.c: downsampled size = ceil(image size · factor / max factor)
    const p = componentPlane(comp, Math.ceil((W * comp.h) / frame.maxH), Math.ceil((H * comp.v) / frame.maxV));
    planes.push(upsample(p, frame.maxH / comp.h, frame.maxV / comp.v, W, H));
  }
  if (ncomp === 1) return { width: W, height: H, channels: 1, data: planes[0], exact: true };
  let data: Uint8Array;
  if (isRgbColorSpace(raw)) {
    data = new Uint8Array(W * H * 3);
    for (let i = 0; i < W * H; i++) {
      data[3 * i] = planes[0][i];
      data[3 * i + 1] = planes[1][i];
      data[3 * i + 2] = planes[2][i];
    }
  } else {
    data = yccToRgb(planes[0], planes[1], planes[2]);
  }
  return { width: W, height: H, channels: 3, data, exact: true };
}
