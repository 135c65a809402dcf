/**
 * MNIST IDX files (optionally gzipped): images as an (N, 1, 28, 28) tensor of raw pixel values 0..255
 * (float), labels as numbers. The net's own scale (e.g. LeNet's 0.00390625) is applied by the caller.
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { ChaiqError } from '../errors';
import { fsErrorWords } from './fserr';
import type { Tensor } from '../tensor';

export interface MnistSet {
  images: Tensor;
  labels?: number[];
}

function readIdx(file: string): Buffer {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ChaiqError(code === 'ENOENT' ? 'MNIST file not found' : `cannot read MNIST file: ${fsErrorWords(e)}`, { file });
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (e) {
      throw new ChaiqError(`corrupt gzip data: ${(e as Error).message}`, { file });
    }
  }
  return buf;
}

/** Parse an IDX header: magic 0x00 0x00 0x08 (ubyte) ndim, then ndim big-endian uint32 dims. */
function idxDims(buf: Buffer, file: string, expectNdim: number): number[] {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new ChaiqError('not an IDX file (bad magic)', { file });
  if (buf[2] !== 0x08) throw new ChaiqError(`IDX data type 0x${buf[2].toString(16)} is not unsigned byte`, { file });
  const nd = buf[3];
  if (nd !== expectNdim) throw new ChaiqError(`IDX file has ${nd} dimensions, expected ${expectNdim}`, { file });
  if (buf.length < 4 + 4 * nd) throw new ChaiqError('truncated IDX header', { file });
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  const n = dims.reduce((a, b) => a * b, 1);
  if (buf.length < 4 + 4 * nd + n) throw new ChaiqError(`truncated IDX data: ${buf.length - 4 - 4 * nd} of ${n} bytes`, { file });
  return dims;
}

export function loadMnist(imagesFile: string, labelsFile?: string, opts: { limit?: number } = {}): MnistSet {
  const ib = readIdx(imagesFile);
  const [n0, rows, cols] = idxDims(ib, imagesFile, 3);
  const n = opts.limit !== undefined ? Math.min(n0, Math.max(0, Math.floor(opts.limit))) : n0;
  const per = rows * cols;
  const data = new Float32Array(n * per);
  const off = 16;
  for (let i = 0; i < n * per; i++) data[i] = ib[off + i];
  const images: Tensor = { shape: [n, 1, rows, cols], data };
  if (!labelsFile) return { images };
  const lb = readIdx(labelsFile);
  const [m] = idxDims(lb, labelsFile, 1);
  if (m < n) throw new ChaiqError(`labels file has ${m} labels for ${n} images`, { file: labelsFile });
  if (opts.limit === undefined && m !== n0) throw new ChaiqError(`labels file has ${m} labels but the images file has ${n0} images`, { file: labelsFile });
  const labels: number[] = [];
  for (let i = 0; i < n; i++) labels.push(lb[8 + i]);
  return { images, labels };
}
