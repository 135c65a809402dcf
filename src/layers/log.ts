import { defineLayer } from './define';
import { likeBottom } from './params';
import { logForward } from './forward/extra';
/** Log: log_base(shift + scale*x), elementwise. */
export const log = defineLayer({
  type: 'Log',
  forward: logForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
