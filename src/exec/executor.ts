import { ChaiqError, type WarnFn, warnToStderr } from '../errors';
import type { LayerNode, Net } from '../graph/types';
import type { ForwardContext, LayerDef } from '../layers/types';
import type { Tensor } from '../tensor';
import { shapeStr } from '../tensor';
import { sharedBufferPool, type BufferPool } from '../kernels/bufpool';
import { buildFusion, fusionPlan, type Fused, type FusionCandidate } from './fuse';
import { isWasmArray } from '../kernels';
import { checkFiniteWeights } from '../graph/finite';
import { sourceOf } from '../layers/registry';


export interface RunOptions {
  /** blobs to return besides the net outputs ('all' = every blob, in-place chains at their final value) */
  keep?: 'all' | string[];
  /** sees each layer's outputs as soon as they are computed (calibration statistics) */
  onLayer?: (node: LayerNode, tops: Tensor[]) => void | Promise<void>;
  /** accept inputs whose spatial size differs from the declared one (fully-convolutional nets) */
  reshape?: boolean;
  warn?: WarnFn;
  threads?: number;
  /**
   * run a Convolution and the in-place BatchNorm/Scale/ReLU (and a residual Eltwise SUM + ReLU) after it as one
   * kernel call (src/exec/fuse.ts; same final values). Default: on unless onLayer is given; with both, onLayer
   * sees a fused conv's top already through the fused layers (then each fused layer, right after, with no time).
   */
  fuse?: boolean;
  /** the fusions to do instead of all of fusionPlan(net) (a subset of it: the simulator's float reference) */
  fusion?: Map<number, FusionCandidate>;
  /**
   * recycle the buffers of blobs no later layer reads (src/kernels/bufpool.ts): faster, but then a tensor
   * seen by onLayer is only valid during that call (statistics: fine; keeping the tensors: not). true: the
   * thread's pool (sharedBufferPool, kept across runs); a BufferPool: that one
   */
  reuseBuffers?: boolean | BufferPool;
}


/** The float forward of a layer: its LayerDef's member (written in its layer file). */
export function forwardOf(node: LayerNode): LayerDef['forward'] {
  return node.def?.forward;
}

function checkNaN(net: Net, warn: WarnFn): void {
  // the commands check at load with the caffemodel's name (and refuse unless allowed); this covers library use
  checkFiniteWeights(net, undefined, { allow: true, warn });
}

function bindInputs(net: Net, inputs: Record<string, Tensor> | Tensor, reshape: boolean): Map<string, Tensor> {
  const blobs = new Map<string, Tensor>();
  let given: Record<string, Tensor>;
  if ((inputs as Tensor).data instanceof Float32Array && Array.isArray((inputs as Tensor).shape)) {
    if (net.inputs.length !== 1) {
      throw new ChaiqError(`net '${net.name}' has ${net.inputs.length} inputs (${net.inputs.map((i) => i.name).join(', ')}); give them by name`, { file: net.file });
    }
    given = { [net.inputs[0].name]: inputs as Tensor };
  } else given = inputs as Record<string, Tensor>;
  for (const name of Object.keys(given)) {
    if (!net.inputs.some((i) => i.name === name)) {
      throw new ChaiqError(`net '${net.name}' has no input '${name}' (inputs: ${net.inputs.map((i) => i.name).join(', ')})`, { file: net.file });
    }
  }
  for (const inp of net.inputs) {
    const t = given[inp.name];
    if (!t) continue; // a data layer's label top nobody needs; a reader of it fails below
    const want = inp.shape;
    const got = t.shape;
    // batch is free; -1 = a dimension the prototxt does not give (Data layers); reshape frees H, W
    const okRank = got.length === want.length || want.length === 0;
    const okDims = okRank && want.every((d, i) => i === 0 || d < 0 || d === got[i] || (reshape && i >= 2));
    if (!okDims) {
      throw new ChaiqError(`input '${inp.name}' has shape ${shapeStr(got)}, the net expects ${shapeStr(want)} (any batch size)`, { file: net.file });
    }
    if (t.data.length !== got.reduce((a, b) => a * b, 1)) throw new ChaiqError(`input '${inp.name}': data length does not match shape ${shapeStr(got)}`);
    blobs.set(inp.name, t);
  }
  return blobs;
}

/**
 * Runs the float net layer by layer (prototxt order). In-place layers replace their blob's value; a blob
 * is dropped after its last reader unless kept. Returns the net outputs plus the kept blobs.
 */
export async function runNet(net: Net, inputs: Record<string, Tensor> | Tensor, opts: RunOptions = {}): Promise<Map<string, Tensor>> {
  const pool = opts.reuseBuffers === true ? sharedBufferPool() : opts.reuseBuffers || undefined;
  return runLayers(net, inputs, opts, pool);
}

