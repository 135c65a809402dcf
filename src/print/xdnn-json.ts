/**
 * The ML-Suite quantizer's JSON (`--output_json`, chaidnn-semantics.md §4.5): one entry per convolution
 * with its thresholds, scale factors and xDNN's fixed-point multiplier (prescale, scale, postscale), written
 * as Python 2's json.dump(indent=4, sort_keys=True) does.
 */
import type { Net } from '../graph/types';
import type { PrecisionPlan } from '../quant/plan';
import { convolution } from '../layers/convolution';

type Json = number | string | Json[] | { [k: string]: Json } | { int: number };

/** xDNN's multiplier m = sf_in·sf_p/sf_out as (prescale shift, scale, postscale shift) */
export function xdnnMultiplier(m: number): [number, number, number] {
  if (m === 0) return [0, 0, 0];
  if (m < 1) {
    const pre = Math.floor(-Math.log2(m));
    return [pre, pyRound(m * 2 ** (pre + 7)), 7];
  }
  if (m === 1) return [0, 1, 0];
  const c = Math.ceil(Math.log2(m));
  return [0, pyRound(m * 2 ** (7 - c)), 7 - c];
}

/** Python 2 round(): half away from zero */
const pyRound = (x: number) => Math.sign(x) * Math.round(Math.abs(x));

/** Python 2 repr of a float: shortest round trip, integral values with ".0", exponents with two digits */
function pyFloat(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e16) return `${x}.0`;
  return String(x).replace(/e([+-])(\d)$/, 'e$10$2');
}

function dump(v: Json, ind: number): string {
  const pad = ' '.repeat(ind + 4);
  if (typeof v === 'number') return pyFloat(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return v.length ? `[\n${v.map((x) => pad + dump(x, ind + 4)).join(', \n')}\n${' '.repeat(ind)}]` : '[]';
  if ('int' in v && Object.keys(v).length === 1 && typeof v.int === 'number') return String(v.int);
  const keys = Object.keys(v).sort();
  return `{\n${keys.map((k) => `${pad}${JSON.stringify(k)}: ${dump((v as Record<string, Json>)[k], ind + 4)}`).join(', \n')}\n${' '.repeat(ind)}}`;
}

const int = (n: number): Json => ({ int: n });

/** The JSON text for the Xilinx-mode plan's convolutions, in prototxt order. */
export function xdnnJson(net: Net, plan: PrecisionPlan): string {
  const network: Json[] = [];
  for (const l of net.layers) {
    const b = plan.get(l.name);
    if (l.type !== convolution.type || !b || b.th_layer_in === undefined || !Array.isArray(b.th_params)) continue;
    const lv = (bw: number) => 2 ** (bw - 1) - 1;
    const sfIn = b.th_layer_in / lv(b.bw_layer_in);
    const sfOut = b.th_layer_out / lv(b.bw_layer_out);
    const sfP: number[] = b.th_params.map((t: number) => t / lv(b.bw_params));
    const mult = sfP.map((p) => xdnnMultiplier(sfOut === 0 ? 0 : (sfIn * p) / sfOut));
    network.push({
      name: l.name,
      bw_layer_in: int(b.bw_layer_in),
      bw_layer_out: int(b.bw_layer_out),
      bw_params: int(b.bw_params),
      th_layer_in: b.th_layer_in,
      th_layer_out: b.th_layer_out,
      th_params: b.th_params,
      sf_layer_in: sfIn,
      sf_layer_out: sfOut,
      sf_params: sfP,
      prescale_shift: mult.map((x) => int(x[0])),
      scale: mult.map((x) => int(x[1])),
      postscale_shift: mult.map((x) => int(x[2])),
    });
  }
  return dump({ network }, 0);
}
