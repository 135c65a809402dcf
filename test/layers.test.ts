import type { LayerNode } from '../src/graph/types';
import { ChaiqError } from '../src/errors';
import { allLayers, inferTopShapes, lookupLayer, canonicalType } from '../src/layers/registry';
import type { LayerDef } from '../src/layers/types';

function node(type: string, param: Record<string, any> = {}, tops = ['top'], bottoms = ['bottom']): LayerNode {
  const def = lookupLayer(type);
  return {
    index: 0, name: 'l', type: def?.type ?? type, bottoms, tops, param: { name: 'l', type, ...param },
    blobs: [], bottomShapes: [], topShapes: [], def, loc: { file: 'net.prototxt', line: 3, col: 1 },
  };
}
function def(type: string): LayerDef {
  const d = lookupLayer(type);
  if (!d) throw new Error(`no ${type}`);
  return d;
}
const shape = (type: string, param: Record<string, any>, bottoms: number[][], tops = ['top']) =>
  def(type).shape(node(type, param, tops, bottoms.map((_, i) => `b${i}`)), bottoms);
const conv = (p: Record<string, any>, b: number[]) => shape('Convolution', { convolution_param: p }, [b])[0];
const pool = (p: Record<string, any>, b: number[]) => shape('Pooling', { pooling_param: p }, [b])[0];

describe('Convolution', () => {
  test('square, padded, strided', () => {
    expect(conv({ num_output: 96, kernel_size: [11], stride: [4] }, [10, 3, 227, 227])).toEqual([10, 96, 55, 55]);
    expect(conv({ num_output: 64, kernel_size: [7], stride: [2], pad: [3] }, [1, 3, 224, 224])).toEqual([1, 64, 112, 112]);
  });
  test('kernel_h/w, pad_h/w, stride_h/w', () => {
    expect(conv({ num_output: 8, kernel_h: 1, kernel_w: 7, pad_h: 0, pad_w: 3 }, [1, 4, 17, 17])).toEqual([1, 8, 17, 17]);
    expect(conv({ num_output: 8, kernel_size: [3], stride_h: 2, stride_w: 1 }, [1, 4, 9, 9])).toEqual([1, 8, 4, 7]);
  });
  test('dilation, group/depthwise', () => {
    expect(conv({ num_output: 1024, kernel_size: [3], pad: [6], dilation: [6] }, [1, 512, 19, 19])).toEqual([1, 1024, 19, 19]);
    expect(conv({ num_output: 32, kernel_size: [3], pad: [1], group: 32 }, [1, 32, 112, 112])).toEqual([1, 32, 112, 112]);
  });
  test('repeated kernel_size per spatial axis (3-D)', () => {
    expect(conv({ num_output: 4, kernel_size: [3, 2, 1], pad: [1, 0, 0] }, [1, 2, 8, 8, 8])).toEqual([1, 4, 8, 7, 8]);
  });
  test('C++ truncating division: (in + 2p - k) / s', () => {
    expect(conv({ num_output: 1, kernel_size: [3], stride: [2] }, [1, 1, 8, 8])).toEqual([1, 1, 3, 3]);
  });
  test('bad params are ChaiqErrors at the layer', () => {
    expect(() => conv({ num_output: 8, kernel_size: [3], kernel_h: 3, kernel_w: 3 }, [1, 4, 9, 9])).toThrow(ChaiqError);
    expect(() => conv({ num_output: 8, kernel_size: [3], group: 3 }, [1, 4, 9, 9])).toThrow(/divisible by group/);
    expect(() => conv({ num_output: 8 }, [1, 4, 9, 9])).toThrow(/kernel_size is required/);
    expect(() => conv({ num_output: 8, kernel_size: [11] }, [1, 4, 9, 9])).toThrow(ChaiqError);
    try {
      conv({ num_output: 8, kernel_size: [3], group: 3 }, [1, 4, 9, 9]);
    } catch (e) {
      expect((e as ChaiqError).loc).toEqual({ file: 'net.prototxt', line: 3, col: 1 });
    }
  });
  test('params, MACs, blob shapes', () => {
    const d = def('Convolution');
    const n = node('Convolution', { convolution_param: { num_output: 32, kernel_size: [3], group: 32, pad: [1] } });
    const b = [[1, 32, 10, 10]];
    expect(d.params!(n, b)).toBe(32 * 1 * 9 + 32);
    expect(d.macs!(n, b, d.shape(n, b))).toBe(32 * 10 * 10 * 9);
    expect(d.blobShapes!(n, b)).toEqual([[32, 1, 3, 3], [32]]);
    const nb = node('Convolution', { convolution_param: { num_output: 16, kernel_size: [1], bias_term: false } });
    expect(d.blobShapes!(nb, [[1, 8, 4, 4]])).toEqual([[16, 8, 1, 1]]);
    expect(d.params!(nb, [[1, 8, 4, 4]])).toBe(128);
  });
});

