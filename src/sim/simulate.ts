/**
 * Net-level fixed-point simulator: runs an annotated net (precision_param / quantization_param blocks) the way
 * the CHaiDNN runtime does (chaidnn-semantics §3): integer tensors between HW layers (Convolution, Pooling,
 * Eltwise, Concat, fused ReLU), SW layers (InnerProduct, Softmax, ...) in float on dequantized values.
 * Alongside, the float net runs in lockstep so every layer's output can be compared (metrics.ts):
 *  - cumulative error: the fixed chain vs the float chain (what the board would produce);
 *  - local error: the layer alone, fed the float reference input quantized with its own input format
 *    (says which layer hurts, independent of upstream damage).
 */
import { chooseFl } from '../calib/fl';
import { ChaiqError, type WarnFn } from '../errors';
import type { LayerNode, Net } from '../graph/types';
import type { Msg } from '../proto/message';
import type { QuantMode } from '../layers/types';
import type { Tensor } from '../tensor';
import { FORWARDS } from '../layers/forward';
import { convGeometry, enumName, num, poolGeometry, pooledSize, rep, sub, bool } from '../layers/params';
import * as A from './arith';
import { bnFoldParams, scaleFoldParams } from '../quant/weights';
import { addInputClip, type InputClip } from './input-range';
import { accumulateError, newErrorAcc, summarize, type ErrorAcc, type ErrorSummary } from './metrics';
import { FLOATABLE_KINDS, consumerFormat, floatLayerForward } from './float-layers';

/** CHaiDNN's parser defaults (caffe_network_parser.hpp) for missing precision fields. */
export const DEFAULT_BW = 6;
export const DEFAULT_FL = 3;
export const DEFAULT_TH = 16;

/** Integer format of a fixed blob: Xilinx threshold or DynamicFixed fraction bits. */
export type FixedFormat = { mode: 'Xilinx'; bw: number; th: number } | { mode: 'DynamicFixed'; bw: number; fl: number };

export function formatScale(f: FixedFormat): number {
  return f.mode === 'Xilinx' ? A.scaleFactor(f.th, f.bw) : 2 ** -f.fl;
}

function sameFormat(a: FixedFormat, b: FixedFormat): boolean {
  if (a.mode !== b.mode || a.bw !== b.bw) return false;
  return a.mode === 'Xilinx' ? Math.fround(a.th) === Math.fround((b as any).th) : a.fl === (b as any).fl;
}

function fmtStr(f: FixedFormat): string {
  return f.mode === 'Xilinx' ? `bw ${f.bw} th ${Math.fround(f.th)}` : `bw ${f.bw} fl ${f.fl}`;
}

/** A blob value during the run: integers + format, or a float (ARM) value. */
interface Val {
  shape: number[];
  q?: Int32Array;
  fmt?: FixedFormat;
  f?: Float32Array;
  /** written by the network input (quantized with Trim2FixedPoint_Offline, not the SW→HW pack) */
  isNetInput?: boolean;
}

function dequant(v: Val): Float32Array {
  if (v.f) return v.f;
  const s = formatScale(v.fmt!);
  const out = new Float32Array(v.q!.length);
  for (let i = 0; i < out.length; i++) out[i] = v.q![i] * s;
  return out;
}

type StepKind = 'input' | 'conv' | 'pool' | 'eltwise' | 'concat' | 'relu' | 'pass' | 'sw' | 'absorbed' | 'bn' | 'scale';

interface ConvStep {
  wq: Int32Array;
  outC: number;
  /** Xilinx */
  S?: Float64Array;
  bq?: Int32Array;
  /** DynamicFixed */
  biasInt?: Int32Array;
  shift?: number;
  fin: FixedFormat;
  fout: FixedFormat;
}

interface Step {
  kind: StepKind;
  node: LayerNode;
  /** integer input format(s) the layer expects (HW layers) */
  fin?: FixedFormat;
  fout?: FixedFormat;
  conv?: ConvStep;
  /** a conv's fused BN/Scale layers; its output is compared after the last of them */
  absorbed?: number[];
  /** DynamicFixed standalone BN/Scale: per-channel (x - mean)·mul + add on dequantized input */
  affine?: { mul: Float32Array; sub: Float32Array; add: Float32Array };
}

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

