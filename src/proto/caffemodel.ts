/**
 * caffemodel reader: a hand-written protobuf wire-format walker over the file (read in chunks through a
 * file descriptor), so a VGG-size model (550 MB) is never materialized as protobufjs `number[]` arrays.
 * Packed float blob data is read straight from disk into the Float32Array that becomes the Tensor, so
 * peak memory is about one file size. Non-blob fields of each layer (small) are re-assembled and decoded
 * with protobufjs, which gives the net structure in the same Msg form as a bound prototxt.
 *
 * Field numbers (caffe.proto): NetParameter.layer = 100 (LayerParameter), .layers = 2 (V1LayerParameter);
 * LayerParameter.blobs = 7, name = 1, type = 2; V1LayerParameter.blobs = 6, name = 4, type = 5 (enum),
 * layer = 1 (V0LayerParameter: name = 1, type = 2, blobs = 50); BlobProto: num/channels/height/width =
 * 1..4, data = 5, diff = 6, shape = 7 (BlobShape.dim = 1), double_data = 8, double_diff = 9.
 */
import * as fs from 'fs';
import { ChaiqError } from '../errors';
import { fsErrorWords } from '../io/fserr';
import type { Tensor } from '../tensor';
import type { Msg } from './message';
import type * as protobuf from 'protobufjs';
import { caffeRoot } from './schema';
import { v1TypeNameOf } from './upgrade';

/** One blob as stored: the shape Caffe would give it, and whether it came from legacy num/channels/height/width. */
export interface StoredBlob extends Tensor {
  legacy: boolean;
}

export interface CaffemodelLayer {
  name: string;
  /** V2 type string, V1 enum name (e.g. `CONVOLUTION`), or V0 type string (`conv`) */
  type: string;
  /** which message the layer was stored as */
  version: 'V0' | 'V1' | 'V2';
  /** number of blobs stored for the layer (also counted when their data was skipped) */
  blobCount: number;
}

export interface ReadCaffemodelOptions {
  /** materialize blob data only for these layer names (others are skipped on disk); default: all */
  only?: (layerName: string) => boolean;
  /** also decode the net structure (non-blob fields) into a Msg with protobufjs; default false */
  structure?: boolean;
  /** name shown in errors instead of the path */
  displayName?: string;
}

export interface CaffemodelContents {
  /** trained blobs by layer name (a later layer with the same name wins, as in Caffe's CopyTrainedLayersFrom) */
  weights: Map<string, StoredBlob[]>;
  layers: CaffemodelLayer[];
  /** the NetParameter without blob data (only with `structure: true`); not upgraded */
  net?: Msg;
}

const CHUNK = 1 << 20;

class Truncated {
  constructor(public at: number) {}
}
class BadWire {
  constructor(public at: number, public what: string) {}
}

/** Buffered sequential reader over a file descriptor with absolute positions. */
class FdReader {
  private buf = Buffer.allocUnsafe(CHUNK);
  private bufStart = 0;
  private bufEnd = 0;
  pos = 0;
  constructor(private fd: number, readonly size: number) {}

  private fill(n: number): void {
    // make [pos, pos+n) available in buf
    if (this.pos >= this.bufStart && this.pos + n <= this.bufEnd) return;
    if (this.pos + n > this.size) throw new Truncated(this.size);
    if (n > this.buf.length) this.buf = Buffer.allocUnsafe(Math.max(n, CHUNK));
    const want = Math.min(this.buf.length, this.size - this.pos);
    let got = 0;
    while (got < want) {
      const r = fs.readSync(this.fd, this.buf, got, want - got, this.pos + got);
      if (r <= 0) throw new Truncated(this.pos + got);
      got += r;
    }
    this.bufStart = this.pos;
    this.bufEnd = this.pos + got;
  }

  byte(): number {
    this.fill(1);
    return this.buf[this.pos++ - this.bufStart];
  }