test('Deconvolution: stride*(in-1) + extent - 2*pad; weights (C, O/g, kh, kw)', () => {
  const p = { convolution_param: { num_output: 21, kernel_size: [4], stride: [2], pad: [1], bias_term: false } };
  expect(shape('Deconvolution', p, [[1, 21, 16, 16]])).toEqual([[1, 21, 32, 32]]);
  expect(def('Deconvolution').blobShapes!(node('Deconvolution', p), [[1, 64, 16, 16]])).toEqual([[64, 21, 4, 4]]);
});

describe('Pooling', () => {
  test('ceil rounding (Caffe default)', () => {
    expect(pool({ pool: 'MAX', kernel_size: 3, stride: 2 }, [10, 96, 55, 55])).toEqual([10, 96, 27, 27]);
    expect(pool({ pool: 'MAX', kernel_size: 3, stride: 2 }, [1, 64, 112, 112])).toEqual([1, 64, 56, 56]);
    expect(pool({ pool: 'MAX', kernel_size: 2, stride: 2 }, [1, 8, 7, 7])).toEqual([1, 8, 4, 4]);
  });
  test('with padding, the last window must start inside the image', () => {
    // ceil((3 + 2 - 2) / 2) + 1 = 3, but (3-1)*2 = 4 >= 3 + 1 → 2
    expect(pool({ pool: 'MAX', kernel_size: 2, stride: 2, pad: 1 }, [1, 1, 3, 3])).toEqual([1, 1, 2, 2]);
    expect(pool({ pool: 'MAX', kernel_size: 3, stride: 2, pad: 1 }, [1, 64, 112, 112])).toEqual([1, 64, 57, 57]);
  });
  test('floor: round_mode FLOOR or the fork\'s ceil_mode: false', () => {
    expect(pool({ pool: 'MAX', kernel_size: 3, stride: 2, pad: 1, ceil_mode: false }, [1, 64, 112, 112])).toEqual([1, 64, 56, 56]);
    expect(pool({ pool: 'MAX', kernel_size: 2, stride: 2, round_mode: 'FLOOR' }, [1, 8, 7, 7])).toEqual([1, 8, 3, 3]);
  });
  test('global pooling, kernel_h/w, two tops (mask)', () => {
    expect(pool({ pool: 'AVE', global_pooling: true }, [1, 1024, 7, 7])).toEqual([1, 1024, 1, 1]);
    expect(pool({ pool: 'AVE', kernel_h: 2, kernel_w: 4, stride_h: 2, stride_w: 4 }, [1, 3, 8, 8])).toEqual([1, 3, 4, 2]);
    expect(shape('Pooling', { pooling_param: { kernel_size: 2, stride: 2 } }, [[1, 3, 8, 8]], ['p', 'mask'])).toEqual([[1, 3, 4, 4], [1, 3, 4, 4]]);
  });
  test('bad params', () => {
    expect(() => pool({ global_pooling: true, kernel_size: 3 }, [1, 3, 8, 8])).toThrow(ChaiqError);
    expect(() => pool({ kernel_size: 3, kernel_h: 3, kernel_w: 3 }, [1, 3, 8, 8])).toThrow(ChaiqError);
    expect(() => pool({ kernel_size: 2, pad: 2 }, [1, 3, 8, 8])).toThrow(/pad/);
    expect(() => pool({ pool: 'STOCHASTIC', kernel_size: 3, pad: 1 }, [1, 3, 8, 8])).toThrow(ChaiqError);
    expect(() => pool({ kernel_size: 2 }, [1, 3, 8])).toThrow(/4 axes/);
  });
});

