/**
 * Bench helpers: a Net from a corpus prototxt with seeded random weights of the shapes the registry
 * expects (LayerDef.blobShapes), scaled so activations stay O(1) through deep nets (He-style fan-in
 * scaling, BatchNorm with var > 0 and scale factor blobs[2] = [1]).
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadNetText } from '../../src/graph/load';
import { buildNet } from '../../src/graph/build';
import type { Net } from '../../src/graph/types';
import type { LayerParam } from '../../src/proto/message';
import type { Tensor } from '../../src/tensor';
import { numel } from '../../src/tensor';
import { rng } from '../helpers/rng';
import { runNet } from '../../src/exec/executor';
import { applyPlan } from '../../src/sim/annotate';
import { buildDynamicFixedPlan } from '../../src/quant/dynamicfixed';
import { ristrettoFl } from '../../src/calib/fl';

/** A corpus file: /work/shared/corpus beside the repo, found by walking up (works from test/ and dist/), or $CHAIQ_CORPUS. */
export function corpusFile(rel: string): string {
  if (process.env.CHAIQ_CORPUS) return path.join(process.env.CHAIQ_CORPUS, rel);
  for (let d = __dirname; ; d = path.dirname(d)) {
    const c = path.join(d, 'shared', 'corpus');
    if (fs.existsSync(c)) return path.join(c, rel);
    if (path.dirname(d) === d) throw new Error(`corpus not found above ${__dirname} (set CHAIQ_CORPUS)`);
  }
}

/** mulberry32, the seeded PRNG the calibration choice uses */
export { rng };

function uniform(n: number, r: () => number, lo: number, hi: number): Float32Array {
  const d = new Float32Array(n);
  const s = hi - lo;
  for (let i = 0; i < n; i++) d[i] = lo + s * r();
  return d;
}

/** Random blobs for one layer from its expected shapes. */
function randomBlobs(type: string, shapes: number[][], r: () => number): Tensor[] {
  return shapes.map((shape, bi) => {
    const n = numel(shape);
    let data: Float32Array;
    if (type === 'BatchNorm') {
      if (bi === 0) data = uniform(n, r, -0.1, 0.1); // mean
      else if (bi === 1) data = uniform(n, r, 0.5, 1.5); // variance > 0
      else data = new Float32Array(n).fill(1); // moving-average scale factor
    } else if (type === 'Scale' || type === 'BN') {
      data = bi === 0 ? uniform(n, r, 0.8, 1.2) : uniform(n, r, -0.1, 0.1);
    } else if (bi === 0 && shape.length >= 2) {
      // weights: fan-in = everything but the first axis (conv [O,C/g,kh,kw], fc [N,K])
      const fanIn = n / shape[0];
      const a = Math.sqrt(6 / fanIn); // uniform(-a,a) has variance 2/fanIn
      data = uniform(n, r, -a, a);
    } else {
      data = uniform(n, r, -0.05, 0.05); // biases, PReLU slopes, ...
    }
    return { shape: [...shape], data };
  });
}

export interface BenchNet {
  net: Net;
  /** conv + inner-product multiply-adds of one image (registry `macs`) */
  macs: number;
  /** all layers' MACs by type, one image */
  macsByType: Record<string, number>;
  inputShape: number[];
}

/**
 * Build a corpus net (file under corpus/prototxt/) with seeded random weights. `size` runs the same layers on an
 * input of size×size: a pooling window that covers its whole full-size input (GoogLeNet's, ResNet-50's final 7×7)
 * becomes global pooling, the same layer at full size, so the net still builds.
 */
export function benchNet(prototxtName: string, seed = 1, batch = 1, size?: number): BenchNet {
  const { net, inputShape } = benchTopology(prototxtName, batch, size);
  const r = rng(seed);
  let macs = 0;
  const macsByType: Record<string, number> = {};
  for (const node of net.layers) {
    const def = node.def;
    const bs = node.bottomShapes;
    const known = bs.length > 0 && bs.every((b) => b !== undefined);
    if (def?.blobShapes && known) node.blobs = randomBlobs(node.type, def.blobShapes(node, bs as number[][]), r);
    if (def?.macs && known && node.topShapes.every((t) => t !== undefined)) {
      const m = def.macs(node, bs as number[][], node.topShapes as number[][]) / batch;
      macsByType[node.type] = (macsByType[node.type] ?? 0) + m;
      if (node.type === 'Convolution' || node.type === 'InnerProduct') macs += m;
    }
  }
  return { net, macs, macsByType, inputShape };
}

/** benchNet without the weights (what a fusion plan or a shape reads): the random blobs are most of its cost. */
export function benchTopology(prototxtName: string, batch = 1, size?: number): { net: Net; inputShape: number[] } {
  const file = corpusFile(path.join('prototxt', prototxtName));
  const t = loadNetText(file, { warn: () => {} });
  const full = buildNet(t.net, { file, warn: () => {} });
  const inputShape0 = full.inputs[0].shape;
  const inputShape = [batch, inputShape0[1], ...(size ? [size, size] : inputShape0.slice(2))];
  const text = size ? { ...t.net, layer: t.net.layer.map((l) => (coversInput(full, l.name) ? globalPooling(l) : l)) } : t.net;
  return { net: buildNet(text, { file, warn: () => {}, inputShape }), inputShape };
}

/** A Pooling layer whose unpadded window is its whole bottom at the prototxt's size. */
function coversInput(net: Net, name: string | undefined): boolean {
  const node = name === undefined ? undefined : net.layers.find((n) => n.name === name);
  const p = node?.type === 'Pooling' ? node.param.pooling_param : undefined;
  const b = node?.bottomShapes[0];
  if (!p || !b || p.global_pooling || p.pad || p.pad_h || p.pad_w) return false;
  const kh = p.kernel_h ?? p.kernel_size;
  const kw = p.kernel_w ?? p.kernel_size;
  return kh === b[2] && kw === b[3];
}

function globalPooling(l: LayerParam): LayerParam {
  return { ...l, pooling_param: { pool: l.pooling_param?.pool, global_pooling: true } };
}

/** A seeded random input image batch in [-1,1) (roughly a mean-subtracted, scaled image). */
export function randomInput(shape: number[], seed = 7): Tensor {
  return { shape: [...shape], data: uniform(numel(shape), rng(seed), -1, 1) };
}

export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** DynamicFixed at `bw` with per-layer fl from the max |x| of each blob version over the calibration inputs (auto). */
export async function annotateDynamicFixed(net: Net, calib: Tensor[], bw = 8): Promise<void> {
  const maxAbs = new Map<string, number>();
  for (const x of calib) {
    await runNet(net, x, {
      warn: () => {},
      onLayer: (node, tops) => tops.forEach((t, ti) => {
        const k = `${node.index}/${ti}`;
        let m = maxAbs.get(k) ?? 0;
        for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i]));
        maxAbs.set(k, m);
      }),
    });
  }
  const { plan } = buildDynamicFixedPlan(net, {
    bitwidths: { in: bw, params: bw, out: bw }, fl: 'auto', warn: () => {},
    actFl: (li, ti) => Math.max(0, ristrettoFl(maxAbs.get(`${li}/${ti}`) ?? 0, bw, 'activations')),
  });
  applyPlan(net, plan);
}
