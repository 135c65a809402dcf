import { ChaiqError } from '../../errors';
import type { LayerNode } from '../types';
import type { Tensor } from '../../tensor';
import { numel } from '../../tensor';
import { takeBuffer } from '../../kernels/bufpool';

/** A parameter sub-message (e.g. `convolution_param`) or {} when absent; Caffe defaults are applied by the callers. */
export function pm(node: LayerNode, field: string): Record<string, any> {
  const v = (node.param as any)?.[field];
  return v && typeof v === 'object' ? v : {};
}

export function num(v: unknown, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  const n = Number(v);
  return Number.isFinite(n) ? n : dflt;
}

export function bool(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'string') return v.toLowerCase() === 'true';
  return Boolean(v);
}

export function arr(v: unknown): number[] {
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(Number);
}

export function fail(node: LayerNode, msg: string): never {
  throw new ChaiqError(`layer '${node.name}' (${node.type}): ${msg}`, node.loc ?? {});
}

/** Caffe's CanonicalAxisIndex. */
export function canonAxis(node: LayerNode, axis: number, nAxes: number): number {
  if (axis < -nAxes || axis >= Math.max(nAxes, 1)) fail(node, `axis ${axis} out of range for a ${nAxes}-D blob`);
  return axis < 0 ? axis + nAxes : axis;
}

export function prod(shape: readonly number[], from = 0, to = shape.length): number {
  let p = 1;
  for (let i = from; i < to; i++) p *= shape[i];
  return p;
}

export function alloc(shape: number[]): Tensor {
  return { shape, data: takeBuffer(numel(shape)) }; // zeroed; recycled under runNet's reuseBuffers
}

/** Like alloc, but a recycled buffer keeps stale values: only for outputs the caller writes entirely. */
export function allocFull(shape: number[]): Tensor {
  return { shape, data: takeBuffer(numel(shape), false) };
}

/** The i-th trained blob, or a ChaiqError naming the layer. */
export function blob(node: LayerNode, i: number, what: string, count?: number): Tensor {
  const b = node.blobs[i];
  if (!b) fail(node, `missing weights: blob ${i} (${what}) not loaded; is the layer in the caffemodel?`);
  if (count !== undefined && b.data.length !== count) {
    fail(node, `blob ${i} (${what}) has ${b.data.length} values, expected ${count}`);
  }
  return b;
}

export function need(node: LayerNode, bottoms: Tensor[], n: number): void {
  if (bottoms.length < n) fail(node, `needs ${n} bottom(s), got ${bottoms.length}`);
}

/** Same data, new shape (forwards never mutate their bottoms, so sharing is safe). */
export function view(t: Tensor, shape: number[]): Tensor {
  return { shape, data: t.data };
}
