import { writeFileAtomic } from './atomic';
import { fsErrorWords } from './fserr';
import * as fs from 'fs';
import * as path from 'path';
import { ChaiqError } from '../errors';
import type { Tensor } from '../tensor';
import { numel } from '../tensor';

/**
 * NumPy .npy (format v1/v2/v3) for C-order arrays. Reads float32/float64 and (u)int8/16/32 (converted to
 * float32), C or Fortran order; writes float32 C order.
 */
const MAGIC = '\x93NUMPY';

interface NpyHeader {
  shape: number[];
  kind: string;
  size: number;
  big: boolean;
  fortran: boolean;
  descr: string;
  /** where the data starts */
  bodyOff: number;
}

/** The header of a .npy file (`buf` needs to hold the header only). */
function parseHeader(buf: Buffer, file: string): NpyHeader {
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== MAGIC) throw new ChaiqError('not a .npy file (bad magic)', { file });
  const major = buf[6];
  let hlen: number;
  let off: number;
  if (major === 1) {
    hlen = buf.readUInt16LE(8);
    off = 10;
  } else if ((major === 2 || major === 3) && buf.length >= 12) {
    hlen = buf.readUInt32LE(8);
    off = 12;
  } else throw new ChaiqError(`unsupported .npy version ${major}`, { file });
  if (off + hlen > buf.length) throw new ChaiqError('truncated .npy header', { file });
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', off, off + hlen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeM) throw new ChaiqError(`bad .npy header: ${header.trim()}`, { file });
  const shape = shapeM[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new ChaiqError(`bad .npy shape (${shapeM[1]})`, { file });
  const d = descr[1];
  const m = /^([<>|=])([fiub])(\d+)$/.exec(d);
  if (!m) throw new ChaiqError(`unsupported .npy dtype '${d}' (want float32/float64)`, { file });
  const [, endian, kind, sizeS] = m;
  return { shape, kind, size: Number(sizeS), big: endian === '>', fortran: fortran[1] === 'True', descr: d, bodyOff: off + hlen };
}

