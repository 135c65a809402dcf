import type { LayerNode } from '../graph/types';
import type { QuantMode } from '../layers/types';

/** PrecisionParameter field numbers (chaidnn-semantics §1); the printer writes fields in this order. */
export const PRECISION_FIELD_NUMBERS: Readonly<Record<string, number>> = {
  bw_layer_in: 3,
  bw_layer_out: 4,
  bw_params: 5,
  fl_layer_in: 6,
  fl_layer_out: 7,
  fl_params: 8,
  batchnorm_mean_fl: 9,
  batchnorm_variance_fl: 10,
  batchnorm_mean_bw: 11,
  batchnorm_variance_bw: 12,
  scale_gamma_fl: 13,
  scale_beta_fl: 14,
  scale_gamma_bw: 15,
  scale_beta_bw: 16,
  scale_gamma_by_std_fl: 17,
  scale_gamma_by_std_bw: 18,
  th_layer_in: 19,
  th_layer_out: 20,
  th_params: 21,
  quant_type: 22,
};

/** Fields of type float (the rest are integers, except quant_type, a string). */
export const FLOAT_FIELDS = new Set(['th_layer_in', 'th_layer_out', 'th_params']);

/** The precision_param fields a layer must carry in `mode` ([] = no block), as its definition declares. */
export function precisionFields(layer: Pick<LayerNode, 'def'>, mode: QuantMode): readonly string[] {
  return layer.def?.precision[mode] ?? [];
}

/** Keys of a block in field-number order (unknown names last, alphabetically). */
/**
 * A precision block holding the requested `fields`, each taken from `values` (a getter, so costly values such as
 * th_params are computed only for layers that carry them); fields without a value, or whose value is undefined,
 * are left out.
 */
export function blockFromFields(fields: readonly string[], values: Record<string, () => unknown>): Record<string, any> {
  const block: Record<string, any> = {};
  for (const f of fields) {
    const v = values[f]?.();
    if (v !== undefined) block[f] = v;
  }
  return block;
}

export function orderedFields(block: Record<string, unknown>): string[] {
  return Object.keys(block).sort((a, b) => {
    const na = PRECISION_FIELD_NUMBERS[a] ?? 1e9;
    const nb = PRECISION_FIELD_NUMBERS[b] ?? 1e9;
    return na !== nb ? na - nb : a < b ? -1 : a > b ? 1 : 0;
  });
}
