/**
 * NetParam (upgraded to V2) → executable Net: phase filtering (Caffe's Net::FilterNet / StateMeetsRule),
 * training-only layers dropped (losses, Accuracy, Silence), data layers turned into the net's inputs,
 * Ristretto aliases resolved (chaidnn-semantics §3.1), blob versions wired (in-place layers), every blob
 * shape inferred in order through the layer registry, trained blobs attached by layer name.
 */
import { ChaiqError, type SourceLoc, type WarnFn } from '../errors';
import { lookupLayer as lookup, isTrainingOnly, sourceOf } from '../layers/registry';
import { injectedInputShapes } from '../layers/input';
import { UnknownShape } from '../layers/params';
import type { LayerParam, Msg, NetParam } from '../proto/message';
import { locations } from '../proto/schema';
import { originOf } from '../proto/upgrade';
import { shapeStr, type Tensor } from '../tensor';
import { matchBlobs, expectedBlobShapes } from './blobs';
import type { LayerNode, Net, NetInput } from './types';

export type Phase = 'TEST' | 'TRAIN';

export interface BuildOptions {
  /** default: the net's `state.phase`, else TEST (Caffe's default NetState) */
  phase?: Phase;
  /** NetState level and stages for include/exclude rules (default: the net's `state`, else 0 / none) */
  level?: number;
  stages?: string[];
  /** trained blobs by layer name (src/proto/caffemodel.ts); checked against what each layer expects */
  weights?: Map<string, Tensor[]>;
  /** caffemodel name for weight errors */
  weightsFile?: string;
  /** the prototxt, for error locations */
  file?: string;
  warn?: WarnFn;
  /** the input shape (e.g. from `--dims`): for the first input, or by input name */
  inputShape?: number[] | Record<string, number[]>;
}

export { isTrainingOnly } from '../layers/registry';

/** Layers that read data from outside the net (their first top is a net input). */
const isSource = (n: LayerNode) => n.bottoms.length === 0 && sourceOf(n.type) !== undefined;

function arr<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/** Where a message starts in the prototxt (also for messages made by the upgrade). */
export function locOfMsg(m: object, file?: string): SourceLoc | undefined {
  const l = locations.get(m)?.loc ?? (originOf(m) ? locations.get(originOf(m)!)?.loc : undefined);
  if (!l && !file) return undefined;
  return { ...(file ? { file } : {}), ...(l ?? {}) };
}

function phaseName(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v === 0 ? 'TRAIN' : 'TEST';
  return String(v);
}

/** Caffe's Net::StateMeetsRule. */
function meetsRule(rule: Msg, phase: Phase, level: number, stages: string[]): boolean {
  const rp = phaseName(rule.phase);
  if (rp !== undefined && rp !== phase) return false;
  if (rule.min_level !== undefined && level < Number(rule.min_level)) return false;
  if (rule.max_level !== undefined && level > Number(rule.max_level)) return false;
  for (const s of arr<string>(rule.stage)) if (!stages.includes(s)) return false;
  for (const s of arr<string>(rule.not_stage)) if (stages.includes(s)) return false;
  return true;
}

/** Caffe's Net::FilterNet for one layer: include rules win, else no exclude rule may match. */
export function layerIncluded(l: LayerParam, phase: Phase, level = 0, stages: string[] = []): boolean {
  const inc = arr<Msg>(l.include);
  if (inc.length) return inc.some((r) => meetsRule(r, phase, level, stages));
  return !arr<Msg>(l.exclude).some((r) => meetsRule(r, phase, level, stages));
}

/** Shapes of a data/input layer's tops from its own params (-1 = not derivable); an input_param injected on a data layer (chaiq --input_shape) wins, as for an Input layer. */
function sourceShapes(n: LayerNode): number[][] {
  return injectedInputShapes(n.param) ?? sourceOf(n.type)!.shapes(n.param);
}

/**
 * Build the executable DAG from an upgraded NetParam. Bad input (an undefined bottom, impossible
 * params, mismatched weights) → ChaiqError at the layer's line:col. Unknown layer types and unknown
 * shapes give one warning and undefined shapes downstream, never a crash.
 */
export function buildNet(net: NetParam, opts: BuildOptions = {}): Net {
  const warn: WarnFn = opts.warn ?? (() => undefined);
  if (arr(net.layers).length) {
    throw new ChaiqError("net still has V1 'layers': upgrade it first (src/proto/upgrade.ts)", { file: opts.file });
  }
  const state = netState(net, opts);
  const { layers, dropped } = selectLayers(net, state, opts.file);
  const wiring = wireBlobs(net, layers, dropped, opts.file);
  const sources = layers.filter(isSource);
  const inputs = readInputs(sources, opts, warn);
  inferShapes(layers, sources, wiring.prod, warn);
  if (opts.weights) attachWeights(layers, opts.weights, opts.weightsFile, warn);
  return {
    name: String(net.name ?? ''),
    file: opts.file,
    layers,
    inputs,
    producer: (li, bi) => wiring.prod[li]?.[bi] ?? -1,
    consumers: (li, ti) => [...(wiring.cons.get(`${li}:${ti}`) ?? [])],
    outputs: netOutputs(layers, sources, wiring),
    phase: state.phase,
    dropped,
  };
}

