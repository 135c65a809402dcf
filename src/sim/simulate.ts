/**
 * Net-level fixed-point simulator: runs an annotated net (precision_param / quantization_param blocks) the way
 * the CHaiDNN runtime does (chaidnn-semantics §3): integer tensors between HW layers (Convolution, Pooling,
 * Eltwise, Concat, fused ReLU), SW layers (InnerProduct, Softmax, ...) in float on dequantized values.
 * Alongside, the float net runs in lockstep so every layer's output can be compared (metrics.ts):
 *  - cumulative error: the fixed chain vs the float chain (what the board would produce);
 *  - local error: the layer alone, fed the float reference input quantized with its own input format
 *    (says which layer hurts, independent of upstream damage).
 */
import { ChaiqError, type WarnFn } from '../errors';
import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import { convGeometry, num, poolGeometry, pooledSize, sub } from '../layers/params';
import * as A from '../chaidnn/arith';
import { DEFAULT_BW, DEFAULT_FL, DEFAULT_TH, formatScale, formatString, quantizeFloat, sameFormat, type FixedFormat } from '../chaidnn/format';
import type { QuantMode } from '../layers/types';
import { absorbedOf, compileSteps, inputFormatOf, netMode, outputFormatOf, type ConcatStep, type ConvStep, type EltwiseStep, type PoolStep, type Step, type StepKind } from './steps';
import { dequant, newSimStats, packageResult, type SimResult, type SimStats, type Val } from './result';
import { ReferenceObserver, floatForward } from './observer';
import { ReferenceRun, referenceOnExecutor } from './reference';
import { localFromReference, quantizedReference, sameAsFixed, type CommutingStep } from './local';
import { addInputClip } from './input-range';
import { FLOATABLE_KINDS, consumerFormat, floatLayerForward } from './float-layers';
import { detachKept, quantizeForChain, releaseDeadBlobs } from './fixed-chain';
import { setResidentWanted } from '../kernels';

export { layerReports, newSimStats, type LayerReport, type LayerStats, type SimResult, type SimStats } from './result';
export { DEFAULT_BW, DEFAULT_FL, DEFAULT_TH, formatScale, quantizeFloat, type FixedFormat };
export type { Step, StepKind } from './steps';

export interface SimOptions {
  /** saturate conv partial sums to 18 bits (the HLS datapath, §3.3) */
  psum18?: boolean;
  /** AVE-pool divisor: CHaiDNN's kH·kW everywhere (default), or Caffe's clipped window count (a what-if) */
  aveDivisor?: 'chaidnn' | 'caffe';
  /**
   * DynamicFixed weights of a conv with BN/Scale folded in: CHaiDNN's own rule from max|W'| (default, §3.5: it
   * ignores fl_params there), or the fl that minimises the quantization MSE of W' (a what-if)
   */
  foldedWeightFl?: 'runtime' | 'mse';
  /**
   * Xilinx th_layer_out of a conv with BN/Scale folded in: CHaiDNN stores it in `int final_op_th`
   * (fuseBNScaleConvParams, §3.5), truncating it to an integer while consumers keep their th_layer_in
   * ('int', default), or the float as written (a what-if without that bug)
   */
  finalOpTh?: 'int' | 'float';
  /** force the mode (default: the first quant_type in the net; none → by the fields present) */
  mode?: QuantMode;
  warn?: WarnFn;
  /** blobs whose values are returned: 'outputs' (default), 'all', or a list of blob names */
  keep?: 'outputs' | 'all' | string[];
  /** run the float net alongside and compute per-layer metrics (default true) */
  reference?: boolean;
  /** per-layer metrics accumulate here across calls (newSimStats()); a fresh one per call otherwise */
  stats?: SimStats;
  onLayer?: (ev: { index: number; name: string; type: string; kind: StepKind }) => void;
  /** each layer's float reference tops, as computed (checks such as NaN/Inf) */
  onReference?: (node: LayerNode, tops: Tensor[]) => void;
  /** layers run in float within the fixed net (--float_layers; names from resolveFloatLayers) */
  floatLayers?: Set<string>;
}

