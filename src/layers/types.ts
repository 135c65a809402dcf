import type { Tensor } from '../tensor';
import type { SourceLoc, WarnFn } from '../errors';
import type { LayerParam } from '../proto/message';
import type { ConvEpilogue } from '../kernels/types';

export type QuantMode = 'Xilinx' | 'DynamicFixed';

/** How the CHaiDNN runtime executes a layer type (chaidnn-semantics §3.1, §3.6). */
export type ChaiRole = 'hw' | 'sw' | 'unsupported';

/**
 * How the runtime runs a layer type in fixed point (the simulator compiles it, src/sim/steps.ts): conv
 * (requantizing MAC), pool, eltwise (integer add), concat (a shared buffer), relu (a flag on its producer),
 * affine (the DynamicFixed BN opcode). Absent: the type runs in float on the ARM.
 */
export type FixedKind = 'conv' | 'pool' | 'eltwise' | 'concat' | 'relu' | 'affine';

/** Where a forward gets its output buffers (src/kernels/bufpool.ts BufferPool): `zero` false = stale values allowed. */
export interface BufferAllocator {
  take(n: number, zero: boolean): Float32Array;
}

export interface ForwardContext {
  warn: WarnFn;
  /** set by the executor: run heavy kernels on this many threads */
  threads?: number;
  /**
   * set by the executor under reuseBuffers: its pool of dead blobs' buffers (in the kernels' wasm memory when there
   * is room). Absent: outputs are fresh arrays.
   */
  buffers?: BufferAllocator;
  /**
   * set by the executor's layer fusion (src/exec/fuse.ts) for one Convolution call: the in-place layers after
   * it, applied inside the kernel. The forward sets `taken` when it applied them (else those layers run).
   */
  convEpilogue?: { ep: ConvEpilogue; taken: boolean };
}

/**
 * A layer's part in the precision plan (quant/xilinx.ts, quant/dynamicfixed.ts, quant/invariants.ts, lint):
 * - 'pass': passes its first input's threshold / fl through unchanged (it does not rescale);
 * - 'producer': fused into the layer before it (in-place ReLU): that producer's output takes this layer's
 *   calibrated range, and in == out;
 * - 'fold': folds into the convolution before it when in place on it (BatchNorm, Scale; §3.5), which then
 *   writes this layer's calibrated output; otherwise a layer of its own;
 * - 'shared-output': its inputs and output share one threshold, its calibrated output's (Concat);
 * - 'shared-max': its inputs and output share one threshold, the largest of its inputs' (Eltwise);
 * - 'none': its output has its own calibrated threshold.
 */
export type PlanRole = 'none' | 'pass' | 'producer' | 'fold' | 'shared-output' | 'shared-max';

/** What `chaiq lint` checks about a layer type beyond its precision fields (chaidnn-semantics §3). */
export interface LintFacts {
  /** the runtime deletes the layer and ignores its block (ReLU, §3.3): a missing block is only a warning */
  blockIgnored?: boolean;
  /** a SW layer the runtime deletes rather than runs on the ARM (Concat): its block still has to agree with its neighbours */
  deletedBySoftware?: boolean;
  /** th_params are per output channel of blob 0 and must cover its values (clipped-weights) */
  channelThresholds?: boolean;
  /** the hardware's limits on the layer's parameters: one message per limit broken */
  limits?(l: LayerParam): string[];
}

/** A layer that reads data from outside the net: its first top (Input: every top) is a net input. */
export interface SourceFacts {
  /** top shapes from the layer's own params, without the input-shape override; -1 = not given */
  shapes(l: LayerParam): number[][];
  /** every top is a net input (Input); otherwise only the first (data + label) */
  allTopsInputs?: boolean;
}

/**
 * Everything chaiq knows about one Caffe layer type, in one place (one file per type under
 * src/layers/, collected by src/layers/registry.ts).
 */
