/**
 * Calibration images: decoding like caffe.io.load_image and XportDNN's caffe.io.Transformer preprocessing
 * (chaidnn-semantics.md §4.2).
 *
 * load_image = skimage img_as_float(imread(f)).astype(float32): uint8/255 (16-bit PNG /65535), gray → 3
 * equal channels, alpha dropped. Transformer.preprocess, in order: resize (only if not already H×W),
 * transpose, channel_swap, ×raw_scale, −mean, ×input_scale.
 *
 * Resize = caffe.io.resize_image: min-max normalise to [0,1] (constant image → filled with its value),
 * skimage.transform.resize(order=1, mode='constant', anti_aliasing=False), un-normalise. skimage's
 * bilinear maps output pixel o to input coordinate (o+0.5)·in/out − 0.5 and reads 0 (cval) outside the
 * image, then clips to the input range. XportDNN (2018) ran skimage ≤ 0.15, where resize had no
 * anti-aliasing; newer skimage blurs before downscaling by default, which we do NOT do.
 * Checked against skimage 0.19 (scripts/resize_reference.py).
 */
import * as fs from 'fs';
import * as path from 'path';
import { PNG } from 'pngjs';
import * as protobuf from 'protobufjs';
import { ChaiqError } from '../errors';
import { fsErrorWords } from './fserr';
import type { Tensor } from '../tensor';
import { readNpy } from './npy';
import { decodeJpegLibjpeg } from './jpeg';
import { describeBytes } from './sniff';

const f32 = Math.fround;

/** A decoded image: HWC, float32 in [0,1], c = 3 (RGB). `gray` when the source had one channel. */
export interface Image {
  h: number;
  w: number;
  c: number;
  data: Float32Array;
  gray: boolean;
}

export interface Preprocess {
  /** network input [C, H, W] */
  dims: [number, number, number];
  /** axis order applied to the HWC image (caffe default [2,0,1] → CHW) */
  transpose: number[];
  /** output channel c takes input channel channelSwap[c] (default [2,1,0]: RGB → BGR) */
  channelSwap: number[];
  rawScale: number;
  /** per-channel values (length C or 1), or a mean image of C·H·W values (see meanForDims) */
  mean: number[] | Float32Array;
  inputScale: number;
}

/** XportDNN defaults (chaidnn-semantics.md §4.1). */
export const XPORTDNN_PREPROCESS: Preprocess = {
  dims: [3, 224, 224], transpose: [2, 0, 1], channelSwap: [2, 1, 0], rawScale: 255, mean: [104, 117, 123], inputScale: 1,
};

function readFile(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ChaiqError(code === 'ENOENT' ? 'image file not found' : `cannot read image: ${fsErrorWords(e)}`, { file });
  }
}

/** Decode PNG / JPEG bytes (format by magic number). */
export function decodeImage(buf: Buffer, file = '<image>'): Image {
  const isPng = buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47;
  const isJpeg = buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff;
  try {
    if (isPng) return decodePng(buf);
    if (isJpeg) return decodeJpeg(buf);
  } catch (e) {
    if (e instanceof ChaiqError) throw e;
    throw new ChaiqError(`corrupt ${isPng ? 'PNG' : 'JPEG'} image: ${(e as Error).message}`, { file });
  }
  const ext = path.extname(file);
  throw new ChaiqError(`not a PNG or JPEG image${ext ? ` despite its ${ext} extension` : ''} (the only formats decoded): ${describeBytes(buf)}`, { file });
}

function decodePng(buf: Buffer): Image {
  const png = PNG.sync.read(buf, { skipRescale: true });
  const { width: w, height: h } = png;
  const meta = png as unknown as { colorType: number; depth: number };
  const src = png.data as unknown as ArrayLike<number>; // RGBA; Uint16Array for 16-bit
  // palette entries are 8-bit colours; otherwise raw samples of `depth` bits
  const div = meta.colorType === 3 ? 255 : 2 ** meta.depth - 1;
  const gray = meta.colorType === 0 || meta.colorType === 4;
  const data = new Float32Array(h * w * 3);
  for (let p = 0, q = 0; p < h * w; p++, q += 4) {
    data[3 * p] = f32(src[q] / div);
    data[3 * p + 1] = f32(src[q + 1] / div);
    data[3 * p + 2] = f32(src[q + 2] / div);
  }
  return { h, w, c: 3, data, gray };
}

