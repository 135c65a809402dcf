import type { Net } from '../graph/types';

/** C,H,W of the net's (single) input when fully known. */
export function netInputDims(net: Net): [number, number, number] | undefined {
  const s = net.inputs[0]?.shape;
  return s && s.length === 4 && s.slice(1).every((x) => x > 0) ? [s[1], s[2], s[3]] : undefined;
}
