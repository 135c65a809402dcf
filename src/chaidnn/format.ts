/**
 * Integer formats of the runtime's fixed tensors, its defaults for missing precision fields, and the conversion
 * of float values into a format (chaidnn-semantics §3.1–§3.4).
 */
import * as A from './arith';

/** CHaiDNN's parser defaults (caffe_network_parser.hpp) for missing precision fields. */
export const DEFAULT_BW = 6;
export const DEFAULT_FL = 3;
export const DEFAULT_TH = 16;

/** Integer format of a fixed blob: Xilinx threshold or DynamicFixed fraction bits. */
export type FixedFormat = { mode: 'Xilinx'; bw: number; th: number } | { mode: 'DynamicFixed'; bw: number; fl: number };

/** The value of one integer step. */
export function formatScale(f: FixedFormat): number {
  return f.mode === 'Xilinx' ? A.scaleFactor(f.th, f.bw) : 2 ** -f.fl;
}

/** Same format, thresholds compared as the runtime's float32 (find_in_out_thresold compares them with ==). */
export function sameFormat(a: FixedFormat, b: FixedFormat): boolean {
  if (a.mode === 'Xilinx' && b.mode === 'Xilinx') return a.bw === b.bw && Math.fround(a.th) === Math.fround(b.th);
  if (a.mode === 'DynamicFixed' && b.mode === 'DynamicFixed') return a.bw === b.bw && a.fl === b.fl;
  const x = a.mode === 'Xilinx' ? a : (b as Extract<FixedFormat, { mode: 'Xilinx' }>);
  const d = a.mode === 'DynamicFixed' ? a : (b as Extract<FixedFormat, { mode: 'DynamicFixed' }>);
  return x.bw === d.bw && Math.fround(x.th) === xilinxThresholdOfFl(d.bw, d.fl);
}

/**
 * The Xilinx threshold whose integers are exactly DynamicFixed integers at `fl`: (2^(bw-1)-1)·2^-fl, so that
 * sf = th/(2^(bw-1)-1) = 2^-fl. Each HW layer runs in its own block's quant_type and reads the integers in its
 * input buffer as they are (xi_init.cpp convInit), so a Xilinx layer writing at this threshold feeds a
 * DynamicFixed layer reading fl without any conversion, and the other way round.
 */
export function xilinxThresholdOfFl(bw: number, fl: number): number {
  return Math.fround((2 ** (bw - 1) - 1) * 2 ** -fl);
}

export function formatString(f: FixedFormat): string {
  return f.mode === 'Xilinx' ? `bw ${f.bw} th ${Math.fround(f.th)}` : `bw ${f.bw} fl ${f.fl}`;
}

/**
 * Float values into integers of `fmt`. Xilinx: the network input with Trim2FixedPoint_Offline (half away), an
 * ARM layer's output feeding the FPGA with the pack converter (half up, §3.3); DynamicFixed: Trim2FixedPoint.
 */
export function quantizeFloat(x: ArrayLike<number>, fmt: FixedFormat, netInput = true): Int32Array {
  if (fmt.mode === 'DynamicFixed') return A.quantizeDynamicFixed(x, fmt.bw, fmt.fl);
  return netInput ? A.quantizeXilinx(x, fmt.th, fmt.bw) : A.quantizeXilinxPack(x, fmt.th, fmt.bw);
}

/** FPGA integers back to floats for an ARM layer (the unpack converter: q·sf). */
export function dequantize(q: Int32Array, fmt: FixedFormat): Float32Array {
  const s = formatScale(fmt);
  const out = new Float32Array(q.length);
  for (let i = 0; i < out.length; i++) out[i] = q[i] * s;
  return out;
}

/**
 * A producer block and a consumer block of different modes (a Xilinx layer next to a DynamicFixed one): the
 * consumer reads the producer's integers as they are, so the two must name one scale, th = (2^(bw-1)-1)·2^-fl.
 * What is wrong when they do not; undefined when they agree, are of one mode, or lack the fields.
 */
export function modeBoundaryMismatch(out: Record<string, any>, inp: Record<string, any>): { field: 'th_layer_in' | 'fl_layer_in'; message: string } | undefined {
  const bw = Number(inp.bw_layer_in ?? out.bw_layer_out ?? DEFAULT_BW);
  const isNum = (v: unknown): v is number => typeof v === 'number';
  if (isNum(out.th_layer_out) && !isNum(out.fl_layer_out) && isNum(inp.fl_layer_in) && !isNum(inp.th_layer_in)) {
    const want = xilinxThresholdOfFl(bw, inp.fl_layer_in);
    if (Math.fround(out.th_layer_out) === want) return undefined;
    return { field: 'fl_layer_in', message: `fl_layer_in ${inp.fl_layer_in} reads the integers of th_layer_out ${out.th_layer_out} (a Xilinx layer) at the scale of threshold ${want}` };
  }
  if (isNum(out.fl_layer_out) && !isNum(out.th_layer_out) && isNum(inp.th_layer_in) && !isNum(inp.fl_layer_in)) {
    const have = xilinxThresholdOfFl(bw, out.fl_layer_out);
    if (Math.fround(inp.th_layer_in) === have) return undefined;
    return { field: 'th_layer_in', message: `th_layer_in ${inp.th_layer_in} reads the integers of fl_layer_out ${out.fl_layer_out} (a DynamicFixed layer, threshold ${have}) at another scale` };
  }
  return undefined;
}
