/** `--df_input xilinx`: the DynamicFixed plan with the layers reading the net input in Xilinx mode (quant/xilinx-input). */
import { OptionError, type WarnFn } from '../errors';
import type { Net } from '../graph/types';
import { formatPy2Float } from '../io/floatfmt';
import { buildXilinxPlan, type Bitwidths } from '../quant/xilinx';
import { DF_INPUT_MODES, xilinxInputPlan, type DfInputMode } from '../quant/xilinx-input';
import type { Thresholds } from './calibrate';
import type { PlanResult } from './plan';
import type { QuantMode } from './types';

/** The option's value and what it needs: DynamicFixed with fl chosen from data (the input threshold comes from the same statistics). */
export function checkDfInputOption(v: DfInputMode | undefined, mode: QuantMode, flAuto: boolean): void {
  if (v === undefined || v === 'dynamicfixed') return;
  if (!DF_INPUT_MODES.includes(v)) throw new OptionError(`{dfInput} must be one of ${DF_INPUT_MODES.join(', ')}, got '${v}'`);
  if (mode !== 'DynamicFixed' || !flAuto) throw new OptionError('{dfInput} xilinx changes the input layers of a DynamicFixed plan chosen from data: it needs DynamicFixed mode with fl auto');
}

/** The plan and its summary rows with the input readers in Xilinx mode (th_in, and th_out on their fl's grid). */
export function xilinxInputStage(net: Net, r: PlanResult, th: Thresholds, bitwidths: Bitwidths, warn: WarnFn): PlanResult {
  const xp = buildXilinxPlan(net, th.thOf, { bitwidths, pow2: false, warn: () => undefined }).plan;
  const plan = xilinxInputPlan(net, r.plan, xp, bitwidths, warn);
  const summary = r.summary.map((row, i) => {
    const b = i > 0 ? plan.get(row[0]) : undefined;
    if (!b || b.quant_type !== 'Xilinx') return row;
    return [row[0], row[1], `th ${formatPy2Float(b.th_layer_in)}`, `${row[3]} (th ${formatPy2Float(b.th_layer_out)})`, 'th_params'];
  });
  return { plan, summary };
}
