/**
 * The precision block the runtime reads (precision_param, else quantization_param, §3.1) and the net's mode.
 */
import type { LayerParam, Msg } from '../proto/message';
import type { QuantMode } from '../layers/types';

export function precisionBlock(layer: LayerParam): Msg | undefined {
  return layer.precision_param ?? layer.quantization_param;
}

/**
 * The mode most blocks declare; a block without quant_type counts as Xilinx when it has thresholds, else as
 * DynamicFixed (what the runtime reads it as). `none`: the answer when no layer has a block.
 */
export function detectMode(blocks: Iterable<Msg | undefined>, none: QuantMode): QuantMode {
  let x = 0;
  let d = 0;
  for (const b of blocks) {
    if (!b) continue;
    if (b.quant_type === 'Xilinx' || (!b.quant_type && ('th_layer_in' in b || 'th_layer_out' in b))) x++;
    else d++;
  }
  if (x === 0 && d === 0) return none;
  return d > x ? 'DynamicFixed' : 'Xilinx';
}
