import { defineLayer } from './define';
import { UnknownShape, sub } from './params';

/** Python layer: arbitrary user code, so its output shapes cannot be known without running it. */
export const python = defineLayer({
  type: 'Python',
  chaidnn: 'unsupported',
  shape(node) {
    const p = sub(node, 'python_param');
    throw new UnknownShape(`Python layer ${p.module ?? '?'}.${p.layer ?? '?'}: output shape unknown`);
  },
});
