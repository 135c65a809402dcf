import { defineLayer } from './define';
import type { Forward } from './forward';

const silenceForward: Forward = () => [];

/** Silence: consumes its bottoms, writes nothing. */
export const silence = defineLayer({
  type: 'Silence',
  forward: silenceForward,
  chaidnn: 'unsupported',
  trainingOnly: true,
  shape: (node) => node.tops.map(() => []),
});
