import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import {
  caffeResizeImage, decodeBlobProto, loadImage, loadImageBatch, loadMeanFile, meanForDims, preprocess,
  XPORTDNN_PREPROCESS, Preprocess,
} from '../src/io/images';
import { ChaiqError } from '../src/errors';

const FIX = path.join(__dirname, 'fixtures', 'calib', 'images');
const CORPUS = path.resolve(__dirname, '../../shared/corpus');
const resizeGold = JSON.parse(fs.readFileSync(path.join(FIX, 'resize.json'), 'utf8'));
const preGold = JSON.parse(fs.readFileSync(path.join(FIX, 'preprocess.json'), 'utf8'));

describe('caffe.io.resize_image (skimage order=1, mode=constant, no anti-aliasing)', () => {
  for (const [k, c] of (resizeGold.cases as { in: number[]; out: number[]; src: number[]; expected: number[] }[]).entries()) {
    it(`case ${k}: ${c.in.join('x')} → ${c.out.join('x')}`, () => {
      const [h, w, ch] = c.in;
      const [H, W] = c.out;
      const got = caffeResizeImage(Float32Array.from(c.src), h, w, ch, H, W);
      expect(got.length).toBe(c.expected.length);
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - c.expected[i])).toBeLessThan(2e-6);
    });
  }
});

describe('load_image of every PNG colour type matches skimage', () => {
  for (const [name, g] of Object.entries(preGold.loads as Record<string, { shape: number[]; data: number[] }>)) {
    it(name, async () => {
      const img = await loadImage(path.join(FIX, name));
      expect([img.h, img.w, img.c]).toEqual(g.shape);
      expect(Array.from(img.data)).toEqual(g.data.map(Math.fround));
      expect(img.gray).toBe(name.startsWith('gray'));
    });
  }
});

describe('Transformer.preprocess matches caffe + skimage', () => {
  for (const c of preGold.cases as {
    file: string; dims: [number, number, number]; exact: boolean; rawScale?: number; mean?: number[]; inputScale?: number;
    channelSwap?: number[]; shape: number[]; idx: number[]; values: number[]; sum: number;
  }[]) {
    it(`${c.file} → ${c.dims.join('x')}`, async () => {
      const pre: Preprocess = {
        ...XPORTDNN_PREPROCESS, dims: c.dims,
        ...(c.rawScale !== undefined ? { rawScale: c.rawScale } : {}),
        ...(c.mean !== undefined ? { mean: c.mean } : {}),
        ...(c.inputScale !== undefined ? { inputScale: c.inputScale } : {}),
        ...(c.channelSwap !== undefined ? { channelSwap: c.channelSwap } : {}),
      };
      const out = preprocess(await loadImage(path.join(CORPUS, c.file)), pre);
      expect(out.length).toBe(c.shape.reduce((a, b) => a * b, 1));
      let maxErr = 0;
      let sumErr = 0;
      for (let k = 0; k < c.idx.length; k++) {
        const e = Math.abs(out[c.idx[k]] - c.values[k]);
        maxErr = Math.max(maxErr, e);
        sumErr += e;
      }
      // PNG decoding is exact, and so is JPEG since src/io/jpeg.ts (libjpeg-turbo arithmetic, test/jpeg.test.ts):
      // differences are float32 rounding of the resize only ('exact' marks the PNG cases in the golden file)
      expect(maxErr).toBeLessThan(2e-3);
      expect(sumErr / c.idx.length).toBeLessThan(2e-3);
    });
  }

  it('batches images as (N, C, H, W)', async () => {
    const files = ['0000.jpg', '0001.jpg'].map((f) => path.join(CORPUS, 'data/cifar10_test_jpg_subset/cat', f));
    const t = await loadImageBatch(files, { ...XPORTDNN_PREPROCESS, dims: [3, 32, 32] });
    expect(t.shape).toEqual([2, 3, 32, 32]);
    const one = preprocess(await loadImage(files[1]), { ...XPORTDNN_PREPROCESS, dims: [3, 32, 32] });
    expect(Array.from(t.data.subarray(3 * 32 * 32))).toEqual(Array.from(one));
  });

  it('applies a mean image and validates settings', async () => {
    const img = await loadImage(path.join(FIX, 'rgb.png'));
    const mean = new Float32Array(3 * 4 * 5).fill(1);
    const a = preprocess(img, { ...XPORTDNN_PREPROCESS, dims: [3, 4, 5], mean });
    const b = preprocess(img, { ...XPORTDNN_PREPROCESS, dims: [3, 4, 5], mean: [1, 1, 1] });
    expect(Array.from(a)).toEqual(Array.from(b));
    // channel swap: output channel 0 is the blue channel
    expect(b[0]).toBe(Math.fround(Math.fround(img.data[2] * 255) - 1));
    expect(() => preprocess(img, { ...XPORTDNN_PREPROCESS, dims: [4, 4, 5] })).toThrow(/1- or 3-channel/);
    expect(() => preprocess(img, { ...XPORTDNN_PREPROCESS, dims: [3, 4, 5], mean: [1, 2] })).toThrow(/mean_value/);
    expect(() => preprocess(img, { ...XPORTDNN_PREPROCESS, dims: [3, 4, 5], channelSwap: [0, 0, 1] })).toThrow(/channel_swap/);
    expect(() => preprocess(img, { ...XPORTDNN_PREPROCESS, dims: [3, 4, 5], mean: new Float32Array(7) })).toThrow(/mean image/);
  });
});

