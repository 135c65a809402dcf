import { defineLayer } from './define';
import { likeBottom } from './params';
import { absValForward } from './forward/basic';
/** AbsVal: |x|, elementwise. */
export const absval = defineLayer({
  type: 'AbsVal',
  forward: absValForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
