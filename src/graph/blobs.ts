/**
 * Trained blobs vs what a deploy layer expects: Caffe's Net::CopyTrainedLayersFrom checks, by layer name,
 * that the blob count and each blob's shape match (Blob::ShapeEquals: a legacy num/channels/height/width
 * blob matches when equal after leading 1s, e.g. V1 InnerProduct weights (1,1,N,K) for (N,K)).
 */
import { ChaiqError } from '../errors';
import { numel, shapeStr, type Tensor } from '../tensor';
import type { LayerNode } from './types';

/** A stored blob may say it came from legacy 4-D dims (see src/proto/caffemodel.ts StoredBlob). */
type MaybeLegacy = Tensor & { legacy?: boolean };

/**
 * The blob shapes a layer expects. Asks the LayerDef (`blobShapes`) when the bottom shapes are known;
 * otherwise what its params alone fix (`blobShapesFromParams`, -1 = any size in that dimension);
 * undefined when nothing is known (no check is made).
 */
export function expectedBlobShapes(node: LayerNode): number[][] | undefined {
  const bottoms = node.bottomShapes;
  const def = node.def;
  if (def?.blobShapes && bottoms.length > 0 && bottoms.every((b) => b !== undefined)) {
    return def.blobShapes(node, bottoms as number[][]);
  }
  return def?.blobShapesFromParams?.(node.param);
}

function strip1(s: readonly number[]): readonly number[] {
  let i = 0;
  while (i < s.length - 1 && s[i] === 1) i++;
  return s.slice(i);
}

function matches(found: readonly number[], want: readonly number[]): boolean {
  return found.length === want.length && found.every((d, i) => want[i] === -1 || d === want[i]);
}

/**
 * Check `blobs` against what `node` expects and return them in the expected shapes (legacy shapes
 * reshaped, data shared). Throws a ChaiqError naming the layer, expected and found shapes.
 */
export function matchBlobs(node: LayerNode, blobs: readonly Tensor[], caffemodel?: string): Tensor[] {
  const want = expectedBlobShapes(node);
  const plain = (b: Tensor): Tensor => ({ shape: b.shape, data: b.data });
  if (!want) return blobs.map(plain);
  const src = caffemodel ?? 'the caffemodel';
  if (blobs.length !== want.length) {
    throw new ChaiqError(
      `layer '${node.name}' (${node.type}): ${src} has ${blobs.length} blob(s) ${blobs.map((b) => shapeStr(b.shape)).join(' ')}, expected ${want.length}: ${want.map(fmtWant).join(' ')}`,
      node.loc ?? {},
    );
  }
  return blobs.map((b: MaybeLegacy, i) => {
    const w = want[i];
    if (matches(b.shape, w)) return plain(b);
    const complete = w.every((d) => d >= 0);
    if (matches(strip1(b.shape), strip1(w)) || (complete && b.legacy && numel(b.shape) === numel(w))) {
      return { shape: complete ? [...w] : [...strip1(b.shape)], data: b.data };
    }
    throw new ChaiqError(
      `layer '${node.name}' (${node.type}): blob ${i} has shape ${shapeStr(b.shape)} in ${src}, expected ${fmtWant(w)}`,
      node.loc ?? {},
    );
  });
}

function fmtWant(s: number[]): string {
  return `(${s.map((d) => (d < 0 ? '?' : String(d))).join(',')})`;
}