  varint(): number {
    // up to 2^53 exactly; longer varints (negative int32/int64) wrap like protobuf's int64 → Number
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte();
      result += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (i === 9 || result > 2 ** 63) return result - 2 ** 64; // negative int64
        return result;
      }
      mul *= 128;
    }
    throw new BadWire(this.pos, 'varint longer than 10 bytes');
  }

  int32(): number {
    const v = this.varint();
    return v | 0;
  }

  float32(): number {
    this.fill(4);
    const v = this.buf.readFloatLE(this.pos - this.bufStart);
    this.pos += 4;
    return v;
  }

  float64(): number {
    this.fill(8);
    const v = this.buf.readDoubleLE(this.pos - this.bufStart);
    this.pos += 8;
    return v;
  }

  /** a copy of the next n bytes (for small fields) */
  bytes(n: number): Buffer {
    this.fill(n);
    const off = this.pos - this.bufStart;
    this.pos += n;
    return Buffer.from(this.buf.subarray(off, off + n));
  }

  skip(n: number): void {
    if (this.pos + n > this.size) throw new Truncated(this.size);
    this.pos += n;
  }

  /** read the next dst.length bytes straight into dst (bypassing the chunk buffer for the bulk) */
  readInto(dst: Uint8Array): void {
    const n = dst.length;
    if (this.pos + n > this.size) throw new Truncated(this.size);
    let done = 0;
    if (this.pos >= this.bufStart && this.pos < this.bufEnd) {
      const k = Math.min(n, this.bufEnd - this.pos);
      dst.set(this.buf.subarray(this.pos - this.bufStart, this.pos - this.bufStart + k), 0);
      done = k;
    }
    while (done < n) {
      const r = fs.readSync(this.fd, dst, done, n - done, this.pos + done);
      if (r <= 0) throw new Truncated(this.pos + done);
      done += r;
    }
    this.pos += n;
  }

  /** skip one field of wire type wt whose tag was just read */
  skipField(wt: number): void {
    switch (wt) {
      case 0:
        this.varint();
        return;
      case 1:
        this.skip(8);
        return;
      case 2:
        this.skip(this.varint());
        return;
      case 5:
        this.skip(4);
        return;
      default:
        throw new BadWire(this.pos, `unsupported wire type ${wt}`);
    }
  }

  /** the raw bytes (tag included) of a field whose tag started at tagPos */
  rawField(tagPos: number, wt: number): Buffer {
    const start = tagPos;
    this.skipField(wt);
    const end = this.pos;
    this.pos = start;
    return this.bytes(end - start);
  }
}

function encodeVarint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

function lengthDelimited(field: number, payload: Buffer[]): Buffer {
  const len = payload.reduce((s, b) => s + b.length, 0);
  return Buffer.concat([encodeVarint(field * 8 + 2), encodeVarint(len), ...payload]);
}

/** Fields per layer message kind. */
const KINDS = {
  V2: { name: 1, type: 2, blobs: 7, v0: -1, typeIsEnum: false },
  V1: { name: 4, type: 5, blobs: 6, v0: 1, typeIsEnum: true },
  V0: { name: 1, type: 2, blobs: 50, v0: -1, typeIsEnum: false },
} as const;

/**
 * Read a caffemodel. Throws a one-line ChaiqError naming the file for a missing, truncated or
 * malformed file (`truncated at byte N while reading layer 'conv2' blob 0`).
 */
export function readCaffemodel(file: string, opts: ReadCaffemodelOptions = {}): CaffemodelContents {
  const shown = opts.displayName ?? file;
  const { fd, size } = openCaffemodel(file, shown);
  const reader = new CaffemodelReader(new FdReader(fd, size), shown, opts.only ?? (() => true));
  let net: NetRead;
  try {
    net = reader.readNet(size, opts.structure === true);
  } catch (e) {
    throw reader.explain(e);
  } finally {
    fs.closeSync(fd);
  }
  reader.checkComplete(size, net);
  const out: CaffemodelContents = { weights: net.weights, layers: net.layers };
  if (opts.structure) out.net = decodeStructure(net.topRaw, net.layerRaw, shown);
  return out;
}

