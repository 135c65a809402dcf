/**
 * In-memory upgrade of old nets to the current (V2) form, following Caffe's upgrade_proto.cpp:
 * V0 (`layers { layer { type: "conv" kernelsize ... } }`, padding layers folded into conv/pool) → V1,
 * V1 data-layer transformation fields → transform_param, V1 (`layers`, enum types, blobs_lr, ...) → V2
 * `layer`, `input:` + `input_dim`/`input_shape` → an `Input` layer first, BatchNorm's 3 param specs cleared.
 * Works on Msg objects (bound prototxt or decoded caffemodel); the input is not modified. Nested parameter
 * messages are shared with the input, so locations recorded on them stay valid; `originOf(layer)` gives the
 * message an upgraded layer was made from.
 */
import { ChaiqError, type SourceLoc, type WarnFn } from '../errors';
import type { LayerParam, Msg, NetParam } from './message';
import { copyLocations, locations, lookupEnum } from './schema';

export type SourceVersion = 'V0' | 'V1' | 'V2';

export interface UpgradeResult {
  net: NetParam;
  /** the oldest layer format found: a V0/V1 net must be written back upgraded to V2 */
  sourceVersion: SourceVersion;
  /** `input:`/`input_dim`/`input_shape` were turned into an Input layer */
  inputUpgraded: boolean;
}

const origin = new WeakMap<object, object>();
/** remember where an upgraded message came from; its source location goes with it */
function derive(to: object, from: object): void {
  origin.set(to, from);
  copyLocations(from, to);
}

/** The message (V0/V1 layer, or the net for a made-up Input layer) an upgraded layer was made from. */
export function originOf(msg: object): object | undefined {
  let o = origin.get(msg);
  // chains (V0 → V1 → V2): return the first one
  while (o && origin.has(o)) o = origin.get(o);
  return o;
}

/** The source version recorded on an upgraded net (`net.__sourceVersion`, non-enumerable). */
export function sourceVersionOf(net: Msg): SourceVersion {
  return (net as { __sourceVersion?: SourceVersion }).__sourceVersion ?? 'V2';
}

/** The name of a V1 LayerType number (caffe.proto's V1LayerParameter.LayerType); the number itself when unknown. */
export function v1TypeNameOf(n: number): string {
  return lookupEnum('caffe.V1LayerParameter.LayerType').valuesById[n] ?? String(n);
}

/** V1 LayerType enum → V2 type string (UpgradeV1LayerType). */
const V1_TO_V2: Record<string, string> = {
  NONE: '', ABSVAL: 'AbsVal', ACCURACY: 'Accuracy', ARGMAX: 'ArgMax', BNLL: 'BNLL', CONCAT: 'Concat',
  CONTRASTIVE_LOSS: 'ContrastiveLoss', CONVOLUTION: 'Convolution', DECONVOLUTION: 'Deconvolution', DATA: 'Data',
  DROPOUT: 'Dropout', DUMMY_DATA: 'DummyData', EUCLIDEAN_LOSS: 'EuclideanLoss', ELTWISE: 'Eltwise', EXP: 'Exp',
  FLATTEN: 'Flatten', HDF5_DATA: 'HDF5Data', HDF5_OUTPUT: 'HDF5Output', HINGE_LOSS: 'HingeLoss', IM2COL: 'Im2col',
  IMAGE_DATA: 'ImageData', INFOGAIN_LOSS: 'InfogainLoss', INNER_PRODUCT: 'InnerProduct', LRN: 'LRN',
  MEMORY_DATA: 'MemoryData', MULTINOMIAL_LOGISTIC_LOSS: 'MultinomialLogisticLoss', MVN: 'MVN', POOLING: 'Pooling',
  POWER: 'Power', RELU: 'ReLU', SIGMOID: 'Sigmoid', SIGMOID_CROSS_ENTROPY_LOSS: 'SigmoidCrossEntropyLoss',
  SILENCE: 'Silence', SOFTMAX: 'Softmax', SOFTMAX_LOSS: 'SoftmaxWithLoss', SPLIT: 'Split', SLICE: 'Slice',
  TANH: 'TanH', WINDOW_DATA: 'WindowData', THRESHOLD: 'Threshold',
};