/** A net prepared for simulation: modes resolved, weights folded and quantized once. */
export interface SimProgram {
  net: Net;
  mode: QuantMode;
  steps: Step[];
  warn: WarnFn;
  warned: Set<string>;
  psum18: boolean;
  aveDivisor: 'chaidnn' | 'caffe';
}

/** Resolves modes and formats, folds BN/Scale, quantizes weights (steps.ts). */
export function compileSim(net: Net, opts: SimOptions = {}): SimProgram {
  const warn: WarnFn = opts.warn ?? (() => {});
  const mode = opts.mode ?? netMode(net);
  const steps = compileSteps(net, mode, warn, { foldedWeightFl: opts.foldedWeightFl, finalOpTh: opts.finalOpTh });
  return { net, mode, steps, warn, warned: new Set(), psum18: !!opts.psum18, aveDivisor: opts.aveDivisor ?? 'chaidnn' };
}


function warnOnce(p: SimProgram, key: string, msg: string, node?: LayerNode): void {
  if (p.warned.has(key)) return;
  p.warned.add(key);
  p.warn(msg, node?.loc);
}

/** Integers for a HW layer's input: a fixed blob as it is (CHaiDNN never rescales), a float one quantized. */
function toFixed(p: SimProgram, v: Val, fin: FixedFormat, node: LayerNode, blob: string): Int32Array {
  if (v.q) {
    if (v.fmt && !sameFormat(v.fmt, fin)) {
      warnOnce(p, `mm:${node.name}:${blob}`, `layer '${node.name}': input '${blob}' is ${formatString(v.fmt)} but the layer reads it as ${formatString(fin)} ` +
        '(CHaiDNN: "threshold values are not matching"; the integers are used as they are)', node);
    }
    return v.q;
  }
  return quantizeForChain(dequant(v), fin, !!v.isNetInput);
}

function convGeomOf(node: LayerNode, shape: number[], outC: number): A.ConvGeom {
  if (shape.length !== 4) throw new ChaiqError(`layer '${node.name}': CHaiDNN convolution needs a 4-D (1,C,H,W) input, got (${shape})`, node.loc ?? {});
  const g = convGeometry(node, shape);
  if (g.numSpatial !== 2 || g.axis !== 1) throw new ChaiqError(`layer '${node.name}': only 2-D convolution is simulated`, node.loc ?? {});
  const [inC, inH, inW] = [shape[1], shape[2], shape[3]];
  return {
    inC, inH, inW, outC,
    outH: A.convOutSize(inH, g.kernel[0], g.pad[0], g.stride[0], g.dilation[0]),
    outW: A.convOutSize(inW, g.kernel[1], g.pad[1], g.stride[1], g.dilation[1]),
    kH: g.kernel[0], kW: g.kernel[1], strideH: g.stride[0], strideW: g.stride[1],
    padH: g.pad[0], padW: g.pad[1], dilH: g.dilation[0], dilW: g.dilation[1], group: g.group,
  };
}

function poolGeomOf(node: LayerNode, shape: number[]): A.PoolGeom {
  const pg = poolGeometry(node, shape);
  const anyPad = pg.pad[0] !== 0 || pg.pad[1] !== 0;
  const g: A.PoolGeom = {
    C: shape[1], inH: shape[2], inW: shape[3],
    outH: pooledSize(shape[2], pg.kernel[0], pg.stride[0], pg.pad[0], pg.ceil, anyPad),
    outW: pooledSize(shape[3], pg.kernel[1], pg.stride[1], pg.pad[1], pg.ceil, anyPad),
    kH: pg.kernel[0], kW: pg.kernel[1], strideH: pg.stride[0], strideW: pg.stride[1], padH: pg.pad[0], padW: pg.pad[1],
  };
  return g;
}

/** A conv step's geometry on an input of `shape`; weights that do not match it are bad input. */
function convStepGeom(st: ConvStep, shape: number[]): A.ConvGeom {
  const node = st.node;
  const g = convGeomOf(node, shape, st.outC);
  if (g.inC * g.kH * g.kW * (st.outC / g.group) !== st.weights.wq.length || g.inC % g.group !== 0) {
    throw new ChaiqError(`layer '${node.name}': weights do not match the input (${g.inC} channels, group ${g.group})`, node.loc ?? {});
  }
  return g;
}