/** JPEG as libjpeg-turbo decodes it by default (src/io/jpeg.ts; pixel-exact with PIL / cv2.imread). */
function decodeJpeg(buf: Buffer): Image {
  const img = decodeJpegLibjpeg(buf);
  const { width: w, height: h, channels } = img;
  const src = img.data;
  const data = new Float32Array(h * w * 3);
  let gray = channels === 1;
  if (gray) {
    for (let p = 0; p < h * w; p++) data[3 * p] = data[3 * p + 1] = data[3 * p + 2] = f32(src[p] / 255);
  } else {
    for (let i = 0; i < h * w * 3; i++) data[i] = f32(src[i] / 255);
    // jpeg-js fallback (CMYK etc.) does not say whether the source was gray
    if (!img.exact) {
      gray = true;
      for (let p = 0; p < h * w && gray; p++) if (src[3 * p] !== src[3 * p + 1] || src[3 * p] !== src[3 * p + 2]) gray = false;
    }
  }
  return { h, w, c: 3, data, gray };
}

/** caffe.io.load_image(file): float RGB in [0,1]. ChaiqError naming the file when missing/corrupt. */
export async function loadImage(file: string): Promise<Image> {
  return decodeImage(readFile(file), file);
}

export function loadImageSync(file: string): Image {
  return decodeImage(readFile(file), file);
}

/**
 * One channel for 1-channel nets: a gray source is taken as is (load_image(color=False)); a colour source
 * uses skimage rgb2gray's luminance 0.2125 R + 0.7154 G + 0.0721 B.
 */
export function toGray(img: Image): Image {
  const n = img.h * img.w;
  const out = new Float32Array(n);
  const d = img.data;
  for (let p = 0; p < n; p++) {
    const r = d[3 * p], g = d[3 * p + 1], b = d[3 * p + 2];
    out[p] = img.gray || (r === g && g === b) ? r : f32(0.2125 * r + 0.7154 * g + 0.0721 * b);
  }
  return { h: img.h, w: img.w, c: 1, data: out, gray: true };
}

/**
 * skimage.transform.resize(im, (H, W), order=1, mode='constant', cval=0, anti_aliasing=False) of an
 * HWC float image, computed in float64, clipped to the input's [min, max], stored as float32.
 */
export function resizeBilinear(src: Float32Array, h: number, w: number, c: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W * c);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < src.length; i++) {
    if (src[i] < lo) lo = src[i];
    if (src[i] > hi) hi = src[i];
  }
  const sy = h / H, sx = w / W;
  const x0 = new Int32Array(W), wx = new Float64Array(W);
  for (let o = 0; o < W; o++) {
    const x = (o + 0.5) * sx - 0.5;
    x0[o] = Math.floor(x);
    wx[o] = x - x0[o];
  }
  const at = (y: number, x: number, k: number): number => (y < 0 || y >= h || x < 0 || x >= w ? 0 : src[(y * w + x) * c + k]);
  for (let oy = 0; oy < H; oy++) {
    const y = (oy + 0.5) * sy - 0.5;
    const yy = Math.floor(y);
    const fy = y - yy;
    for (let ox = 0; ox < W; ox++) {
      const xx = x0[ox], fx = wx[ox];
      for (let k = 0; k < c; k++) {
        const top = at(yy, xx, k) * (1 - fx) + at(yy, xx + 1, k) * fx;
        const bot = at(yy + 1, xx, k) * (1 - fx) + at(yy + 1, xx + 1, k) * fx;
        let v = top * (1 - fy) + bot * fy;
        if (v < lo) v = lo;
        if (v > hi) v = hi;
        out[(oy * W + ox) * c + k] = v;
      }
    }
  }
  return out;
}

