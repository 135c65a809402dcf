import { defineLayer } from './define';
import { likeBottom } from './params';
import { unary } from './forward';

// module-level alias: global lookups are slow inside jest's vm context
const { abs: M_abs } = Math;

/** AbsVal: |x|, elementwise. */
export const absval = defineLayer({
  type: 'AbsVal',
  forward: unary(() => (x) => M_abs(x)),
  chaidnn: 'unsupported',
  shape: likeBottom,
});