export interface LayerDef {
  type: string;
  /** other type strings meaning the same layer (Ristretto `ConvolutionRistretto`, ...) */
  aliases?: string[];
  chaidnn: ChaiRole;
  /** its fixed-point behaviour on the FPGA; absent: float on the ARM */
  fixed?: FixedKind;
  /**
   * The precision_param fields this type must carry in each mode (seed doc table; docs §3.1, §3.6).
   * Empty list: the type gets no block in that mode. Order does not matter (the printer sorts by field number).
   */
  precision: Record<QuantMode, readonly string[]>;
  /** output shapes from input shapes, with Caffe's exact rules; throws ChaiqError for impossible params */
  shape(node: LayerNode, bottoms: number[][]): number[][];
  /** number of trainable values (weights + biases + ...), given the bottom shapes */
  params?(node: LayerNode, bottoms: number[][]): number;
  /**
   * Expected shapes of the trained blobs (caffemodel `blobs`), in Caffe's order, e.g. conv: [[O, C/g, kh, kw], [O]].
   * Only on weighted types; used to check a caffemodel against the prototxt.
   */
  blobShapes?(node: LayerNode, bottoms: number[][]): number[][];
  /** multiply-accumulates for one forward pass */
  macs?(node: LayerNode, bottoms: number[][], tops: number[][]): number;
  /**
   * How the layer answers inputs scaled by a factor f > 0 (all inputs by the same f), for the
   * function-preserving rescaling of src/quant/rewrite.ts. 'equivariant': its outputs scale by f too
   * (`adjust` rewrites params that make it so, e.g. LRN alpha); 'weighted': its weights absorb any input
   * and output factor (W·fout/fin, b·fout). Absent, or `when` false: its inputs must keep f = 1.
   */
  rescale?: {
    kind: 'equivariant' | 'weighted';
    when?(node: LayerNode): boolean;
    adjust?(param: LayerParam, factor: number): void;
  };
  /** role in the precision plan; every type with precision fields declares one (absent: 'none') */
  plan?: PlanRole;
  /**
   * Xilinx th_params: max|W| per output channel (absent), or 'abs': |blob 0| value by value (Normalize's
   * scale, CHaiDNN's fallback)
   */
  thParams?: 'abs';
  /**
   * How XportDNN's progressive calibration forwards the layer (§4.4): with its weights quantized per
   * output channel ('weights'), or with its bottom quantized first ('bottom')
   */
  progressive?: 'weights' | 'bottom';
  /** blob 0 holds one row of weights per output channel (axis 0), given the layer's params */
  outputRows?(param: LayerParam): boolean;
  /**
   * Its part in the runtime's conv fusion (opt_conv_bn_scale, opt_relu; chaidnn-semantics §3.5, src/chaidnn/fusion.ts):
   * 'conv' takes the chain written in place on its top; 'batchnorm' (mean, variance, factor; first in the chain)
   * and 'scale' (gamma, beta) fold into its weights; 'relu' becomes its ReLU flag
   */
  convFusion?: 'conv' | 'batchnorm' | 'scale' | 'relu';
  /** a two-bottom SUM of a conv's top with another blob can run in the float conv kernel's epilogue (src/exec/fuse.ts) */
  residualAdd?: boolean;
  /** an ARM layer whose output is its input's values, rearranged at most: FPGA integers pass through unchanged */
  keepsValues?: boolean;
  /**
   * Where blob 0 keeps the output channels: 'rows' (axis 0; absent), 'columns' (axis 1 of a (K, N) matrix),
   * 'grouped' (deconvolution's (Cin, Cout/group, k...): output g·(Cout/g)+j gathers group g's inputs at j)
   */
  outputChannels?(param: LayerParam): 'rows' | 'columns' | 'grouped';
  /**
   * Positively homogeneous channel by channel (f(s·x) = s·f(x), s > 0 per channel) for this node: cross-layer
   * equalization (src/recover/equalize.ts) may carry a per-channel factor through it
   */
  channelHomogeneous?(node: LayerNode): boolean;
  /**
   * How the layer takes a constant offset d[c] added to input channel c into its bias (src/quant/rewrite.ts,
   * recenterInput): `add` gives the per-output bias increments (W·d), undefined when it cannot (padding, another
   * axis); `biasParam` is the param message whose bias_term says whether blob 1 is used. Absent: it cannot.
   */
  absorbOffset?: {
    biasParam: 'convolution_param' | 'inner_product_param';
    add(node: LayerNode, W: Tensor, bottom: number[], offset: (c: number) => number): Float64Array | undefined;
  };
  /** writes detection rows, one per kept box: [image, label, score, xmin, ymin, xmax, ymax] (SSD DetectionOutput) */
  detections?: boolean;
  /**
   * its output is a probability distribution over its input (Softmax): compared at its input (the logits), and
   * the score output of box/score detectors
   */
  probabilities?: boolean;
  /** lint's hardware facts */
  lint?: LintFacts;
  /** set on the data/input layers */
  source?: SourceFacts;
  /**
   * The layer the deploy net of a train/test net has in its place (SoftmaxWithLoss → Softmax), reading the
   * first bottom and writing the first top, with the param messages `keep`
   */
  deployAs?: { type: string; keep: readonly string[] };
  /** exists only for training (losses, Accuracy, Silence): dropped from the deploy net */
  trainingOnly?: boolean;
  /**
   * Blob shapes from the params alone (-1 = any size), for when the bottom shapes are unknown;
   * weighted types whose blob count and leading sizes the params fix.
   */
  blobShapesFromParams?(param: LayerParam): number[][];
  /** float forward with Caffe's exact semantics */
  forward?(node: LayerNode, bottoms: Tensor[], ctx: ForwardContext): Tensor[] | Promise<Tensor[]>;
}

/*
 * The executable net's node types live here, not in graph/, because LayerDef and LayerNode refer to each other
 * and layers/ sits below graph/ (graph/build reads the registry); graph/types re-exports them.
 */

/** One layer of the executable net (phase-filtered, upgraded to V2). */
export interface LayerNode {
  /** position in `Net.layers` */
  index: number;
  name: string;
  /** canonical V2 type string, aliases resolved (`ConvolutionRistretto` → `Convolution`) */
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