/** caffe.io.resize_image(im, (H, W)) with interp_order 1 (min-max normalise, resize, un-normalise). */
export function caffeResizeImage(src: Float32Array, h: number, w: number, c: number, H: number, W: number): Float32Array {
  let mn = Infinity, mx = -Infinity;
  for (let i = 0; i < src.length; i++) {
    if (src[i] < mn) mn = src[i];
    if (src[i] > mx) mx = src[i];
  }
  if (!(mx > mn)) return new Float32Array(H * W * c).fill(mn);
  const range = f32(mx - mn);
  const std = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) std[i] = f32(f32(src[i] - mn) / range);
  const r = resizeBilinear(std, h, w, c, H, W);
  for (let i = 0; i < r.length; i++) r[i] = f32(f32(r[i] * range) + mn);
  return r;
}

function checkPreprocess(pre: Preprocess): void {
  const [C, H, W] = pre.dims;
  if (![C, H, W].every((d) => Number.isInteger(d) && d > 0)) throw new ChaiqError(`--dims must be three positive integers, got ${pre.dims.join(',')}`);
  if (C !== 1 && C !== 3) throw new ChaiqError(`--dims: only 1- or 3-channel image inputs are supported, got ${C}`);
  const t = [...pre.transpose].sort();
  if (pre.transpose.length !== 3 || t[0] !== 0 || t[1] !== 1 || t[2] !== 2) throw new ChaiqError(`--transpose must be a permutation of 0,1,2, got ${pre.transpose.join(',')}`);
  if (pre.transpose[0] !== 2) throw new ChaiqError(`--transpose must put channels first (e.g. 2,0,1), got ${pre.transpose.join(',')}`);
  if (C === 3) {
    const s = [...pre.channelSwap].sort();
    if (pre.channelSwap.length !== 3 || s[0] !== 0 || s[1] !== 1 || s[2] !== 2) throw new ChaiqError(`--channel_swap must be a permutation of 0,1,2, got ${pre.channelSwap.join(',')}`);
  }
  const m = pre.mean;
  if (m instanceof Float32Array) {
    if (m.length !== C * H * W) throw new ChaiqError(`mean image has ${m.length} values, expected ${C}x${H}x${W}`);
  } else if (m.length !== 1 && m.length !== C && m.length !== 0) {
    throw new ChaiqError(`--mean_value has ${m.length} values for ${C} input channel(s)`);
  }
}

/** Transformer.preprocess of one image → CHW float32 (length C·H·W). */
export function preprocess(img: Image, pre: Preprocess): Float32Array {
  checkPreprocess(pre);
  const [C, H, W] = pre.dims;
  let src = C === 1 ? toGray(img) : img;
  if (C === 3 && src.c !== 3) throw new ChaiqError('internal: colour input expects a 3-channel image');
  let data = src.data;
  if (src.h !== H || src.w !== W) {
    data = caffeResizeImage(src.data, src.h, src.w, src.c, H, W);
    src = { ...src, h: H, w: W, data };
  }
  // transpose (2, a, b): out[c][i][j] = in[.][.][c] with the two spatial axes in order a, b
  const swapHW = pre.transpose[1] === 1;
  const [oh, ow] = swapHW ? [W, H] : [H, W];
  if (swapHW && H !== W) throw new ChaiqError(`--transpose ${pre.transpose.join(',')} swaps H and W of a non-square input`);
  const out = new Float32Array(C * H * W);
  const raw = f32(pre.rawScale), inScale = f32(pre.inputScale);
  const m = pre.mean;
  for (let c = 0; c < C; c++) {
    const sc = C === 3 ? pre.channelSwap[c] : 0;
    const mc = m instanceof Float32Array ? 0 : m.length === 0 ? 0 : m.length === 1 ? m[0] : m[c];
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const [y, x] = swapHW ? [j, i] : [i, j];
        const o = (c * oh + i) * ow + j;
        let v = data[(y * W + x) * C + sc];
        v = f32(v * raw);
        v = f32(v - (m instanceof Float32Array ? m[o] : mc));
        out[o] = f32(v * inScale);
      }
    }
  }
  return out;
}

