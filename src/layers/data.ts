import { defineLayer } from './define';
import { UnknownShape, bool, has, num, sub } from './params';
import { X_INPUT } from './precision';
import { inputParamShapes } from './input';
import type { LayerNode } from '../graph/types';

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
  precision: { Xilinx: X_INPUT, DynamicFixed: [] },
  shape: (node) => dataShapes(node, num(sub(node, 'data_param'), 'batch_size', 1), undefined, 'Data layer'),
});

/** ImageData: (batch, 3 or 1, H, W) known when crop_size or new_height/new_width is given. */
export const imageData = defineLayer({
  type: 'ImageData',
  chaidnn: 'hw',
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
