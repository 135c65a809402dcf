/**
 * src/io/jpeg.ts vs PIL (libjpeg-turbo defaults: ISLOW IDCT, fancy upsampling), goldens from
 * scripts/jpeg_reference.py: synthetic 4:4:4 / 4:2:2 / 4:2:0 / 4:4:0, progressive and grayscale files of odd
 * and tiny sizes (full pixels), the corpus photos and 50 CIFAR-10 JPEGs (SHA-256 of the RGB bytes).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';
import { decodeJpegLibjpeg } from '../src/io/jpeg';

const FIX = path.resolve(__dirname, 'fixtures/jpeg');
const CORPUS = path.resolve(__dirname, '../../shared/corpus');

interface Golden { file: string; w: number; h: number; mode: string; progressive: boolean; sha256: string; rgb?: string }
const goldens = (JSON.parse(fs.readFileSync(path.join(FIX, 'goldens.json'), 'utf8')) as { images: Golden[] }).images;

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