export interface LayerStats {
  index: number;
  name: string;
  type: string;
  /** the top blob compared */
  blob: string;
  /** 'hw': integer layer; 'sw': float (ARM) layer */
  where: 'hw' | 'sw';
  cumulative: ErrorAcc;
  /** HW layers only: the layer alone on the quantized float input */
  local?: ErrorAcc;
}

export interface SimStats {
  layers: Map<number, LayerStats>;
  /** the net input's values clipped by the format the board quantizes it with */
  input?: InputClip;
}

export function newSimStats(): SimStats {
  return { layers: new Map() };
}

export interface LayerReport {
  index: number;
  name: string;
  type: string;
  blob: string;
  where: 'hw' | 'sw';
  cumulative: ErrorSummary;
  local?: ErrorSummary;
}

/** Per-layer summaries, worst first: by local SQNR for HW layers (the damage a layer adds), then cumulative. */
export function layerReports(stats: SimStats): LayerReport[] {
  const out: LayerReport[] = [];
  for (const s of stats.layers.values()) {
    out.push({
      index: s.index, name: s.name, type: s.type, blob: s.blob, where: s.where,
      cumulative: summarize(s.cumulative), local: s.local ? summarize(s.local) : undefined,
    });
  }
  const key = (r: LayerReport) => (r.local ? r.local.sqnrDb : Infinity);
  out.sort((a, b) => key(a) - key(b) || a.cumulative.sqnrDb - b.cumulative.sqnrDb || a.index - b.index);
  return out;
}