type HwStep = ConvStep | PoolStep | EltwiseStep | ConcatStep;

/** One HW step on integer inputs → integer output(s). */
function runHw(p: SimProgram, st: HwStep, ins: Int32Array[], inShapes: number[][], inFmts: (FixedFormat | undefined)[], reluAfter = false): { q: Int32Array; shape: number[]; fmt: FixedFormat } {
  const node = st.node;
  switch (st.kind) {
    case 'conv': {
      const g = convStepGeom(st, inShapes[0]);
      const w = st.weights;
      const relu = st.relu || reluAfter;
      const q = w.mode === 'Xilinx'
        ? A.convXilinx(ins[0], w.wq, w.bq, w.S, g, st.fout.bw, relu, p.psum18)
        : A.convDynamicFixed(ins[0], w.wq, w.biasInt, w.shift, g, st.fout.bw, relu, p.psum18);
      return { q, shape: [1, st.outC, g.outH, g.outW], fmt: st.fout };
    }
    case 'pool': {
      const g = poolGeomOf(node, inShapes[0]);
      const shape = [1, g.C, g.outH, g.outW];
      if (st.method === 'MAX') return { q: A.maxPoolInt(ins[0], g), shape, fmt: formatOrThrow(st.fout ?? inFmts[0], node) };
      const extra = st.fout.mode === 'DynamicFixed' && st.fin.mode === 'DynamicFixed' ? st.fin.fl - st.fout.fl : 0;
      return { q: A.avePoolInt(ins[0], g, st.fout.bw, extra, p.aveDivisor), shape, fmt: st.fout };
    }
    case 'eltwise':
      return { q: A.eltwiseAddInt(ins, st.fout.bw, reluAfter), shape: inShapes[0].slice(), fmt: st.fout };
    case 'concat': {
      const shape = inShapes[0].slice();
      shape[1] = inShapes.reduce((s, sh) => s + sh[1], 0);
      return { q: A.concatInt(ins), shape, fmt: formatOrThrow(st.fout ?? inFmts[0], node) };
    }
  }
}

/** Integer inputs always carry a format; a missing one is a simulator bug, not bad input. */
function formatOrThrow(f: FixedFormat | undefined, node: LayerNode): FixedFormat {
  if (!f) throw new Error(`runHw: layer '${node.name}' has an integer input without a format`);
  return f;
}

/** The format each input is read with: the layer's own, or none (it takes the integers as they come). */
function inputFormatsOf(st: HwStep, n: number): (FixedFormat | undefined)[] {
  switch (st.kind) {
    case 'conv': return [st.fin];
    case 'concat': return new Array(n).fill(undefined);
    case 'pool': case 'eltwise': return new Array(n).fill(st.fin);
  }
}

function keepSet(net: Net, keep: SimOptions['keep']): (blob: string) => boolean {
  if (keep === 'all') return () => true;
  const s = new Set(Array.isArray(keep) ? keep : net.outputs);
  return (b) => s.has(b);
}

