import type { LayerParam } from '../proto/message';
import type { Tensor } from '../tensor';
import type { SourceLoc } from '../errors';
import type { LayerDef } from '../layers/types';

/** One layer of the executable net (phase-filtered, upgraded to V2). */
export interface LayerNode {
  /** position in `Net.layers` */
  index: number;
  name: string;
  /** canonical V2 type string, aliases resolved (a Ristretto alias becomes its layer's type) */
  type: string;
  bottoms: string[];
  tops: string[];
  /** the bound LayerParameter (after upgrade) */
  param: LayerParam;
  /** trained blobs matched by layer name from the caffemodel; [] when none were loaded */
  blobs: Tensor[];
  /** shapes of the bottoms as this layer sees them, and of the tops it writes; undefined = unknown */
  bottomShapes: (number[] | undefined)[];
  topShapes: (number[] | undefined)[];
  /** the registry entry; undefined for an unknown type (a warning was given, shapes downstream unknown) */
  def?: LayerDef;
  /** where the layer starts in the prototxt, when it came from text */
  loc?: SourceLoc;
}

export interface NetInput {
  name: string;
  /** -1 marks a dimension that could not be derived (a Data layer without `inputShape`/--dims) */
  shape: number[];
  /** some dimensions are unknown (-1): shapes downstream are undefined */
  partial?: boolean;
  /** the layer providing it (Input, Data, MemoryData, ...) */
  layer?: string;
}

/**
 * The executable DAG. Blob names may be written more than once (in-place layers such as
 * `ReLU bottom: conv1 top: conv1`): a blob *version* is identified by the layer that wrote it.
 */
export interface Net {
  name: string;
  file?: string;
  /** in prototxt order; the input layer(s) first */
  layers: LayerNode[];
  inputs: NetInput[];
  /** index of the layer that wrote the value that `layers[li].bottoms[bi]` reads (-1 = nobody: an undefined bottom) */
  producer(li: number, bi: number): number;
  /** indices of the layers that read the value written by `layers[li].tops[ti]` (before it is overwritten) */
  consumers(li: number, ti: number): number[];
  /** blobs nobody reads: the net's outputs */
  outputs: string[];
  /** the phase the net was filtered for */
  phase?: 'TEST' | 'TRAIN';
  /** layers left out: excluded by include/exclude rules, or training-only (losses, Accuracy, Silence) */
  dropped?: { name: string; type: string; reason: 'phase' | 'training' }[];
}