export interface SimResult {
  /** dequantized values of the kept blobs (floats for SW-layer outputs) */
  outputs: Map<string, Tensor>;
  /** integer values of the kept blobs that are fixed */
  fixed: Map<string, Int32Array>;
  /** formats of the kept fixed blobs */
  formats: Map<string, FixedFormat>;
  /** the float reference values of the kept blobs (when reference is on) */
  reference: Map<string, Tensor>;
  stats: SimStats;
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

const SW_PASS = new Set(['Split', 'Dropout', 'Flatten', 'Reshape']);

function precisionBlock(node: LayerNode): Msg | undefined {
  return node.param.precision_param ?? node.param.quantization_param;
}

function detectMode(net: Net): QuantMode {
  let sawTh = false;
  for (const l of net.layers) {
    const b = precisionBlock(l);
    if (!b) continue;
    if (typeof b.quant_type === 'string' && b.quant_type !== '') {
      if (b.quant_type !== 'Xilinx' && b.quant_type !== 'DynamicFixed') {
        throw new ChaiqError(`layer '${l.name}': quant_type must be "Xilinx" or "DynamicFixed", got "${b.quant_type}"`, l.loc ?? {});
      }
      return b.quant_type;
    }
    if (b.th_layer_in !== undefined || b.th_layer_out !== undefined) sawTh = true;
  }
  return sawTh ? 'Xilinx' : 'DynamicFixed';
}

/** Reads precision fields with CHaiDNN's defaults, collecting the missing ones for one warning per layer. */
class Fields {
  missing: string[] = [];
  constructor(public node: LayerNode, public block: Msg | undefined) {}
  private get(name: string): any {
    const v = this.block?.[name];
    return v === undefined || v === null || (Array.isArray(v) && v.length === 0) ? undefined : v;
  }
  bw(name: string): number {
    const v = this.get(name);
    if (v === undefined) { this.missing.push(name); return DEFAULT_BW; }
    return Number(Array.isArray(v) ? v[0] : v);
  }
  fl(name: string, def = DEFAULT_FL): number {
    const v = this.get(name);
    if (v === undefined) { this.missing.push(name); return def; }
    return Number(Array.isArray(v) ? v[0] : v);
  }
  th(name: string): number {
    const v = this.get(name);
    if (v === undefined) { this.missing.push(name); return DEFAULT_TH; }
    return Number(Array.isArray(v) ? v[0] : v);
  }
  list(name: string): number[] | undefined {
    const v = this.get(name);
    return v === undefined ? undefined : rep<number>(v).map(Number);
  }
  report(warn: WarnFn): void {
    if (this.missing.length === 0) return;
    warn(`layer '${this.node.name}' (${this.node.type}): precision fields missing (${this.missing.join(', ')}); ` +
      `CHaiDNN assumes its defaults (bw ${DEFAULT_BW}, fl ${DEFAULT_FL}, th ${DEFAULT_TH})`, this.node.loc);
  }
}

function inFormat(mode: QuantMode, f: Fields): FixedFormat {
  return mode === 'Xilinx' ? { mode, bw: f.bw('bw_layer_in'), th: f.th('th_layer_in') } : { mode, bw: f.bw('bw_layer_in'), fl: f.fl('fl_layer_in') };
}

function outFormat(mode: QuantMode, f: Fields): FixedFormat {
  return mode === 'Xilinx' ? { mode, bw: f.bw('bw_layer_out'), th: f.th('th_layer_out') } : { mode, bw: f.bw('bw_layer_out'), fl: f.fl('fl_layer_out') };
}

function blobData(node: LayerNode, i: number, what: string): Float32Array {
  const b = node.blobs[i];
  if (!b) throw new ChaiqError(`layer '${node.name}' (${node.type}): ${what} missing (no weights loaded for this layer?)`, node.loc ?? {});
  return b.data;
}

/** The in-place BatchNorm / Scale layers CHaiDNN fuses into conv `ci` (§3.5): they rewrite the conv's top blob. */
function foldChain(net: Net, ci: number): number[] {
  const chain: number[] = [];
  let li = ci;
  let sawBn = false;
  let sawScale = false;
  for (;;) {
    const cons = net.consumers(li, 0);
    if (cons.length !== 1) break;
    const n = net.layers[cons[0]];
    const inPlace = n.bottoms.length === 1 && n.tops.length === 1 && n.tops[0] === n.bottoms[0] && n.tops[0] === net.layers[ci].tops[0];
    if (!inPlace) break;
    if (n.type === 'BatchNorm' && !sawBn && !sawScale) sawBn = true;
    else if (n.type === 'Scale' && !sawScale) sawScale = true;
    else break;
    chain.push(cons[0]);
    li = cons[0];
  }
  return chain;
}

function compileConv(net: Net, i: number, mode: QuantMode, warn: WarnFn, folded: number[], foldedFl: 'runtime' | 'mse' = 'runtime', finalOpTh: 'int' | 'float' = 'int'): ConvStep {
  const node = net.layers[i];
  const cp = sub(node, 'convolution_param');
  let W = blobData(node, 0, 'weights');
  const outC = num(cp, 'num_output', 0) || node.blobs[0].shape[0];
  const biasTerm = bool(cp, 'bias_term', true);
  let b: Float32Array | null = biasTerm && node.blobs[1] ? node.blobs[1].data : null;
  const f = new Fields(node, precisionBlock(node));
  let lastBlock = f;
  if (folded.length) {
    let bn: ReturnType<typeof bnFoldParams> | null = null;
    let sc: ReturnType<typeof scaleFoldParams> | null = null;
    for (const j of folded) {
      const n = net.layers[j];
      if (n.type === 'BatchNorm') bn = bnFoldParams(n);
      else sc = scaleFoldParams(n);
    }
    const r = A.foldBatchNorm(W, b, outC, bn, sc);
    W = r.W;
    b = r.b;
    // th_layer_out / fl_layer_out of the fused layer come from the last of the chain (Scale, else BN)
    lastBlock = new Fields(net.layers[folded[folded.length - 1]], precisionBlock(net.layers[folded[folded.length - 1]]));
  }
  const fin = inFormat(mode, f);
  let fout = outFormat(mode, lastBlock);
  if (mode === 'Xilinx' && folded.length && finalOpTh === 'int') fout = truncatedFinalOpTh(node, fout, warn);
  const bwP = f.bw('bw_params');
  let step: ConvStep;
  if (mode === 'Xilinx') {
    let th = f.list('th_params');
    if (folded.length || !th) {
      if (!th && !folded.length) f.missing.push('th_params');
      th = Array.from(A.absMaxPerFilter(W, outC)); // getAbsMaxPerFilter, also recomputed after folding
    }
    if (th.length !== outC) {
      throw new ChaiqError(`layer '${node.name}': ${th.length} th_params for ${outC} output channels`, node.loc ?? {});
    }
    const wq = A.quantizeWeightsXilinx(W, outC, th, bwP);
    const bq = b ? A.quantizeBiasXilinx(b, (fout as any).th, fout.bw) : new Int32Array(outC);
    const { S, overflow } = A.requantMultipliers(th, bwP, (fin as any).th, fin.bw, (fout as any).th, fout.bw);
    if (overflow.length) {
      warn(`layer '${node.name}': requant multiplier ≥ 2^24 on ${overflow.length} channel(s) (the HW reads ap_uint<24>); ` +
        'simulated with the full value — th_params·th_in/th_out is too large', node.loc);
    }
    step = { wq, outC, S, bq, fin, fout };
  } else {
    const wtFl = !folded.length ? f.fl('fl_params', DEFAULT_BW - 1) : foldedFl === 'mse' ? chooseFl(W, bwP, { kind: 'weights' }).fl : A.foldedWeightFl(W, bwP);
    const wq = A.quantizeDynamicFixed(W, bwP, wtFl);
    const ipFl = (fin as any).fl as number;
    const opFl = (fout as any).fl as number;
    const biasInt = b ? A.quantizeBiasDynamicFixed(b, fout.bw, opFl, ipFl, wtFl) : new Int32Array(outC);
    step = { wq, outC, biasInt, shift: ipFl + wtFl - opFl, fin, fout };
  }
  f.report(warn);
  if (lastBlock !== f) lastBlock.report(warn);
  return step;
}

/** CHaiDNN's `int final_op_th = ...th_layer_out` for a conv with BN/Scale fused (xtract_opt.cpp): C truncation. */
function truncatedFinalOpTh(node: LayerNode, fout: FixedFormat, warn: WarnFn): FixedFormat {
  const th = (fout as { th: number }).th;
  const t = Math.trunc(th);
  if (t === th) return fout;
  if (t === 0) {
    warn(`layer '${node.name}': CHaiDNN truncates the th_layer_out ${th} of its fused BN/Scale to the integer 0 (int final_op_th) ` +
      'and then divides by it; simulated with the float threshold instead (the board\'s result is undefined)', node.loc);
    return fout;
  }
  warn(`layer '${node.name}': CHaiDNN truncates the th_layer_out of its fused BN/Scale to an integer (int final_op_th): ${th} → ${t}; ` +
    'its consumers still read the float (--final_op_th float: the what-if without this)', node.loc);
  return { ...fout, th: t } as FixedFormat;
}

/** Resolves modes and formats, folds BN/Scale, quantizes weights. */
export function compileSim(net: Net, opts: SimOptions = {}): SimProgram {
  const warn: WarnFn = opts.warn ?? (() => {});
  const mode = opts.mode ?? detectMode(net);
  const steps: Step[] = new Array(net.layers.length);
  const absorbed = new Set<number>();
  for (let i = 0; i < net.layers.length; i++) {
    const node = net.layers[i];
    const blk = precisionBlock(node);
    if (blk && typeof blk.quant_type === 'string' && blk.quant_type !== '' && blk.quant_type !== mode) {
      warn(`layer '${node.name}': quant_type "${blk.quant_type}" differs from the net's mode "${mode}" (CHaiDNN needs one mode); simulated as ${mode}`, node.loc);
    }
    if (absorbed.has(i)) {
      steps[i] = { kind: 'absorbed', node };
      continue;
    }
    const t = node.type;
    const f = new Fields(node, blk);
    // a data layer (train/test net) is the input; its label is no activation
    switch (node.bottoms.length === 0 && net.inputs.some((x) => x.layer === node.name) ? 'Input' : t) {
      case 'Input':
        steps[i] = { kind: 'input', node };
        break;
      case 'Convolution': {
        const chain = foldChain(net, i);
        for (const j of chain) absorbed.add(j);
        steps[i] = { kind: 'conv', node, conv: compileConv(net, i, mode, warn, chain, opts.foldedWeightFl, opts.finalOpTh), absorbed: chain };
        break;
      }
      case 'Pooling': {
        const method = enumName(sub(node, 'pooling_param'), 'pool', ['MAX', 'AVE', 'STOCHASTIC'], 'MAX');
        if (method !== 'MAX' && method !== 'AVE') throw new ChaiqError(`layer '${node.name}': ${method} pooling is not supported by CHaiDNN`, node.loc ?? {});
        if (mode === 'DynamicFixed' && method === 'MAX') {
          steps[i] = { kind: 'pool', node }; // MAX pool needs no params in DynamicFixed (§3.1): keeps its input format
        } else {
          const fin = inFormat(mode, f);
          const fout = outFormat(mode, f);
          f.report(warn);
          if (mode === 'Xilinx' && Math.fround((fin as any).th) !== Math.fround((fout as any).th)) {
            warn(`layer '${node.name}': pooling th_layer_in ${(fin as any).th} ≠ th_layer_out ${(fout as any).th}; CHaiDNN does not rescale, the output is read at th_layer_out`, node.loc);
          }
          steps[i] = { kind: 'pool', node, fin, fout };
        }
        break;
      }
      case 'Eltwise': {
        const ep = sub(node, 'eltwise_param');
        const op = enumName(ep, 'operation', ['PROD', 'SUM', 'MAX'], 'SUM');
        const coeff = rep<number>(ep.coeff).map(Number);
        if (op !== 'SUM' || coeff.some((c) => c !== 1)) {
          throw new ChaiqError(`layer '${node.name}': CHaiDNN's Eltwise is a plain integer add; ${op}${coeff.length ? ' with coefficients' : ''} is not supported`, node.loc ?? {});
        }
        const fin = inFormat(mode, f);
        const fout = outFormat(mode, f);
        f.report(warn);
        steps[i] = { kind: 'eltwise', node, fin, fout };
        break;
      }
      case 'Concat': {
        const axis = num(sub(node, 'concat_param'), 'axis', 1);
        if (axis !== 1) throw new ChaiqError(`layer '${node.name}': Concat on axis ${axis}; CHaiDNN concatenates channels only`, node.loc ?? {});
        // Concat is deleted by CHaiDNN (producers write one buffer): its block, when present, names the shared format
        const fout = blk ? outFormat(mode, new Fields(node, blk)) : undefined;
        steps[i] = { kind: 'concat', node, fout };
        break;
      }
      case 'ReLU':
        steps[i] = { kind: 'relu', node };
        break;
      case 'BatchNorm':
      case 'Scale': {
        if (mode === 'Xilinx') {
          throw new ChaiqError(`layer '${node.name}' (${t}): a standalone ${t} is not supported by CHaiDNN in Xilinx mode ` +
            '(only BN/Scale in place after a convolution are fused); fold it into the convolution', node.loc ?? {});
        }
        steps[i] = compileAffineDF(node, f, warn);
        break;
      }
      default:
        if (SW_PASS.has(t)) steps[i] = { kind: 'pass', node };
        else {
          if (!FORWARDS[t]) throw new ChaiqError(`layer '${node.name}': type ${t} cannot be simulated (no forward)`, node.loc ?? {});
          if (node.def?.chaidnn === 'hw') warn(`layer '${node.name}' (${t}): not modelled in fixed point; run in float`, node.loc);
          steps[i] = { kind: 'sw', node };
        }
    }
  }
  return { net, mode, steps, warn, warned: new Set(), psum18: !!opts.psum18, aveDivisor: opts.aveDivisor ?? 'chaidnn' };
}

/**
 * Standalone BatchNorm / Scale in DynamicFixed mode (the HW BN opcode). Assumed model (the doc gives only the
 * parameter formats, §3.1): mean, variance (BN) or gamma, beta (Scale) rounded with Trim2FixedPoint to their own
 * bw/fl, the affine map applied to the dequantized input, the result quantized to bw/fl_layer_out.
 */
function compileAffineDF(node: LayerNode, f: Fields, warn: WarnFn): Step {
  const fin = inFormat('DynamicFixed', f);
  const fout = outFormat('DynamicFixed', f);
  const trim = (v: ArrayLike<number>, bw: number, fl: number) => Float32Array.from(v, (x) => A.trim2FixedPoint(x, bw, fl));
  let affine: Step['affine'];
  if (node.type === 'BatchNorm') {
    const p = bnFoldParams(node);
    const k = p.factor === 0 ? 0 : 1 / p.factor;
    const mean = trim(Array.from(p.mean, (m) => m * k), f.bw('batchnorm_mean_bw'), f.fl('batchnorm_mean_fl'));
    const v = trim(Array.from(p.variance, (m) => m * k), f.bw('batchnorm_variance_bw'), f.fl('batchnorm_variance_fl'));
    affine = { sub: mean, mul: Float32Array.from(v, (x) => 1 / Math.sqrt(x + p.eps)), add: new Float32Array(mean.length) };
  } else {
    if (node.bottoms.length > 1) throw new ChaiqError(`layer '${node.name}': Scale with a second bottom is not supported`, node.loc ?? {});
    const p = scaleFoldParams(node);
    const gamma = trim(p.gamma, f.bw('scale_gamma_bw'), f.fl('scale_gamma_fl'));
    const beta = p.beta ? trim(p.beta, f.bw('scale_beta_bw'), f.fl('scale_beta_fl')) : new Float32Array(gamma.length);
    affine = { sub: new Float32Array(gamma.length), mul: gamma, add: beta };
  }
  f.report(warn);
  return { kind: node.type === 'BatchNorm' ? 'bn' : 'scale', node, fin, fout, affine };
}

function warnOnce(p: SimProgram, key: string, msg: string, node?: LayerNode): void {
  if (p.warned.has(key)) return;
  p.warned.add(key);
  p.warn(msg, node?.loc);
}

/** Integers for a HW layer's input: a fixed blob as it is (CHaiDNN never rescales), a float one quantized. */
function toFixed(p: SimProgram, v: Val, fin: FixedFormat, node: LayerNode, blob: string): Int32Array {
  if (v.q) {
    if (!sameFormat(v.fmt!, fin)) {
      warnOnce(p, `mm:${node.name}:${blob}`, `layer '${node.name}': input '${blob}' is ${fmtStr(v.fmt!)} but the layer reads it as ${fmtStr(fin)} ` +
        '(CHaiDNN: "threshold values are not matching"; the integers are used as they are)', node);
    }
    return v.q;
  }
  return quantizeFloat(v.f!, fin, !!v.isNetInput);
}

/** Network input: Trim2FixedPoint_Offline (half away); SW→HW: the pack converter (half up); DynamicFixed: Trim2FixedPoint. */
export function quantizeFloat(x: ArrayLike<number>, fmt: FixedFormat, netInput = true): Int32Array {
  if (fmt.mode === 'DynamicFixed') return A.quantizeDynamicFixed(x, fmt.bw, fmt.fl);
  return netInput ? A.quantizeXilinx(x, fmt.th, fmt.bw) : A.quantizeXilinxPack(x, fmt.th, fmt.bw);
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

function poolGeomOf(node: LayerNode, shape: number[]): { g: A.PoolGeom; method: string } {
  const pg = poolGeometry(node, shape);
  const anyPad = pg.pad[0] !== 0 || pg.pad[1] !== 0;
  const g: A.PoolGeom = {
    C: shape[1], inH: shape[2], inW: shape[3],
    outH: pooledSize(shape[2], pg.kernel[0], pg.stride[0], pg.pad[0], pg.ceil, anyPad),
    outW: pooledSize(shape[3], pg.kernel[1], pg.stride[1], pg.pad[1], pg.ceil, anyPad),
    kH: pg.kernel[0], kW: pg.kernel[1], strideH: pg.stride[0], strideW: pg.stride[1], padH: pg.pad[0], padW: pg.pad[1],
  };
  return { g, method: pg.pool };
}

/** One HW step on integer inputs → integer output(s). */
function runHw(p: SimProgram, st: Step, ins: Int32Array[], inShapes: number[][], inFmts: (FixedFormat | undefined)[]): { q: Int32Array; shape: number[]; fmt: FixedFormat } {
  const node = st.node;
  switch (st.kind) {
    case 'conv': {
      const c = st.conv!;
      const g = convGeomOf(node, inShapes[0], c.outC);
      if (g.inC * g.kH * g.kW * (c.outC / g.group) !== c.wq.length * 1 || g.inC % g.group !== 0) {
        throw new ChaiqError(`layer '${node.name}': weights do not match the input (${g.inC} channels, group ${g.group})`, node.loc ?? {});
      }
      const q = c.S
        ? A.convXilinx(ins[0], c.wq, c.bq!, c.S, g, c.fout.bw, false, p.psum18)
        : A.convDynamicFixed(ins[0], c.wq, c.biasInt!, c.shift!, g, c.fout.bw, false, p.psum18);
      return { q, shape: [1, c.outC, g.outH, g.outW], fmt: c.fout };
    }
    case 'pool': {
      const { g, method } = poolGeomOf(node, inShapes[0]);
      const shape = [1, g.C, g.outH, g.outW];
      if (method === 'MAX') return { q: A.maxPoolInt(ins[0], g), shape, fmt: st.fout ?? inFmts[0]! };
      const fout = st.fout!;
      const extra = fout.mode === 'DynamicFixed' ? (st.fin as any).fl - fout.fl : 0;
      return { q: A.avePoolInt(ins[0], g, fout.bw, extra, p.aveDivisor), shape, fmt: fout };
    }
    case 'eltwise':
      return { q: A.eltwiseAddInt(ins, st.fout!.bw), shape: inShapes[0].slice(), fmt: st.fout! };
    case 'concat': {
      const shape = inShapes[0].slice();
      shape[1] = inShapes.reduce((s, sh) => s + sh[1], 0);
      return { q: A.concatInt(ins), shape, fmt: st.fout ?? inFmts[0]! };
    }
    default:
      throw new Error(`runHw: ${st.kind}`);
  }
}

function inputFormatsOf(st: Step, n: number): (FixedFormat | undefined)[] {
  if (st.kind === 'conv') return [st.conv!.fin];
  if (st.kind === 'concat' || (st.kind === 'pool' && !st.fin)) return new Array(n).fill(undefined);
  return new Array(n).fill(st.fin);
}

function keepSet(net: Net, keep: SimOptions['keep']): (blob: string) => boolean {
  if (keep === 'all') return () => true;
  const s = new Set(Array.isArray(keep) ? keep : net.outputs);
  return (b) => s.has(b);
}

async function floatForward(node: LayerNode, bottoms: Tensor[], warn: WarnFn): Promise<Tensor[]> {
  const fwd = node.def?.forward ?? FORWARDS[node.type];
  if (!fwd) throw new ChaiqError(`layer '${node.name}': type ${node.type} has no float forward`, node.loc ?? {});
  return await fwd(node, bottoms, { warn });
}

/** Runs one image (batch 1) through the prepared program. */
export async function runSim(p: SimProgram, input: Tensor, opts: SimOptions = {}): Promise<SimResult> {
  const net = p.net;
  if (net.inputs.length !== 1) throw new ChaiqError(`CHaiDNN runs nets with exactly one input; this net has ${net.inputs.length}`);
  if (input.shape[0] !== 1) throw new ChaiqError(`the simulator runs batch 1 (CHaiDNN's only batch size); got input shape (${input.shape})`);
  const reference = opts.reference !== false;
  const stats = opts.stats ?? newSimStats();
  const kept = keepSet(net, opts.keep);
  const vals = new Map<string, Val>();
  const refs = new Map<string, Tensor>();
  const inName = net.inputs[0].name;
  // CHaiDNN's loader quantizes the image once, with the first layer's th_layer_in (§3.3)
  const firstHw = p.steps.find((st) => st.node.bottoms.includes(inName) && (st.conv?.fin ?? st.fin));
  const inFmt = firstHw ? (firstHw.conv?.fin ?? firstHw.fin)! : undefined;
  vals.set(inName, inFmt
    ? { shape: input.shape.slice(), q: quantizeFloat(input.data, inFmt, true), fmt: inFmt }
    : { shape: input.shape.slice(), f: input.data, isNetInput: true });
  if (reference) refs.set(inName, input);
  const inNode = firstHw ? net.layers.find((l) => l.tops.includes(inName)) : undefined;
  if (firstHw && inFmt) stats.input = addInputClip(stats.input, input.data, inName, firstHw.node.name, inFmt);
  // local results of fused convs wait for the last absorbed layer
  const pending = new Map<number, { step: Step; fixed: Val; local?: Val }>();

  const record = (st: Step, idx: number, blob: string, fixed: Val, local?: Val) => {
    if (!reference) return;
    const ref = refs.get(blob);
    if (!ref) return;
    let ls = stats.layers.get(idx);
    if (!ls) {
      ls = { index: idx, name: st.node.name, type: st.node.type, blob, where: fixed.q ? 'hw' : 'sw', cumulative: newErrorAcc() };
      stats.layers.set(idx, ls);
    }
    accumulateError(ls.cumulative, ref.data, dequant(fixed), fixed.q, fixed.fmt?.bw);
    if (local) {
      if (!ls.local) ls.local = newErrorAcc();
      accumulateError(ls.local, ref.data, dequant(local), local.q, local.fmt?.bw);
    }
  };

  for (let i = 0; i < p.steps.length; i++) {
    const st = p.steps[i];
    const node = st.node;
    opts.onLayer?.({ index: i, name: node.name, type: node.type, kind: st.kind });
    if (st.kind === 'input') {
      // the input row of the table: quantizing the image is where a too-large fl or too-small th saturates
      if (node === inNode) record(st, i, inName, vals.get(inName)!, vals.get(inName)!);
      continue;
    }
    const floatBottoms = reference ? node.bottoms.map((b) => refs.get(b)!) : [];
    // the float reference, in Caffe's semantics
    if (reference) {
      const tops = await floatForward(node, floatBottoms, p.warn);
      opts.onReference?.(node, tops);
      node.tops.forEach((t, k) => refs.set(t, tops[k]));
    }
    if (st.kind === 'absorbed') {
      for (const [ci, pend] of pending) {
        const ab = pend.step.absorbed!;
        if (ab[ab.length - 1] === i) {
          record(pend.step, ci, pend.step.node.tops[0], pend.fixed, pend.local);
          pending.delete(ci);
        }
      }
      continue;
    }
    const bvals = node.bottoms.map((b) => {
      const v = vals.get(b);
      if (!v) throw new ChaiqError(`layer '${node.name}': bottom '${b}' has no value`, node.loc ?? {});
      return v;
    });
    let out: Val[];
    let local: Val | undefined;
    if (opts.floatLayers?.has(node.name) && FLOATABLE_KINDS.has(st.kind)) {
      // float forward on the dequantized input, output in the format its consumers read
      const t = await floatLayerForward(net, node, st.absorbed ?? [], bvals.map((v) => ({ shape: v.shape, data: dequant(v) })), p.warn);
      const fmt = consumerFormat(net, p.steps, i) ?? st.conv?.fout ?? st.fout ?? bvals.find((v) => v.fmt)?.fmt;
      out = t.map((x) => (fmt ? { shape: x.shape, q: quantizeFloat(x.data, fmt, true), fmt } : { shape: x.shape, f: x.data }));
      local = reference ? out[0] : undefined;
    } else switch (st.kind) {
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
              warnOnce(p, `cat:${node.name}:${k}`, `layer '${node.name}': input '${node.bottoms[k]}' is ${fmtStr(f)}, the output ${fmtStr(want)}; ` +
                `CHaiDNN's ${node.type} does not rescale, all must share one format`, node);
            }
          });
        }
        const r = runHw(p, st, ins, bvals.map((v) => v.shape), inFmts);
        out = [{ shape: r.shape, q: r.q, fmt: r.fmt }];
        if (reference) {
          // the layer alone: float reference inputs quantized with the formats the layer reads
          const lins = floatBottoms.map((t, k) => quantizeFloat(t.data, (fins[k] ?? inFmts[k])!, true));
          const lr = runHw(p, st, lins, floatBottoms.map((t) => t.shape), fins.map((f, k) => f ?? inFmts[k]));
          local = { shape: lr.shape, q: lr.q, fmt: lr.fmt };
        }
        break;
      }
      case 'relu': {
        const v = bvals[0];
        if (v.q) {
          out = [{ shape: v.shape, q: A.reluInt(v.q), fmt: v.fmt }]; // fused into the producer; its block is ignored
        } else {
          const t = await floatForward(node, [{ shape: v.shape, data: v.f! }], p.warn);
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
        const xq = toFixed(p, v, st.fin!, node, node.bottoms[0]);
        const x = dequant({ shape: v.shape, q: xq, fmt: st.fin });
        const C = v.shape[1];
        const plane = x.length / C;
        const y = new Float32Array(x.length);
        const af = st.affine!;
        for (let c = 0; c < C; c++) for (let j = 0; j < plane; j++) y[c * plane + j] = (x[c * plane + j] - af.sub[c]) * af.mul[c] + af.add[c];
        out = [{ shape: v.shape, q: quantizeFloat(y, st.fout!), fmt: st.fout }];
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
    node.tops.forEach((t, k) => vals.set(t, out[k]));
    if (st.kind === 'conv' && st.absorbed!.length) {
      pending.set(i, { step: st, fixed: out[0], local });
    } else {
      node.tops.forEach((t, k) => record(st, i, t, out[k], k === 0 ? local : undefined));
    }
  }

  const outputs = new Map<string, Tensor>();
  const fixed = new Map<string, Int32Array>();
  const formats = new Map<string, FixedFormat>();
  const refOut = new Map<string, Tensor>();
  for (const [b, v] of vals) {
    if (!kept(b)) continue;
    outputs.set(b, { shape: v.shape, data: dequant(v) });
    if (v.q) {
      fixed.set(b, v.q);
      formats.set(b, v.fmt!);
    }
    const r = refs.get(b);
    if (r) refOut.set(b, r);
  }
  return { outputs, fixed, formats, reference: refOut, stats };
}

/** compileSim + runSim for one image. */
export async function simulateNet(net: Net, input: Tensor, opts: SimOptions = {}): Promise<SimResult> {
  return runSim(compileSim(net, opts), input, opts);
}
