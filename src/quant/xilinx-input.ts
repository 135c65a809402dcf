/**
 * DynamicFixed with a Xilinx-mode input layer (`--df_input xilinx`). CHaiDNN's image reader quantizes the net input
 * in the mode of the first layer (xi_interface.cpp takes quant_scheme_flag and th_in from JobQueue[0][0]): in
 * DynamicFixed as (pixel << fl) − mean·2^fl with fl >= 0, so a 6-bit input spans −32..31 of the 0..255 pixels; in
 * Xilinx mode as round((pixel − mean)/sf) at th_layer_in, any range. quant_type is read per layer and each HW layer
 * runs in its own (xi_init.cpp convInit), reading its input buffer's integers as they are; so the convolutions
 * reading the input run in Xilinx mode with th_layer_out = (2^(bw−1)−1)·2^−fl, whose integers are exactly the
 * DynamicFixed integers at the fl their consumers read.
 */
import { ChaiqError, type WarnFn } from '../errors';
import type { Net } from '../graph/types';
import { requantMultipliers } from '../chaidnn/arith';
import { xilinxThresholdOfFl } from '../chaidnn/format';
import { netFusions } from '../chaidnn/fusion';
import type { PrecisionBlock, PrecisionPlan } from './plan';
import type { Bitwidths } from './xilinx';

export const DF_INPUT_MODES = ['dynamicfixed', 'xilinx'] as const;
export type DfInputMode = (typeof DF_INPUT_MODES)[number];

/** The layers that read the net input (CHaiDNN runs nets with one input), and the layer writing it. */
function inputReaders(net: Net): number[] {
  const blob = net.inputs[0]?.name;
  return net.layers.filter((l) => l.bottoms.includes(blob)).map((l) => l.index);
}

/**
 * The DynamicFixed plan with the convolutions that read the net input (and the Input layer) in Xilinx mode:
 * their th_layer_in and th_params from `xilinx` (a Xilinx plan of the same net and statistics), th_layer_out on
 * the DynamicFixed grid of their fl_layer_out. Every reader must be a convolution the runtime does not fuse
 * BatchNorm/Scale into (it would truncate th_layer_out to an integer, §3.5).
 */
export function xilinxInputPlan(net: Net, df: PrecisionPlan, xilinx: PrecisionPlan, bw: Bitwidths, warn: WarnFn): PrecisionPlan {
  const readers = inputReaders(net);
  const fusions = netFusions(net);
  const changed = new Map<string, PrecisionBlock>();
  for (const li of readers) {
    const l = net.layers[li];
    const d = df.get(l.name);
    const x = xilinx.get(l.name);
    if (l.def?.fixed !== 'conv' || !d || !x) {
      throw new ChaiqError(`--df_input xilinx runs the layers that read the net input in Xilinx mode, and only a convolution can; ` +
        `layer "${l.name}" (${l.type}) reads it`, l.loc ?? {});
    }
    if (fusions.byConv.get(li)?.folded.length) {
      throw new ChaiqError(`--df_input xilinx: CHaiDNN fuses the BatchNorm/Scale after "${l.name}" and truncates a Xilinx th_layer_out to an integer; ` +
        'fold them offline with --optimized_weights', l.loc ?? {});
    }
    const thOut = xilinxThresholdOfFl(bw.out, Number(d.fl_layer_out));
    const block: PrecisionBlock = { ...x, th_layer_out: thOut };
    const { overflow } = requantMultipliers(block.th_params, bw.params, block.th_layer_in, bw.in, thOut, bw.out);
    if (overflow.length) {
      warn(`layer "${l.name}": requant multiplier ≥ 2^24 on ${overflow.length} channel(s) at th_layer_out ${thOut} (fl ${d.fl_layer_out}); ` +
        'CHaiDNN reads it as ap_uint<24>', l.loc ?? {});
    }
    changed.set(l.name, block);
  }
  // the Input layer keeps no block: the runtime does not parse one there, the reader takes th_layer_in of the first layer
  const out: PrecisionPlan = new Map();
  for (const l of net.layers) {
    const b = changed.get(l.name) ?? df.get(l.name);
    if (b) out.set(l.name, b);
  }
  return out;
}
