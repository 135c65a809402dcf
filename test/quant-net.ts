import type { Net, LayerNode } from '../src/graph/types';
import type { Tensor } from '../src/tensor';
import { lookupLayer } from '../src/layers/registry';

export interface MiniLayer {
  name: string;
  type: string;
  bottoms?: string[];
  tops?: string[];
  param?: Record<string, any>;
  blobs?: Tensor[];
}

/** A hand-built Net with src/graph/types.ts semantics (blob versions by writer layer), for quant tests. */
export function miniNet(layers: MiniLayer[], name = 'mini'): Net {
  const nodes: LayerNode[] = layers.map((l, index) => ({
    index,
    name: l.name,
    type: l.type,
    bottoms: l.bottoms ?? [],
    tops: l.tops ?? [],
    param: { name: l.name, type: l.type, ...(l.param ?? {}) },
    blobs: l.blobs ?? [],
    bottomShapes: [],
    topShapes: [],
    def: lookupLayer(l.type),
  }));
  const prod: number[][] = [];
  const cons = new Map<string, number[]>();
  const last = new Map<string, [number, number]>();
  nodes.forEach((n, li) => {
    prod[li] = n.bottoms.map((b) => {
      const w = last.get(b);
      if (!w) return -1;
      const k = `${w[0]}/${w[1]}`;
      if (!cons.has(k)) cons.set(k, []);
      cons.get(k)!.push(li);
      return w[0];
    });
    n.tops.forEach((t, ti) => last.set(t, [li, ti]));
  });
  const read = new Set(nodes.flatMap((n) => n.bottoms));
  return {
    name,
    layers: nodes,
    inputs: nodes.filter((n) => n.type === 'Input').map((n) => ({ name: n.tops[0], shape: n.param.input_param?.shape?.[0]?.dim ?? [] })),
    producer: (li, bi) => prod[li][bi],
    consumers: (li, ti) => cons.get(`${li}/${ti}`) ?? [],
    outputs: [...new Set(nodes.flatMap((n) => n.tops))].filter((t) => !read.has(t)),
  };
}

/** deterministic pseudo-random tensor */
export function randTensor(shape: number[], seed: number, scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return { shape, data };
}
