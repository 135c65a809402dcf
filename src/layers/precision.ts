/**
 * precision_param fields each layer kind must carry, per mode (seed doc table; chaidnn-semantics §3.1, §3.6).
 * The printer sorts fields by field number, so order here does not matter.
 */
export const NO_PRECISION = { Xilinx: [], DynamicFixed: [] } as const;

const X_IO = ['bw_layer_in', 'bw_layer_out', 'th_layer_in', 'th_layer_out'];
const D_IO = ['bw_layer_in', 'bw_layer_out', 'fl_layer_in', 'fl_layer_out'];

/** Input / Data: only the output side (the input quantizer). */
export const X_INPUT = ['bw_layer_out', 'th_layer_out'];
/** Convolution, Deconvolution, Normalize: activations + params. */
export const X_PARAMS = [...X_IO, 'bw_params', 'th_params', 'quant_type'];
export const D_CONV = [...D_IO, 'bw_params', 'fl_params', 'quant_type'];
/** ReLU (Xilinx only; fused into the preceding HW layer). */
export const X_RELU = X_IO;
/** Pooling, Concat, Eltwise, Permute, BatchNorm, Scale in Xilinx mode. */
export const X_ACT = [...X_IO, 'quant_type'];
/** Pooling, Permute, Eltwise in DynamicFixed mode. */
export const D_ACT = [...D_IO, 'quant_type'];
/**
 * BatchNorm / Scale in DynamicFixed mode: no quant_type (the seed doc's snippets carry none; CHaiDNN reads an
 * empty one as DynamicFixed, chaidnn-semantics §1).
 */
export const D_BATCHNORM = [...D_IO, 'batchnorm_mean_bw', 'batchnorm_mean_fl',
  'batchnorm_variance_bw', 'batchnorm_variance_fl'];
export const D_SCALE = [...D_IO, 'scale_gamma_bw', 'scale_gamma_fl', 'scale_beta_bw', 'scale_beta_fl',
  'scale_gamma_by_std_bw', 'scale_gamma_by_std_fl'];