interface NetStateRule {
  phase: Phase;
  level: number;
  stages: string[];
}

type Dropped = NonNullable<Net['dropped']>;

/** which layer wrote the value each bottom reads, who reads each top version, the last writer of each blob */
interface Wiring {
  prod: number[][];
  cons: Map<string, number[]>;
  lastWriter: Map<string, [number, number]>;
}

/** The NetState the include/exclude rules are tested against: the options, else the net's `state`, else TEST. */
function netState(net: NetParam, opts: BuildOptions): NetStateRule {
  const state: Msg = net.state ?? {};
  return {
    phase: opts.phase ?? (phaseName(state.phase) as Phase | undefined) ?? 'TEST',
    level: opts.level ?? Number(state.level ?? 0),
    stages: opts.stages ?? arr<string>(state.stage),
  };
}

/** The layers of the phase, training-only ones dropped, each with its definition (aliases resolved). */
function selectLayers(net: NetParam, { phase, level, stages }: NetStateRule, file: string | undefined): { layers: LayerNode[]; dropped: Dropped } {
  const layers: LayerNode[] = [];
  const dropped: Dropped = [];
  for (const l of arr<LayerParam>(net.layer)) {
    const rawType = String(l.type ?? '');
    const name = String(l.name ?? '');
    if (!layerIncluded(l, phase, level, stages)) {
      dropped.push({ name, type: rawType, reason: 'phase' });
      continue;
    }
    // Ristretto aliases resolve to their layer (chaidnn-semantics §3.1)
    const def = lookup(rawType);
    const type = def?.type ?? rawType;
    if (isTrainingOnly(type)) {
      dropped.push({ name, type: rawType, reason: 'training' });
      continue;
    }
    layers.push({
      index: layers.length,
      name,
      type,
      bottoms: arr<string>(l.bottom).map(String),
      tops: arr<string>(l.top).map(String),
      param: l,
      blobs: [],
      bottomShapes: [],
      topShapes: [],
      def,
      loc: locOfMsg(l, file),
    });
  }

  return { layers, dropped };
}

function wireBlobs(net: NetParam, layers: LayerNode[], dropped: Dropped, file: string | undefined): Wiring {
  const prod: number[][] = [];
  const cons = new Map<string, number[]>();
  const lastWriter = new Map<string, [number, number]>();
  for (const node of layers) {
    const row: number[] = [];
    node.bottoms.forEach((b) => {
      const w = lastWriter.get(b);
      if (!w) {
        const why = dropped.some((d) => d.reason === 'training' && layersTopOf(net, d.name).includes(b))
          ? ' (it is written by a training-only layer that was dropped)'
          : '';
        throw new ChaiqError(`layer '${node.name}' (${node.type}): bottom '${b}' is not produced by any earlier layer${why}`, node.loc ?? { file });
      }
      row.push(w[0]);
      const key = `${w[0]}:${w[1]}`;
      const list = cons.get(key) ?? [];
      if (!list.includes(node.index)) list.push(node.index);
      cons.set(key, list);
    });
    prod.push(row);
    node.tops.forEach((t, ti) => lastWriter.set(t, [node.index, ti]));
  }

  return { prod, cons, lastWriter };
}