/** Runs one image (batch 1) through the prepared program: the executor; the float reference observes it. */
export async function runSim(p: SimProgram, input: Tensor, opts: SimOptions = {}): Promise<SimResult> {
  const net = p.net;
  if (net.inputs.length !== 1) throw new ChaiqError(`CHaiDNN runs nets with exactly one input; this net has ${net.inputs.length}`);
  if (input.shape[0] !== 1) throw new ChaiqError(`the simulator runs batch 1 (CHaiDNN's only batch size); got input shape (${input.shape})`);
  const stats = opts.stats ?? newSimStats();
  const obs = opts.reference !== false ? new ReferenceObserver(stats, p.warn, opts.onReference, referenceRun(p, input, opts.keep)) : undefined;
  const vals = new Map<string, Val>();
  // the integer chain in wasm memory (fixed-chain.ts); the local runs' arrays go back to the pool too (observer.ts)
  const residentBefore = setResidentWanted(true);
  const inNode = feedInput(p, input, vals, stats, obs);
  // without the reference nobody reads a conv's output before its in-place ReLU: the conv applies it (hints)
  const reluDone = new WeakSet<Int32Array>();
  const keep = keepSet(net, opts.keep);
  for (let i = 0; i < p.steps.length; i++) {
    const st = p.steps[i];
    const node = st.node;
    opts.onLayer?.({ index: i, name: node.name, type: node.type, kind: st.kind });
    if (st.kind === 'input') {
      // the input row of the table: quantizing the image is where a too-large fl or too-small th saturates
      const v = vals.get(net.inputs[0].name);
      if (v && node === inNode) obs?.record(node, i, net.inputs[0].name, v, v);
      continue;
    }
    const floatBottoms = obs ? await obs.forward(node) : undefined;
    if (st.kind === 'absorbed') {
      obs?.absorbed(i);
      continue;
    }
    const bvals = node.bottoms.map((b) => {
      const v = vals.get(b);
      if (!v) throw new ChaiqError(`layer '${node.name}': bottom '${b}' has no value`, node.loc ?? {});
      return v;
    });
    const { out, local } = opts.floatLayers?.has(node.name) && FLOATABLE_KINDS.has(st.kind)
      ? await floatStep(p, i, st, bvals, !!obs)
      : await execStep(p, st, bvals, floatBottoms, { ...execHints(p, i, vals, !!obs, obs?.reluDone ?? reluDone), refTop: obs?.refs.get(node.tops[0]) });
    node.tops.forEach((t, k) => vals.set(t, out[k]));
    const reluAt = obs ? reluRowAfter(p, i) : -1;
    if (reluAt >= 0) obs?.reluFollows(node.tops[0], reluAt, p.steps[reluAt].node, soleHolder(vals, node.tops[0], node.tops[0]));
    if (st.kind === 'conv' && st.absorbed.length) obs?.holdFused(node, i, st.absorbed[st.absorbed.length - 1], out[0], local);
    else node.tops.forEach((t, k) => obs?.record(node, i, t, out[k], k === 0 ? local : undefined, st.kind === 'relu' ? bvals[0] : undefined));
    releaseDeadBlobs(p, i, vals, keep);
    obs?.afterStep(p.steps, i);
  }
  detachKept(vals, keep);
  setResidentWanted(residentBefore);
  return packageResult(vals, obs ? await obs.final() : new Map(), keep, stats);
}

/** The float reference on the executor (reference.ts), keeping the blobs the result returns. */
function referenceRun(p: SimProgram, input: Tensor, keep: SimOptions['keep']): ReferenceRun | undefined {
  if (!referenceOnExecutor()) return undefined;
  return new ReferenceRun(p.net, input, p.steps, keep === 'all' ? 'all' : Array.isArray(keep) ? keep : [], p.warn);
}

/** A layer run in float (--float_layers): float forward on the dequantized input, output in the format its consumers read. */
async function floatStep(p: SimProgram, i: number, st: Step, bvals: Val[], reference: boolean): Promise<{ out: Val[]; local?: Val }> {
  const t = await floatLayerForward(p.net, st.node, absorbedOf(st), bvals.map((v) => ({ shape: v.shape, data: dequant(v) })), p.warn);
  const fmt = consumerFormat(p.net, p.steps, i) ?? outputFormatOf(st) ?? bvals.find((v) => v.fmt)?.fmt;
  const out: Val[] = t.map((x) => (fmt ? { shape: x.shape, q: quantizeFloat(x.data, fmt, true), fmt } : { shape: x.shape, f: x.data }));
  return { out, local: reference ? out[0] : undefined };
}