describe('errors name the file', () => {
  let tmp: string;
  beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-img-')); });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const expectErr = async (p: Promise<unknown>, re: RegExp, file: string) => {
    try {
      await p;
      throw new Error('no throw');
    } catch (e) {
      expect(e).toBeInstanceOf(ChaiqError);
      expect((e as Error).message).toMatch(re);
      expect((e as ChaiqError).loc.file).toBe(file);
    }
  };
  it('missing, corrupt, unsupported', async () => {
    const missing = path.join(tmp, 'nope.png');
    await expectErr(loadImage(missing), /not found/, missing);
    const bad = path.join(tmp, 'bad.png');
    const png = fs.readFileSync(path.join(FIX, 'rgb.png'));
    fs.writeFileSync(bad, png.subarray(0, 40));
    await expectErr(loadImage(bad), /corrupt PNG/, bad);
    const badJ = path.join(tmp, 'bad.jpg');
    fs.writeFileSync(badJ, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3]));
    await expectErr(loadImage(badJ), /corrupt JPEG/, badJ);
    const bmp = path.join(tmp, 'x.bmp');
    fs.writeFileSync(bmp, Buffer.concat([Buffer.from('BM'), Buffer.from([0x36, 0x30, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 0x28, 0])]));
    await expectErr(loadImage(bmp), /^not a PNG or JPEG image despite its \.bmp extension \(the only formats decoded\): the file starts with bytes 42 4d 36 30 00 00 00 00 \(BMP\)$/, bmp);
    // what the bytes look like, escaped: never the raw bytes
    const gif = path.join(tmp, 'zz_fake.png');
    fs.writeFileSync(gif, Buffer.from('GIF89a\x01\x00\x01\x00\x00\xff', 'latin1'));
    await expectErr(loadImage(gif), /despite its \.png extension .*: the file starts with bytes 47 49 46 38 39 61 01 00 \(GIF\)$/, gif);
    const html = path.join(tmp, 'page.jpg');
    fs.writeFileSync(html, '<!DOCTYPE html>\n<html>\u00e9');
    await expectErr(loadImage(html), /: it looks like text: "<!DOCTYPE html>\\n<html>\\u00e9"$/, html);
    const bin = path.join(tmp, 'noise');
    fs.writeFileSync(bin, Buffer.from([0, 1, 2, 0xfe, 0x80, 0x1b]));
    await expectErr(loadImage(bin), /^not a PNG or JPEG image \(the only formats decoded\): the file starts with bytes 00 01 02 fe 80 1b \(no format known here\)$/, bin);
    const empty = path.join(tmp, 'empty.png');
    fs.writeFileSync(empty, '');
    await expectErr(loadImage(empty), /: the file is empty$/, empty);
  });
});

describe('mean files', () => {
  it('decodes BlobProto with shape or legacy dims, float or double data', () => {
    const w = protobuf.Writer.create();
    w.uint32((7 << 3) | 2).fork().uint32((1 << 3) | 2).fork().int64(1).int64(3).int64(2).int64(1).ldelim().ldelim();
    w.uint32((5 << 3) | 2).fork();
    for (const v of [1, 2, 3, 4, 5, 6.5]) w.float(v);
    w.ldelim();
    const t = decodeBlobProto(w.finish());
    expect(t.shape).toEqual([1, 3, 2, 1]);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    const l = protobuf.Writer.create();
    l.uint32(8).int32(1).uint32(16).int32(1).uint32(24).int32(1).uint32(32).int32(2);
    l.uint32((8 << 3) | 2).fork().double(0.25).double(-1).ldelim();
    const u = decodeBlobProto(l.finish());
    expect(u.shape).toEqual([1, 1, 1, 2]);
    expect(Array.from(u.data)).toEqual([0.25, -1]);
    const bad = protobuf.Writer.create();
    bad.uint32(8).int32(2).uint32((5 << 3) | 5).float(1);
    expect(() => decodeBlobProto(bad.finish(), 'm.binaryproto')).toThrow(/does not match/);
  });
  it('the ILSVRC mean .npy resized to 224x224 like caffe set_mean', () => {
    const m = loadMeanFile(path.join(CORPUS, 'data/ilsvrc_2012_mean.npy'));
    expect(m.shape).toEqual([3, 256, 256]);
    const r = meanForDims(m, [3, 224, 224]);
    expect(r.length).toBe(3 * 224 * 224);
    const avg = (a: Float32Array, from: number, n: number) => { let s = 0; for (let i = from; i < from + n; i++) s += a[i]; return s / n; };
    // per-channel means survive the resize (B≈104, G≈117, R≈123)
    for (let c = 0; c < 3; c++) expect(Math.abs(avg(r, c * 224 * 224, 224 * 224) - avg(m.data, c * 65536, 65536))).toBeLessThan(1.5);
    expect(meanForDims(m, [3, 256, 256])).toBe(m.data);
    expect(() => meanForDims(m, [1, 224, 224])).toThrow(/channels/);
  });
});
