/**
 * Per-layer wall-clock profile of a float forward, through runNet's onLayer hook: the time between two
 * consecutive onLayer calls is the layer's forward plus the executor's per-layer overhead.
 */
import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import { runNet, type RunOptions } from './executor';

export interface LayerTime {
  index: number;
  name: string;
  type: string;
  /** wall-clock ms */
  ms: number;
  /** process CPU ms (all threads, user+system): robust to other load on the machine */
  cpuMs: number;
}

export interface NetProfile {
  totalMs: number;
  totalCpuMs: number;
  layers: LayerTime[];
  /** summed by layer type, largest first */
  byType: Array<{ type: string; ms: number; count: number; share: number }>;
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};

/**
 * Runs the net once and times every layer (the caller's onLayer, if any, is not counted). Layers fused into a
 * conv (src/exec/fuse.ts) show ~0 ms, their time is in the conv's; fused unless opts.fuse is false or the
 * caller gives an onLayer (it then sees every layer's own output).
 */
export async function profileNet(net: Net, inputs: Record<string, Tensor> | Tensor, opts: RunOptions = {}): Promise<NetProfile> {
  const layers: LayerTime[] = [];
  const user = opts.onLayer;
  const t0 = now();
  const c0 = cpuNow();
  let last = t0;
  let lastCpu = c0;
  let excluded = 0;
  let excludedCpu = 0;
  await runNet(net, inputs, {
    ...opts,
    fuse: opts.fuse ?? !user,
    onLayer: async (node: LayerNode, tops: Tensor[]) => {
      const t = now();
      const c = cpuNow();
      layers.push({ index: node.index, name: node.name, type: node.type, ms: t - last, cpuMs: c - lastCpu });
      if (user) {
        await user(node, tops);
        const t2 = now();
        const c2 = cpuNow();
        excluded += t2 - t;
        excludedCpu += c2 - c;
        last = t2;
        lastCpu = c2;
      } else {
        last = t;
        lastCpu = c;
      }
    },
  });
  const totalMs = now() - t0 - excluded;
  const totalCpuMs = cpuNow() - c0 - excludedCpu;
  return { totalMs, totalCpuMs, layers, byType: summarize(layers, totalMs) };
}

/** Sum layer times by type (e.g. over repeated runs); `cpu`: use the CPU times. */
export function summarize(layers: LayerTime[], totalMs: number, cpu = false): NetProfile['byType'] {
  const m = new Map<string, { ms: number; count: number }>();
  for (const l of layers) {
    const e = m.get(l.type) ?? { ms: 0, count: 0 };
    e.ms += cpu ? l.cpuMs : l.ms;
    e.count++;
    m.set(l.type, e);
  }
  return [...m.entries()]
    .map(([type, e]) => ({ type, ms: e.ms, count: e.count, share: totalMs > 0 ? e.ms / totalMs : 0 }))
    .sort((a, b) => b.ms - a.ms);
}
