import type { LayerDef } from './types';
import { UnknownShape, sub } from './params';
import { NO_PRECISION } from './precision';

/** Python layer: arbitrary user code, so its output shapes cannot be known without running it. */
export const python: LayerDef = {
  type: 'Python',
  chaidnn: 'unsupported',
  precision: NO_PRECISION,
  shape(node) {
    const p = sub(node, 'python_param');
    throw new UnknownShape(`Python layer ${p.module ?? '?'}.${p.layer ?? '?'}: output shape unknown`);
  },
  params: () => 0,
  macs: () => 0,
};
