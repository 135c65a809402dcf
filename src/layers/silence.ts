import { defineLayer } from './define';
import { silenceForward } from './forward/basic';

/** Silence: consumes its bottoms, writes nothing. */
export const silence = defineLayer({
  type: 'Silence',
  forward: silenceForward,
  chaidnn: 'unsupported',
  trainingOnly: true,
  shape: (node) => node.tops.map(() => []),
});
