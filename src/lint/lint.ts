import { parsePrototxtAll } from '../../grammar';
import { bindMessageAll, locOf, fieldLocOf } from '../proto/bind';
import { upgradeNet } from '../proto/upgrade';
import { canonicalType, isTrainingOnly, keepsScale, lookupLayer, sharesInputs, sourceOf } from '../layers/registry';
import { layerIncluded, locOfMsg } from '../graph/build';
import { ChaiqError, SourceLoc } from '../errors';
import type { LayerParam, Msg } from '../proto/message';
import type { LayerDef, QuantMode } from '../layers/types';
import type { Tensor } from '../tensor';
import { biasTerm } from '../layers/params';
import { precisionBlock } from './diff';
import { foldedWeightFl, trim2FixedPoint } from '../chaidnn/arith';
import { batchNormMean, batchNormVariance } from '../chaidnn/weights';
import type { FoldSource } from '../chaidnn/weights';
import { convFusions, fusionRole } from '../chaidnn/fusion';
import type { Fusions } from '../chaidnn/fusion';
import { detectMode as detectNetMode } from '../chaidnn/mode';
import { runtimeConvWeights } from '../chaidnn/conv-weights';
import { modeBoundaryMismatch } from '../chaidnn/format';
import { LintDiagnostic, RULES, RuleId, Severity } from './rules';
import { findNonFinite, nonFiniteMessage } from '../graph/finite';

export interface LintOptions {
  /** trained weights by layer name, for the clipped-weights rule */
  weights?: Map<string, Tensor[]>;
  /** the caffemodel they came from, named in messages */
  weightsFile?: string;
  /** the mode to check against; by default the one the file's blocks declare */
  quantType?: QuantMode;
  disable?: string[];
}

const ACT_BW = ['bw_layer_in', 'bw_layer_out'];
const ALL_BW = ['bw_layer_in', 'bw_layer_out', 'bw_params', 'batchnorm_mean_bw', 'batchnorm_variance_bw', 'scale_gamma_bw', 'scale_beta_bw', 'scale_gamma_by_std_bw'];
const FL_OF_BW: Record<string, string> = {
  fl_layer_in: 'bw_layer_in',
  fl_layer_out: 'bw_layer_out',
  fl_params: 'bw_params',
  batchnorm_mean_fl: 'batchnorm_mean_bw',
  batchnorm_variance_fl: 'batchnorm_variance_bw',
  scale_gamma_fl: 'scale_gamma_bw',
  scale_beta_fl: 'scale_beta_bw',
  scale_gamma_by_std_fl: 'scale_gamma_by_std_bw',
};
const XILINX_ONLY = ['th_layer_in', 'th_layer_out', 'th_params'];
const DYNAMIC_ONLY = Object.keys(FL_OF_BW);
function f32(x: number): number {
  return Math.fround(x);
}

type Report = (rule: RuleId, loc: SourceLoc | undefined, message: string, severity?: Severity) => void;
type FieldLoc = (l: LayerParam, f: string, i?: number) => SourceLoc | undefined;

/** What the checks of one file share. */
interface LintRun {
  opts: LintOptions;
  layers: LayerParam[];
  /** for each layer, the layer index that produced each bottom (-1: undefined) */
  producers: number[][];
  /** the mode of blocks that declare none */
  mode: QuantMode;
  report: Report;
  fieldLoc: FieldLoc;
  /** layers by activation / weight bitwidth */
  actBws: Map<number, LayerParam[]>;
  paramBws: Map<number, LayerParam[]>;
  /** conv index → the BN/Scale layers CHaiDNN folds into it (the runtime's fusion rule) */
  folds: Map<number, LayerParam[]>;
  /** which layer is absorbed into which conv */
  fusions: Fusions;
}

/** Lints one prototxt text. Never throws for bad input: everything becomes a diagnostic. */
export function lintText(text: string, file: string, opts: LintOptions = {}): LintDiagnostic[] {
  const out: LintDiagnostic[] = [];
  const report = reporter(file, opts, out);
  const layers = readTestLayers(text, file, report);
  if (!layers) return finish(out);
  const run = startRun(layers, opts, report);
  checkNames(run);
  run.producers = wireProducers(run);
  checkInputLayers(run);
  layers.forEach((l, li) => checkLayer(run, l, li));
  checkFoldChains(run);
  checkBitwidthUniformity(run);
  return finish(out);
}

