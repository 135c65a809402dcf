/**
 * A net's trained blobs in one SharedArrayBuffer, handed to the image workers of calibration and simulation once:
 * every worker reads the same bytes, so memory does not grow with the worker count (a postMessage of a
 * SharedArrayBuffer shares it; of a Float32Array it copies). Workers only read weights; nothing writes them.
 */
import type { Tensor } from './tensor';

export interface SharedBlob {
  shape: number[];
  /** float32 offset into the buffer */
  offset: number;
  length: number;
  /** the caffemodel stored it with num/channels/height/width (buildNet accepts such a blob by size) */
  legacy?: boolean;
}

export interface SharedWeights {
  buffer: SharedArrayBuffer;
  layers: [string, SharedBlob[]][];
}

/** Blobs by layer name copied into one shared buffer (blobs that are already views on it are used as they are). */
export function shareWeights(weights: Iterable<[string, readonly Tensor[]]>): SharedWeights {
  const list = [...weights];
  let floats = 0;
  for (const [, blobs] of list) for (const b of blobs) floats += b.data.length;
  const buffer = new SharedArrayBuffer(4 * floats);
  const all = new Float32Array(buffer);
  let at = 0;
  const layers: [string, SharedBlob[]][] = list.map(([name, blobs]) => [name, blobs.map((b) => {
    all.set(b.data, at);
    const s: SharedBlob = { shape: [...b.shape], offset: at, length: b.data.length };
    if ((b as { legacy?: boolean }).legacy) s.legacy = true;
    at += b.data.length;
    return s;
  })]);
  return { buffer, layers };
}

/** The blobs by layer name as Float32Array views on the shared buffer (no copy). */
export function sharedWeightMap(s: SharedWeights): Map<string, (Tensor & { legacy: boolean })[]> {
  return new Map(s.layers.map(([name, blobs]) => [name, blobs.map((b) => ({
    shape: [...b.shape], data: new Float32Array(s.buffer, 4 * b.offset, b.length), legacy: !!b.legacy,
  }))]));
}

/** The net's layers' blobs, by layer name (what buildNet's `weights` takes). */
export function layerBlobs(layers: readonly { name: string; blobs: Tensor[] }[]): [string, Tensor[]][] {
  return layers.filter((l) => l.blobs.length).map((l) => [l.name, l.blobs]);
}

// A worker's caffemodel: set once before it loads the net (pipeline/load.ts reads it instead of the file).
let provided: { file: string; weights: Map<string, Tensor[]> } | undefined;

/** From now on a load of caffemodel `file` in this thread takes these weights instead of reading the file. */
export function provideWeights(file: string, s: SharedWeights): void {
  provided = { file, weights: sharedWeightMap(s) };
}

/** The weights provided for `file`, if any. */
export function providedWeights(file: string): Map<string, Tensor[]> | undefined {
  return provided && provided.file === file ? provided.weights : undefined;
}
