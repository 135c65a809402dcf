/**
 * NaN and Inf in trained blobs and in activations. A NaN weight poisons every value downstream, and the
 * fixed-point path turns it into 0 silently (C's cast of NaN), so float and fixed figures would both be
 * meaningless: every command checks the weights with this one function and names file, layer and blob.
 */
import { ChaiqError, type WarnFn } from '../errors';
import type { Net, LayerNode } from './types';

export interface NonFiniteBlob {
  layer: string;
  type: string;
  /** index of the blob in the layer */
  blob: number;
  nan: number;
  inf: number;
  /** index of the first non-finite value */
  first: number;
  loc?: LayerNode['loc'];
}

const ROLES: Record<string, string[]> = {
  Convolution: ['weights', 'bias'],
  Deconvolution: ['weights', 'bias'],
  InnerProduct: ['weights', 'bias'],
  BatchNorm: ['mean', 'variance', 'moving-average factor'],
  Scale: ['gamma', 'beta'],
  Bias: ['bias'],
  PReLU: ['slope'],
  Normalize: ['scale'],
};

/** What blob `i` of a layer of `type` holds, for messages: `weights`, `bias`, `variance`, ... */
export function blobRole(type: string, i: number): string | undefined {
  return ROLES[type]?.[i];
}

/** NaN and ±Inf counts of one array, or undefined when every value is finite. */
export function countNonFinite(d: ArrayLike<number>): { nan: number; inf: number; first: number } | undefined {
  // x·0 is 0 for finite x and NaN otherwise: one cheap pass for the common all-finite case
  let z = 0;
  for (let i = 0; i < d.length; i++) z += d[i] * 0;
  if (z === 0) return undefined;
  let nan = 0;
  let inf = 0;
  let first = -1;
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    if (x !== x) nan++;
    else if (x === Infinity || x === -Infinity) inf++;
    else continue;
    if (first < 0) first = i;
  }
  return { nan, inf, first };
}

function what(n: { nan: number; inf: number }): string {
  const parts: string[] = [];
  if (n.nan) parts.push(`${n.nan} NaN`);
  if (n.inf) parts.push(`${n.inf} infinite`);
  return `${parts.join(' and ')} value${n.nan + n.inf > 1 ? 's' : ''}`;
}

/** `layer "conv1" blob 0 (weights) holds 3 NaN values (first at index 17)` */
export function nonFiniteMessage(b: NonFiniteBlob): string {
  const role = blobRole(b.type, b.blob);
  return `layer "${b.layer}" blob ${b.blob}${role ? ` (${role})` : ''} holds ${what(b)} (first at index ${b.first})`;
}

/** The non-finite blobs of some layers (a built net's, or a prototxt's layers with their caffemodel blobs). */
export function findNonFinite(layers: Iterable<{ name: string; type: string; blobs: readonly { data: ArrayLike<number> }[]; loc?: LayerNode['loc'] }>): NonFiniteBlob[] {
  const out: NonFiniteBlob[] = [];
  for (const l of layers) {
    l.blobs.forEach((b, i) => {
      const n = countNonFinite(b.data);
      if (n) out.push({ layer: l.name, type: l.type, blob: i, ...n, loc: l.loc });
    });
  }
  return out;
}

/** Layers already checked (by checkFiniteWeights or the executor), so nothing is said twice. */
const checked = new WeakSet<LayerNode>();

/**
 * The one weight check of every command. `allow`: warn for each non-finite blob and go on; otherwise throw
 * (exit 1) naming the caffemodel, the first such blob and how many others there are. `flag` is what the
 * message suggests to go on anyway (omitted when the command has none).
 */
export function checkFiniteWeights(net: Net, caffemodel: string | undefined, opts: { allow: boolean; warn: WarnFn; flag?: string }): NonFiniteBlob[] {
  const fresh = net.layers.filter((l) => !checked.has(l));
  for (const l of fresh) checked.add(l);
  const bad = findNonFinite(fresh);
  if (!bad.length) return bad;
  const loc = caffemodel ? { file: caffemodel } : {};
  if (!opts.allow) {
    const more = bad.length > 1 ? `; ${bad.length - 1} more blob(s) hold NaN/Inf too (${bad.slice(1, 4).map((b) => `"${b.layer}" blob ${b.blob}`).join(', ')}${bad.length > 4 ? ', ...' : ''})` : '';
    const hint = opts.flag ? `; ${opts.flag} goes on anyway` : '';
    throw new ChaiqError(`${nonFiniteMessage(bad[0])}${more}${hint}`, loc, 1);
  }
  for (const b of bad) opts.warn(nonFiniteMessage(b), loc);
  return bad;
}

/** For an activation: `layer "conv1" top "conv1" holds 2 NaN values (first at index 5)`, with where it was met. */
export function nonFiniteActivationMessage(node: LayerNode, ti: number, n: { nan: number; inf: number; first: number }, where: string): string {
  return `layer "${node.name}" top "${node.tops[ti]}" holds ${what(n)} (first at index ${n.first}) ${where}`;
}