/** Open the file for reading; a directory or a missing file is a located error. */
function openCaffemodel(file: string, shown: string): { fd: number; size: number } {
  try {
    const fd = fs.openSync(file, 'r');
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) {
      fs.closeSync(fd);
      throw new ChaiqError('is a directory, not a caffemodel', { file: shown });
    }
    return { fd, size: st.size };
  } catch (e) {
    if (e instanceof ChaiqError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ChaiqError(code === 'ENOENT' ? 'caffemodel not found' : `cannot read caffemodel: ${fsErrorWords(e)}`, {
      file: shown,
    });
  }
}

interface NetRead {
  weights: Map<string, StoredBlob[]>;
  layers: CaffemodelLayer[];
  topRaw: Buffer[];
  layerRaw: { field: number; raw: Buffer }[];
}

type LayerRead = { raw: Buffer[]; name: string; type: string; blobs: StoredBlob[]; blobCount: number; hadV0: boolean };

/** The wire-format walk over a caffemodel, remembering what it is reading for error messages. */
class CaffemodelReader {
  /** what is being read, for messages */
  ctx = 'the net header';
  constructor(private r: FdReader, private shown: string, private want: (layer: string) => boolean) {}

  /** The net's layers (V2 `layer` or V1 `layers`), their blobs, and with `structure` the raw fields to decode. */
  readNet(size: number, structure: boolean): NetRead {
    const weights = new Map<string, StoredBlob[]>();
    const layers: CaffemodelLayer[] = [];
    const topRaw: Buffer[] = [];
    const layerRaw: { field: number; raw: Buffer }[] = [];
    while (this.r.pos < size) {
      const tagPos = this.r.pos;
      const tag = this.r.varint();
      const field = Math.floor(tag / 8);
      const wt = tag & 7;
      if ((field === 100 || field === 2) && wt === 2) {
        const len = this.r.varint();
        const index = layers.length;
        const end = this.r.pos + len;
        const L = this.readLayer(end, field === 100 ? 'V2' : 'V1', index);
        if (end > size) throw new Truncated(size);
        const version = field === 100 ? 'V2' : L.hadV0 ? 'V0' : 'V1';
        layers.push({ name: L.name, type: L.type, version, blobCount: L.blobCount });
        if (L.blobs.length) weights.set(L.name, L.blobs);
        if (structure) layerRaw.push({ field, raw: lengthDelimited(field, L.raw) });
        this.ctx = `the net after layer '${L.name}'`;
      } else {
        const buf = this.r.rawField(tagPos, wt);
        if (structure) topRaw.push(buf);
      }
    }
    return { weights, layers, topRaw, layerRaw };
  }

  /** A reading error as a located ChaiqError naming what was being read; other errors unchanged. */
  explain(e: unknown): unknown {
    const ctx = this.ctx;
    const file = this.shown;
    if (e instanceof Truncated) return new ChaiqError(`truncated at byte ${e.at} while reading ${ctx}`, { file });
    if (e instanceof BadWire) return new ChaiqError(`not a valid caffemodel: ${e.what} at byte ${e.at} (while reading ${ctx})`, { file });
    if (e instanceof ChaiqError) return e;
    if (e instanceof RangeError) return new ChaiqError(`cannot allocate memory while reading ${ctx}: ${e.message}`, { file });
    const code = (e as NodeJS.ErrnoException).code;
    if (code) return new ChaiqError(`cannot read caffemodel: ${fsErrorWords(e)} (while reading ${ctx})`, { file });
    return e;
  }

  /** The whole file was read, and it held layers. */
  checkComplete(size: number, net: NetRead) {
    if (this.r.pos !== size) throw new ChaiqError(`not a valid caffemodel: last field runs past the end of the file`, { file: this.shown });
    if (net.layers.length === 0) throw new ChaiqError('not a caffemodel: no layers found', { file: this.shown });
  }

