/**
 * The simulator's program: one step per layer, compiled from the layer types' `fixed` declarations
 * (src/layers/types.ts FixedKind) and the runtime's partition (src/chaidnn/partition.ts). Each kind carries
 * exactly what the executor needs for it, so a step's formats and weights are there by its type.
 */
import { chooseFl } from '../calib/fl';
import { ChaiqError, type WarnFn } from '../errors';
import type { LayerNode, Net } from '../graph/types';
import type { Msg } from '../proto/message';
import { forwardOf } from '../layers/registry';
import { enumName, num, rep, sub, bool } from '../layers/params';
import * as A from '../chaidnn/arith';
import { DEFAULT_BW, DEFAULT_FL, DEFAULT_TH, type FixedFormat } from '../chaidnn/format';
import { bnFoldParams, scaleFoldParams } from '../chaidnn/weights';
import { runtimeConvWeights } from '../chaidnn/conv-weights';
import { netFusions, type ConvFusion } from '../chaidnn/fusion';
import { detectMode, precisionBlock as runtimeBlock } from '../chaidnn/mode';
import { partitionNet } from '../chaidnn/partition';
import type { FixedKind, QuantMode } from '../layers/types';

type XilinxFormat = Extract<FixedFormat, { mode: 'Xilinx' }>;
type DynamicFixedFormat = Extract<FixedFormat, { mode: 'DynamicFixed' }>;

/** The net input (its Input / data layer): the loader quantizes the image. */
export interface InputStep { kind: 'input'; node: LayerNode }
/** A BN/Scale (or ReLU) fused into the convolution before it: computed there. */
export interface AbsorbedStep { kind: 'absorbed'; node: LayerNode }
/** A layer the runtime keeps on the integers without computing (its float forward only gives the shape). */
export interface PassStep { kind: 'pass'; node: LayerNode }
/** A layer run in float on the ARM, on dequantized inputs. */
export interface SwStep { kind: 'sw'; node: LayerNode }
/** ReLU: a max with 0 on a fixed input (the producer's flag), a float forward on a float one. */
export interface ReluStep { kind: 'relu'; node: LayerNode }

/** Conv weights quantized the runtime's way, per mode. */
export type ConvWeights =
  | { mode: 'Xilinx'; wq: Int32Array; S: Float64Array; bq: Int32Array }
  | { mode: 'DynamicFixed'; wq: Int32Array; biasInt: Int32Array; shift: number };

export interface ConvStep {
  kind: 'conv';
  node: LayerNode;
  fin: FixedFormat;
  fout: FixedFormat;
  outC: number;
  weights: ConvWeights;
  /** its fused BN/Scale layers (and ReLUs between them); its output is compared after the last of them */
  absorbed: number[];
  /** a ReLU in the fused chain, applied by the runtime after the fused conv (§3.5) */
  relu: boolean;
}

/**
 * Pooling. MAX keeps its input's format unless it has a block of its own; a DynamicFixed MAX has a `fin` only
 * when it packs a float input. AVE requantizes, so it always has both.
 */
export type PoolStep =
  | { kind: 'pool'; node: LayerNode; method: 'MAX'; fin?: FixedFormat; fout?: FixedFormat }
  | { kind: 'pool'; node: LayerNode; method: 'AVE'; fin: FixedFormat; fout: FixedFormat };

export interface EltwiseStep { kind: 'eltwise'; node: LayerNode; fin: FixedFormat; fout: FixedFormat }

/** Concat (deleted by CHaiDNN: producers write one buffer); `fout`: the shared format its block names. */
export interface ConcatStep { kind: 'concat'; node: LayerNode; fout?: FixedFormat }

/** DynamicFixed standalone BN/Scale: per-channel (x - sub)·mul + add on the dequantized input. */
export interface AffineStep {
  kind: 'bn' | 'scale';
  node: LayerNode;
  fin: DynamicFixedFormat;
  fout: DynamicFixedFormat;
  affine: { mul: Float32Array; sub: Float32Array; add: Float32Array };
}

export type Step = InputStep | AbsorbedStep | PassStep | SwStep | ReluStep | ConvStep | PoolStep | EltwiseStep | ConcatStep | AffineStep;
export type StepKind = Step['kind'];