function reporter(file: string, opts: LintOptions, out: LintDiagnostic[]): Report {
  const disabled = new Set(opts.disable ?? []);
  return (rule, loc, message, severity) => {
    if (disabled.has(rule)) return;
    out.push({ file, line: loc?.line ?? 1, col: loc?.col ?? 1, severity: severity ?? RULES[rule].severity, rule, message });
  };
}

/** Parse, bind and upgrade the file, then keep the TEST-phase layers that are not training-only; undefined when that fails. */
function readTestLayers(text: string, file: string, report: Report): LayerParam[] | undefined {
  const fromError = (rule: RuleId, e: ChaiqError) => report(rule, e.loc, e.message);
  const parsed = parsePrototxtAll(text, file);
  for (const e of parsed.errors) fromError('syntax', e);
  if (!parsed.doc) return undefined;

  const bound = bindMessageAll(parsed.doc, 'caffe.NetParameter');
  for (const e of bound.errors) fromError(/unknown field|has no field|did you mean/i.test(e.message) ? 'unknown-field' : 'wrong-type', e);

  let layers: LayerParam[];
  try {
    layers = (upgradeNet(bound.msg, { file, locOf }).net.layer ?? []) as LayerParam[];
  } catch (e) {
    if (e instanceof ChaiqError) fromError('wrong-type', e);
    else throw e;
    return undefined;
  }
  // train_val nets (ML-Suite) keep the input's block on the TRAIN-phase Data layer of the same name
  const otherPhaseBlock = new Map<string, Msg>();
  for (const l of layers) if (!layerIncluded(l, 'TEST') && precisionBlock(l)) otherPhaseBlock.set(l.name ?? '', precisionBlock(l)!);
  return layers
    .filter((l) => layerIncluded(l, 'TEST') && !isTrainingOnly(l.type ?? ''))
    .map((l) => (precisionBlock(l) || !otherPhaseBlock.has(l.name ?? '') ? l : { ...l, precision_param: otherPhaseBlock.get(l.name ?? '') }));
}

function startRun(layers: LayerParam[], opts: LintOptions, report: Report): LintRun {
  const fieldLoc: FieldLoc = (l, field, index) => {
    const b = precisionBlock(l);
    return (b && fieldLocOf(b, field, index)) || (b && locOf(b)) || locOfMsg(l);
  };
  const fusions = convFusions(layers.map((l) => ({ type: lookupLayer(l.type ?? '')?.type ?? l.type ?? '', bottoms: l.bottom ?? [], tops: l.top ?? [] })));
  const folds = new Map<number, LayerParam[]>([...fusions.byConv].map(([c, f]) => [c, f.folded.map((j) => layers[j])]));
  return {
    opts, layers, producers: [], mode: opts.quantType ?? detectMode(layers), report, fieldLoc,
    actBws: new Map(), paramBws: new Map(), folds, fusions,
  };
}

function checkNames({ layers, report }: LintRun) {
  const seen = new Map<string, LayerParam>();
  for (const l of layers) {
    const name = l.name ?? '';
    if (seen.has(name)) report('duplicate-name', locOfMsg(l), `duplicate layer name '${name}' (first at line ${locOfMsg(seen.get(name)!)?.line ?? '?'})`);
    else seen.set(name, l);
  }
}

/** Which layer wrote the value each bottom reads; undefined bottoms and overwritten tops are reported. */
function wireProducers({ layers, report }: LintRun): number[][] {
  const producers: number[][] = [];
  const current = new Map<string, number>();
  layers.forEach((l, li) => {
    const bottoms = l.bottom ?? [];
    producers.push(
      bottoms.map((b) => {
        const p = current.get(b);
        if (p === undefined) {
          report('undefined-bottom', fieldLocOf(l, 'bottom', bottoms.indexOf(b)) ?? locOfMsg(l), `layer '${l.name}' reads blob '${b}', which no earlier layer produces`);
          return -1;
        }
        return p;
      }),
    );
    for (const [ti, t] of (l.top ?? []).entries()) {
      if (current.has(t) && !bottoms.includes(t)) {
        report('top-overwritten', fieldLocOf(l, 'top', ti) ?? locOfMsg(l), `layer '${l.name}' overwrites blob '${t}' of layer '${layers[current.get(t)!].name}' without being in-place (Caffe: "produced by multiple sources")`);
      }
      current.set(t, li);
    }
  });
  return producers;
}

