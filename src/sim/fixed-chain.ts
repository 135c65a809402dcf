/**
 * The fixed chain without the float reference (`--metrics none`): integer blobs live in wasm memory
 * (src/kernels/sim-conv.ts), and their blocks go back to the pool once the last layer that reads them has run,
 * so that one image's chain reuses the memory of the blobs before it instead of waiting for the collector.
 */
import { quantizeResident, releaseResident, type QuantizeSpec } from '../kernels';
import { qmax, scaleFactor } from '../chaidnn/arith';
import { quantizeFloat, type FixedFormat } from '../chaidnn/format';
import type { Step } from './steps';
import type { Val } from './result';

/** What the chain needs of a compiled program (simulate.ts's SimProgram; named here to keep the imports one way). */
interface SimProgram {
  steps: Step[];
}

const f32 = Math.fround;

/** The constants of quantizeFloat's loops (chaidnn/arith.ts), for the same quantizer in wasm; null: a threshold ≤ 0. */
function quantizeSpec(fmt: FixedFormat, netInput: boolean): QuantizeSpec | null {
  if (fmt.mode === 'DynamicFixed') {
    const hi = 2 ** (fmt.bw - 1) - 1;
    const lo = -(2 ** (fmt.bw - 1));
    return { kind: 'DynamicFixed', minv: lo * 2 ** -fmt.fl, maxv: hi * 2 ** -fmt.fl, p: 2 ** fmt.fl, lo, hi };
  }
  const th = f32(fmt.th);
  if (!(th > 0) || !Number.isFinite(th)) return null; // a threshold ≤ 0: the JS loops' clamp order (the wasm one differs)
  const sf = scaleFactor(th, fmt.bw);
  return netInput ? { kind: 'XilinxInput', th, sf, m: qmax(fmt.bw) } : { kind: 'XilinxPack', th, inv: f32(1 / sf), m: qmax(fmt.bw) };
}

/** quantizeFloat, into wasm memory when it can (the integers a HW layer reads from a float value or the image). */
export function quantizeForChain(x: Float32Array, fmt: FixedFormat, netInput: boolean): Int32Array {
  const spec = quantizeSpec(fmt, netInput);
  return (spec && quantizeResident(x, spec)) ?? quantizeFloat(x, fmt, netInput);
}

const deadCache = new WeakMap<Step[], string[][]>();

/** Per step, the blobs no later step reads (by name; a blob rewritten in place is still live under its name). */
export function deadAfterSteps(p: SimProgram): string[][] {
  let d = deadCache.get(p.steps);
  if (d) return d;
  const last = new Map<string, number>();
  p.steps.forEach((st, i) => st.node.bottoms.forEach((b) => last.set(b, i)));
  d = p.steps.map(() => []);
  for (const [b, i] of last) {
    if (!p.steps[i].node.tops.includes(b)) d[i].push(b);
  }
  deadCache.set(p.steps, d);
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

/** Kept blobs whose integers live in wasm memory get a copy of their own: a result outlives the pool's reuse. */
export function detachKept(vals: Map<string, Val>, keep: (blob: string) => boolean): void {
  for (const [b, v] of vals) {
    if (keep(b) && v.q && v.q.buffer instanceof SharedArrayBuffer) vals.set(b, { ...v, q: v.q.slice() });
  }
}