/** V0 type string → V1 enum name (UpgradeV0LayerType). */
const V0_TO_V1: Record<string, string> = {
  accuracy: 'ACCURACY', bnll: 'BNLL', concat: 'CONCAT', conv: 'CONVOLUTION', data: 'DATA', dropout: 'DROPOUT',
  euclidean_loss: 'EUCLIDEAN_LOSS', flatten: 'FLATTEN', hdf5_data: 'HDF5_DATA', hdf5_output: 'HDF5_OUTPUT',
  im2col: 'IM2COL', images: 'IMAGE_DATA', infogain_loss: 'INFOGAIN_LOSS', innerproduct: 'INNER_PRODUCT', lrn: 'LRN',
  multinomial_logistic_loss: 'MULTINOMIAL_LOGISTIC_LOSS', pool: 'POOLING', relu: 'RELU', sigmoid: 'SIGMOID',
  softmax: 'SOFTMAX', softmax_loss: 'SOFTMAX_LOSS', split: 'SPLIT', tanh: 'TANH', window_data: 'WINDOW_DATA',
};

const POOL_NUMBERS = ['MAX', 'AVE', 'STOCHASTIC'];

export interface UpgradeOptions {
  file?: string;
  warn?: WarnFn;
  /** location of a message (H1's locOf), used in errors */
  locOf?: (msg: object) => SourceLoc | undefined;
}

