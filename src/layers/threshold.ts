import { defineLayer } from './define';
import { likeBottom } from './params';
import { thresholdForward } from './forward/extra';
/** Threshold: x > threshold ? 1 : 0, elementwise. */
export const threshold = defineLayer({
  type: 'Threshold',
  forward: thresholdForward,
  chaidnn: 'unsupported',
  shape: likeBottom,
});
