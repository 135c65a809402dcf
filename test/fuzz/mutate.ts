/** Seeded mutators for the fuzz harness: text (prototxt), protobuf wire (caffemodel), .npy headers, image bytes. */

import { mulberry32 } from '../../src/io/calibset';

export type Rng = () => number;

/** the calibration set chooser's PRNG (mulberry32), so a seed means the same thing everywhere */
export const rng: (seed: number) => Rng = mulberry32;

export const int = (r: Rng, n: number) => Math.floor(r() * n);
export const pick = <T>(r: Rng, xs: readonly T[]): T => xs[int(r, xs.length)];

const cat = (...parts: Uint8Array[]) => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
const bytes = (s: string) => Buffer.from(s, 'latin1');

function span(r: Rng, n: number, max = 64): [number, number] {
  const a = int(r, Math.max(n, 1));
  return [a, Math.min(n, a + 1 + int(r, max))];
}

export function flipBytes(r: Rng, b: Uint8Array, count = 1 + int(r, 4)): Uint8Array {
  const o = Uint8Array.from(b);
  for (let k = 0; k < count && o.length; k++) o[int(r, o.length)] ^= 1 << int(r, 8);
  return o;
}
export function deleteRange(r: Rng, b: Uint8Array): Uint8Array {
  const [a, e] = span(r, b.length);
  return cat(b.subarray(0, a), b.subarray(e));
}
export function duplicateRange(r: Rng, b: Uint8Array): Uint8Array {
  const [a, e] = span(r, b.length, 256);
  const at = int(r, b.length + 1);
  return cat(b.subarray(0, at), b.subarray(a, e), b.subarray(at));
}
export function truncate(r: Rng, b: Uint8Array): Uint8Array {
  return b.subarray(0, int(r, b.length));
}
function insertAt(r: Rng, b: Uint8Array, ins: Uint8Array): Uint8Array {
  const at = int(r, b.length + 1);
  return cat(b.subarray(0, at), ins, b.subarray(at));
}

const TOKENS = ['{', '}', '<', '>', '[', ']', ':', ',', ';', '"', "'", '#', '-', '\\', '\0', '\xff', ' layer {', ' name: "x"', ' type: "Convolution"',
  ' bottom: "data"', ' top: "data"', ' num_output: 0', ' kernel_size: 0', ' stride: 0', ' pad: -1', ' dim: 0', ' dim: -1', ' input_dim: 3',
  ' precision_param { quant_type: "Xilinx" bw_layer_in: 8 th_layer_in: nan }', ' pooling_param { pool: AVE }', ' type: "Eltwise"',
  ' type: "Concat"', ' type: "InnerProduct"', ' type: "Pooling"', ' type: "Reshape"', ' type: "Flatten"', ' type: "Slice"', ' axis: 7',
  ' group: 0', ' dilation: 0', ' num_output: 1000000000', ' 0x', ' 1e', ' inf', ' -nan', ' "\\x"', ' "\\u12"', ' zz_unknown: 1', ' layers {', ' type: CONVOLUTION'];
const HUGE = ['1e309', '-1e309', '99999999999999999999', '4294967296', '2147483648', '-2147483649', '0', '-1', '1e-320', 'nan', 'inf', '0x7fffffffffffffff', '3.5', '077777777777'];

/** prototxt mutations: byte flips, deletions, duplications, truncations, token insertions, deep nesting, huge numbers */
export function mutateText(r: Rng, b: Uint8Array): { data: Uint8Array; how: string } {
  const k = int(r, 7);
  switch (k) {
    case 0:
      return { data: flipBytes(r, b), how: 'flip' };
    case 1:
      return { data: deleteRange(r, b), how: 'delete' };
    case 2:
      return { data: duplicateRange(r, b), how: 'duplicate' };
    case 3:
      return { data: truncate(r, b), how: 'truncate' };
    case 4: {
      let o = b;
      for (let n = 1 + int(r, 3); n > 0; n--) o = insertAt(r, o, bytes(pick(r, TOKENS)));
      return { data: o, how: 'token' };
    }
    case 5: {
      const depth = pick(r, [50, 99, 100, 101, 150, 700, 5000, 100000]);
      const open = pick(r, ['a {', 'a <', 'layer {', '{', 'a: {', 'x [{']);
      const close = open.includes('<') ? '>' : open.includes('[') ? '}]' : '}';
      const balanced = r() < 0.7;
      return { data: insertAt(r, b, bytes(open.repeat(depth) + (balanced ? close.repeat(depth) : ''))), how: `nest${depth}` };
    }
    default: {
      // a number of the file replaced by an extreme one
      const s = Buffer.from(b).toString('latin1');
      const re = /-?\d+(\.\d+)?(e-?\d+)?/g;
      const found: [number, number][] = [];
      let m: RegExpExecArray | null;
      while ((m = re.exec(s)) && found.length < 5000) found.push([m.index, m.index + m[0].length]);
      if (!found.length) return { data: flipBytes(r, b), how: 'flip' };
      let o = s;
      for (let n = 1 + int(r, 3); n > 0; n--) {
        const [a, e] = pick(r, found);
        if (e > o.length) continue;
        o = o.slice(0, a) + pick(r, HUGE) + o.slice(e);
      }
      return { data: bytes(o), how: 'number' };
    }
  }
}