  /** One layer message of `kind`, its blobs kept when `want` asks for the layer. */
  private readLayer(end: number, kind: keyof typeof KINDS, index: number): LayerRead {
    const k = KINDS[kind];
    const raw: Buffer[] = [];
    let name = '';
    let type = '';
    const blobs: StoredBlob[] = [];
    let blobCount = 0;
    let v0: LayerRead | undefined;
    this.ctx = `layer #${index}`;
    while (this.r.pos < end) {
      const tagPos = this.r.pos;
      const tag = this.r.varint();
      const field = Math.floor(tag / 8);
      const wt = tag & 7;
      if (field === k.blobs && wt === 2) {
        const len = this.r.varint();
        const bi = blobCount++;
        this.ctx = `layer ${name ? `'${name}'` : `#${index}`} blob ${bi}`;
        // a name written after the blobs (not Caffe's order) is not known yet: keep the data, filter below
        const b = this.readBlob(this.r.pos + len, name ? this.want(name) : true);
        if (b) blobs.push(b);
        this.ctx = `layer ${name ? `'${name}'` : `#${index}`}`;
        continue;
      }
      if (field === k.v0 && wt === 2) {
        const len = this.r.varint();
        v0 = this.readLayer(this.r.pos + len, 'V0', index);
        raw.push(lengthDelimited(field, v0.raw));
        if (!name) name = v0.name;
        continue;
      }
      const buf = this.r.rawField(tagPos, wt);
      raw.push(buf);
      if (field === k.name && wt === 2) {
        name = decodeLenString(buf);
        this.ctx = `layer '${name}'`;
      } else if (field === k.type) {
        if (k.typeIsEnum && wt === 0) {
          const v = decodeVarintAt(buf, tagLen(buf));
          type = v1TypeNameOf(v);
        } else if (wt === 2) type = decodeLenString(buf);
      }
    }
    if (this.r.pos > end) throw new BadWire(this.r.pos, 'field runs past the end of its layer');
    if (blobs.length && !this.want(name)) blobs.length = 0;
    if (v0) {
      if (!type) type = v0.type;
      blobs.push(...v0.blobs);
      blobCount += v0.blobCount;
    }
    return { raw, name, type, blobs, blobCount, hadV0: !!v0 };
  }

  /** One BlobProto: legacy num/channels/height/width or shape, and the data when `materialize`. */
  private readBlob(end: number, materialize: boolean): StoredBlob | undefined {
    let legacy = false;
    const legacyDims = [0, 0, 0, 0];
    let shape: number[] | undefined;
    let data: Float32Array | undefined;
    let loose: number[] | undefined; // unpacked floats
    while (this.r.pos < end) {
      const tag = this.r.varint();
      const field = Math.floor(tag / 8);
      const wt = tag & 7;
      if (field >= 1 && field <= 4 && wt === 0) {
        legacy = true;
        legacyDims[field - 1] = this.r.int32();
      } else if (field === 7 && wt === 2) {
        const e = this.r.varint() + this.r.pos;
        shape = [];
        while (this.r.pos < e) {
          const t = this.r.varint();
          if (t === 0x0a) {
            const pe = this.r.varint() + this.r.pos;
            while (this.r.pos < pe) shape.push(this.r.varint());
          } else if (t === 0x08) shape.push(this.r.varint());
          else this.r.skipField(t & 7);
        }
      } else if ((field === 5 || field === 8) && materialize) {
        const got = this.readBlobFloats(field === 8, wt, data, loose);
        data = got.data;
        loose = got.loose;
      } else {
        this.r.skipField(wt); // diff, double_diff, or data we do not want
      }
    }
    if (this.r.pos > end) throw new BadWire(this.r.pos, 'blob field runs past the end of its blob');
    if (!materialize) return undefined;
    if (loose && (!data || data.length === 0)) data = Float32Array.from(loose);
    const dims = legacy ? legacyDims : (shape ?? []);
    data ??= new Float32Array(0);
    let count = 1;
    for (const d of dims) count *= d;
    if (count !== data.length) {
      throw new ChaiqError(`${this.ctx} has ${data.length} values but its shape (${dims.join(',')}) needs ${count}`, { file: this.shown });
    }
    return { shape: dims, data, legacy };
  }