/** CHaiDNN runs one input layer, at batch 1. */
function checkInputLayers({ layers, report }: LintRun) {
  const inputLayers = layers.filter((l) => sourceOf(l.type ?? '') !== undefined);
  if (inputLayers.length !== 1) {
    report('hw-limits', layers[0] ? locOfMsg(layers[0]) : undefined, `CHaiDNN needs exactly one input layer; this net has ${inputLayers.length}`);
  }
  for (const l of inputLayers) {
    const dims: number[] | undefined = l.input_param?.shape?.[0]?.dim;
    if (dims && dims.length > 0 && dims[0] !== 1) report('hw-limits', locOfMsg(l), `input '${l.name}' has batch ${dims[0]}; CHaiDNN runs batch 1 only`);
  }
}

/** Every check of one layer and its block. */
function checkLayer(run: LintRun, l: LayerParam, li: number) {
  const def = lookupLayer(l.type ?? '');
  checkWeightsFinite(run, l, def);
  checkSupported(run, l, def);
  const block = precisionBlock(l);
  // CHaiDNN reads quant_type per layer; a block without one is DynamicFixed to the runtime (§3.1)
  const declared = block?.quant_type === 'Xilinx' || block?.quant_type === 'DynamicFixed' ? (block.quant_type as QuantMode) : undefined;
  const layerMode = declared ?? run.mode;
  const required = def ? def.precision[layerMode] : [];
  if (required.length > 0 && !block) {
    run.report('missing-precision', locOfMsg(l), `layer '${l.name ?? ''}' (${l.type ?? ''}) needs a precision_param block in ${layerMode} mode`, missingSeverity(def));
  }
  if (!block) return;
  // SW layers run in float on the ARM and their blocks are ignored (§3.1); a layer the runtime deletes instead
  // (Concat) still has to agree with its neighbours
  if (def?.chaidnn === 'sw' && !def.lint?.deletedBySoftware) return;
  checkRequiredFields(run, l, def, block, layerMode, required);
  checkFieldValues(run, l, block, layerMode);
  if (!def) return;
  checkNoRescale(run, l, def, block, layerMode);
  checkProducerAgreement(run, l, li, def, block, layerMode);
  checkModeBoundary(run, l, li, block);
  for (const message of def.lint?.limits?.(l) ?? []) run.report('hw-limits', locOfMsg(l), message);
  checkFold(run, l, li, def, layerMode);
  if (run.opts.weights && Array.isArray(block.th_params) && def.lint?.channelThresholds) {
    checkClipped(l, block.th_params, run.opts.weights.get(l.name ?? ''), run.folds.get(li) ?? [], run.opts.weights, run.report, run.fieldLoc);
  }
}

/** the runtime deletes a layer like ReLU and ignores its block (§3.3): a missing one costs nothing there */
function missingSeverity(def: LayerDef | undefined): Severity | undefined {
  return def?.lint?.blockIgnored ? 'warning' : undefined;
}

function checkWeightsFinite({ opts, report }: LintRun, l: LayerParam, def: LayerDef | undefined) {
  const name = l.name ?? '';
  const blobs = opts.weights?.get(name);
  if (!blobs) return;
  for (const b of findNonFinite([{ name, type: def?.type ?? l.type ?? '', blobs }])) {
    report('nonfinite-weights', locOfMsg(l), `${nonFiniteMessage(b)}${opts.weightsFile ? ` in ${opts.weightsFile}` : ''}`);
  }
}

function checkSupported({ report }: LintRun, l: LayerParam, def: LayerDef | undefined) {
  const name = l.name ?? '';
  if (!def) {
    if (!l.user_defined_layer) report('unsupported-layer', locOfMsg(l), `unknown layer type '${l.type ?? ''}' (layer '${name}'): CHaiDNN rejects it (EP009) unless user_defined_layer: true`);
  } else if (def.chaidnn === 'unsupported' && !l.user_defined_layer) {
    report('unsupported-layer', locOfMsg(l), `CHaiDNN cannot run layer type '${def.type}' (layer '${name}')`);
  }
}

