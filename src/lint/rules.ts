/**
 * The lint rules, as data: id → default severity and what it checks. The checks themselves are in
 * lint.ts; a test prints this table back and triggers each rule once.
 * CHaiDNN silently substitutes defaults for missing fields and only prints "CRITICAL WARNING" for
 * mismatched thresholds (chaidnn-semantics §3.1, §3.3): these rules catch that before the board does.
 */
export type Severity = 'error' | 'warning';

export interface RuleInfo {
  severity: Severity;
  summary: string;
}

export const RULES = {
  syntax: { severity: 'error', summary: 'the file is not valid protobuf text format' },
  'unknown-field': { severity: 'error', summary: 'a field caffe.proto does not have (with a did-you-mean)' },
  'wrong-type': { severity: 'error', summary: 'a value of the wrong type for its field (string for int, bad enum, ...)' },
  'duplicate-name': { severity: 'error', summary: 'two layers with the same name' },
  'undefined-bottom': { severity: 'error', summary: 'a bottom blob no earlier layer produces' },
  'top-overwritten': { severity: 'error', summary: 'a top blob already produced, written again by a layer that is not in-place' },
  'missing-precision': { severity: 'error', summary: 'a layer lacks the precision_param block or fields its mode requires (CHaiDNN would silently use defaults)' },
  'foreign-field': { severity: 'warning', summary: 'a field of the other mode (th_* in DynamicFixed, fl_* in Xilinx): ignored by CHaiDNN' },
  'quant-type': { severity: 'error', summary: 'quant_type other than "Xilinx" or "DynamicFixed" (fatal EP501 in CHaiDNN)' },
  bitwidth: { severity: 'error', summary: 'a bitwidth other than 6 or 8, or activations/weights not uniform across the network' },
  'th-params-count': { severity: 'error', summary: 'th_params count differs from num_output' },
  'bad-threshold': { severity: 'error', summary: 'a threshold that is zero, negative or NaN' },
  'fl-range': { severity: 'error', summary: 'a fractional length outside [0, bw]' },
  'th-mismatch': { severity: 'error', summary: "a producer's th_layer_out differs from a consumer's th_layer_in (exact float32, as CHaiDNN compares)" },
  'fl-mismatch': { severity: 'error', summary: "a producer's fl_layer_out differs from a consumer's fl_layer_in" },
  'in-out-mismatch': { severity: 'error', summary: 'Pooling/Concat/Eltwise/ReLU with input precision different from output precision (no rescaling in CHaiDNN)' },
  'shared-threshold': { severity: 'error', summary: 'inputs of a Concat or Eltwise with different thresholds or fl (integer add / shared buffer)' },
  'unsupported-layer': { severity: 'error', summary: 'a layer type CHaiDNN cannot run' },
  'hw-limits': { severity: 'error', summary: 'outside CHaiDNN hardware limits (kernel size, strides, feature maps, standalone BN/Scale in Xilinx mode, input count and batch)' },
  'fused-th-int': {
    severity: 'error',
    summary: "Xilinx conv with BN/Scale in place whose th_layer_out is not an integer: CHaiDNN truncates it (int final_op_th) while consumers read the float",
  },
  'folded-fl-params': {
    severity: 'warning',
    summary: "DynamicFixed conv with BN/Scale in place: CHaiDNN folds them and takes the weights' fl from max|W'|, ignoring a different fl_params (needs --weights)",
  },
  'nonfinite-weights': { severity: 'error', summary: 'a trained blob of the layer holds NaN or Inf (needs --weights)' },
  'clipped-weights': { severity: 'warning', summary: "th_params smaller than the channel's max|w| by more than 1% (weights clipped)" },
} satisfies Record<string, RuleInfo>;

export type RuleId = keyof typeof RULES;

export interface LintDiagnostic {
  file: string;
  line: number;
  col: number;
  severity: Severity;
  rule: RuleId;
  message: string;
}