/** Load and preprocess a list of images into one (N, C, H, W) batch. */
export async function loadImageBatch(files: string[], pre: Preprocess): Promise<Tensor> {
  const [C, H, W] = pre.dims;
  const per = C * H * W;
  const data = new Float32Array(files.length * per);
  for (let n = 0; n < files.length; n++) data.set(preprocess(await loadImage(files[n]), pre), n * per);
  return { shape: [files.length, C, H, W], data };
}

/** Parse a Caffe BlobProto (mean.binaryproto): shape from `shape` or num/channels/height/width, float or double data. */
export function decodeBlobProto(buf: Uint8Array, file = '<binaryproto>'): Tensor {
  const r = protobuf.Reader.create(buf);
  const legacy = [0, 0, 0, 0];
  let hasLegacy = false;
  let shape: number[] | undefined;
  const data: number[] = [];
  try {
    while (r.pos < r.len) {
      const tag = r.uint32();
      const field = tag >>> 3, wt = tag & 7;
      if (field >= 1 && field <= 4 && wt === 0) {
        legacy[field - 1] = r.int32();
        hasLegacy = true;
      } else if ((field === 5 || field === 8) && wt === 2) {
        const end = r.uint32() + r.pos;
        while (r.pos < end) data.push(field === 5 ? r.float() : r.double());
      } else if (field === 5 && wt === 5) data.push(r.float());
      else if (field === 8 && wt === 1) data.push(r.double());
      else if (field === 7 && wt === 2) {
        const end = r.uint32() + r.pos;
        shape = [];
        while (r.pos < end) {
          const t = r.uint32();
          if (t >>> 3 === 1 && (t & 7) === 2) {
            const e2 = r.uint32() + r.pos;
            while (r.pos < e2) shape.push(Number(r.int64()));
          } else if (t >>> 3 === 1 && (t & 7) === 0) shape.push(Number(r.int64()));
          else r.skipType(t & 7);
        }
      } else r.skipType(wt);
    }
  } catch (e) {
    throw new ChaiqError(`corrupt BlobProto: ${(e as Error).message}`, { file });
  }
  if (!shape) shape = hasLegacy ? legacy : [data.length];
  let n = 1;
  for (const d of shape) n *= d;
  if (n !== data.length) throw new ChaiqError(`BlobProto shape (${shape.join(',')}) does not match its ${data.length} values`, { file });
  return { shape, data: Float32Array.from(data) };
}

export function loadMeanBinaryproto(file: string): Tensor {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new ChaiqError(`cannot read mean file: ${fsErrorWords(e)}`, { file });
  }
  return decodeBlobProto(buf, file);
}

/** A mean image from .binaryproto or .npy, as a (C, H, W) tensor. */
export function loadMeanFile(file: string): Tensor {
  const t = file.toLowerCase().endsWith('.npy') ? readNpy(file) : loadMeanBinaryproto(file);
  const s = t.shape.length === 4 && t.shape[0] === 1 ? t.shape.slice(1) : t.shape;
  if (s.length !== 3) throw new ChaiqError(`mean must be C×H×W (or 1×C×H×W), got (${t.shape.join(',')})`, { file });
  return { shape: s, data: t.data };
}

/**
 * Transformer.set_mean for a mean image: used as is when it is C×H×W of the input; otherwise, as caffe,
 * resized to H×W (min-max normalised, bilinear, un-normalised). Returns the CHW values for Preprocess.mean.
 */
export function meanForDims(mean: Tensor, dims: [number, number, number]): Float32Array {
  const [C, H, W] = dims;
  const [mc, mh, mw] = mean.shape;
  if (mc !== C) throw new ChaiqError(`mean image has ${mc} channels, input has ${C}`);
  if (mh === H && mw === W) return mean.data;
  // CHW → HWC, resize, → CHW
  const hwc = new Float32Array(mc * mh * mw);
  for (let c = 0; c < mc; c++) for (let p = 0; p < mh * mw; p++) hwc[p * mc + c] = mean.data[c * mh * mw + p];
  const r = caffeResizeImage(hwc, mh, mw, mc, H, W);
  const out = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) out[c * H * W + p] = r[p * C + c];
  return out;
}