function checkRequiredFields({ report }: LintRun, l: LayerParam, def: LayerDef | undefined, block: Msg, layerMode: QuantMode, required: readonly string[]) {
  const name = l.name ?? '';
  const type = l.type ?? '';
  const missing = required.filter((f) => f !== 'quant_type' && (!(f in block) || (Array.isArray(block[f]) && block[f].length === 0)));
  if (missing.length > 0) {
    report('missing-precision', locOf(block) ?? locOfMsg(l), `layer '${name}' (${type}) lacks ${missing.join(', ')} (${layerMode} mode; CHaiDNN would substitute defaults)`, missingSeverity(def));
  }
  if (required.includes('quant_type') && !('quant_type' in block) && layerMode === 'Xilinx') {
    report('missing-precision', locOf(block) ?? locOfMsg(l), `layer '${name}' (${type}) has no quant_type: CHaiDNN reads the block as DynamicFixed and ignores its thresholds`);
  }
}

/** quant_type, fields of the other mode, bitwidths, thresholds and fractional lengths, each on its own. */
function checkFieldValues(run: LintRun, l: LayerParam, block: Msg, layerMode: QuantMode) {
  const { report, fieldLoc, actBws, paramBws } = run;
  const name = l.name ?? '';
  if ('quant_type' in block && block.quant_type !== 'Xilinx' && block.quant_type !== 'DynamicFixed') {
    report('quant-type', fieldLoc(l, 'quant_type'), `quant_type "${block.quant_type}" must be "Xilinx" or "DynamicFixed"`);
  }
  for (const f of layerMode === 'Xilinx' ? DYNAMIC_ONLY : XILINX_ONLY) {
    if (f in block) report('foreign-field', fieldLoc(l, f), `${f} does not belong to ${layerMode} mode (ignored by CHaiDNN)`);
  }
  for (const f of ALL_BW) {
    if (!(f in block)) continue;
    const bw = block[f];
    if (bw !== 6 && bw !== 8) report('bitwidth', fieldLoc(l, f), `${f}: ${bw}; CHaiDNN supports 6 or 8 bits only`);
    const bucket = ACT_BW.includes(f) ? actBws : f === 'bw_params' ? paramBws : undefined;
    if (bucket) bucket.set(bw, [...(bucket.get(bw) ?? []), l]);
  }
  if (Array.isArray(block.th_params) && block.th_params.length > 0) {
    const numOutput = l.convolution_param?.num_output ?? l.inner_product_param?.num_output;
    if (numOutput !== undefined && block.th_params.length !== numOutput) {
      report('th-params-count', fieldLoc(l, 'th_params'), `${block.th_params.length} th_params for ${numOutput} output channels in layer '${name}'`);
    }
    block.th_params.forEach((t: number, i: number) => {
      if (!(t > 0)) report('bad-threshold', fieldLoc(l, 'th_params', i), `th_params[${i}] = ${t} in layer '${name}'`, t === 0 ? 'warning' : undefined);
    });
  }
  for (const f of ['th_layer_in', 'th_layer_out']) {
    if (f in block && !(block[f] > 0)) report('bad-threshold', fieldLoc(l, f), `${f} = ${block[f]} in layer '${name}'`);
  }
  checkFractionalLengths(run, l, block);
}

/**
 * fl in [0, bw]. fl > bw is valid Q(bw, fl) (tiny weights, calibration-algorithms.md §1.2; Ristretto writes it):
 * a warning, unless the weights are given and every value the field quantizes fits its range.
 */
