/**
 * The simulator's results: blob values during a run, per-layer statistics, and the packaging of a run's kept
 * blobs (fixed integers, their formats, dequantized values, float reference).
 */
import type { Tensor } from '../tensor';
import { dequantize, type FixedFormat } from '../chaidnn/format';
import type { InputClip } from './input-range';
import { summarize, type ErrorAcc, type ErrorSummary } from './metrics';

/** A blob value during the run: integers + format, or a float (ARM) value. */
export interface Val {
  shape: number[];
  q?: Int32Array;
  fmt?: FixedFormat;
  f?: Float32Array;
  /** written by the network input (quantized with Trim2FixedPoint_Offline, not the SW→HW pack) */
  isNetInput?: boolean;
}

export function dequant(v: Val): Float32Array {
  return v.f ?? dequantize(v.q!, v.fmt!);
}

export interface LayerStats {
  index: number;
  name: string;
  type: string;
  /** the top blob compared */
  blob: string;
  /** 'hw': integer layer; 'sw': float (ARM) layer */
  where: 'hw' | 'sw';
  cumulative: ErrorAcc;
  /** HW layers only: the layer alone on the quantized float input */
  local?: ErrorAcc;
}

export interface SimStats {
  layers: Map<number, LayerStats>;
  /** the net input's values clipped by the format the board quantizes it with */
  input?: InputClip;
}

export function newSimStats(): SimStats {
  return { layers: new Map() };
}

export interface LayerReport {
  index: number;
  name: string;
  type: string;
  blob: string;
  where: 'hw' | 'sw';
  cumulative: ErrorSummary;
  local?: ErrorSummary;
}

/** Per-layer summaries, worst first: by local SQNR for HW layers (the damage a layer adds), then cumulative. */
export function layerReports(stats: SimStats): LayerReport[] {
  const out: LayerReport[] = [];
  for (const s of stats.layers.values()) {
    out.push({
      index: s.index, name: s.name, type: s.type, blob: s.blob, where: s.where,
      cumulative: summarize(s.cumulative), local: s.local ? summarize(s.local) : undefined,
    });
  }
  const key = (r: LayerReport) => (r.local ? r.local.sqnrDb : Infinity);
  out.sort((a, b) => key(a) - key(b) || a.cumulative.sqnrDb - b.cumulative.sqnrDb || a.index - b.index);
  return out;
}

export interface SimResult {
  /** dequantized values of the kept blobs (floats for SW-layer outputs) */
  outputs: Map<string, Tensor>;
  /** integer values of the kept blobs that are fixed */
  fixed: Map<string, Int32Array>;
  /** formats of the kept fixed blobs */
  formats: Map<string, FixedFormat>;
  /** the float reference values of the kept blobs (when reference is on) */
  reference: Map<string, Tensor>;
  stats: SimStats;
}

/** The kept blobs of one run. */
export function packageResult(vals: Map<string, Val>, refs: Map<string, Tensor>, kept: (blob: string) => boolean, stats: SimStats): SimResult {
  const outputs = new Map<string, Tensor>();
  const fixed = new Map<string, Int32Array>();
  const formats = new Map<string, FixedFormat>();
  const refOut = new Map<string, Tensor>();
  for (const [b, v] of vals) {
    if (!kept(b)) continue;
    outputs.set(b, { shape: v.shape, data: dequant(v) });
    if (v.q) {
      fixed.set(b, v.q);
      formats.set(b, v.fmt!);
    }
    const r = refs.get(b);
    if (r) refOut.set(b, r);
  }
  return { outputs, fixed, formats, reference: refOut, stats };
}