/** The integer format a step reads its (first) input with, if it has one of its own. */
export function inputFormatOf(st: Step): FixedFormat | undefined {
  switch (st.kind) {
    case 'conv': case 'pool': case 'eltwise': case 'bn': case 'scale': return st.fin;
    default: return undefined;
  }
}

/** The integer format a step writes, if its block names one. */
export function outputFormatOf(st: Step): FixedFormat | undefined {
  switch (st.kind) {
    case 'conv': case 'pool': case 'eltwise': case 'concat': case 'bn': case 'scale': return st.fout;
    default: return undefined;
  }
}

/** The fused layers a step computes along with its own (a conv's BN/Scale chain). */
export function absorbedOf(st: Step): number[] {
  return st.kind === 'conv' ? st.absorbed : [];
}

export interface StepOptions {
  foldedWeightFl?: 'runtime' | 'mse';
  finalOpTh?: 'int' | 'float';
}

function precisionBlock(node: LayerNode): Msg | undefined {
  return runtimeBlock(node.param);
}

/** The net's mode; a quant_type other than the two is bad input. */
export function netMode(net: Net): QuantMode {
  for (const l of net.layers) {
    const b = precisionBlock(l);
    if (b && typeof b.quant_type === 'string' && b.quant_type !== '' && b.quant_type !== 'Xilinx' && b.quant_type !== 'DynamicFixed') {
      throw new ChaiqError(`layer '${l.name}': quant_type must be "Xilinx" or "DynamicFixed", got "${b.quant_type}"`, l.loc ?? {});
    }
  }
  return detectMode(net.layers.map(precisionBlock), 'DynamicFixed');
}

/** Reads precision fields with CHaiDNN's defaults, collecting the missing ones for one warning per layer. */
class Fields {
  missing: string[] = [];
  constructor(public node: LayerNode, public block: Msg | undefined) {}
  private get(name: string): unknown {
    const v = this.block?.[name];
    return v === undefined || v === null || (Array.isArray(v) && v.length === 0) ? undefined : v;
  }
  private first(name: string, def: number): number {
    const v = this.get(name);
    if (v === undefined) { this.missing.push(name); return def; }
    return Number(Array.isArray(v) ? v[0] : v);
  }
  bw(name: string): number { return this.first(name, DEFAULT_BW); }
  fl(name: string, def = DEFAULT_FL): number { return this.first(name, def); }
  th(name: string): number { return this.first(name, DEFAULT_TH); }
  list(name: string): number[] | undefined {
    const v = this.get(name);
    return v === undefined ? undefined : rep(v).map(Number);
  }
  report(warn: WarnFn): void {
    if (this.missing.length === 0) return;
    warn(`layer '${this.node.name}' (${this.node.type}): precision fields missing (${this.missing.join(', ')}); ` +
      `CHaiDNN assumes its defaults (bw ${DEFAULT_BW}, fl ${DEFAULT_FL}, th ${DEFAULT_TH})`, this.node.loc);
  }
}

function xilinxFormat(f: Fields, side: 'in' | 'out'): XilinxFormat {
  return { mode: 'Xilinx', bw: f.bw(`bw_layer_${side}`), th: f.th(`th_layer_${side}`) };
}

function dynamicFixedFormat(f: Fields, side: 'in' | 'out'): DynamicFixedFormat {
  return { mode: 'DynamicFixed', bw: f.bw(`bw_layer_${side}`), fl: f.fl(`fl_layer_${side}`) };
}

function inFormat(mode: QuantMode, f: Fields): FixedFormat {
  return mode === 'Xilinx' ? xilinxFormat(f, 'in') : dynamicFixedFormat(f, 'in');
}

function outFormat(mode: QuantMode, f: Fields): FixedFormat {
  return mode === 'Xilinx' ? xilinxFormat(f, 'out') : dynamicFixedFormat(f, 'out');
}

function blobData(node: LayerNode, i: number, what: string): Float32Array {
  const b = node.blobs[i];
  if (!b) throw new ChaiqError(`layer '${node.name}' (${node.type}): ${what} missing (no weights loaded for this layer?)`, node.loc ?? {});
  return b.data;
}