function checkFractionalLengths({ report, fieldLoc, opts, layers, folds }: LintRun, l: LayerParam, block: Msg) {
  // the runtime ignores a folded conv's fl_params (it takes max|W'|): checkFoldedFl compares the two
  const folded = (folds.get(layers.indexOf(l))?.length ?? 0) > 0;
  for (const [f, bwField] of Object.entries(FL_OF_BW)) {
    if (!(f in block)) continue;
    const bw = block[bwField] ?? 8;
    const fl = block[f];
    if (fl < 0) {
      report('fl-range', fieldLoc(l, f), `${f} = ${fl} outside [0, ${bw}] (CHaiDNN's DynamicFixed path rejects negative fl)`);
      continue;
    }
    if (!(fl > bw) || (f === 'fl_params' && folded && opts.weights)) continue;
    const range = `${f} = ${fl} is above the bit width ${bw} (range ±${(2 ** (bw - 1) - 1) * 2 ** -fl})`;
    const values = opts.weights ? quantizedValues(f, { name: l.name ?? '', type: l.type ?? '', param: l, blobs: opts.weights.get(l.name ?? '') ?? [] }) : undefined;
    if (!values) report('fl-range', fieldLoc(l, f), `${range}; valid Q(bw,fl), check the values fit`, 'warning');
    else {
      const over = saturatedMax(values, bw, fl);
      if (over !== undefined) report('fl-range', fieldLoc(l, f), `${range}: values up to ${over} saturate`, 'warning');
    }
  }
}

/** The trained values a DynamicFixed weight field quantizes (chaidnn-semantics §3.4, §3.5); undefined when not read here. */
function quantizedValues(field: string, l: FoldSource): ArrayLike<number> | undefined {
  const [b0, b1] = l.blobs;
  switch (field) {
    case 'fl_params':
    case 'scale_gamma_fl':
      return b0?.data;
    case 'scale_beta_fl':
      return b1?.data;
    case 'batchnorm_mean_fl':
      return b0 ? batchNormMean(l) : undefined;
    case 'batchnorm_variance_fl':
      return b1 ? batchNormVariance(l) : undefined;
    default:
      return undefined;
  }
}

/** The largest |v| that Trim2FixedPoint(v, bw, fl) saturates (moves by more than half a step), or undefined. */
function saturatedMax(values: ArrayLike<number>, bw: number, fl: number): number | undefined {
  let over: number | undefined;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v) && Math.abs(trim2FixedPoint(v, bw, fl) - v) > 2 ** -fl / 2) over = Math.max(over ?? 0, Math.abs(v));
  }
  return over;
}

/** Layers the runtime executes without rescaling: in and out must agree (chaidnn-semantics §3.3). */
function checkNoRescale({ report, fieldLoc }: LintRun, l: LayerParam, def: LayerDef, block: Msg, layerMode: QuantMode) {
  if (!keepsScale(def.plan ?? 'none')) return;
  const name = l.name ?? '';
  if (layerMode === 'Xilinx' && 'th_layer_in' in block && 'th_layer_out' in block && f32(block.th_layer_in) !== f32(block.th_layer_out)) {
    report('in-out-mismatch', fieldLoc(l, 'th_layer_out'), `${def.type} '${name}': th_layer_in ${block.th_layer_in} ≠ th_layer_out ${block.th_layer_out}; CHaiDNN does not rescale here`);
  }
  if (layerMode === 'DynamicFixed' && 'fl_layer_in' in block && 'fl_layer_out' in block && block.fl_layer_in !== block.fl_layer_out) {
    report('in-out-mismatch', fieldLoc(l, 'fl_layer_out'), `${def.type} '${name}': fl_layer_in ${block.fl_layer_in} ≠ fl_layer_out ${block.fl_layer_out}`);
  }
}

/** producer/consumer agreement, as CHaiDNN's find_in_out_thresold compares them (§3.3); shared-threshold inputs agree */
function checkProducerAgreement({ layers, producers, report, fieldLoc }: LintRun, l: LayerParam, li: number, def: LayerDef, block: Msg, layerMode: QuantMode) {
  const name = l.name ?? '';
  const inField = layerMode === 'Xilinx' ? 'th_layer_in' : 'fl_layer_in';
  const outField = layerMode === 'Xilinx' ? 'th_layer_out' : 'fl_layer_out';
  const ruleId: RuleId = layerMode === 'Xilinx' ? 'th-mismatch' : 'fl-mismatch';
  const prodOuts: { name: string; v: number }[] = [];
  for (const [bi, p] of producers[li].entries()) {
    if (p < 0) continue;
    const pb = precisionBlock(layers[p]);
    if (!pb || !(outField in pb)) continue;
    prodOuts.push({ name: layers[p].name ?? '', v: pb[outField] });
    if (inField in block && f32(pb[outField]) !== f32(block[inField])) {
      report(ruleId, fieldLoc(l, inField), `'${name}' ${inField} ${block[inField]} ≠ ${outField} ${pb[outField]} of its producer '${layers[p].name}' (blob '${(l.bottom ?? [])[bi]}')`);
    }
  }
  if (sharesInputs(def.plan ?? 'none') && new Set(prodOuts.map((p) => f32(p.v))).size > 1) {
    report('shared-threshold', locOfMsg(l), `inputs of ${def.type} '${name}' have different ${outField}: ${prodOuts.map((p) => `${p.name}=${p.v}`).join(', ')}; they must share one`);
  }
}