/** The net input: CHaiDNN's loader quantizes the image once, with the first layer's th_layer_in (§3.3). */
function feedInput(p: SimProgram, input: Tensor, vals: Map<string, Val>, stats: SimStats, obs?: ReferenceObserver): LayerNode | undefined {
  const net = p.net;
  const inName = net.inputs[0].name;
  const firstHw = p.steps.find((st) => st.node.bottoms.includes(inName) && inputFormatOf(st));
  const inFmt = firstHw ? inputFormatOf(firstHw) : undefined;
  vals.set(inName, inFmt
    ? { shape: input.shape.slice(), q: quantizeForChain(input.data, inFmt, true), fmt: inFmt }
    : { shape: input.shape.slice(), f: input.data, isNetInput: true });
  obs?.refs.set(inName, input);
  if (firstHw && inFmt) stats.input = addInputClip(stats.input, input.data, inName, firstHw.node.name, inFmt);
  return firstHw ? net.layers.find((l) => l.tops.includes(inName)) : undefined;
}

/**
 * An in-place layer (top = bottom) whose bottom's integers no other blob shares (a pass-through layer's top
 * shares its bottom's array) may overwrite them: nothing reads the old value after it.
 */
function soleHolder(vals: Map<string, Val>, bottom: string, top: string): boolean {
  if (bottom !== top) return false;
  const q = vals.get(bottom)?.q;
  if (!q) return false;
  for (const [b, v] of vals) if (b !== bottom && v.q === q) return false;
  return true;
}

/**
 * The step of the in-place ReLU that reads step i's only top next (after a conv's folded BN/Scale, which the conv
 * computes; nothing reads the top between), or -1.
 */
function inPlaceReluAfter(p: SimProgram, i: number): number {
  const st = p.steps[i];
  let j = i + 1;
  while (p.steps[j]?.kind === 'absorbed') j++;
  const nx = p.steps[j];
  if (!nx || nx.kind !== 'relu' || st.node.tops.length !== 1) return -1;
  const top = st.node.tops[0];
  return nx.node.bottoms.length === 1 && nx.node.bottoms[0] === top && nx.node.tops[0] === top ? j : -1;
}

/** Step i is a conv or an Eltwise whose only top goes next into an in-place ReLU run on the integers. */
function reluFollows(p: SimProgram, i: number): boolean {
  const kind = p.steps[i].kind;
  return (kind === 'conv' || kind === 'eltwise') && inPlaceReluAfter(p, i) >= 0;
}

/**
 * The step of the in-place ReLU with negative_slope 0 that reads step i's only top next, or -1: that ReLU's row
 * may be taken in the pass over the producer's row (observer.ts reluFollows).
 */
function reluRowAfter(p: SimProgram, i: number): number {
  const j = inPlaceReluAfter(p, i);
  const r = j >= 0 ? p.steps[j].node : undefined;
  return r && r.tops.length === 1 && num(sub(r, 'relu_param'), 'negative_slope', 0) === 0 ? j : -1;
}

/**
 * What step i may do faster (the same integers). With the reference, a conv's output is compared before the
 * ReLU after it, so the conv does not apply it; an in-place ReLU still may overwrite integers nothing else holds
 * (its producer's metrics were taken when the producer, or the last layer it absorbs, ran), and keeps those the
 * pass over the producer's row already passed through it (`reluDone`: the observer's, observer.ts reluFollows).
 */
function execHints(p: SimProgram, i: number, vals: Map<string, Val>, reference: boolean, reluDone: WeakSet<Int32Array>): ExecHints {
  const st = p.steps[i];
  const node = st.node;
  const inPlace = st.kind === 'relu' && soleHolder(vals, node.bottoms[0], node.tops[0]);
  if (reference) return { inPlace, reluDone };
  return { inPlace, reluAfter: reluFollows(p, i), reluDone };
}

/** What a run may do faster (the same integers). */
interface ExecHints {
  /** the step may overwrite its input's integers (see soleHolder) */
  inPlace?: boolean;
  /** a conv or Eltwise applies the in-place ReLU that follows it (reluFollows); its output goes into reluDone */
  reluAfter?: boolean;
  /** integers a conv already passed through the ReLU: the ReLU step keeps them */
  reluDone?: WeakSet<Int32Array>;
  /** the layer's float reference output: a local run that commutes with the quantizer takes it quantized (local.ts) */
  refTop?: Tensor;
}

