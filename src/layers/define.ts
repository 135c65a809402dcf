import type { LayerDef } from './types';
import { NO_PRECISION } from './precision';

/** What a layer file declares; everything a weightless, block-less layer shares has a default. */
export type LayerSpec = Omit<LayerDef, 'precision' | 'params' | 'macs'> & Partial<Pick<LayerDef, 'precision' | 'params' | 'macs'>>;

/** A LayerDef with the defaults filled in: no trained values, no multiply-accumulates, no precision block. */
export function defineLayer(spec: LayerSpec): LayerDef {
  return { precision: NO_PRECISION, params: () => 0, macs: () => 0, ...spec };
}