test('InnerProduct: axis, transpose; M×N×K MACs', () => {
  const d = def('InnerProduct');
  expect(shape('InnerProduct', { inner_product_param: { num_output: 10 } }, [[64, 50, 4, 4]])).toEqual([[64, 10]]);
  const n = node('InnerProduct', { inner_product_param: { num_output: 6, axis: 2, transpose: true } });
  expect(d.shape(n, [[1, 4420, 4]])).toEqual([[1, 4420, 6]]);
  expect(d.blobShapes!(n, [[1, 4420, 4]])).toEqual([[4, 6], [6]]);
  expect(d.params!(n, [[1, 4420, 4]])).toBe(30);
  expect(d.macs!(n, [[1, 4420, 4]], [[1, 4420, 6]])).toBe(4420 * 6 * 4);
});

test('Concat: axis, legacy concat_dim, mismatch', () => {
  expect(shape('Concat', {}, [[1, 64, 28, 28], [1, 128, 28, 28], [1, 32, 28, 28]])).toEqual([[1, 224, 28, 28]]);
  expect(shape('Concat', { concat_param: { axis: -1 } }, [[1, 2, 3], [1, 2, 5]])).toEqual([[1, 2, 8]]);
  expect(shape('Concat', { concat_param: { concat_dim: 2 } }, [[1, 2, 7668], [1, 2, 100]])).toEqual([[1, 2, 7768]]);
  expect(() => shape('Concat', {}, [[1, 64, 28, 28], [1, 64, 14, 14]])).toThrow(ChaiqError);
});

test('Eltwise requires one shape', () => {
  expect(shape('Eltwise', {}, [[1, 8, 4, 4], [1, 8, 4, 4]])).toEqual([[1, 8, 4, 4]]);
  expect(() => shape('Eltwise', {}, [[1, 8, 4, 4], [1, 8, 4, 5]])).toThrow(ChaiqError);
});

test('Flatten: axis, end_axis', () => {
  expect(shape('Flatten', {}, [[1, 3, 3, 24]])).toEqual([[1, 216]]);
  expect(shape('Flatten', { flatten_param: { axis: 1, end_axis: 2 } }, [[2, 3, 4, 5]])).toEqual([[2, 12, 5]]);
  expect(shape('Flatten', { flatten_param: { axis: 0 } }, [[2, 3]])).toEqual([[6]]);
});

test('Reshape: 0 copies, -1 inferred, axis and num_axes', () => {
  const r = (p: Record<string, any>, b: number[]) => shape('Reshape', { reshape_param: p }, [b])[0];
  expect(r({ shape: { dim: [0, -1, 21] } }, [1, 40257])).toEqual([1, 1917, 21]);
  expect(r({ shape: { dim: [0, -1] } }, [2, 3, 6, 5])).toEqual([2, 90]);
  expect(r({ shape: { dim: [-1] }, axis: 1 }, [2, 3, 6, 5])).toEqual([2, 90]);
  expect(r({ shape: { dim: [1, 3] }, axis: 1, num_axes: 1 }, [2, 3, 6, 5])).toEqual([2, 1, 3, 6, 5]);
  expect(r({ shape: { dim: [1] }, axis: -1, num_axes: 0 }, [2, 3, 6, 5])).toEqual([2, 3, 6, 5, 1]);
  expect(r({ shape: { dim: [0, 0, 2, -1] } }, [2, 3, 6, 5])).toEqual([2, 3, 2, 15]);
  expect(() => r({ shape: { dim: [-1, -1] } }, [2, 3])).toThrow(/multiple -1/);
  expect(() => r({ shape: { dim: [4, -1] } }, [2, 3])).toThrow(ChaiqError);
  expect(() => r({ shape: { dim: [7] } }, [2, 3])).toThrow(/count/);
});

test('Permute (SSD)', () => {
  expect(shape('Permute', { permute_param: { order: [0, 2, 3, 1] } }, [[1, 24, 19, 19]])).toEqual([[1, 19, 19, 24]]);
  expect(shape('Permute', { permute_param: { order: [0, 2] } }, [[1, 24, 19, 19]])).toEqual([[1, 19, 24, 19]]);
  expect(() => shape('Permute', { permute_param: { order: [0, 0] } }, [[1, 2, 3, 4]])).toThrow(/duplicate/);
});

