/**
 * CHaiDNN's PrecisionParameter as caffe.proto declares it (chaidnn-semantics §1): field numbers, which fields are
 * floats, and the order the printer writes them in. Read from the schema, not kept by hand.
 */
import { lookupType } from '../proto/schema';
import type { LayerNode } from '../layers/types';
import type { QuantMode } from '../layers/types';

let numbers: ReadonlyMap<string, number> | undefined;
let floats: ReadonlySet<string> | undefined;

function schema(): { numbers: ReadonlyMap<string, number>; floats: ReadonlySet<string> } {
  if (!numbers || !floats) {
    const fields = Object.values(lookupType('PrecisionParameter').fields);
    numbers = new Map(fields.map((f) => [f.name, f.id]));
    floats = new Set(fields.filter((f) => f.type === 'float' || f.type === 'double').map((f) => f.name));
  }
  return { numbers, floats };
}

/** The field number of a precision_param field, or undefined for a name caffe.proto does not declare. */
export function precisionFieldNumber(field: string): number | undefined {
  return schema().numbers.get(field);
}

/** A float field (th_layer_in, th_layer_out, th_params); the others are integers, quant_type a string. */
export function isFloatPrecisionField(field: string): boolean {
  return schema().floats.has(field);
}

/** The precision_param fields a layer must carry in `mode` ([] = no block), as its definition declares. */
export function precisionFields(layer: Pick<LayerNode, 'def'>, mode: QuantMode): readonly string[] {
  return layer.def?.precision[mode] ?? [];
}

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

/** Keys of a block in field-number order (unknown names last, alphabetically). */
export function orderedFields(block: Record<string, unknown>): string[] {
  const n = schema().numbers;
  return Object.keys(block).sort((a, b) => {
    const na = n.get(a) ?? 1e9;
    const nb = n.get(b) ?? 1e9;
    return na !== nb ? na - nb : a < b ? -1 : a > b ? 1 : 0;
  });
}