type ConvParts = Pick<ConvStep, 'fin' | 'fout' | 'outC' | 'weights'>;

function compileConv(net: Net, i: number, mode: QuantMode, warn: WarnFn, folded: number[], foldedFl: 'runtime' | 'mse' = 'runtime', finalOpTh: 'int' | 'float' = 'int'): ConvParts {
  const node = net.layers[i];
  const cp = sub(node, 'convolution_param');
  blobData(node, 0, 'weights');
  const outC = num(cp, 'num_output', 0) || node.blobs[0].shape[0];
  const { W, b } = runtimeConvWeights(node, outC, folded.map((j) => net.layers[j]), bool(cp, 'bias_term', true));
  const f = new Fields(node, precisionBlock(node));
  // th_layer_out / fl_layer_out of the fused layer come from the last of the chain (Scale, else BN)
  const lastNode = folded.length ? net.layers[folded[folded.length - 1]] : node;
  const lastBlock = lastNode === node ? f : new Fields(lastNode, precisionBlock(lastNode));
  let parts: ConvParts;
  if (mode === 'Xilinx') {
    const fin = xilinxFormat(f, 'in');
    let fout = xilinxFormat(lastBlock, 'out');
    if (folded.length && finalOpTh === 'int') fout = truncatedFinalOpTh(node, fout, warn);
    const bwP = f.bw('bw_params');
    let th = f.list('th_params');
    if (folded.length || !th) {
      if (!th && !folded.length) f.missing.push('th_params');
      th = Array.from(A.absMaxPerFilter(W, outC)); // getAbsMaxPerFilter, also recomputed after folding
    }
    if (th.length !== outC) {
      throw new ChaiqError(`layer '${node.name}': ${th.length} th_params for ${outC} output channels`, node.loc ?? {});
    }
    const wq = A.quantizeWeightsXilinx(W, outC, th, bwP);
    const bq = b ? A.quantizeBiasXilinx(b, fout.th, fout.bw) : new Int32Array(outC);
    const { S, overflow } = A.requantMultipliers(th, bwP, fin.th, fin.bw, fout.th, fout.bw);
    if (overflow.length) {
      warn(`layer '${node.name}': requant multiplier ≥ 2^24 on ${overflow.length} channel(s) (the HW reads ap_uint<24>); ` +
        'simulated with the full value — th_params·th_in/th_out is too large', node.loc);
    }
    parts = { fin, fout, outC, weights: { mode, wq, S, bq } };
  } else {
    const fin = dynamicFixedFormat(f, 'in');
    const fout = dynamicFixedFormat(lastBlock, 'out');
    const bwP = f.bw('bw_params');
    const wtFl = !folded.length ? f.fl('fl_params', DEFAULT_BW - 1) : foldedFl === 'mse' ? chooseFl(W, bwP, { kind: 'weights' }).fl : A.foldedWeightFl(W, bwP);
    const wq = A.quantizeDynamicFixed(W, bwP, wtFl);
    const biasInt = b ? A.quantizeBiasDynamicFixed(b, fout.bw, fout.fl, fin.fl, wtFl) : new Int32Array(outC);
    if (b) warnBiasOverflow(node, A.dynamicFixedBiasOverflows(b, fout.bw, fout.fl, fin.fl, wtFl), fin.fl + wtFl, warn);
    parts = { fin, fout, outC, weights: { mode, wq, biasInt, shift: fin.fl + wtFl - fout.fl } };
  }
  f.report(warn);
  if (lastBlock !== f) lastBlock.report(warn);
  return parts;
}

/** A DynamicFixed bias beyond the 16-bit word at 2^(fl_layer_in + fl_params) wraps on the board (simulated so). */
function warnBiasOverflow(node: LayerNode, over: number[], fbits: number, warn: WarnFn): void {
  if (!over.length) return;
  warn(`layer '${node.name}': the bias of ${over.length} channel(s) (first: ${over[0]}) does not fit CHaiDNN's 16-bit bias word at ` +
    `2^${fbits} (fl_layer_in + fl_params) and wraps on the board; simulated wrapped (a smaller fl_params or fl_layer_in avoids it)`, node.loc);
}