test('PriorBox: (1, 2, H*W*num_priors*4)', () => {
  // aspect ratios {1, 2, 1/2, 3, 1/3} x 1 min size + 1 max size = 6 priors
  const p = { prior_box_param: { min_size: [60], max_size: [111], aspect_ratio: [2, 3], flip: true } };
  expect(shape('PriorBox', p, [[1, 512, 19, 19], [1, 3, 300, 300]])).toEqual([[1, 2, 19 * 19 * 6 * 4]]);
  // duplicates are skipped; flip false; no max size: {1, 2} = 2 priors
  const q = { prior_box_param: { min_size: [30], aspect_ratio: [2, 2, 1], flip: false } };
  expect(shape('PriorBox', q, [[1, 512, 38, 38], [1, 3, 300, 300]])).toEqual([[1, 2, 38 * 38 * 2 * 4]]);
});

test('Crop: axis and offsets', () => {
  expect(shape('Crop', { crop_param: { axis: 2, offset: [19] } }, [[1, 21, 568, 568], [1, 3, 500, 500]])).toEqual([[1, 21, 500, 500]]);
  expect(shape('Crop', { crop_param: { axis: 1, offset: [0, 1, 2] } }, [[1, 5, 8, 8], [1, 4, 6, 6]])).toEqual([[1, 4, 6, 6]]);
  expect(() => shape('Crop', { crop_param: { offset: [5] } }, [[1, 3, 8, 8], [1, 3, 6, 6]])).toThrow(/crop/);
});

test('Slice: slice_point, equal parts, legacy slice_dim', () => {
  expect(shape('Slice', { slice_param: { slice_point: [1, 3] } }, [[2, 6, 4]], ['a', 'b', 'c'])).toEqual([[2, 1, 4], [2, 2, 4], [2, 3, 4]]);
  expect(shape('Slice', {}, [[2, 6, 4]], ['a', 'b'])).toEqual([[2, 3, 4], [2, 3, 4]]);
  expect(shape('Slice', { slice_param: { slice_dim: 2 } }, [[2, 6, 4]], ['a', 'b'])).toEqual([[2, 6, 2], [2, 6, 2]]);
  expect(() => shape('Slice', {}, [[2, 5, 4]], ['a', 'b'])).toThrow(ChaiqError);
});

test('ArgMax: with and without axis, out_max_val', () => {
  expect(shape('ArgMax', {}, [[10, 1000]])).toEqual([[10, 1, 1]]);
  expect(shape('ArgMax', { argmax_param: { top_k: 5, out_max_val: true } }, [[10, 1000, 1, 1]])).toEqual([[10, 2, 5, 1]]);
  expect(shape('ArgMax', { argmax_param: { axis: 1 } }, [[1, 12, 360, 480]])).toEqual([[1, 1, 360, 480]]);
});

test('DetectionOutput: Caffe\'s fake (1,1,1,7); Axpy: shape of bottom 1', () => {
  expect(shape('DetectionOutput', {}, [[1, 7668], [1, 40257], [1, 2, 7668]])).toEqual([[1, 1, 1, 7]]);
  expect(shape('Axpy', {}, [[1, 64, 1, 1], [1, 64, 8, 8], [1, 64, 8, 8]])).toEqual([[1, 64, 8, 8]]);
});

test('fork types: Upsample, Interp, BN', () => {
  expect(shape('Upsample', { upsample_param: { scale: 2 } }, [[1, 64, 45, 60], [1, 64, 45, 60]])).toEqual([[1, 64, 90, 120]]);
  expect(shape('Upsample', { upsample_param: { upsample_h: 91, upsample_w: 120 } }, [[1, 64, 45, 60], [1, 64, 45, 60]])).toEqual([[1, 64, 91, 120]]);
  expect(shape('Interp', { interp_param: { height: 64, width: 64 } }, [[1, 512, 1, 1]])).toEqual([[1, 512, 64, 64]]);
  expect(shape('Interp', { interp_param: { zoom_factor: 8 } }, [[1, 21, 65, 65]])).toEqual([[1, 21, 513, 513]]);
  expect(shape('Interp', { interp_param: { shrink_factor: 2 } }, [[1, 21, 65, 65]])).toEqual([[1, 21, 33, 33]]);
  expect(shape('BN', {}, [[1, 64, 8, 8]])).toEqual([[1, 64, 8, 8]]);
});