/** The net's inputs: each source layer's first top (Input: every top), shaped by the override, the def or its params. */
function readInputs(sources: LayerNode[], opts: BuildOptions, warn: WarnFn): NetInput[] {
  const inputs: NetInput[] = [];
  const override = (name: string, first: boolean): number[] | undefined => {
    const s = opts.inputShape;
    if (!s) return undefined;
    if (Array.isArray(s)) return first ? s : undefined;
    return s[name];
  };
  for (const n of sources) {
    // what the params say (-1 = unknown), and what the layer's def says (it knows injected input_param)
    const described = sourceShapes(n);
    let fromDef: (number[] | undefined)[] | undefined;
    const allTops = sourceOf(n.type)?.allTopsInputs === true;
    const shapeless = allTops && arr(n.param.input_param?.shape).length === 0;
    if (n.def && !shapeless) {
      try {
        fromDef = n.def.shape(n, []);
      } catch (e) {
        if (e instanceof UnknownShape) fromDef = e.partial;
        else if (e instanceof ChaiqError) {
          if (!e.loc.file && n.loc) e.loc = n.loc;
          throw e;
        } else fromDef = undefined;
      }
    }
    const inputTops = allTops ? n.tops.length : 1;
    let firstOverride: number[] | undefined;
    n.tops.forEach((t, ti) => {
      let s: number[] | undefined = fromDef ? fromDef[ti] : described[ti];
      const isInput = ti < inputTops;
      const o = isInput ? override(t, inputs.length === 0) : undefined;
      if (o) {
        s = [...o];
        if (ti === 0) firstOverride = s;
      } else if (!isInput && firstOverride) {
        s = [firstOverride[0]]; // a label follows the data's batch
      }
      const known = !!s && s.length > 0 && s.every((d) => Number.isInteger(d) && d >= 0);
      if (isInput) {
        if (known) inputs.push({ name: t, shape: [...s!], layer: n.name });
        else {
          const shape = (s ?? described[ti] ?? []).map((d) => (Number.isInteger(d) && d >= 0 ? d : -1));
          inputs.push({ name: t, shape, partial: true, layer: n.name });
          warn(`input '${t}' of layer '${n.name}' (${n.type}) has unknown dimensions (${shape.map((d) => (d < 0 ? '?' : d)).join(',')}): give the input shape (--dims); shapes downstream are unknown`, n.loc);
        }
      }
      n.topShapes[ti] = known ? [...s!] : undefined;
    });
  }

  return inputs;
}

/** Every blob shape, in order, through the layer registry; unknown types and shapes warn once and stay unknown. */
function inferShapes(layers: LayerNode[], sources: LayerNode[], prod: number[][], warn: WarnFn) {
  const warnedTypes = new Set<string>();
  for (const node of layers) {
    node.bottomShapes = node.bottoms.map((_, bi) => {
      const p = layers[prod[node.index][bi]];
      const s = p.topShapes[lastTopIndex(p, node.bottoms[bi])];
      return s ? [...s] : undefined;
    });
    if (sources.includes(node)) continue;
    if (!node.def) {
      if (!warnedTypes.has(node.type)) {
        warnedTypes.add(node.type);
        warn(`unknown layer type '${node.type}' (layer '${node.name}'): its output shapes and everything downstream are unknown`, node.loc);
      }
      node.topShapes = node.tops.map(() => undefined);
      continue;
    }
    if (node.bottomShapes.some((s) => s === undefined)) {
      node.topShapes = node.tops.map(() => undefined);
      continue;
    }
    try {
      const tops = node.def.shape(node, node.bottomShapes as number[][]);
      node.topShapes = node.tops.map((_, i) => (tops[i] ? [...tops[i]] : undefined));
    } catch (e) {
      if (e instanceof UnknownShape) {
        // a layer whose output shape is not in the prototxt (Python, ...): what is known, plus one warning
        warn(`layer '${node.name}' (${node.type}): ${e.message}; shapes downstream are unknown`, node.loc);
        node.topShapes = node.tops.map((_, i) => e.partial[i]);
        continue;
      }
      if (e instanceof ChaiqError) {
        if (!e.loc.file && node.loc) e.loc = node.loc;
        throw e;
      }
      warn(`layer '${node.name}' (${node.type}): shape inference failed (${(e as Error).message}); shapes downstream are unknown`, node.loc);
      node.topShapes = node.tops.map(() => undefined);
    }
  }

}

/** Trained blobs by layer name, checked against what each layer expects. */
function attachWeights(layers: LayerNode[], weights: Map<string, Tensor[]>, weightsFile: string | undefined, warn: WarnFn) {
  for (const node of layers) {
    const found = weights.get(node.name);
    if (found && found.length) node.blobs = matchBlobs(node, found, weightsFile);
    else if ((expectedBlobShapes(node)?.length ?? 0) > 0) {
      warn(`layer '${node.name}' (${node.type}) has no trained blobs in the caffemodel${weightsFile ? ` ${weightsFile}` : ''}`, node.loc);
    }
  }
}

/** Final values nobody reads (net inputs and data-layer labels excluded), in the order they are written. */
function netOutputs(layers: LayerNode[], sources: LayerNode[], { cons, lastWriter }: Wiring): string[] {
  const outputs: string[] = [];
  for (const [name, [li, ti]] of lastWriter) {
    if (sources.includes(layers[li])) continue;
    if (!(cons.get(`${li}:${ti}`)?.length)) outputs.push(name);
  }
  outputs.sort((a, b) => lastWriter.get(a)![0] - lastWriter.get(b)![0]);

  return outputs;
}

/** the top index a layer writes `blob` at (the last one if it appears twice) */
function lastTopIndex(node: LayerNode, blob: string): number {
  return node.tops.lastIndexOf(blob);
}

function layersTopOf(net: NetParam, name: string): string[] {
  const l = arr<LayerParam>(net.layer).find((x) => x.name === name);
  return arr<string>(l?.top);
}
