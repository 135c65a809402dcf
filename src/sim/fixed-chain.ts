/**
 * The fixed chain without the float reference (`--metrics none`): integer blobs live in wasm memory
 * (src/kernels/sim-conv.ts), and their blocks go back to the pool once the last layer that reads them has run,
 * so that one image's chain reuses the memory of the blobs before it instead of waiting for the collector.
 */
import { releaseResident } from '../kernels';
import type { SimProgram } from './simulate';
import type { Val } from './result';

const deadCache = new WeakMap<SimProgram, string[][]>();

/** Per step, the blobs no later step reads (by name; a blob rewritten in place is still live under its name). */
function deadAfterSteps(p: SimProgram): string[][] {
  let d = deadCache.get(p);
  if (d) return d;
  const last = new Map<string, number>();
  p.steps.forEach((st, i) => st.node.bottoms.forEach((b) => last.set(b, i)));
  d = p.steps.map(() => []);
  for (const [b, i] of last) {
    if (!p.steps[i].node.tops.includes(b)) d[i].push(b);
  }
  deadCache.set(p, d);
  return d;
}

/**
 * After step i: the integers of blobs that died there (not kept, not shared with a live blob, as a pass-through
 * layer's top shares its bottom's) return to the pool, and leave `vals`.
 */
export function releaseDeadBlobs(p: SimProgram, i: number, vals: Map<string, Val>, keep: (blob: string) => boolean): void {
  for (const b of deadAfterSteps(p)[i]) {
    if (keep(b)) continue;
    const q = vals.get(b)?.q;
    if (!q) continue;
    let shared = false;
    for (const [o, v] of vals) if (o !== b && v.q === q) { shared = true; break; }
    vals.delete(b);
    if (!shared) releaseResident(q);
  }
}