test('Input, MemoryData, DummyData', () => {
  const s = { input_param: { shape: [{ dim: [1, 3, 300, 300] }] } };
  expect(def('Input').shape(node('Input', s, ['data'], []), [])).toEqual([[1, 3, 300, 300]]);
  const m = { memory_data_param: { batch_size: 1, channels: 3, height: 224, width: 224 } };
  expect(def('MemoryData').shape(node('MemoryData', m, ['data', 'label'], []), [])).toEqual([[1, 3, 224, 224], [1]]);
  const dd = { dummy_data_param: { shape: [{ dim: [2, 3] }, { dim: [2] }] } };
  expect(def('DummyData').shape(node('DummyData', dd, ['a', 'b'], []), [])).toEqual([[2, 3], [2]]);
});

test('params: BatchNorm 2C+1, Scale C (+C bias), PReLU C or 1, Normalize', () => {
  const b = [[1, 16, 4, 4]];
  expect(def('BatchNorm').params!(node('BatchNorm'), b)).toBe(33);
  expect(def('BatchNorm').blobShapes!(node('BatchNorm'), b)).toEqual([[16], [16], [1]]);
  expect(def('Scale').params!(node('Scale', { scale_param: { bias_term: true } }), b)).toBe(32);
  expect(def('Scale').blobShapes!(node('Scale', { scale_param: { bias_term: true } }), b)).toEqual([[16], [16]]);
  expect(def('Scale').params!(node('Scale'), [[1, 16, 4, 4], [1, 16]])).toBe(0);
  expect(def('PReLU').params!(node('PReLU'), b)).toBe(16);
  expect(def('PReLU').params!(node('PReLU', { prelu_param: { channel_shared: true } }), b)).toBe(1);
  expect(def('Normalize').params!(node('Normalize', { norm_param: { channel_shared: false } }), b)).toBe(16);
  expect(def('Normalize').blobShapes!(node('Normalize', { norm_param: { channel_shared: false } }), b)).toEqual([[16]]);
  expect(def('Normalize').blobShapes!(node('Normalize'), b)).toEqual([[]]);
});

