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
  return false;
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
