/*
 * What the float forwards of the layer files share: output tensors, trained blobs, bottom counts, elementwise
 * maps, the broadcast of Scale/Bias and the 2-D geometry of Convolution/Deconvolution. Parameters are read
 * with params.ts, as the shapes, MACs, the simulator and lint read them.
 */
import type { ForwardContext, LayerNode } from './types';
import type { Tensor } from '../tensor';
import { numel } from '../tensor';
import { canonicalAxis, convGeometry, count, fail, type ConvGeometry } from './params';

export type Forward = (node: LayerNode, bottoms: Tensor[], ctx: ForwardContext) => Tensor[];

/** A zeroed output tensor, from the context's buffers when it has some. */
export function alloc(ctx: ForwardContext, shape: number[]): Tensor {
  const n = numel(shape);
  return { shape, data: ctx.buffers ? ctx.buffers.take(n, true) : new Float32Array(n) };
}

/** Like alloc, but a recycled buffer keeps stale values: only for outputs the caller writes entirely. */
export function allocFull(ctx: ForwardContext, shape: number[]): Tensor {
  const n = numel(shape);
  return { shape, data: ctx.buffers ? ctx.buffers.take(n, false) : new Float32Array(n) };
}

/** The i-th trained blob, or a ChaiqError naming the layer. */
export function blob(node: LayerNode, i: number, what: string, n?: number): Tensor {
  const b = node.blobs[i];
  if (!b) fail(node, `missing weights: blob ${i} (${what}) not loaded; is the layer in the caffemodel?`);
  if (n !== undefined && b.data.length !== n) {
    fail(node, `blob ${i} (${what}) has ${b.data.length} values, expected ${n}`);
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

/** The forward of an elementwise layer: `f(node)` maps one value. */
export function unary(f: (node: LayerNode) => (x: number) => number): Forward {
  return (node, bottoms, ctx) => {
    need(node, bottoms, 1);
    const x = bottoms[0];
    const fn = f(node);
    const out = alloc(ctx, [...x.shape]);
    const X = x.data;
    const Y = out.data;
    for (let i = 0; i < X.length; i++) Y[i] = fn(X[i]);
    return [out];
  };
}

/** Scale/Bias: outer/inner sizes around the axes [axis, axis+numAxes) the parameter blob covers. */
export function broadcastDims(node: LayerNode, x: Tensor, axisP: number, pShapeLen: number, pCount: number) {
  const axis = pShapeLen === 0 && pCount === 1 ? 0 : canonicalAxis(node, axisP, x.shape.length);
  const end = axis + pShapeLen;
  if (end > x.shape.length) fail(node, `parameter blob spans axes beyond the bottom (${x.shape})`);
  const outer = count(x.shape, 0, axis);
  const mid = count(x.shape, axis, end);
  const inner = count(x.shape, end);
  if (mid !== pCount) fail(node, `parameter has ${pCount} values but bottom axes [${axis},${end}) of (${x.shape}) hold ${mid}`);
  return { outer, mid, inner };
}

/** Scale/Bias: how many axes a learned parameter blob spans (num_axes, -1 = to the end). */
export function paramShapeLen(node: LayerNode, x: Tensor, axis: number, numAxes: number): number {
  const a = canonicalAxis(node, axis, x.shape.length);
  return numAxes === -1 ? x.shape.length - a : numAxes;
}

/** A (N, C, H, W) bottom of a Convolution/Deconvolution and its geometry (channels on axis 1, 2 spatial axes). */
export function planarConv(node: LayerNode, x: Tensor): { n: number; c: number; h: number; w: number; g: ConvGeometry } {
  if (x.shape.length !== 4) fail(node, `expects a 4-D (N,C,H,W) bottom, got (${x.shape})`);
  const g = convGeometry(node, x.shape);
  if (g.axis !== 1) fail(node, 'only axis 1 (channels) is supported');
  const [n, c, h, w] = x.shape;
  return { n, c, h, w, g };
}