async function runLayers(net: Net, inputs: Record<string, Tensor> | Tensor, opts: RunOptions, pool: BufferPool | undefined): Promise<Map<string, Tensor>> {
  const warn = opts.warn ?? warnToStderr;
  checkNaN(net, warn);
  const blobs = bindInputs(net, inputs, !!opts.reshape);
  const keepAll = opts.keep === 'all';
  const keep = new Set<string>(Array.isArray(opts.keep) ? opts.keep : []);
  for (const o of net.outputs) keep.add(o);
  const lastRead = new Map<string, number>();
  net.layers.forEach((l, i) => l.bottoms.forEach((b) => lastRead.set(b, i)));
  // the forwards take their outputs from the pool (in the kernels' wasm memory, where convolutions use them in place)
  const ctx: ForwardContext = { warn, threads: opts.threads, buffers: pool };
  const dead = pool ? new Set<Tensor>() : null;
  const given = [...blobs.values()].map((t) => t.data);
  const plan = opts.fusion ?? (opts.fuse ?? !opts.onLayer ? fusionPlan(net) : null);
  /** tops of layers done by a fused conv, by layer index */
  const done = new Map<number, Tensor[]>();
  const mayDropTop = (t: string, at: number): boolean => !keepAll && !keep.has(t) && lastRead.get(t) === at;
  for (let li = 0; li < net.layers.length; li++) {
    const node = net.layers[li];
    // a source layer (Input, Data, ... as declared, or an unknown *Data type) only feeds data in: its tops come from `inputs`
    if (sourceOf(node.type)) {
      for (const t of node.tops) {
        if (!blobs.has(t) && lastRead.has(t)) throw new ChaiqError(`input '${t}' (layer '${node.name}') was not given`, { file: net.file });
      }
      if (opts.onLayer) await opts.onLayer(node, node.tops.map((t) => blobs.get(t)!).filter(Boolean));
      continue;
    }
    const fwd = forwardOf(node);
    if (!fwd) throw new ChaiqError(`layer '${node.name}': type '${node.type}' has no float implementation in chaiq`, node.loc ?? { file: net.file });
    const bottoms = node.bottoms.map((b) => {
      const t = blobs.get(b);
      if (!t) throw new ChaiqError(`layer '${node.name}' (${node.type}): bottom '${b}' has no value (not produced by any earlier layer)`, node.loc ?? { file: net.file });
      return t;
    });
    let tops: Tensor[];
    const cand = plan?.get(li);
    let fused: Fused | null = null;
    try {
      const pre = done.get(li);
      if (pre) {
        done.delete(li);
        tops = pre;
      } else {
        fused = cand ? buildFusion(net, cand, bottoms[0], blobs, mayDropTop) : null;
        const epCtx = fused ? { ep: fused.ep, taken: false } : undefined;
        tops = await fwd(node, bottoms, epCtx ? { ...ctx, convEpilogue: epCtx } : ctx);
        if (fused && !epCtx!.taken) fused = null; // the forward did not apply it: the layers run
        if (fused) for (const k of fused.layers) done.set(k, [tops[0]]);
      }
    } catch (e) {
      if (e instanceof ChaiqError) {
        if (!e.loc.file && node.loc) e.loc = node.loc;
        throw e;
      }
      // a bug, not bad input: keep it an internal error, but say where
      if (e instanceof Error) e.message = `layer '${node.name}' (${node.type}): ${e.message}`;
      throw e;
    }
    if (tops.length !== node.tops.length) {
      throw new ChaiqError(`layer '${node.name}' (${node.type}): produced ${tops.length} top(s), the prototxt names ${node.tops.length}`, node.loc ?? { file: net.file });
    }
    node.tops.forEach((t, i) => {
      const old = blobs.get(t);
      if (dead && old && old !== tops[i]) dead.add(old); // an in-place layer overwrote it
      blobs.set(t, tops[i]);
    });
    if (opts.onLayer) await opts.onLayer(node, tops);
    if (!keepAll) {
      for (const b of node.bottoms) {
        if (lastRead.get(b) === li && !keep.has(b) && !node.tops.includes(b)) {
          if (dead && blobs.has(b)) dead.add(blobs.get(b)!);
          blobs.delete(b);
        }
      }
    }
    if (pool && dead && dead.size) pool.releaseDead(dead, blobs.values(), given);
  }
  let out = blobs;
  if (!keepAll) {
    out = new Map<string, Tensor>();
    for (const k of keep) {
      const t = blobs.get(k);
      if (t) out.set(k, t);
    }
  }
  return pool && dead ? outOfWasm(out, dead, given, pool) : out;
}

/**
 * The returned tensors in plain arrays: a buffer in the kernels' wasm memory is recycled once nothing
 * references the array object, which a caller's subarray of it would not prevent. Their wasm buffers go
 * back to the pool.
 */
function outOfWasm(out: Map<string, Tensor>, dead: Set<Tensor>, given: Float32Array[], pool: BufferPool): Map<string, Tensor> {
  const copies = new Map<Float32Array, Float32Array>();
  const res = new Map<string, Tensor>();
  for (const [k, t] of out) {
    if (!isWasmArray(t.data) || given.includes(t.data)) {
      res.set(k, t);
      continue;
    }
    let c = copies.get(t.data);
    if (!c) copies.set(t.data, (c = t.data.slice()));
    res.set(k, { shape: t.shape, data: c });
    dead.add(t);
  }
  pool.releaseDead(dead, res.values(), given);
  return res;
}