describe('registry', () => {
  test('Ristretto aliases resolve to the canonical type', () => {
    expect(lookupLayer('ConvolutionRistretto')?.type).toBe('Convolution');
    expect(lookupLayer('FcRistretto')?.type).toBe('InnerProduct');
    expect(canonicalType('LRNRistretto')).toBe('LRN');
    expect(lookupLayer('NoSuchLayer')).toBeUndefined();
  });
  test('every type of the CHaiDNN table and the corpus is known', () => {
    const types = ['Input', 'Data', 'MemoryData', 'HDF5Data', 'ImageData', 'DummyData', 'Convolution', 'Deconvolution',
      'Pooling', 'InnerProduct', 'Concat', 'Eltwise', 'Flatten', 'Reshape', 'Permute', 'PriorBox', 'Normalize', 'Crop',
      'Slice', 'Split', 'Softmax', 'ArgMax', 'LRN', 'BatchNorm', 'Scale', 'Bias', 'ReLU', 'PReLU', 'Sigmoid', 'TanH',
      'Power', 'Dropout', 'DetectionOutput', 'Silence', 'Axpy', 'Python', 'ELU', 'AbsVal', 'Exp', 'Log', 'BNLL',
      'Threshold', 'Tile', 'Upsample', 'Interp', 'BN', 'SoftmaxWithLoss', 'Accuracy', 'DenseImageData'];
    for (const t of types) expect(lookupLayer(t)?.type).toBe(t);
  });
  test('CHaiDNN roles (chaidnn-semantics §3.1/§3.6)', () => {
    const role = (t: string) => lookupLayer(t)!.chaidnn;
    for (const t of ['Convolution', 'Deconvolution', 'Pooling', 'Eltwise', 'BatchNorm', 'Scale', 'ReLU', 'Input']) expect(role(t)).toBe('hw');
    for (const t of ['InnerProduct', 'Softmax', 'Dropout', 'Crop', 'PriorBox', 'DetectionOutput', 'Concat', 'Flatten',
      'Reshape', 'ArgMax', 'Power', 'Permute', 'Normalize', 'Split']) expect(role(t)).toBe('sw');
    for (const t of ['LRN', 'PReLU', 'Sigmoid', 'TanH', 'Slice', 'Axpy', 'Python', 'BN', 'Upsample']) expect(role(t)).toBe('unsupported');
  });
  test('precision fields per mode (seed doc table)', () => {
    const pr = (t: string, m: 'Xilinx' | 'DynamicFixed') => [...lookupLayer(t)!.precision[m]].sort();
    expect(pr('Convolution', 'Xilinx')).toEqual(['bw_layer_in', 'bw_layer_out', 'bw_params', 'quant_type', 'th_layer_in', 'th_layer_out', 'th_params']);
    expect(pr('Convolution', 'DynamicFixed')).toEqual(['bw_layer_in', 'bw_layer_out', 'bw_params', 'fl_layer_in', 'fl_layer_out', 'fl_params', 'quant_type']);
    expect(pr('Input', 'Xilinx')).toEqual(['bw_layer_out', 'th_layer_out']);
    expect(pr('ReLU', 'Xilinx')).toEqual(['bw_layer_in', 'bw_layer_out', 'th_layer_in', 'th_layer_out']);
    expect(pr('ReLU', 'DynamicFixed')).toEqual([]);
    expect(pr('Normalize', 'Xilinx')).toEqual(pr('Convolution', 'Xilinx'));
    expect(pr('Deconvolution', 'Xilinx')).toEqual(pr('Convolution', 'Xilinx'));
    for (const t of ['Pooling', 'Concat', 'Eltwise', 'Permute', 'BatchNorm', 'Scale']) {
      expect(pr(t, 'Xilinx')).toEqual(['bw_layer_in', 'bw_layer_out', 'quant_type', 'th_layer_in', 'th_layer_out']);
    }
    for (const t of ['Pooling', 'Permute', 'Eltwise']) {
      expect(pr(t, 'DynamicFixed')).toEqual(['bw_layer_in', 'bw_layer_out', 'fl_layer_in', 'fl_layer_out', 'quant_type']);
    }
    expect(pr('BatchNorm', 'DynamicFixed')).toContain('batchnorm_variance_fl');
    expect(pr('Scale', 'DynamicFixed')).toContain('scale_gamma_by_std_bw');
    for (const t of ['InnerProduct', 'Softmax', 'Flatten', 'PriorBox', 'DetectionOutput', 'LRN']) {
      expect(pr(t, 'Xilinx')).toEqual([]);
      expect(pr(t, 'DynamicFixed')).toEqual([]);
    }
  });
  test('every def has a shape rule, and a type registered once', () => {
    const seen = new Set<string>();
    for (const d of allLayers()) {
      expect(typeof d.shape).toBe('function');
      expect(seen.has(d.type)).toBe(false);
      seen.add(d.type);
    }
  });
  test('inferTopShapes: unknown type, unknown bottom, Python → undefined (+ warning); bad params still throw', () => {
    const warnings: string[] = [];
    const warn = (m: string) => warnings.push(m);
    expect(inferTopShapes(node('Frobnicate'), [[1, 2]], warn)).toEqual([undefined]);
    expect(inferTopShapes(node('ReLU'), [undefined], warn)).toEqual([undefined]);
    expect(inferTopShapes(node('Python', { python_param: { module: 'm', layer: 'L' } }, ['a', 'b']), [[1, 2]], warn)).toEqual([undefined, undefined]);
    expect(inferTopShapes(node('Data', { data_param: { batch_size: 10 } }, ['data', 'label'], []), [], warn)).toEqual([undefined, [10]]);
    expect(warnings.length).toBe(3);
    expect(warnings[1]).toMatch(/m\.L/);
    expect(() => inferTopShapes(node('Convolution', { convolution_param: { num_output: 0, kernel_size: [1] } }), [[1, 2, 3, 3]], warn)).toThrow(ChaiqError);
  });
});
