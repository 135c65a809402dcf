/**
 * The runtime's split of a net into FPGA layers (integer tensors) and ARM layers (float), chaidnn-semantics
 * §3.1, §3.6. Where an ARM layer's float output feeds an FPGA layer the runtime packs it with the consumer's
 * input format (`quantizeFloat`, netInput false); an FPGA value read by an ARM layer is unpacked (q·sf).
 * Concat and ReLU have no kernel of their own: a channel Concat of FPGA values is a shared buffer and a ReLU on
 * an FPGA value a flag on its producer; anything else (Concat of ARM values or on another axis, ReLU on a float)
 * runs on the ARM.
 */
import type { Net } from '../graph/types';
import { num, sub } from '../layers/params';
import { netFusions } from './fusion';

/**
 * - input: the net input; fused: folded into a conv (§3.5); fpga: integer in, integer out;
 * - keep: an ARM layer that moves FPGA integers unchanged (Split, Dropout, Flatten, Reshape);
 * - arm: float on the dequantized inputs.
 */
export type Placement = 'input' | 'fused' | 'fpga' | 'keep' | 'arm';

export interface Partition {
  place: Placement[];
  /** per layer, per bottom: the value arrives as integers (from an FPGA layer or the quantized input) */
  fixedIn: boolean[][];
}

function isNetInput(net: Net, li: number): boolean {
  const l = net.layers[li];
  return l.bottoms.length === 0 && net.inputs.some((x) => x.layer === l.name);
}

/** Partitions the net in prototxt order. `inputFixed`: the net input is quantized (an FPGA layer reads it). */
export function partitionNet(net: Net, inputFixed: boolean): Partition {
  const fusions = netFusions(net);
  const place: Placement[] = [];
  const fixedIn: boolean[][] = [];
  const fixedTop = new Map<number, boolean[]>();
  net.layers.forEach((l, li) => {
    const ins = l.bottoms.map((_, bi) => {
      const p = net.producer(li, bi);
      if (p < 0) return false;
      const pl = net.layers[p];
      return fixedTop.get(p)?.[pl.tops.lastIndexOf(l.bottoms[bi])] ?? false;
    });
    fixedIn.push(ins);
    let where: Placement;
    if (isNetInput(net, li)) where = 'input';
    else if (fusions.into[li] >= 0) where = 'fused';
    else if (l.def?.fixed === 'concat') where = num(sub(l, 'concat_param'), 'axis', 1) === 1 && ins.length > 0 && ins.every((x) => x) ? 'fpga' : 'arm';
    else if (l.def?.fixed === 'relu') where = ins[0] ? 'fpga' : 'arm';
    else if (l.def?.keepsValues) where = ins[0] ? 'keep' : 'arm';
    else if (l.def?.fixed) where = 'fpga';
    else where = 'arm';
    place.push(where);
    const out = where === 'input' ? inputFixed : where === 'fpga' || where === 'keep' || where === 'fused';
    fixedTop.set(li, l.tops.map(() => out));
  });
  return { place, fixedIn };
}