/** One step on its bottoms' values; `floatBottoms` (the reference) also gives the layer's local result. */
async function execStep(p: SimProgram, st: Step, bvals: Val[], floatBottoms?: Tensor[], hints: ExecHints = {}): Promise<{ out: Val[]; local?: Val }> {
  const node = st.node;
  let out: Val[];
  let local: Val | undefined;
  switch (st.kind) {
    case 'conv': case 'pool': case 'eltwise': case 'concat': {
      const fins = inputFormatsOf(st, bvals.length);
      const ins = bvals.map((v, k) => {
        const f = fins[k];
        if (f) return toFixed(p, v, f, node, node.bottoms[k]);
        if (!v.q) throw new ChaiqError(`layer '${node.name}': input '${node.bottoms[k]}' is a float (ARM) value; ${node.type} here needs an integer producer`, node.loc ?? {});
        return v.q;
      });
      const inFmts = bvals.map((v, k) => v.fmt ?? fins[k]);
      if (st.kind === 'concat' || st.kind === 'eltwise') {
        const want = st.fout ?? inFmts[0];
        inFmts.forEach((f, k) => {
          if (f && want && !sameFormat(f, want)) {
            warnOnce(p, `cat:${node.name}:${k}`, `layer '${node.name}': input '${node.bottoms[k]}' is ${formatString(f)}, the output ${formatString(want)}; ` +
              `CHaiDNN's ${node.type} does not rescale, all must share one format`, node);
          }
        });
      }
      const reluAfter = (st.kind === 'conv' || st.kind === 'eltwise') && !!hints.reluAfter && !!hints.reluDone;
      const both = st.kind === 'conv' && floatBottoms && !reluAfter ? convWithLocal(p, st, ins, bvals[0].shape, floatBottoms, fins.map((f, k) => f ?? inFmts[k]), inFmts) : undefined;
      if (both) {
        out = [both.fixed];
        local = both.local;
        break;
      }
      const r = runHw(p, st, ins, bvals.map((v) => v.shape), inFmts, reluAfter);
      if (reluAfter) hints.reluDone?.add(r.q);
      out = [{ shape: r.shape, q: r.q, fmt: r.fmt }];
      if (floatBottoms) local = localRun(p, st, floatBottoms, fins.map((f, k) => f ?? inFmts[k]), ins, inFmts, out[0], reluAfter, hints.refTop);
      break;
    }
    case 'relu': {
      const v = bvals[0];
      if (v.q && hints.reluDone?.has(v.q)) {
        out = [v];
      } else if (v.q) {
        out = [{ shape: v.shape, q: A.reluInt(v.q, hints.inPlace ? v.q : undefined), fmt: v.fmt }]; // fused into the producer; its block is ignored
      } else {
        const t = await floatForward(node, [{ shape: v.shape, data: dequant(v) }], p.warn);
        out = [{ shape: t[0].shape, f: t[0].data }];
      }
      break;
    }
    case 'pass': {
      const deq = bvals.map((v) => ({ shape: v.shape, data: dequant(v) }));
      const t = await floatForward(node, deq, p.warn);
      out = t.map((x) => (bvals[0].q ? { shape: x.shape, q: bvals[0].q, fmt: bvals[0].fmt } : { shape: x.shape, f: x.data }));
      break;
    }
    case 'bn': case 'scale': {
      const v = bvals[0];
      const xq = toFixed(p, v, st.fin, node, node.bottoms[0]);
      const x = dequant({ shape: v.shape, q: xq, fmt: st.fin });
      const C = v.shape[1];
      const plane = x.length / C;
      const y = new Float32Array(x.length);
      const af = st.affine;
      for (let c = 0; c < C; c++) for (let j = 0; j < plane; j++) y[c * plane + j] = (x[c * plane + j] - af.sub[c]) * af.mul[c] + af.add[c];
      out = [{ shape: v.shape, q: quantizeFloat(y, st.fout), fmt: st.fout }];
      break;
    }
    case 'sw': {
      const deq = bvals.map((v) => ({ shape: v.shape, data: dequant(v) }));
      const t = await floatForward(node, deq, p.warn);
      out = t.map((x) => ({ shape: x.shape, f: x.data }));
      break;
    }
    default:
      throw new Error(`runSim: ${st.kind}`);
  }
  return { out, local };
}

