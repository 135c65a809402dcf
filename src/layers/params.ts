import { ChaiqError } from '../errors';
import type { LayerNode } from './types';
import type { Msg } from '../proto/message';

/*
 * Helpers to read layer parameters with Caffe's defaults and checks. Messages are bound plain objects
 * (src/proto/message.ts): unset fields are absent, repeated fields are arrays (a lone scalar is accepted too),
 * enums are names (numbers are accepted too).
 */

/** A ChaiqError located at the layer (its prototxt position when known). */
export function layerError(node: LayerNode, message: string): ChaiqError {
  return new ChaiqError(`layer '${node.name}' (${node.type}): ${message}`, node.loc ?? {});
}

/** Throws layerError: for expressions that must not go on (`return fail(...)`). */
export function fail(node: LayerNode, message: string): never {
  throw layerError(node, message);
}

/** `check(cond)` as Caffe's CHECK: a failed check is bad input, not a crash. */
export function check(node: LayerNode, cond: boolean, message: string): void {
  if (!cond) throw layerError(node, message);
}

/** A repeated field as an array (absent → []). */
export function rep<T = any>(v: T | T[] | undefined | null): T[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** A repeated numeric field as numbers (absent → []). */
export function nums(m: Msg | undefined, field: string): number[] {
  return rep(m?.[field]).map(Number);
}

export function has(m: Msg | undefined, field: string): boolean {
  if (!m) return false;
  const v = m[field];
  return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
}

/** A scalar field with its proto default. */
export function num(m: Msg | undefined, field: string, def: number): number {
  if (!m || m[field] === undefined || m[field] === null) return def;
  const v = Array.isArray(m[field]) ? m[field][0] : m[field];
  return Number(v);
}

export function bool(m: Msg | undefined, field: string, def: boolean): boolean {
  if (!m || m[field] === undefined || m[field] === null) return def;
  const v = m[field];
  return v === true || v === 'true' || v === 1;
}

/** An enum field as its name; numbers are mapped through `names` (index = enum value). */
export function enumName(m: Msg | undefined, field: string, names: string[], def: string): string {
  if (!m || m[field] === undefined || m[field] === null) return def;
  const v = m[field];
  if (typeof v === 'number') return names[v] ?? String(v);
  return String(v);
}

/** The sub-message `field` of the layer parameter ({} when absent). */
export function sub(node: LayerNode, field: string): Msg {
  const m = node.param?.[field];
  return m && typeof m === 'object' ? m : {};
}

/** Caffe's Blob::CanonicalAxisIndex: -n ≤ axis < n, negative counts from the end. */
export function canonicalAxis(node: LayerNode, axis: number, numAxes: number): number {
  check(node, axis >= -numAxes && axis < numAxes,
    `axis ${axis} out of range for a ${numAxes}-D blob`);
  return axis < 0 ? axis + numAxes : axis;
}

/** Blob::count(start, end): product of shape[start..end). */
export function count(shape: number[], start = 0, end = shape.length): number {
  let c = 1;
  for (let i = start; i < end; i++) c *= shape[i];
  return c;
}

export function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function fmt(shape: number[] | undefined): string {
  return shape ? `(${shape.join(',')})` : '(?)';
}

/** Bottom `i`, which the layer requires. */
export function bottom(node: LayerNode, bottoms: number[][], i = 0): number[] {
  const b = bottoms[i];
  if (!b) throw layerError(node, `needs at least ${i + 1} bottom blob(s), has ${bottoms.length}`);
  return b;
}

/** Shape rule of every layer whose tops all have the shape of bottom 0 (ReLU, BatchNorm, Dropout, ...). */
export function likeBottom(node: LayerNode, bottoms: number[][]): number[][] {
  const b = bottom(node, bottoms, 0);
  return node.tops.map(() => b.slice());
}

// ---------------------------------------------------------------- convolution geometry

export interface ConvGeometry {
  /** canonical channel axis (convolution_param.axis, default 1) */
  axis: number;
  numSpatial: number;
  kernel: number[];
  stride: number[];
  pad: number[];
  dilation: number[];
  group: number;
  numOutput: number;
  biasTerm: boolean;
  /** input channels: bottom.shape[axis] */
  channels: number;
}

/**
 * One spatial parameter (kernel/stride/pad) with Caffe's precedence (BaseConvolutionLayer::LayerSetUp): the
 * `_h`/`_w` pair when either is given, else the repeated field (one value for every axis, or one per axis), else
 * `def`. `problem` says what Caffe refuses; `values` is still the reading (lint's hardware limits read it as is).
 */
export function spatialParam(p: Msg, name: string, hName: string, wName: string, numSpatial: number,
  def: number | undefined): { values?: number[]; problem?: string } {
  const list = rep<number>(p[name]).map(Number);
  if (has(p, hName) || has(p, wName)) {
    const values = [num(p, hName, 0), num(p, wName, 0)];
    if (numSpatial !== 2) return { values, problem: `${hName} & ${wName} can only be used for 2D convolution` };
    if (list.length !== 0) return { values, problem: `either ${name} or ${hName}/${wName} should be specified; not both` };
    return { values };
  }
  if (list.length === 0) {
    if (def === undefined) return { problem: `${name} is required` };
    return { values: new Array(numSpatial).fill(def) };
  }
  const values = Array.from({ length: numSpatial }, (_, i) => list[list.length === 1 ? 0 : Math.min(i, list.length - 1)]);
  if (list.length !== 1 && list.length !== numSpatial) {
    return { values, problem: `${name} must be specified once, or once per spatial dimension (${numSpatial}); got ${list.length}` };
  }
  return { values };
}

function checkedSpatial(node: LayerNode, p: Msg, name: string, hName: string, wName: string,
  numSpatial: number, def: number | undefined): number[] {
  const r = spatialParam(p, name, hName, wName, numSpatial, def);
  if (r.problem !== undefined || !r.values) throw layerError(node, r.problem ?? `${name} is required`);
  return r.values;
}

export function convGeometry(node: LayerNode, b: number[]): ConvGeometry {
  const p = sub(node, 'convolution_param');
  const axis = canonicalAxis(node, num(p, 'axis', 1), b.length);
  const numSpatial = b.length - axis - 1;
  check(node, numSpatial >= 0, 'no spatial axes after the channel axis');
  const kernel = checkedSpatial(node, p, 'kernel_size', 'kernel_h', 'kernel_w', numSpatial, undefined);
  const stride = checkedSpatial(node, p, 'stride', 'stride_h', 'stride_w', numSpatial, 1);
  const pad = checkedSpatial(node, p, 'pad', 'pad_h', 'pad_w', numSpatial, 0);
  const dl = rep<number>(p.dilation).map(Number);
  check(node, dl.length === 0 || dl.length === 1 || dl.length === numSpatial,
    `dilation must be specified once, or once per spatial dimension (${numSpatial}); got ${dl.length}`);
  const dilation = Array.from({ length: numSpatial }, (_, i) => (dl.length === 0 ? 1 : dl[dl.length === 1 ? 0 : i]));
  for (let i = 0; i < numSpatial; i++) {
    check(node, kernel[i] > 0, 'filter dimensions must be nonzero');
    check(node, stride[i] > 0, 'stride dimensions must be nonzero');
    check(node, dilation[i] > 0, 'dilation must be nonzero');
    check(node, pad[i] >= 0, 'pad must be >= 0');
  }
  const numOutput = num(p, 'num_output', 0);
  check(node, numOutput > 0, 'num_output must be > 0');
  const group = num(p, 'group', 1);
  const channels = b[axis];
  check(node, group > 0 && channels % group === 0, `input channels ${channels} not divisible by group ${group}`);
  check(node, numOutput % group === 0, `num_output ${numOutput} not divisible by group ${group}`);
  return { axis, numSpatial, kernel, stride, pad, dilation, group, numOutput, biasTerm: bool(p, 'bias_term', true), channels };
}

// ---------------------------------------------------------------- pooling geometry

export const POOL_METHODS = ['MAX', 'AVE', 'STOCHASTIC'];

export interface PoolGeometry {
  pool: string;
  global: boolean;
  kernel: [number, number];
  stride: [number, number];
  pad: [number, number];
  /** Caffe rounds the output size up (CEIL, the default) unless round_mode: FLOOR or the fork's ceil_mode: false */
  ceil: boolean;
}

/** PoolingLayer::LayerSetUp + the kernel part of Reshape; `b` is the 4-D bottom. */
export function poolGeometry(node: LayerNode, b: number[]): PoolGeometry {
  const p = sub(node, 'pooling_param');
  const pool = enumName(p, 'pool', POOL_METHODS, 'MAX');
  const global = bool(p, 'global_pooling', false);
  let kernel: [number, number];
  if (global) {
    check(node, !has(p, 'kernel_size') && !has(p, 'kernel_h') && !has(p, 'kernel_w'),
      'with global_pooling: true the filter size cannot be specified');
    kernel = [b[2], b[3]];
  } else {
    check(node, has(p, 'kernel_size') !== (has(p, 'kernel_h') && has(p, 'kernel_w')),
      'filter size is kernel_size OR kernel_h and kernel_w; not both');
    check(node, has(p, 'kernel_size') || (has(p, 'kernel_h') && has(p, 'kernel_w')),
      'for non-square filters both kernel_h and kernel_w are required');
    kernel = has(p, 'kernel_size') ? [num(p, 'kernel_size', 0), num(p, 'kernel_size', 0)] : [num(p, 'kernel_h', 0), num(p, 'kernel_w', 0)];
  }
  check(node, kernel[0] > 0 && kernel[1] > 0, 'filter dimensions must be greater than zero');
  check(node, (!has(p, 'pad') && has(p, 'pad_h') && has(p, 'pad_w')) || (!has(p, 'pad_h') && !has(p, 'pad_w')),
    'pad is pad OR pad_h and pad_w are required');
  check(node, (!has(p, 'stride') && has(p, 'stride_h') && has(p, 'stride_w')) || (!has(p, 'stride_h') && !has(p, 'stride_w')),
    'stride is stride OR stride_h and stride_w are required');
  const pad: [number, number] = has(p, 'pad_h') ? [num(p, 'pad_h', 0), num(p, 'pad_w', 0)] : [num(p, 'pad', 0), num(p, 'pad', 0)];
  const stride: [number, number] = has(p, 'stride_h') ? [num(p, 'stride_h', 1), num(p, 'stride_w', 1)] : [num(p, 'stride', 1), num(p, 'stride', 1)];
  check(node, stride[0] > 0 && stride[1] > 0, 'stride must be > 0');
  if (global) {
    check(node, pad[0] === 0 && pad[1] === 0 && stride[0] === 1 && stride[1] === 1,
      'with global_pooling: true; only pad = 0 and stride = 1');
  }
  if (pad[0] !== 0 || pad[1] !== 0) {
    check(node, pool === 'AVE' || pool === 'MAX', 'padding implemented only for average and max pooling');
    check(node, pad[0] < kernel[0] && pad[1] < kernel[1], 'pad must be smaller than the kernel');
  }
  // BVLC: round_mode (CEIL default / FLOOR); forks (e.g. the one densenet121 was written for): ceil_mode (default true).
  const ceil = enumName(p, 'round_mode', ['CEIL', 'FLOOR'], 'CEIL') !== 'FLOOR' && bool(p, 'ceil_mode', true);
  return { pool, global, kernel, stride, pad, ceil };
}

/** Pooled size of one spatial axis, PoolingLayer::Reshape. */
export function pooledSize(input: number, kernel: number, stride: number, pad: number, ceil: boolean, anyPad: boolean): number {
  const q = (input + 2 * pad - kernel) / stride;
  let out = (ceil ? Math.ceil(q) : Math.floor(q)) + 1;
  // If we have padding, ensure that the last pooling starts strictly inside the image (instead of at the padding).
  if (anyPad && (out - 1) * stride >= input + pad) out--;
  return out;
}

/**
 * Thrown by a shape rule when the output shape cannot be known from the prototxt alone (a Python layer,
 * a Data layer whose geometry lives in its database). `partial` holds the tops that are known.
 * registry.inferTopShapes turns it into undefined shapes plus a warning.
 */
export class UnknownShape extends Error {
  constructor(message: string, public partial: (number[] | undefined)[] = []) {
    super(message);
    this.name = 'UnknownShape';
  }
}

/** A raw param message's bias_term (default true), before any Caffe defaults are applied. */
export function biasTerm(m: { bias_term?: unknown } | undefined): boolean {
  return m?.bias_term === undefined || m.bias_term === true || m.bias_term === 'true';
}
