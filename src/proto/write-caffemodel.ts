/**
 * caffemodel writer: a V2 NetParameter holding, for each layer with trained blobs, its name, type and
 * blobs (BlobShape + packed float data), which is all Caffe's CopyTrainedLayersFrom and CHaiDNN's
 * ExtractTrainedParameters read. Encoded straight to the wire format (field numbers from caffe.proto),
 * so a large model is written without building a JS object per float.
 */
import type { Tensor } from '../tensor';
import { writeFileAtomic } from '../io/atomic';

export interface CaffemodelLayerOut {
  name: string;
  type: string;
  blobs: readonly Tensor[];
}

// NetParameter.name = 1, .layer = 100; LayerParameter.name = 1, .type = 2, .blobs = 7;
// BlobProto.shape = 7, .data = 5 (packed); BlobShape.dim = 1 (packed int64)
const LEN = 2;
const key = (field: number, wire: number) => (field << 3) | wire;

class Sink {
  parts: Uint8Array[] = [];
  size = 0;
  push(b: Uint8Array) {
    this.parts.push(b);
    this.size += b.length;
  }
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

function lenField(field: number, body: Uint8Array[], sink: Sink) {
  const n = body.reduce((a, b) => a + b.length, 0);
  sink.push(varint(key(field, LEN)));
  sink.push(varint(n));
  for (const b of body) sink.push(b);
}

function str(field: number, s: string): Uint8Array[] {
  const b = Buffer.from(s, 'utf8');
  return [varint(key(field, LEN)), varint(b.length), b];
}

function blob(t: Tensor): Uint8Array[] {
  const dims = t.shape.map(varint);
  const dimBytes = dims.reduce((a, b) => a + b.length, 0);
  const shape = [varint(key(1, LEN)), varint(dimBytes), ...dims];
  const shapeLen = shape.reduce((a, b) => a + b.length, 0);
  const data = new Uint8Array(t.data.length * 4);
  const dv = new DataView(data.buffer);
  for (let i = 0; i < t.data.length; i++) dv.setFloat32(i * 4, t.data[i], true);
  return [varint(key(7, LEN)), varint(shapeLen), ...shape, varint(key(5, LEN)), varint(data.length), data];
}

/** The caffemodel bytes for `layers` (only those with blobs are kept). */
export function encodeCaffemodel(netName: string, layers: readonly CaffemodelLayerOut[]): Uint8Array {
  const sink = new Sink();
  if (netName) for (const b of str(1, netName)) sink.push(b);
  for (const l of layers) {
    if (!l.blobs.length) continue;
    const body: Uint8Array[] = [...str(1, l.name), ...str(2, l.type)];
    for (const t of l.blobs) {
      const bb = blob(t);
      body.push(varint(key(7, LEN)), varint(bb.reduce((a, b) => a + b.length, 0)), ...bb);
    }
    lenField(100, body, sink);
  }
  return Buffer.concat(sink.parts, sink.size);
}

/** Writes the caffemodel atomically (temp file + rename). */
export function writeCaffemodel(file: string, netName: string, layers: readonly CaffemodelLayerOut[]): void {
  writeFileAtomic(file, encodeCaffemodel(netName, layers));
}
