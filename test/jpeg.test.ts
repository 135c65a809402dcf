/**
 * src/io/jpeg.ts vs PIL (libjpeg-turbo defaults: ISLOW IDCT, fancy upsampling), goldens from
 * scripts/jpeg_reference.py: synthetic 4:4:4 / 4:2:2 / 4:2:0 / 4:4:0, progressive and grayscale files of odd
 * and tiny sizes (full pixels), the corpus photos and 50 CIFAR-10 JPEGs (SHA-256 of the RGB bytes).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { decodeJpegLibjpeg, idctIslow } from '../src/io/jpeg';
import { decodeImage } from '../src/io/images';
import { readNpy } from '../src/io/npy';

const FIX = path.resolve(__dirname, 'fixtures/jpeg');
const CORPUS = path.resolve(__dirname, '../../shared/corpus');

interface Golden { file: string; w: number; h: number; mode: string; progressive: boolean; sha256: string; rgb?: string }
const doc = JSON.parse(fs.readFileSync(path.join(FIX, 'goldens.json'), 'utf8')) as {
  images: Golden[]; cifar2000: { root: string; count: number; sha256: string }; fallback: { file: string; w: number; h: number }[];
};
const goldens = doc.images;

function fileOf(g: Golden): string {
  return g.file.startsWith('corpus:') ? path.join(CORPUS, g.file.slice(7)) : path.join(FIX, g.file);
}

function rgbOf(file: string): { w: number; h: number; channels: number; rgb: Uint8Array; exact: boolean } {
  const d = decodeJpegLibjpeg(fs.readFileSync(file));
  let rgb = d.data;
  if (d.channels === 1) {
    rgb = new Uint8Array(d.data.length * 3);
    for (let i = 0; i < d.data.length; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = d.data[i];
  }
  return { w: d.width, h: d.height, channels: d.channels, rgb, exact: d.exact };
}

describe('JPEG decoding is pixel-exact with libjpeg-turbo (PIL)', () => {
  it.each(goldens.map((g) => [g.file, g] as const))('%s', (_name, g) => {
    const d = rgbOf(fileOf(g));
    expect([d.w, d.h]).toEqual([g.w, g.h]);
    expect(d.exact).toBe(true);
    expect(d.channels).toBe(g.mode === 'L' ? 1 : 3);
    if (g.rgb) {
      const ref = Buffer.from(g.rgb, 'base64');
      let maxDiff = 0, nDiff = 0;
      for (let i = 0; i < ref.length; i++) {
        const e = Math.abs(ref[i] - d.rgb[i]);
        if (e) nDiff++;
        maxDiff = Math.max(maxDiff, e);
      }
      expect({ maxDiff, nDiff }).toEqual({ maxDiff: 0, nDiff: 0 });
    }
    expect(crypto.createHash('sha256').update(d.rgb).digest('hex')).toBe(g.sha256);
  });
});

/** chaiq's image path (decodeImage → float /255) back to 8-bit RGB bytes */
function viaDecodeImage(file: string): Uint8Array {
  const img = decodeImage(fs.readFileSync(file), file);
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(img.data[i] * 255);
  return out;
}

describe('CIFAR-10 JPEG subset through decodeImage', () => {
  const root = path.join(CORPUS, doc.cifar2000.root.slice(7));
  const files = fs.readdirSync(root).sort().flatMap((c) => fs.readdirSync(path.join(root, c)).sort().map((f) => path.join(root, c, f)));

  // the exact pixels behind the reference accuracies (73.05 / 78.90 / 81.20 %, scripts/float_goldens.py on PIL pixels)
  it('all 2000 images decode to exactly the libjpeg (PIL) bytes', () => {
    expect(files.length).toBe(doc.cifar2000.count);
    const h = crypto.createHash('sha256');
    for (const f of files) h.update(viaDecodeImage(f));
    expect(h.digest('hex')).toBe(doc.cifar2000.sha256);
  });

  // test/accuracy.test.ts checks per-image predictions on these PIL pixels: chaiq's own decode gives the same input
  it('first 25 per class equal the pixels of the 250-image prediction fixture', () => {
    const px = readNpy(path.resolve(__dirname, 'fixtures/float/cifar/subset_rgb_u8.npy'));
    expect(px.shape).toEqual([250, 3, 32, 32]);
    const chosen = fs.readdirSync(root).sort().flatMap((c) => fs.readdirSync(path.join(root, c)).sort().slice(0, 25).map((f) => path.join(root, c, f)));
    let maxDiff = 0;
    chosen.forEach((f, n) => {
      const rgb = viaDecodeImage(f);
      for (let c = 0; c < 3; c++) for (let p = 0; p < 1024; p++) maxDiff = Math.max(maxDiff, Math.abs(rgb[p * 3 + c] - px.data[n * 3072 + c * 1024 + p]));
    });
    expect(maxDiff).toBe(0);
  });
});

describe('edge cases', () => {
  it('4-component (CMYK) JPEG falls back to jpeg-js', () => {
    for (const g of doc.fallback) {
      const d = decodeJpegLibjpeg(fs.readFileSync(path.join(FIX, g.file)));
      expect([d.width, d.height, d.channels, d.exact]).toEqual([g.w, g.h, 3, false]);
    }
  });

  it('grayscale JPEG decodes to one channel and a gray Image', () => {
    const file = path.join(CORPUS, 'images/cat_gray_caffe.jpg');
    expect(decodeJpegLibjpeg(fs.readFileSync(file)).channels).toBe(1);
    const img = decodeImage(fs.readFileSync(file), file);
    expect([img.c, img.gray]).toEqual([3, true]);
  });

  it('islow IDCT of a DC-only block is flat: floor(DC·q/8 + ½) + 128, range-limited (wrapping like libjpeg past ±512)', () => {
    const out = new Uint8Array(64);
    const ws = new Float64Array(64);
    const q = new Int32Array(64).fill(1);
    for (const [dc, want] of [[0, 128], [-4, 128], [-5, 127], [4, 129], [-3, 128], [5, 129], [12, 130], [1016, 255], [-1024, 0], [-1020, 1], [3200, 255], [4800, 0]]) {
      const coef = new Int32Array(64);
      coef[0] = dc;
      idctIslow(coef, q, out, 0, 8, ws);
      expect([dc, Math.min(...out), Math.max(...out)]).toEqual([dc, want, want]);
    }
  });

  it('corrupt data throws', () => {
    expect(() => decodeJpegLibjpeg(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]))).toThrow();
  });
});
