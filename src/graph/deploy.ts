/**
 * Train/test prototxts → the deploy net CHaiDNN runs. CHaiDNN's parser knows neither Data layers nor losses
 * (chaidnn-semantics §3.1: any other type is fatal) and wants one (1,C,H,W) input, so the net is the TEST phase
 * (Caffe's FilterNet) with the data layer as an Input layer that keeps its transform_param (the preprocessing the
 * net was trained with), SoftmaxWithLoss as the Softmax it computes, other losses, Accuracy and Silence dropped.
 * The data layer's other tops (the label) are no activations and leave the net with the layers that read them.
 */
import { ChaiqError } from '../errors';
import type { LayerParam, Msg, NetParam } from '../proto/message';
import { layerIncluded, locOfMsg } from './build';
import { canonicalType, isDataSource, isTrainingOnly, lookupLayer } from '../layers/registry';
import { input as inputLayer } from '../layers/input';

function arr<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** Source layers CHaiDNN cannot parse: their first top becomes the Input. */
const isDataLayer = (l: LayerParam) => arr(l.bottom).length === 0 && isDataSource(String(l.type ?? ''));

/** The TEST-phase data layer (the net's input), if the net reads its input from a data source. */
export function testDataLayer(net: NetParam): LayerParam | undefined {
  return arr<LayerParam>(net.layer).find((l) => layerIncluded(l, 'TEST') && isDataLayer(l));
}

/** The transform_param of the TEST-phase input layer (a Data layer, or the Input a conversion left), if any. */
export function inputTransform(net: NetParam): { layer: LayerParam; transform: Msg } | undefined {
  const l = arr<LayerParam>(net.layer).find((x) => layerIncluded(x, 'TEST') && arr(x.bottom).length === 0 && (isDataLayer(x) || x.type === inputLayer.type));
  return l?.transform_param ? { layer: l, transform: l.transform_param } : undefined;
}

/** True when the net is not deploy-like: a data layer, layers of another phase, or training-only layers. */
export function isTrainTestNet(net: NetParam): boolean {
  return arr<LayerParam>(net.layer).some((l) => !layerIncluded(l, 'TEST') || isDataLayer(l) || isTrainingOnly(canonicalType(String(l.type ?? ''))));
}

export interface DeployConversion {
  /** the deploy net (V2) */
  net: NetParam;
  /** the data layer that became the Input, and its shape */
  input?: { layer: string; type: string; shape: number[] };
  /** SoftmaxWithLoss layers that became a Softmax */
  softmax: string[];
  /** layers left out: "name (type)" */
  dropped: string[];
}

/**
 * The deploy net of a train/test net; `dims` (C,H,W) is the input's shape, which a data layer does not say
 * (it lives in the database). A kept layer that reads the label is bad input.
 */
export function trainTestToDeploy(net: NetParam, dims: readonly number[], file?: string): DeployConversion {
  const out: LayerParam[] = [];
  const dropped: string[] = [];
  const softmax: string[] = [];
  let input: DeployConversion['input'];
  /** tops of the data layer that are not the input: nothing kept may read them */
  const labels = new Map<string, string>();
  for (const l of arr<LayerParam>(net.layer)) {
    const name = String(l.name ?? '');
    const type = canonicalType(String(l.type ?? ''));
    const def = lookupLayer(type);
    if (!layerIncluded(l, 'TEST')) continue; // TRAIN-only layers are not part of the TEST net
    const c: LayerParam = { ...l };
    delete c.include;
    delete c.exclude;
    delete c.loss_weight;
    if (!input && isDataLayer(l)) {
      const tops = arr<string>(l.top).map(String);
      for (const t of tops.slice(1)) labels.set(t, name);
      const shape = [1, ...dims];
      input = { layer: name, type, shape };
      const inp: LayerParam = { name, type: inputLayer.type, top: [tops[0]], input_param: { shape: [{ dim: shape }] } };
      if (l.transform_param) inp.transform_param = l.transform_param;
      copyBlocks(l, inp);
      out.push(inp);
      continue;
    }
    if (def?.deployAs) {
      // what the loss computes before the log: the deploy nets' "prob"
      const sm: LayerParam = { name, type: def.deployAs.type, bottom: [String(arr(l.bottom)[0])], top: [String(arr(l.top)[0] ?? name)] };
      for (const k of def.deployAs.keep) if (l[k]) sm[k] = l[k];
      copyBlocks(l, sm);
      out.push(sm);
      softmax.push(name);
      continue;
    }
    if (isTrainingOnly(type)) {
      dropped.push(`${name} (${type})`);
      continue;
    }
    for (const b of arr<string>(l.bottom).map(String)) {
      const from = labels.get(b);
      if (from !== undefined) {
        throw new ChaiqError(`layer '${name}' (${type}) reads '${b}', the label of data layer '${from}': CHaiDNN's input has no label (a deploy net cannot compute it)`,
          locOfMsg(l, file) ?? { file });
      }
    }
    // a later layer writing a label name makes it an ordinary blob again
    for (const t of arr<string>(l.top).map(String)) labels.delete(t);
    out.push(c);
  }
  const res: NetParam = { ...net, layer: out };
  delete res.state;
  return { net: res, input, softmax, dropped };
}

/** A hand-annotated train/test net keeps its blocks on the layers that replace its own. */
function copyBlocks(from: LayerParam, to: LayerParam) {
  for (const k of ['precision_param', 'quantization_param']) if (from[k] !== undefined) to[k] = from[k];
}

/** One comment line saying what the conversion did (for the head of the written prototxt). */
export function deployNote(c: DeployConversion, source: string): string {
  const parts: string[] = [];
  if (c.input) parts.push(`${c.input.type} layer "${c.input.layer}" → Input (${c.input.shape.join(',')})`);
  for (const s of c.softmax) parts.push(`"${s}" (SoftmaxWithLoss) → Softmax`);
  if (c.dropped.length) parts.push(`dropped ${c.dropped.join(', ')}`);
  return `# deploy net of the TEST phase of ${source}${parts.length ? ': ' + parts.join('; ') : ''}\n`;
}