/** CHaiDNN's `int final_op_th = ...th_layer_out` for a conv with BN/Scale fused (xtract_opt.cpp): C truncation. */
function truncatedFinalOpTh(node: LayerNode, fout: XilinxFormat, warn: WarnFn): XilinxFormat {
  const th = fout.th;
  const t = Math.trunc(th);
  if (t === th) return fout;
  if (t === 0) {
    warn(`layer '${node.name}': CHaiDNN truncates the th_layer_out ${th} of its fused BN/Scale to the integer 0 (int final_op_th) ` +
      'and then divides by it; simulated with the float threshold instead (the board\'s result is undefined)', node.loc);
    return fout;
  }
  warn(`layer '${node.name}': CHaiDNN truncates the th_layer_out of its fused BN/Scale to an integer (int final_op_th): ${th} → ${t}; ` +
    'its consumers still read the float (--final_op_th float: the what-if without this)', node.loc);
  return { ...fout, th: t };
}

/** Fixed-point kinds that read their input with a format of their own (a float input is packed with it). */
function hasInputFormat(k: FixedKind | undefined): boolean {
  return k === 'conv' || k === 'pool' || k === 'eltwise' || k === 'affine';
}

/** Resolves formats, folds BN/Scale, quantizes weights: one step per layer. */
export function compileSteps(net: Net, mode: QuantMode, warn: WarnFn, opts: StepOptions = {}): Step[] {
  const steps: Step[] = new Array(net.layers.length);
  const fusions = netFusions(net);
  const inName = net.inputs[0]?.name;
  const part = partitionNet(net, net.layers.some((l) => l.bottoms.includes(inName) && hasInputFormat(l.def?.fixed)));
  for (let i = 0; i < net.layers.length; i++) {
    const node = net.layers[i];
    const blk = precisionBlock(node);
    const t = node.type;
    const where = part.place[i];
    const fixed = node.def?.fixed;
    if (where === 'input') steps[i] = { kind: 'input', node };
    else if (where === 'fused') steps[i] = { kind: 'absorbed', node };
    else if (where === 'keep') steps[i] = { kind: 'pass', node };
    else if (where === 'arm' || !fixed) {
      if (!forwardOf(t)) throw new ChaiqError(`layer '${node.name}': type ${t} cannot be simulated (no forward)`, node.loc ?? {});
      if (node.def?.chaidnn === 'hw' && !fixed) warn(`layer '${node.name}' (${t}): not modelled in fixed point; run in float`, node.loc);
      steps[i] = { kind: 'sw', node };
    } else {
      steps[i] = compileFixed(net, i, fixed, layerMode(blk, mode), new Fields(node, blk), warn, opts, {
        fusion: fusions.byConv.get(i),
        packsInput: !part.fixedIn[i][0] || node.bottoms[0] === inName,
      });
    }
  }
  return steps;
}

/**
 * The mode the runtime runs a layer in: its own block's quant_type (parsed per layer, caffe_network_parser.cpp
 * ExtractPrecisionParameters; each HW layer's init and kernel take it from there), else the net's. A layer of the
 * other mode reads the integers as they come (a mismatched scale is warned where they are read).
 */
function layerMode(blk: Msg | undefined, mode: QuantMode): QuantMode {
  return blk?.quant_type === 'Xilinx' || blk?.quant_type === 'DynamicFixed' ? blk.quant_type : mode;
}

interface FixedContext {
  fusion?: ConvFusion;
  /** the layer's first input is a float value (or the net input) that it packs with its own format */
  packsInput: boolean;
}

