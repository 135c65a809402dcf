import { defineLayer } from './define';
import { UnknownShape, bool, has, num, sub } from './params';
import { X_INPUT } from './precision';
import { inputParamShapes } from './input';
import type { LayerNode } from './types';
import type { LayerParam, Msg } from '../proto/message';
import type { SourceFacts } from './types';

export function list<T>(v: T | T[] | undefined | null): T[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

/**
 * Top shapes a data layer's params give (-1 = in the data source): batch from its *_data_param, H = W =
 * crop_size when cropping; image layers also C (is_color) and new_height/new_width. Also for data layers
 * chaiq does not know (AnnotatedData, VideoData, ...).
 */
export function dataParamShapes(l: LayerParam, image: boolean): number[][] {
  const p: Msg = l.data_param ?? l.image_data_param ?? l.dense_image_data_param ?? l.window_data_param ?? l.hdf5_data_param ?? l.annotated_data_param ?? {};
  const b = Number(p.batch_size ?? -1);
  const crop = Number(l.transform_param?.crop_size ?? 0);
  let c = -1;
  let h = crop || -1;
  let w = crop || -1;
  if (image) {
    c = p.is_color === false || p.is_color === 'false' ? 1 : 3;
    if (!crop && p.new_height && p.new_width) {
      h = Number(p.new_height);
      w = Number(p.new_width);
    }
  }
  return list<string>(l.top).map((_, i) => (i === 0 ? [b, c, h, w] : [b]));
}

const DATA_SOURCE: SourceFacts = { shapes: (l) => dataParamShapes(l, false) };
const IMAGE_SOURCE: SourceFacts = { shapes: (l) => dataParamShapes(l, true) };
/** A data layer chaiq has no definition for (its type ends in Data): read like Data. */
export const UNKNOWN_DATA_SOURCE = DATA_SOURCE;

/**
 * Shapes of a data-reading layer: an injected input_param.shape (chaiq info --input_shape) wins; else
 * (batch, C, H, W) when the parameters fix it, with label (batch); else the data top is unknown
 * (the geometry lives in the database).
 */
export function dataShapes(node: LayerNode, batch: number, chw: number[] | undefined, what: string): number[][] {
  const injected = inputParamShapes(node);
  if (injected) return injected;
  const tops: (number[] | undefined)[] = node.tops.map((_, i) => (i === 0 ? (chw ? [batch, ...chw] : undefined) : [batch]));
  if (tops.some((t) => t === undefined)) {
    throw new UnknownShape(`${what}: the data shape is stored in the data source, not the prototxt (give --input_shape)`, tops);
  }
  return tops as number[][];
}

/** transform_param.crop_size fixes H and W, but not C. */
function cropSize(node: LayerNode): number | undefined {
  const t = sub(node, 'transform_param');
  return has(t, 'crop_size') && num(t, 'crop_size', 0) > 0 ? num(t, 'crop_size', 0) : undefined;
}

/** Data (LMDB/LevelDB). */
export const data = defineLayer({
  type: 'Data',
  chaidnn: 'hw',
  plan: 'none',
  source: DATA_SOURCE,
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
  shape: (node) => dataShapes(node, num(sub(node, 'data_param'), 'batch_size', 1), undefined, 'Data layer'),
});

/** ImageData: (batch, 3 or 1, H, W) known when crop_size or new_height/new_width is given. */
export const imageData = defineLayer({
  type: 'ImageData',
  chaidnn: 'hw',
  plan: 'none',
  source: IMAGE_SOURCE,
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
  shape(node) {
    const p = sub(node, 'image_data_param');
    const c = bool(p, 'is_color', true) ? 3 : 1;
    const crop = cropSize(node);
    const nh = num(p, 'new_height', 0);
    const nw = num(p, 'new_width', 0);
    const hw = crop ? [crop, crop] : nh > 0 && nw > 0 ? [nh, nw] : undefined;
    return dataShapes(node, num(p, 'batch_size', 1), hw ? [c, ...hw] : undefined, 'ImageData layer');
  },
});

/** MemoryData: (batch_size, channels, height, width), label (batch_size). */
export const memoryData = defineLayer({
  type: 'MemoryData',
  chaidnn: 'hw',
  plan: 'none',
  source: {
    shapes(l) {
      const p = l.memory_data_param ?? {};
      const b = Number(p.batch_size ?? -1);
      const data = [b, Number(p.channels ?? -1), Number(p.height ?? -1), Number(p.width ?? -1)];
      return list<string>(l.top).map((_, i) => (i === 0 ? data : [b]));
    },
  },
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
  shape(node) {
    const p = sub(node, 'memory_data_param');
    return dataShapes(node, num(p, 'batch_size', 0),
      [num(p, 'channels', 0), num(p, 'height', 0), num(p, 'width', 0)], 'MemoryData layer');
  },
});

/** HDF5Data: shapes come from the HDF5 files. */
export const hdf5Data = defineLayer({
  type: 'HDF5Data',
  chaidnn: 'hw',
  plan: 'none',
  source: DATA_SOURCE,
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
  shape(node) {
    const injected = inputParamShapes(node);
    if (injected) return injected;
    throw new UnknownShape('HDF5Data layer: shapes are stored in the HDF5 files (give --input_shape)');
  },
});

/** WindowData (R-CNN): (batch, 3, crop, crop) with crop_size. */
export const windowData = defineLayer({
  type: 'WindowData',
  chaidnn: 'hw',
  plan: 'none',
  source: DATA_SOURCE,
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
  shape(node) {
    const crop = cropSize(node);
    return dataShapes(node, num(sub(node, 'window_data_param'), 'batch_size', 1), crop ? [3, crop, crop] : undefined, 'WindowData layer');
  },
});

/** DenseImageData (SegNet fork): image + dense label map; shape known with new_height/new_width or crop. */
export const denseImageData = defineLayer({
  type: 'DenseImageData',
  chaidnn: 'hw',
  plan: 'none',
  source: IMAGE_SOURCE,
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
  shape(node) {
    const injected = inputParamShapes(node);
    if (injected) return injected;
    const p = sub(node, 'dense_image_data_param');
    const batch = num(p, 'batch_size', 1);
    const c = bool(p, 'is_color', true) ? 3 : 1;
    const crop = [num(p, 'crop_height', 0), num(p, 'crop_width', 0)];
    const nhw = [num(p, 'new_height', 0), num(p, 'new_width', 0)];
    const hw = crop[0] > 0 && crop[1] > 0 ? crop : nhw[0] > 0 && nhw[1] > 0 ? nhw : undefined;
    const tops = node.tops.map((_, i) => (hw ? (i === 0 ? [batch, c, ...hw] : [batch, 1, ...hw]) : undefined));
    if (!hw) throw new UnknownShape('DenseImageData layer: the image size is stored in the data source (give --input_shape)', tops);
    return tops as number[][];
  },
});