/**
 * A layer reading the output of a layer of the other mode (CHaiDNN runs each layer in its own quant_type and
 * passes the integers on unconverted): th and fl must name one scale. Looks through in-place layers without a
 * block (a ReLU the runtime fuses into its producer).
 */
function checkModeBoundary({ layers, producers, report, fieldLoc }: LintRun, l: LayerParam, li: number, block: Msg) {
  for (const [bi, p0] of producers[li].entries()) {
    let p = p0;
    const seen = new Set<number>();
    while (p >= 0 && !precisionBlock(layers[p]) && !seen.has(p) && (layers[p].bottom ?? []).length === 1 && (layers[p].top ?? [])[0] === (layers[p].bottom ?? [])[0]) {
      seen.add(p);
      p = producers[p][0];
    }
    const pb = p >= 0 ? precisionBlock(layers[p]) : undefined;
    const m = pb && modeBoundaryMismatch(pb, block);
    if (m) report(m.field === 'th_layer_in' ? 'th-mismatch' : 'fl-mismatch', fieldLoc(l, m.field), `'${l.name ?? ''}' ${m.message} of its producer '${layers[p].name}' (blob '${(l.bottom ?? [])[bi]}')`);
  }
}

/** BN/Scale: Xilinx mode runs them only folded into a convolution (the runtime's fusion rule, §3.5) */
function checkFold({ fusions, report }: LintRun, l: LayerParam, li: number, def: LayerDef, layerMode: QuantMode) {
  if (def.plan !== 'fold' || layerMode !== 'Xilinx' || fusions.into[li] >= 0) return;
  report('hw-limits', locOfMsg(l), `standalone ${def.type} '${l.name ?? ''}' runs only in DynamicFixed mode; fold it into the convolution (in-place after a conv) for Xilinx mode`);
}

/** What the runtime does with the BN/Scale it folds into a convolution (§3.5). */
function checkFoldChains({ layers, folds, mode, opts, report, fieldLoc }: LintRun) {
  for (const [c, chain] of folds) {
    const last = chain[chain.length - 1];
    const lb = precisionBlock(last);
    const lastMode = (lb?.quant_type as QuantMode | undefined) ?? mode;
    if (lastMode === 'DynamicFixed' && opts.weights) checkFoldedFl(layers[c], chain, opts.weights, report, fieldLoc);
    // the fused conv's output scale comes from the last BN/Scale's th_layer_out, kept in an int (§3.5)
    if (lastMode === 'Xilinx' && lb && typeof lb.th_layer_out === 'number' && Math.trunc(lb.th_layer_out) !== lb.th_layer_out) {
      report('fused-th-int', fieldLoc(last, 'th_layer_out'),
        `CHaiDNN fuses '${last.name}' into '${layers[c].name}' and keeps its th_layer_out ${lb.th_layer_out} in an int (final_op_th): the conv writes at threshold ${Math.trunc(lb.th_layer_out)} while its consumers read ${lb.th_layer_out}; use an integer threshold (chaiq quantize writes one) or fold offline (--optimized_weights)`);
    }
  }
}

/** the runtime takes one 6/8-bit flag for the whole datapath (§3.3) */
function checkBitwidthUniformity({ actBws, paramBws, report, fieldLoc }: LintRun) {
  checkUniform(actBws, 'activation', report, (l) => fieldLoc(l, 'bw_layer_out'));
  checkUniform(paramBws, 'weight', report, (l) => fieldLoc(l, 'bw_params'));
  if (actBws.size === 1 && paramBws.size === 1 && [...actBws.keys()][0] !== [...paramBws.keys()][0]) {
    report('bitwidth', undefined, `activations use ${[...actBws.keys()][0]} bits and weights ${[...paramBws.keys()][0]}; CHaiDNN documents 8/8 or 6/6`, 'warning');
  }
}

