import type { Msg } from '../proto/message';

/**
 * A precision_param block as a plain message (same form as a bound `precision_param`):
 * `{ bw_layer_in: 8, th_layer_in: 151.08, th_params: [...], quant_type: 'Xilinx' }`.
 */
export type PrecisionBlock = Msg;

/** The output of a quantization mode: layer name → the block to write on that layer. */
export type PrecisionPlan = Map<string, PrecisionBlock>;