/** A layer the partition put on the FPGA, by the fixed kind its type declares. */
function compileFixed(net: Net, i: number, fixed: FixedKind, mode: QuantMode, f: Fields, warn: WarnFn, opts: StepOptions, cx: FixedContext): Step {
  const node = net.layers[i];
  const t = node.type;
  switch (fixed) {
    case 'conv': {
      const fu = cx.fusion;
      const parts = compileConv(net, i, mode, warn, fu?.folded ?? [], opts.foldedWeightFl, opts.finalOpTh);
      const step: ConvStep = { kind: 'conv', node, ...parts, absorbed: fu?.absorbed ?? [], relu: !!fu?.reluMoved };
      if (fu?.reluMoved) {
        warn(`layer '${node.name}': CHaiDNN fuses ${fu.absorbed.map((j) => `'${net.layers[j].name}'`).join(', ')} into it and applies the ReLU after the folded BatchNorm/Scale ` +
          '(Caffe applies it before them; the two agree only where the scale is positive)', node.loc);
      }
      return step;
    }
    case 'pool': {
      const method = enumName(sub(node, 'pooling_param'), 'pool', ['MAX', 'AVE', 'STOCHASTIC'], 'MAX');
      if (method !== 'MAX' && method !== 'AVE') throw new ChaiqError(`layer '${node.name}': ${method} pooling is not supported by CHaiDNN`, node.loc ?? {});
      if (mode === 'DynamicFixed' && method === 'MAX') {
        // MAX pool needs no params in DynamicFixed (§3.1): keeps its input format; a float input is packed with its fl_layer_in
        if (!cx.packsInput) return { kind: 'pool', node, method };
        const fin = inFormat(mode, f);
        f.report(warn);
        return { kind: 'pool', node, method, fin };
      }
      const fin = inFormat(mode, f);
      const fout = outFormat(mode, f);
      f.report(warn);
      if (fin.mode === 'Xilinx' && fout.mode === 'Xilinx' && Math.fround(fin.th) !== Math.fround(fout.th)) {
        warn(`layer '${node.name}': pooling th_layer_in ${fin.th} ≠ th_layer_out ${fout.th}; CHaiDNN does not rescale, the output is read at th_layer_out`, node.loc);
      }
      return { kind: 'pool', node, method, fin, fout };
    }
    case 'eltwise': {
      const ep = sub(node, 'eltwise_param');
      const op = enumName(ep, 'operation', ['PROD', 'SUM', 'MAX'], 'SUM');
      const coeff = rep<number>(ep.coeff).map(Number);
      if (op !== 'SUM' || coeff.some((c) => c !== 1)) {
        throw new ChaiqError(`layer '${node.name}': CHaiDNN's Eltwise is a plain integer add; ${op}${coeff.length ? ' with coefficients' : ''} is not supported`, node.loc ?? {});
      }
      const fin = inFormat(mode, f);
      const fout = outFormat(mode, f);
      f.report(warn);
      return { kind: 'eltwise', node, fin, fout };
    }
    case 'concat':
      // Concat is deleted by CHaiDNN (producers write one buffer): its block, when present, names the shared format
      return { kind: 'concat', node, fout: f.block ? outFormat(mode, f) : undefined };
    case 'relu':
      return { kind: 'relu', node };
    case 'affine':
      if (mode === 'Xilinx') {
        throw new ChaiqError(`layer '${node.name}' (${t}): a standalone ${t} is not supported by CHaiDNN in Xilinx mode ` +
          '(only BN/Scale in place after a convolution are fused); fold it into the convolution', node.loc ?? {});
      }
      return compileAffineDF(node, f, warn);
  }
}

/**
 * Standalone BatchNorm / Scale in DynamicFixed mode (the HW BN opcode). Assumed model (the doc gives only the
 * parameter formats, §3.1): mean, variance (BN) or gamma, beta (Scale) rounded with Trim2FixedPoint to their own
 * bw/fl, the affine map applied to the dequantized input, the result quantized to bw/fl_layer_out.
 */
function compileAffineDF(node: LayerNode, f: Fields, warn: WarnFn): AffineStep {
  const fin = dynamicFixedFormat(f, 'in');
  const fout = dynamicFixedFormat(f, 'out');
  const trim = (v: ArrayLike<number>, bw: number, fl: number) => Float32Array.from(v, (x) => A.trim2FixedPoint(x, bw, fl));
  let affine: AffineStep['affine'];
  const bn = node.def?.convFusion === 'batchnorm';
  if (bn) {
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
  return { kind: bn ? 'bn' : 'scale', node, fin, fout, affine };
}