/** DynamicFixed: the fl CHaiDNN uses for folded weights (fuseBNScaleConvParams, §3.5) against the file's fl_params. */
function checkFoldedFl(conv: LayerParam, chain: LayerParam[], weights: Map<string, Tensor[]>, report: Report, fieldLoc: (l: LayerParam, f: string, i?: number) => SourceLoc | undefined) {
  const block = precisionBlock(conv);
  const blobs = weights.get(conv.name ?? '') ?? [];
  if (!block || typeof block.fl_params !== 'number' || !blobs[0]) return;
  const sources = foldSources(chain, weights);
  if (!sources) return;
  const folded = runtimeConvWeights({ name: conv.name ?? '', type: canonicalType(conv.type ?? ''), blobs, param: conv }, blobs[0].shape[0], sources, biasTerm(conv.convolution_param));
  const runtime = foldedWeightFl(folded.W, block.bw_params ?? 8);
  if (runtime === block.fl_params) return;
  report('folded-fl-params', fieldLoc(conv, 'fl_params'),
    `CHaiDNN folds ${chain.map((l) => `'${l.name}'`).join(' and ')} into '${conv.name}' and then uses fl ${runtime} for its weights (from max|W'|), not fl_params ${block.fl_params}; fold offline (chaiq quantize --optimized_weights) to choose the fl`);
}

/** The fused BN/Scale layers with their trained blobs; undefined when some are missing (nothing to fold here). */
function foldSources(chain: LayerParam[], weights: Map<string, Tensor[]>) {
  const sources = chain.map((c) => ({ name: c.name ?? '', type: lookupLayer(c.type ?? '')?.type ?? '', blobs: weights.get(c.name ?? '') ?? [], param: c }));
  return sources.every((c) => c.blobs.length >= (fusionRole(c) === 'batchnorm' ? 2 : 1)) ? sources : undefined;
}

/** th_params against the weights the runtime quantizes (BN/Scale folded in when CHaiDNN fuses them, §3.5). */
function checkClipped(l: LayerParam, th: number[], blobs: Tensor[] | undefined, chain: LayerParam[], weights: Map<string, Tensor[]>, report: Report, fieldLoc: (l: LayerParam, f: string, i?: number) => SourceLoc | undefined) {
  const w = blobs?.[0];
  if (!w || w.shape[0] !== th.length) return;
  const sources = foldSources(chain, weights);
  if (!sources) return;
  const { W, folded } = runtimeConvWeights({ name: l.name ?? '', type: canonicalType(l.type ?? ''), blobs: blobs!, param: l }, th.length, sources);
  const per = W.length / th.length;
  for (let c = 0; c < th.length; c++) {
    let m = 0;
    for (let i = c * per; i < (c + 1) * per; i++) m = Math.max(m, Math.abs(W[i]));
    if (th[c] < m * 0.99) {
      report('clipped-weights', fieldLoc(l, 'th_params', c), `th_params[${c}] = ${th[c]} clips channel ${c} of '${l.name}' (max|w${folded ? "'" : ''}| = ${m.toPrecision(6)}${folded ? ', BatchNorm/Scale folded in' : ''})`);
    }
  }
}

function checkUniform(byBw: Map<number, LayerParam[]>, what: string, report: Report, loc: (l: LayerParam) => SourceLoc | undefined) {
  if (byBw.size <= 1) return;
  const sorted = [...byBw.entries()].sort((a, b) => b[1].length - a[1].length);
  const [major] = sorted[0];
  for (const [bw, ls] of sorted.slice(1)) {
    report('bitwidth', loc(ls[0]), `${what} bitwidth ${bw} in layer '${ls[0].name}' (and ${ls.length - 1} more) differs from the network's ${major}; CHaiDNN needs one bitwidth network-wide`);
  }
}

/** The mode a file declares: most blocks' quant_type; files with thresholds and no quant_type are Xilinx. */
export function detectMode(layers: LayerParam[]): QuantMode {
  return detectNetMode(layers.map(precisionBlock), 'Xilinx');
}

function finish(out: LintDiagnostic[]): LintDiagnostic[] {
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

export function formatDiagnostic(d: LintDiagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.severity}: ${d.message} [${d.rule}]`;
}
