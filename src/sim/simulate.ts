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
import type { Tensor } from '../tensor';
import { forwardOf } from '../layers/registry';
import { convGeometry, enumName, num, poolGeometry, pooledSize, rep, sub, bool } from '../layers/params';
import * as A from '../chaidnn/arith';
import { DEFAULT_BW, DEFAULT_FL, DEFAULT_TH, formatScale, formatString, quantizeFloat, sameFormat, type FixedFormat } from '../chaidnn/format';
import { bnFoldParams, scaleFoldParams } from '../chaidnn/weights';
import { runtimeConvWeights } from '../chaidnn/conv-weights';
import { netFusions } from '../chaidnn/fusion';
import { detectMode, precisionBlock as runtimeBlock } from '../chaidnn/mode';
import { partitionNet } from '../chaidnn/partition';
import type { FixedKind, QuantMode } from '../layers/types';
import { dequant, newSimStats, packageResult, type SimResult, type SimStats, type Val } from './result';
import { ReferenceObserver, floatForward } from './observer';
import { addInputClip } from './input-range';
import { FLOATABLE_KINDS, consumerFormat, floatLayerForward } from './float-layers';

export { layerReports, newSimStats, type LayerReport, type LayerStats, type SimResult, type SimStats } from './result';
export { DEFAULT_BW, DEFAULT_FL, DEFAULT_TH, formatScale, quantizeFloat, type FixedFormat };

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
  /** a conv's fused BN/Scale layers (and ReLUs between them); its output is compared after the last of them */
  absorbed?: number[];
  /** conv: a ReLU in the fused chain, applied by the runtime after the fused conv (§3.5) */
  relu?: boolean;
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

function precisionBlock(node: LayerNode): Msg | undefined {
  return runtimeBlock(node.param);
}