/**
 * The layer alone: the float reference inputs quantized with the formats the layer reads (local.ts), or the
 * fixed result when those are the fixed chain's inputs.
 */
function localRun(p: SimProgram, st: HwStep, floatBottoms: Tensor[], fmts: (FixedFormat | undefined)[], ins: Int32Array[], inFmts: (FixedFormat | undefined)[], fixed: Val, reluAfter: boolean, refTop?: Tensor): Val {
  const taken = refTop && !reluAfter ? localWithoutKernel(st, floatBottoms, refTop, fmts) : undefined;
  if (taken) return taken;
  const lins = floatBottoms.map((t, k) => quantizedReference(t, formatOrThrow(fmts[k], st.node)));
  if (!reluAfter && sameAsFixed(lins, ins, fmts, inFmts)) return fixed;
  const lr = runHw(p, st, lins, floatBottoms.map((t) => t.shape), fmts);
  return { shape: lr.shape, q: lr.q, fmt: lr.fmt };
}

/**
 * The local run of a MAX pool or a Concat (runHw on the quantized reference inputs, formats `fmts`) taken from
 * the quantized reference of its output, where local.ts proves it the same integers; undefined otherwise.
 */
function localWithoutKernel(st: HwStep, floatBottoms: Tensor[], refTop: Tensor, fmts: (FixedFormat | undefined)[]): Val | undefined {
  let step: CommutingStep;
  let shape: number[];
  if (st.kind === 'pool' && st.method === 'MAX') {
    const g = poolGeomOf(st.node, floatBottoms[0].shape);
    step = { kind: 'maxpool', geom: g };
    shape = [1, g.C, g.outH, g.outW];
  } else if (st.kind === 'concat') {
    step = { kind: 'concat' };
    shape = floatBottoms[0].shape.slice();
    shape[1] = floatBottoms.reduce((s, t) => s + t.shape[1], 0);
  } else return undefined;
  const lf = fmts.map((f) => formatOrThrow(f, st.node));
  const fmt = formatOrThrow(st.fout ?? lf[0], st.node); // runHw's output format for these inputs
  const q = localFromReference(step, floatBottoms, refTop, lf, fmt, shape);
  return q && { shape, q, fmt };
}

/**
 * A conv's fixed run and its local run (as runHw, then localRun) with the two inputs in one kernel call when
 * they take the same path (A.convPair). undefined when the local input's shape differs (the two calls then).
 */
function convWithLocal(p: SimProgram, st: ConvStep, ins: Int32Array[], shape: number[], floatBottoms: Tensor[], fmts: (FixedFormat | undefined)[], inFmts: (FixedFormat | undefined)[]): { fixed: Val; local: Val } | undefined {
  const ls = floatBottoms[0].shape;
  if (ins.length !== 1 || floatBottoms.length !== 1 || ls.length !== shape.length || ls.some((d, k) => d !== shape[k])) return undefined;
  const g = convStepGeom(st, shape);
  const lins = [quantizedReference(floatBottoms[0], formatOrThrow(fmts[0], st.node))];
  const outShape = [1, st.outC, g.outH, g.outW];
  const w = st.weights;
  const L: A.ConvLayer = w.mode === 'Xilinx' ? { mode: w.mode, w: w.wq, bq: w.bq, S: w.S } : { mode: w.mode, w: w.wq, biasInt: w.biasInt, shift: w.shift };
  if (sameAsFixed(lins, ins, fmts, inFmts)) {
    const r = runHw(p, st, ins, [shape], inFmts);
    const fixed = { shape: r.shape, q: r.q, fmt: r.fmt };
    return { fixed, local: fixed };
  }
  const [qf, ql] = A.convPair(ins[0], lins[0], L, g, st.fout.bw, st.relu, p.psum18);
  return { fixed: { shape: outShape, q: qf, fmt: st.fout }, local: { shape: outShape.slice(), q: ql, fmt: st.fout } };
}

/** compileSim + runSim for one image. */
export async function simulateNet(net: Net, input: Tensor, opts: SimOptions = {}): Promise<SimResult> {
  return runSim(compileSim(net, opts), input, opts);
}