/** caffemodel mutations: truncations, flipped bytes, wrong wire types, huge lengths */
export function mutateWire(r: Rng, b: Uint8Array): { data: Uint8Array; how: string } {
  const k = int(r, 5);
  if (k === 0) return { data: truncate(r, b), how: 'truncate' };
  if (k === 1) return { data: flipBytes(r, b, 1 + int(r, 8)), how: 'flip' };
  if (k === 2) {
    // a tag's wire type changed: tags sit at the start and at small offsets into the message structure
    const o = Uint8Array.from(b);
    const at = r() < 0.5 ? int(r, Math.min(o.length, 256)) : int(r, o.length);
    o[at] = (o[at] & ~7) | pick(r, [0, 1, 2, 3, 4, 5, 6, 7]);
    return { data: o, how: 'wiretype' };
  }
  if (k === 3) {
    // a huge or bogus length varint where a field starts
    const at = r() < 0.5 ? int(r, Math.min(b.length, 512)) : int(r, b.length);
    const len = pick(r, [[0xff, 0xff, 0xff, 0xff, 0x0f], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], [0xa2, 0x06, 0xff, 0xff, 0xff, 0x7f], [0x3a, 0xff, 0xff, 0x03]]);
    const o = Uint8Array.from(b);
    o.set(len.slice(0, Math.max(0, o.length - at)), at);
    return { data: o, how: 'length' };
  }
  return { data: r() < 0.5 ? deleteRange(r, b) : duplicateRange(r, b), how: 'range' };
}

/** .npy mutations: the header's dict rewritten, its bytes flipped, the data cut */
export function mutateNpy(r: Rng, b: Uint8Array): { data: Uint8Array; how: string } {
  const s = Buffer.from(b).toString('latin1');
  const k = int(r, 5);
  if (k === 0) return { data: truncate(r, b), how: 'truncate' };
  if (k === 1) {
    const o = Uint8Array.from(b);
    for (let n = 1 + int(r, 3); n > 0; n--) o[int(r, Math.min(o.length, 128))] ^= 1 << int(r, 8);
    return { data: o, how: 'headerflip' };
  }
  const edits: [RegExp, string[]][] = [
    [/'descr': '[^']*'/, ["'descr': '<f8'", "'descr': '>f4'", "'descr': '|u1'", "'descr': '<i8'", "'descr': '<c8'", "'descr': 'O'", "'descr': ''", "'descr': '<f2'"]],
    [/'shape': \([^)]*\)/, ["'shape': ()", "'shape': (0,)", "'shape': (1,1,28,28,)", "'shape': (-1,)", "'shape': (99999999999,99999999)", "'shape': (1,3,32,32)", "'shape': (1, 1, 28)", "'shape': (a,)", "'shape': (1e3,)"]],
    [/'fortran_order': \w+/, ["'fortran_order': True", "'fortran_order': 1", "'fortran_order': None"]],
  ];
  const [re, alts] = edits[k - 2];
  return { data: bytes(s.replace(re, pick(r, alts))), how: 'header' };
}

/** PNG/JPEG mutations */
export function mutateImage(r: Rng, b: Uint8Array): { data: Uint8Array; how: string } {
  const k = int(r, 4);
  if (k === 0) return { data: truncate(r, b), how: 'truncate' };
  if (k === 1) return { data: flipBytes(r, b, 1 + int(r, 6)), how: 'flip' };
  if (k === 2) {
    // the header (sizes, markers) is where decoders trust the input most
    const o = Uint8Array.from(b);
    for (let n = 1 + int(r, 3); n > 0; n--) o[int(r, Math.min(o.length, 400))] = int(r, 256);
    return { data: o, how: 'header' };
  }
  return { data: r() < 0.5 ? deleteRange(r, b) : duplicateRange(r, b), how: 'range' };
}