/** The net's mode; a quant_type other than the two is bad input. */
function netMode(net: Net): QuantMode {
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

function compileConv(net: Net, i: number, mode: QuantMode, warn: WarnFn, folded: number[], foldedFl: 'runtime' | 'mse' = 'runtime', finalOpTh: 'int' | 'float' = 'int'): ConvStep {
  const node = net.layers[i];
  const cp = sub(node, 'convolution_param');
  blobData(node, 0, 'weights');
  const outC = num(cp, 'num_output', 0) || node.blobs[0].shape[0];
  const { W, b } = runtimeConvWeights(node, outC, folded.map((j) => net.layers[j]), bool(cp, 'bias_term', true));
  const f = new Fields(node, precisionBlock(node));
  // th_layer_out / fl_layer_out of the fused layer come from the last of the chain (Scale, else BN)
  const lastNode = folded.length ? net.layers[folded[folded.length - 1]] : node;
  const lastBlock = lastNode === node ? f : new Fields(lastNode, precisionBlock(lastNode));
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

/** Fixed-point kinds that read their input with a format of their own (a float input is packed with it). */
function hasInputFormat(k: FixedKind | undefined): boolean {
  return k === 'conv' || k === 'pool' || k === 'eltwise' || k === 'affine';
}

/** Resolves modes and formats, folds BN/Scale, quantizes weights. */
export function compileSim(net: Net, opts: SimOptions = {}): SimProgram {
  const warn: WarnFn = opts.warn ?? (() => {});
  const mode = opts.mode ?? netMode(net);
  const steps: Step[] = new Array(net.layers.length);
  const fusions = netFusions(net);
  const inName = net.inputs[0]?.name;
  const part = partitionNet(net, net.layers.some((l) => l.bottoms.includes(inName) && hasInputFormat(l.def?.fixed)));
  for (let i = 0; i < net.layers.length; i++) {
    const node = net.layers[i];
    const blk = precisionBlock(node);
    if (blk && typeof blk.quant_type === 'string' && blk.quant_type !== '' && blk.quant_type !== mode) {
      warn(`layer '${node.name}': quant_type "${blk.quant_type}" differs from the net's mode "${mode}" (CHaiDNN needs one mode); simulated as ${mode}`, node.loc);
    }
    const t = node.type;
    const f = new Fields(node, blk);
    const where = part.place[i];
    if (where === 'input') steps[i] = { kind: 'input', node };
    else if (where === 'fused') steps[i] = { kind: 'absorbed', node };
    else if (where === 'keep') steps[i] = { kind: 'pass', node };
    else if (where === 'arm') {
      if (!forwardOf(t)) throw new ChaiqError(`layer '${node.name}': type ${t} cannot be simulated (no forward)`, node.loc ?? {});
      if (node.def?.chaidnn === 'hw' && !node.def.fixed) warn(`layer '${node.name}' (${t}): not modelled in fixed point; run in float`, node.loc);
      steps[i] = { kind: 'sw', node };
    } else {
      switch (node.def?.fixed) {
        case 'conv': {
          const fu = fusions.byConv.get(i);
          const chain = fu?.folded ?? [];
          steps[i] = { kind: 'conv', node, conv: compileConv(net, i, mode, warn, chain, opts.foldedWeightFl, opts.finalOpTh), absorbed: fu?.absorbed ?? [], relu: !!fu?.reluMoved };
          if (fu?.reluMoved) {
            warn(`layer '${node.name}': CHaiDNN fuses ${fu.absorbed.map((j) => `'${net.layers[j].name}'`).join(', ')} into it and applies the ReLU after the folded BatchNorm/Scale ` +
              '(Caffe applies it before them; the two agree only where the scale is positive)', node.loc);
          }
          break;
        }
        case 'pool': {
          const method = enumName(sub(node, 'pooling_param'), 'pool', ['MAX', 'AVE', 'STOCHASTIC'], 'MAX');
          if (method !== 'MAX' && method !== 'AVE') throw new ChaiqError(`layer '${node.name}': ${method} pooling is not supported by CHaiDNN`, node.loc ?? {});
          if (mode === 'DynamicFixed' && method === 'MAX') {
            // MAX pool needs no params in DynamicFixed (§3.1): keeps its input format; a float input is packed with its fl_layer_in
            const packs = !part.fixedIn[i][0] || node.bottoms[0] === inName;
            if (packs) {
              const fin = inFormat(mode, f);
              f.report(warn);
              steps[i] = { kind: 'pool', node, fin };
            } else steps[i] = { kind: 'pool', node };
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
          steps[i] = { kind: 'eltwise', node, fin, fout };
          break;
        }
        case 'concat': {
          // Concat is deleted by CHaiDNN (producers write one buffer): its block, when present, names the shared format
          const fout = blk ? outFormat(mode, new Fields(node, blk)) : undefined;
          steps[i] = { kind: 'concat', node, fout };
          break;
        }
        case 'relu':
          steps[i] = { kind: 'relu', node };
          break;
        case 'affine': {
          if (mode === 'Xilinx') {
            throw new ChaiqError(`layer '${node.name}' (${t}): a standalone ${t} is not supported by CHaiDNN in Xilinx mode ` +
              '(only BN/Scale in place after a convolution are fused); fold it into the convolution', node.loc ?? {});
          }
          steps[i] = compileAffineDF(node, f, warn);
          break;
        }
        default:
          throw new Error(`compileSim: ${node.def?.fixed}`);
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
      warnOnce(p, `mm:${node.name}:${blob}`, `layer '${node.name}': input '${blob}' is ${formatString(v.fmt!)} but the layer reads it as ${formatString(fin)} ` +
        '(CHaiDNN: "threshold values are not matching"; the integers are used as they are)', node);
    }
    return v.q;
  }
  return quantizeFloat(v.f!, fin, !!v.isNetInput);
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
        ? A.convXilinx(ins[0], c.wq, c.bq!, c.S, g, c.fout.bw, !!st.relu, p.psum18)
        : A.convDynamicFixed(ins[0], c.wq, c.biasInt!, c.shift!, g, c.fout.bw, !!st.relu, p.psum18);
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

/** Runs one image (batch 1) through the prepared program: the executor; the float reference observes it. */
export async function runSim(p: SimProgram, input: Tensor, opts: SimOptions = {}): Promise<SimResult> {
  const net = p.net;
  if (net.inputs.length !== 1) throw new ChaiqError(`CHaiDNN runs nets with exactly one input; this net has ${net.inputs.length}`);
  if (input.shape[0] !== 1) throw new ChaiqError(`the simulator runs batch 1 (CHaiDNN's only batch size); got input shape (${input.shape})`);
  const stats = opts.stats ?? newSimStats();
  const obs = opts.reference !== false ? new ReferenceObserver(stats, p.warn, opts.onReference) : undefined;
  const vals = new Map<string, Val>();
  const inNode = feedInput(p, input, vals, stats, obs);
  for (let i = 0; i < p.steps.length; i++) {
    const st = p.steps[i];
    const node = st.node;
    opts.onLayer?.({ index: i, name: node.name, type: node.type, kind: st.kind });
    if (st.kind === 'input') {
      // the input row of the table: quantizing the image is where a too-large fl or too-small th saturates
      const v = vals.get(net.inputs[0].name)!;
      if (node === inNode) obs?.record(node, i, net.inputs[0].name, v, v);
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
      : await execStep(p, st, bvals, floatBottoms);
    node.tops.forEach((t, k) => vals.set(t, out[k]));
    if (st.kind === 'conv' && st.absorbed!.length) obs?.holdFused(node, i, st.absorbed![st.absorbed!.length - 1], out[0], local);
    else node.tops.forEach((t, k) => obs?.record(node, i, t, out[k], k === 0 ? local : undefined));
  }
  return packageResult(vals, obs?.refs ?? new Map(), keepSet(net, opts.keep), stats);
}

/** A layer run in float (--float_layers): float forward on the dequantized input, output in the format its consumers read. */
async function floatStep(p: SimProgram, i: number, st: Step, bvals: Val[], reference: boolean): Promise<{ out: Val[]; local?: Val }> {
  const t = await floatLayerForward(p.net, st.node, st.absorbed ?? [], bvals.map((v) => ({ shape: v.shape, data: dequant(v) })), p.warn);
  const fmt = consumerFormat(p.net, p.steps, i) ?? st.conv?.fout ?? st.fout ?? bvals.find((v) => v.fmt)?.fmt;
  const out: Val[] = t.map((x) => (fmt ? { shape: x.shape, q: quantizeFloat(x.data, fmt, true), fmt } : { shape: x.shape, f: x.data }));
  return { out, local: reference ? out[0] : undefined };
}

/** The net input: CHaiDNN's loader quantizes the image once, with the first layer's th_layer_in (§3.3). */
function feedInput(p: SimProgram, input: Tensor, vals: Map<string, Val>, stats: SimStats, obs?: ReferenceObserver): LayerNode | undefined {
  const net = p.net;
  const inName = net.inputs[0].name;
  const firstHw = p.steps.find((st) => st.node.bottoms.includes(inName) && (st.conv?.fin ?? st.fin));
  const inFmt = firstHw ? (firstHw.conv?.fin ?? firstHw.fin)! : undefined;
  vals.set(inName, inFmt
    ? { shape: input.shape.slice(), q: quantizeFloat(input.data, inFmt, true), fmt: inFmt }
    : { shape: input.shape.slice(), f: input.data, isNetInput: true });
  obs?.refs.set(inName, input);
  if (firstHw && inFmt) stats.input = addInputClip(stats.input, input.data, inName, firstHw.node.name, inFmt);
  return firstHw ? net.layers.find((l) => l.tops.includes(inName)) : undefined;
}

/** One step on its bottoms' values; `floatBottoms` (the reference) also gives the layer's local result. */
async function execStep(p: SimProgram, st: Step, bvals: Val[], floatBottoms?: Tensor[]): Promise<{ out: Val[]; local?: Val }> {
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
      const r = runHw(p, st, ins, bvals.map((v) => v.shape), inFmts);
      out = [{ shape: r.shape, q: r.q, fmt: r.fmt }];
      if (floatBottoms) {
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
  return { out, local };
}

/** compileSim + runSim for one image. */
export async function simulateNet(net: Net, input: Tensor, opts: SimOptions = {}): Promise<SimResult> {
  return runSim(compileSim(net, opts), input, opts);
}