  /** One data (float) or double_data field of a blob, packed or not; double_data wins over data (Caffe's FromProto). */
  private readBlobFloats(dbl: boolean, wt: number, data: Float32Array | undefined, loose: number[] | undefined): { data?: Float32Array; loose?: number[] } {
    if (wt === 2) {
      const len = this.r.varint();
      const n = Math.floor(len / (dbl ? 8 : 4));
      const out = new Float32Array(n);
      if (!dbl) {
        this.r.readInto(new Uint8Array(out.buffer, 0, n * 4));
        this.r.skip(len - n * 4);
      } else {
        // convert in chunks: never hold a Float64Array of the whole blob
        const step = CHUNK / 8;
        const tmp = new Float64Array(step);
        for (let i = 0; i < n; i += step) {
          const k = Math.min(step, n - i);
          this.r.readInto(new Uint8Array(tmp.buffer, 0, k * 8));
          for (let j = 0; j < k; j++) out[i + j] = tmp[j];
        }
        this.r.skip(len - n * 8);
      }
      // double_data wins over data when both are present (Caffe's FromProto)
      if (dbl || !data || data.length === 0) data = out;
    } else if (wt === 5 && !dbl) {
      (loose ??= []).push(this.r.float32());
    } else if (wt === 1 && dbl) {
      (loose ??= []).push(this.r.float64());
    } else this.r.skipField(wt);
    return { data, loose };
  }
}

function tagLen(buf: Buffer): number {
  let i = 0;
  while (buf[i] & 0x80) i++;
  return i + 1;
}

function decodeVarintAt(buf: Buffer, off: number): number {
  let result = 0;
  let mul = 1;
  for (let i = off; i < buf.length; i++) {
    result += (buf[i] & 0x7f) * mul;
    if (buf[i] < 0x80) break;
    mul *= 128;
  }
  return result;
}

function decodeLenString(buf: Buffer): string {
  let off = tagLen(buf);
  let len = 0;
  let mul = 1;
  while (true) {
    const b = buf[off++];
    len += (b & 0x7f) * mul;
    if (b < 0x80) break;
    mul *= 128;
  }
  return buf.toString('utf8', off, off + len);
}

/** Decode the blob-free NetParameter with protobufjs into the Msg form (enums as names, int64 as numbers). */
function decodeStructure(topRaw: Buffer[], layerRaw: { field: number; raw: Buffer }[], shown: string): Msg {
  const root = caffeSchemaRoot();
  const NetParameter = root.lookupType('caffe.NetParameter');
  try {
    // protobufjs merges repeated fields in wire order, which keeps layers in file order per field
    const msg = NetParameter.decode(Buffer.concat([...topRaw, ...layerRaw.map((l) => l.raw)]));
    return NetParameter.toObject(msg, { enums: String, longs: Number, bytes: Array, defaults: false, arrays: false });
  } catch (e) {
    throw new ChaiqError(`not a valid caffemodel: ${(e as Error).message}`, { file: shown });
  }
}

/** The caffe.proto schema (protobufjs Root, keepCase). */
export function caffeSchemaRoot(): protobuf.Root {
  return caffeRoot();
}

/** Caffe's legacy-shape rule: shapes are equal after dropping leading 1s (Blob::ShapeEquals for ≤4-D). */
export function sameShapeLegacy(a: readonly number[], b: readonly number[]): boolean {
  const strip = (s: readonly number[]) => {
    let i = 0;
    while (i < s.length - 1 && s[i] === 1) i++;
    return s.slice(i);
  };
  const x = strip(a);
  const y = strip(b);
  return x.length === y.length && x.every((d, i) => d === y[i]);
}

/**
 * Trained blobs by layer name. `only` limits which layers' data is read (others are skipped on disk),
 * e.g. the deploy net's layer names when the caffemodel holds a training net.
 */
export function loadWeights(file: string, opts: { only?: (layerName: string) => boolean; displayName?: string } = {}): Map<string, StoredBlob[]> {
  return readCaffemodel(file, { only: opts.only, displayName: opts.displayName }).weights;
}