export function decodeNpy(buf: Buffer, file = '<npy>'): Tensor {
  const { shape, kind, size, big: bigEndian, fortran: isFortran, descr: d, bodyOff } = parseHeader(buf, file);
  const n = numel(shape);
  if (buf.length < bodyOff + n * size) throw new ChaiqError(`truncated .npy data: shape (${shape}) needs ${n * size} bytes`, { file });
  const big = bigEndian;
  const out = new Float32Array(n);
  const rd = readerFor(kind, size, big);
  if (!rd) throw new ChaiqError(`unsupported .npy dtype '${d}' (want float32/float64)`, { file });
  if (isFortran && shape.length > 1) {
    // column-major on disk: element i of the file has its FIRST index varying fastest
    const nd = shape.length;
    const cStride = new Array(nd).fill(1);
    for (let d = nd - 2; d >= 0; d--) cStride[d] = cStride[d + 1] * shape[d + 1];
    const idx = new Array(nd).fill(0);
    let dst = 0;
    for (let i = 0; i < n; i++) {
      out[dst] = rd(buf, bodyOff + i * size);
      for (let d = 0; d < nd; d++) {
        idx[d]++;
        dst += cStride[d];
        if (idx[d] < shape[d]) break;
        dst -= cStride[d] * shape[d];
        idx[d] = 0;
      }
    }
    return { shape, data: out };
  }
  decodeRun(buf, bodyOff, kind, size, big, out);
  return { shape, data: out };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** out.length C-order values of the given dtype from buf at off, as float32. */
function decodeRun(buf: Buffer, off: number, kind: string, size: number, big: boolean, out: Float32Array): void {
  if (kind === 'f' && size === 4 && big !== LITTLE_ENDIAN) {
    // float32 in this machine's byte order: the bytes as they are (a copy: the data need not be 4-byte aligned)
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(buf.subarray(off, off + out.byteLength));
    return;
  }
  const rd = readerFor(kind, size, big)!;
  for (let i = 0; i < out.length; i++) out[i] = rd(buf, off + i * size);
}

function readerFor(kind: string, size: number, big: boolean): ((b: Buffer, o: number) => number) | undefined {
  if (kind === 'f' && size === 4) return big ? (b, o) => b.readFloatBE(o) : (b, o) => b.readFloatLE(o);
  if (kind === 'f' && size === 8) return big ? (b, o) => b.readDoubleBE(o) : (b, o) => b.readDoubleLE(o);
  if (kind === 'u' && size === 1) return (b, o) => b[o];
  if (kind === 'i' && size === 1) return (b, o) => b.readInt8(o);
  if (kind === 'b' && size === 1) return (b, o) => b[o];
  if (kind === 'u' && size === 2) return big ? (b, o) => b.readUInt16BE(o) : (b, o) => b.readUInt16LE(o);
  if (kind === 'i' && size === 2) return big ? (b, o) => b.readInt16BE(o) : (b, o) => b.readInt16LE(o);
  if (kind === 'u' && size === 4) return big ? (b, o) => b.readUInt32BE(o) : (b, o) => b.readUInt32LE(o);
  if (kind === 'i' && size === 4) return big ? (b, o) => b.readInt32BE(o) : (b, o) => b.readInt32LE(o);
  return undefined;
}

/** float32 little-endian, C order; v1 header unless it does not fit (then v2). */
export function encodeNpy(t: Tensor): Buffer {
  const shapeStr = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  let pre = 10;
  let total = pre + dict.length + 1;
  let pad = (64 - (total % 64)) % 64;
  let hlen = dict.length + pad + 1;
  let major = 1;
  if (hlen > 0xffff) {
    major = 2;
    pre = 12;
    total = pre + dict.length + 1;
    pad = (64 - (total % 64)) % 64;
    hlen = dict.length + pad + 1;
  }
  dict = dict + ' '.repeat(pad) + '\n';
  const body = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const head = Buffer.alloc(pre);
  head.write(MAGIC, 0, 'latin1');
  head[6] = major;
  head[7] = 0;
  if (major === 1) head.writeUInt16LE(hlen, 8);
  else head.writeUInt32LE(hlen, 8);
  // body is little-endian on every platform Node runs on in practice; guard anyway
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  let bytes = body;
  if (!le) {
    bytes = Buffer.alloc(t.data.length * 4);
    for (let i = 0; i < t.data.length; i++) bytes.writeFloatLE(t.data[i], i * 4);
  }
  return Buffer.concat([head, Buffer.from(dict, 'latin1'), bytes]);
}

/** The header of an open .npy file, its dtype supported and its data all there (not read). */
function readHeaderOf(fd: number, file: string): NpyHeader {
  const fileSize = fs.fstatSync(fd).size;
  const pre = Buffer.alloc(Math.min(fileSize, 12));
  fs.readSync(fd, pre, 0, pre.length, 0);
  const hlen = pre.length < 10 ? 0 : pre[6] === 1 ? 10 + pre.readUInt16LE(8) : pre.length >= 12 ? 12 + pre.readUInt32LE(8) : 0;
  const buf = Buffer.alloc(Math.min(fileSize, Math.max(hlen, pre.length)));
  fs.readSync(fd, buf, 0, buf.length, 0);
  const h = parseHeader(buf, file);
  if (!readerFor(h.kind, h.size, h.big)) throw new ChaiqError(`unsupported .npy dtype '${h.descr}' (want float32/float64)`, { file });
  const need = numel(h.shape) * h.size;
  if (fileSize < h.bodyOff + need) throw new ChaiqError(`truncated .npy data: shape (${h.shape}) needs ${need} bytes`, { file });
  return h;
}

function withOpen<T>(file: string, f: (fd: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new ChaiqError(`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file });
  }
  try {
    return f(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** The shape of a .npy file from its header (the data is not read, only its size checked). */
export function readNpyShape(file: string): number[] {
  return withOpen(file, (fd) => readHeaderOf(fd, file).shape);
}

/**
 * Values [start, start + count) of a C-order .npy (a sample of a stack) without reading the rest of the file;
 * undefined for a Fortran-order file of more than one dimension (readNpy reads those whole).
 */
export function readNpyRange(file: string, start: number, count: number, outOfRange?: string): { shape: number[]; data: Float32Array } | undefined {
  return withOpen(file, (fd) => {
    const h = readHeaderOf(fd, file);
    if (h.fortran && h.shape.length > 1) return undefined;
    const n = numel(h.shape);
    if (start < 0 || start + count > n) throw new ChaiqError(outOfRange ?? `.npy holds ${n} values, not [${start}, ${start + count})`, { file });
    const bytes = Buffer.alloc(count * h.size);
    for (let got = 0; got < bytes.length; ) {
      const r = fs.readSync(fd, bytes, got, bytes.length - got, h.bodyOff + start * h.size + got);
      if (r <= 0) throw new ChaiqError('truncated .npy data', { file });
      got += r;
    }
    const data = new Float32Array(count);
    decodeRun(bytes, 0, h.kind, h.size, h.big, data);
    return { shape: h.shape, data };
  });
}

export function readNpy(file: string): Tensor {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new ChaiqError(`cannot read: ${fsErrorWords(e)}`, { file });
  }
  return decodeNpy(buf, file);
}

/** Writes atomically: a temp file beside the target, then rename. */
export function writeNpy(file: string, t: Tensor): void {
  writeFileAtomic(file, encodeNpy(t));
}