function arr<T>(v: T | T[] | undefined): T[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** Upgrade a NetParameter Msg (bound text or decoded binary) to V2. Never mutates `input`. */
export function upgradeNet(input: Msg, opts: UpgradeOptions = {}): UpgradeResult {
  const warn: WarnFn = opts.warn ?? (() => undefined);
  const where = (m: object): SourceLoc => ({ file: opts.file, ...(opts.locOf?.(m) ?? {}) });
  let net: Msg = { ...input };
  let sourceVersion: SourceVersion = 'V2';
  const v1Layers = arr<Msg>(net.layers);

  // V0 → V1
  let layers = v1Layers;
  if (layers.some((l) => l.layer)) {
    sourceVersion = 'V0';
    layers = upgradeV0PaddingLayers(net, layers, where).map((l) => upgradeV0Layer(l, warn, where));
  }
  if (layers.length) {
    if (sourceVersion === 'V2') sourceVersion = 'V1';
    layers = layers.map(upgradeV1DataTransformation);
    if (arr(net.layer).length) warn("net has both V1 'layers' and V2 'layer' fields; the 'layer' entries are ignored (as Caffe does)", where(input));
    const v2 = layers.map((l) => upgradeV1Layer(l, warn, where));
    net = { ...net, layer: v2 };
    delete net.layers;
  } else {
    net.layer = arr<LayerParam>(net.layer);
    delete net.layers;
  }

  // input / input_dim / input_shape → Input layer (UpgradeNetInput)
  let inputUpgraded = false;
  const inputs = arr<string>(net.input);
  if (inputs.length || net.input_dim !== undefined || net.input_shape !== undefined) {
    const dims = arr<number>(net.input_dim);
    const shapes = arr<Msg>(net.input_shape);
    // Caffe only strips a shapeless `input:` (legacy caffemodels); we keep it as an Input layer without a
    // shape so the net still wires up and the shape can come from --dims
    if (inputs.length) {
      const shape: Msg[] = [];
      inputs.forEach((_, i) => {
        if (!shapes.length && !dims.length) return;
        if (shapes.length) {
          if (!shapes[i]) throw new ChaiqError(`input '${inputs[i]}' has no input_shape (${shapes.length} given for ${inputs.length} inputs)`, where(input));
          shape.push(shapes[i]);
        } else {
          const d = dims.slice(i * 4, i * 4 + 4);
          if (d.length !== 4) throw new ChaiqError(`input '${inputs[i]}' needs 4 input_dim values (${dims.length} given for ${inputs.length} inputs)`, where(input));
          shape.push({ dim: d });
        }
      });
      const inputLayer: LayerParam = { name: 'input', type: 'Input', top: [...inputs] };
      if (shape.length) inputLayer.input_param = { shape };
      origin.set(inputLayer, input);
      const at = locations.get(input)?.names.get('input')?.[0];
      if (at) locations.set(inputLayer, { loc: at, fields: new Map(), names: new Map() });
      net.layer = [inputLayer, ...net.layer];
      inputUpgraded = true;
    }
    delete net.input;
    delete net.input_dim;
    delete net.input_shape;
  }

  // BatchNorm: Caffe clears the (old, lr_mult 0) param specs when there are exactly 3
  net.layer = (net.layer as LayerParam[]).map((l) => {
    if (l.type === 'BatchNorm' && arr(l.param).length === 3) {
      const c: LayerParam = { ...l };
      delete c.param;
      derive(c, l);
      return c;
    }
    return l;
  });

  Object.defineProperty(net, '__sourceVersion', { value: sourceVersion, enumerable: false, writable: true, configurable: true });
  Object.defineProperty(net, '__inputUpgraded', { value: inputUpgraded, enumerable: false, writable: true, configurable: true });
  return { net: net as NetParam, sourceVersion, inputUpgraded };
}

/** Fold V0 `padding` layers into the conv/pool layer that reads them (UpgradeV0PaddingLayers). */
function upgradeV0PaddingLayers(net: Msg, layers: Msg[], where: (m: object) => SourceLoc): Msg[] {
  const lastTop = new Map<string, number>();
  for (const i of arr<string>(net.input)) lastTop.set(i, -1);
  const out: Msg[] = [];
  layers.forEach((conn, i) => {
    const lp: Msg = conn.layer ?? {};
    let copy: Msg | undefined;
    if (lp.type !== 'padding') {
      copy = { ...conn, bottom: [...arr<string>(conn.bottom)] };
      derive(copy, conn);
      out.push(copy);
    }
    arr<string>(conn.bottom).forEach((b, j) => {
      const src = lastTop.get(b);
      if (src === undefined) throw new ChaiqError(`unknown blob input '${b}' to layer '${lp.name ?? i}'`, where(conn));
      if (src === -1) return;
      const source = layers[src];
      if (source.layer?.type === 'padding') {
        if (lp.type !== 'conv' && lp.type !== 'pool') throw new ChaiqError(`padding layer input to non-convolution / non-pooling layer type '${lp.type}'`, where(conn));
        if (arr(conn.bottom).length !== 1 || arr(source.bottom).length !== 1 || arr(source.top).length !== 1) {
          throw new ChaiqError(`padding layer '${source.layer.name}' must have one bottom and one top, feeding a one-bottom layer`, where(source));
        }
        if (copy) {
          copy.layer = { ...copy.layer, pad: source.layer.pad };
          copy.bottom[j] = arr<string>(source.bottom)[0];
        }
      }
    });
    for (const t of arr<string>(conn.top)) lastTop.set(t, i);
  });
  return out;
}

/** V0 layer connection → V1 layer (UpgradeV0LayerParameter). */
function upgradeV0Layer(conn: Msg, warn: WarnFn, where: (m: object) => SourceLoc): Msg {
  const v1: Msg = {};
  derive(v1, conn);
  if (conn.bottom !== undefined) v1.bottom = [...arr(conn.bottom)];
  if (conn.top !== undefined) v1.top = [...arr(conn.top)];
  const v0: Msg | undefined = conn.layer;
  if (!v0) return v1;
  const type: string = v0.type;
  if (v0.name !== undefined) v1.name = v0.name;
  if (v0.type !== undefined) {
    const t = V0_TO_V1[type];
    if (!t) throw new ChaiqError(`unknown V0 layer type '${type}'`, where(v0));
    v1.type = t;
  }
  if (v0.blobs !== undefined) v1.blobs = arr(v0.blobs);
  if (v0.blobs_lr !== undefined) v1.blobs_lr = [...arr(v0.blobs_lr)];
  if (v0.weight_decay !== undefined) v1.weight_decay = [...arr(v0.weight_decay)];
  const sub = (k: string): Msg => (v1[k] ??= {});
  const bad = (field: string) => warn(`V0 layer '${v0.name ?? ''}': unknown parameter ${field} for layer type ${type}; dropped`, where(v0));
  const byType = (field: string, map: Record<string, [string, string, boolean?]>) => {
    if (v0[field] === undefined) return;
    const m = map[type];
    if (!m) return bad(field);
    const [param, name, repeated] = m;
    sub(param)[name] = repeated ? [v0[field]] : v0[field];
  };
  const convIp = (name: string): Record<string, [string, string]> => ({ conv: ['convolution_param', name], innerproduct: ['inner_product_param', name] });
  byType('num_output', convIp('num_output'));
  byType('biasterm', convIp('bias_term'));
  byType('weight_filler', convIp('weight_filler'));
  byType('bias_filler', convIp('bias_filler'));
  byType('pad', { conv: ['convolution_param', 'pad', true], pool: ['pooling_param', 'pad'] });
  byType('kernelsize', { conv: ['convolution_param', 'kernel_size', true], pool: ['pooling_param', 'kernel_size'] });
  byType('group', { conv: ['convolution_param', 'group'] });
  byType('stride', { conv: ['convolution_param', 'stride', true], pool: ['pooling_param', 'stride'] });
  if (v0.pool !== undefined) {
    if (type !== 'pool') bad('pool');
    else sub('pooling_param').pool = typeof v0.pool === 'number' ? POOL_NUMBERS[v0.pool] : v0.pool;
  }
  byType('dropout_ratio', { dropout: ['dropout_param', 'dropout_ratio'] });
  for (const f of ['local_size', 'alpha', 'beta', 'k']) byType(f, { lrn: ['lrn_param', f] });
  byType('source', {
    data: ['data_param', 'source'],
    hdf5_data: ['hdf5_data_param', 'source'],
    images: ['image_data_param', 'source'],
    window_data: ['window_data_param', 'source'],
    infogain_loss: ['infogain_loss_param', 'source'],
  });
  if (v0.scale !== undefined) sub('transform_param').scale = v0.scale;
  if (v0.meanfile !== undefined) sub('transform_param').mean_file = v0.meanfile;
  byType('batchsize', {
    data: ['data_param', 'batch_size'],
    hdf5_data: ['hdf5_data_param', 'batch_size'],
    images: ['image_data_param', 'batch_size'],
    window_data: ['window_data_param', 'batch_size'],
  });
  if (v0.cropsize !== undefined) sub('transform_param').crop_size = v0.cropsize;
  if (v0.mirror !== undefined) sub('transform_param').mirror = v0.mirror;
  byType('rand_skip', { data: ['data_param', 'rand_skip'], images: ['image_data_param', 'rand_skip'] });
  byType('shuffle_images', { images: ['image_data_param', 'shuffle'] });
  byType('new_height', { images: ['image_data_param', 'new_height'] });
  byType('new_width', { images: ['image_data_param', 'new_width'] });
  byType('concat_dim', { concat: ['concat_param', 'concat_dim'] });
  byType('det_fg_threshold', { window_data: ['window_data_param', 'fg_threshold'] });
  byType('det_bg_threshold', { window_data: ['window_data_param', 'bg_threshold'] });
  byType('det_fg_fraction', { window_data: ['window_data_param', 'fg_fraction'] });
  byType('det_context_pad', { window_data: ['window_data_param', 'context_pad'] });
  byType('det_crop_mode', { window_data: ['window_data_param', 'crop_mode'] });
  if (v0.hdf5_output_param !== undefined) {
    if (type !== 'hdf5_output') bad('hdf5_output_param');
    else v1.hdf5_output_param = v0.hdf5_output_param;
  }
  return v1;
}

/** V1 data layers kept scale/mean_file/crop_size/mirror in their own param (UpgradeNetDataTransformation). */
function upgradeV1DataTransformation(l: Msg): Msg {
  const which: Record<string, string> = { DATA: 'data_param', IMAGE_DATA: 'image_data_param', WINDOW_DATA: 'window_data_param' };
  const key = which[v1TypeName(l.type)];
  const p: Msg | undefined = key ? l[key] : undefined;
  if (!p || !['scale', 'mean_file', 'crop_size', 'mirror'].some((f) => p[f] !== undefined)) return l;
  const np: Msg = { ...p };
  const tp: Msg = { ...(l.transform_param ?? {}) };
  for (const f of ['scale', 'mean_file', 'crop_size', 'mirror']) {
    if (np[f] !== undefined) {
      tp[f] = np[f];
      delete np[f];
    }
  }
  const c: Msg = { ...l, [key]: np, transform_param: tp };
  derive(c, l);
  return c;
}

function v1TypeName(t: unknown): string {
  if (typeof t === 'number') return v1TypeNameOf(t);
  return typeof t === 'string' ? t : '';
}

const V1_SPECIAL = new Set(['type', 'blobs_lr', 'weight_decay', 'param', 'blob_share_mode', 'layer', 'bottom', 'top', 'name', 'include', 'exclude', 'blobs', 'loss_weight']);

/** V1 layer → V2 layer (UpgradeV1LayerParameter). Parameter sub-messages are shared, not copied. */
function upgradeV1Layer(v1: Msg, warn: WarnFn, where: (m: object) => SourceLoc): LayerParam {
  const l: LayerParam = {};
  derive(l, v1);
  if (v1.name !== undefined) l.name = v1.name;
  if (v1.type !== undefined) {
    const name = v1TypeName(v1.type);
    const t = V1_TO_V2[name];
    if (t === undefined) throw new ChaiqError(`unknown V1 layer type '${name}'`, where(v1));
    l.type = t;
  }
  if (v1.bottom !== undefined) l.bottom = [...arr<string>(v1.bottom)];
  if (v1.top !== undefined) l.top = [...arr<string>(v1.top)];
  if (v1.include !== undefined) l.include = arr(v1.include);
  if (v1.exclude !== undefined) l.exclude = arr(v1.exclude);
  if (v1.blobs !== undefined) l.blobs = arr(v1.blobs);
  const params: Msg[] = [];
  const at = (i: number): Msg => {
    while (params.length <= i) params.push({});
    return params[i];
  };
  arr<string>(v1.param).forEach((n, i) => (at(i).name = n));
  arr<string | number>(v1.blob_share_mode).forEach((m, i) => (at(i).share_mode = typeof m === 'number' ? (m === 1 ? 'PERMISSIVE' : 'STRICT') : m));
  arr<number>(v1.blobs_lr).forEach((v, i) => (at(i).lr_mult = v));
  arr<number>(v1.weight_decay).forEach((v, i) => (at(i).decay_mult = v));
  if (params.length) l.param = params;
  if (v1.loss_weight !== undefined) l.loss_weight = [...arr(v1.loss_weight)];
  for (const [k, v] of Object.entries(v1)) if (!V1_SPECIAL.has(k)) l[k] = v;
  if (v1.layer) warn(`layer '${v1.name ?? ''}' has a V0 'layer' field next to V1 fields; ignored`, where(v1));
  return l;
}
