/**
 * The float reference as an observer of a simulator run: runs each layer's float forward (Caffe's semantics) on
 * the reference values, and accumulates per-layer metrics (metrics.ts) of the fixed result against them —
 * cumulative (the fixed chain) and local (the layer alone on its quantized reference input). A conv with fused
 * BN/Scale is compared after the last layer it absorbs, whose float output is the one it stands for.
 */
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import type { LayerNode } from '../graph/types';
import type { Tensor } from '../tensor';
import { accumulateError, accumulateFixedErrors, addFixedSums, newErrorAcc, type FixedErrorTerm } from './metrics';
import type { ErrorSums, ReluInPlace } from '../kernels/sim-metrics';
import { formatScale } from '../chaidnn/format';
import type { ReferenceRun } from './reference';
import { forgetQuantized, isQuantizedReference } from './local';
import { dequant, type SimStats, type Val } from './result';
import { releaseResident, reluAppliedResident, reluTwinOf } from '../kernels';
import { deadAfterSteps } from './fixed-chain';
import type { Step } from './steps';

export async function floatForward(node: LayerNode, bottoms: Tensor[], warn: WarnFn): Promise<Tensor[]> {
  const fwd = node.def?.forward;
  if (!fwd) throw new ChaiqError(`layer '${node.name}': type ${node.type} has no float forward`, node.loc ?? {});
  return await fwd(node, bottoms, { warn });
}

let reluRows = true;
let reluApply = true;
/**
 * Take an in-place ReLU's row in its producer's pass (default), or in its own (tests compare the two); `apply`:
 * that pass also applies the ReLU to the integers and their twin (default), or the ReLU step does.
 */
export function setReluRowsInProducerPass(on: boolean, apply = true): void {
  reluRows = on;
  reluApply = apply;
}
/** How many ReLU rows were taken in their producer's pass, and how many of those ReLUs it applied (tests, benches). */
export const reluRowStats = { fused: 0, applied: 0 };

/** The ReLU step after the next row; `inPlace`: its integers no other blob holds (simulate.ts soleHolder). */
interface ReluNext {
  at: number;
  node: LayerNode;
  blob: string;
  inPlace: boolean;
}

/** An in-place ReLU's row, taken in its producer's pass, until the ReLU records it. */
interface HeldReluRow {
  /** the ReLU's step and layer */
  at: number;
  node: LayerNode;
  blob: string;
  /** the producer's integers and reference, which the ReLU reads */
  q: Int32Array;
  ref: Tensor;
  scale: number;
  bw: number;
  sums: ErrorSums;
  /** the ReLU's float reference read `ref` (forward) */
  readRef?: boolean;
}

export class ReferenceObserver {
  readonly refs = new Map<string, Tensor>();
  /** fused convs waiting for the last layer they absorb: conv index → its result */
  private pending = new Map<number, { node: LayerNode; last: number; fixed: Val; local?: Val }>();
  /** the in-place ReLU (negative_slope 0) that reads the next row's blob (simulate.ts reluRowAfter) */
  private reluNext: ReluNext | undefined;
  private reluHeld: HeldReluRow | undefined;
  /** integers the pass over their producer's row passed through the ReLU after it: the ReLU step keeps them */
  readonly reluDone = new WeakSet<Int32Array>();

  /** `run`: the float net on the executor, in lockstep (reference.ts); without it each layer's forward runs here */
  constructor(private stats: SimStats, private warn: WarnFn, private onReference?: (node: LayerNode, tops: Tensor[]) => void, private run?: ReferenceRun) {}

  /** The layer's float reference: its bottoms' reference values (returned) and its tops (stored). */
  async forward(node: LayerNode): Promise<Tensor[]> {
    const bottoms = node.bottoms.map((b) => this.refs.get(b)!);
    const h = this.reluHeld;
    if (h && h.node === node) h.readRef = bottoms.length === 1 && bottoms[0] === h.ref;
    const tops = this.run ? await this.run.until(node) : await floatForward(node, bottoms, this.warn);
    this.onReference?.(node, tops);
    node.tops.forEach((t, k) => {
      forgetQuantized(tops[k]);
      this.refs.set(t, tops[k]);
    });
    return bottoms;
  }

  /** The reference values of the kept blobs, at the end of the run; the quantized versions go back to the pool. */
  async final(): Promise<Map<string, Tensor>> {
    for (const t of this.refs.values()) forgetQuantized(t);
    return this.run ? await this.run.finish() : this.refs;
  }

  /** After step i: the quantized versions of the blobs no later step reads go back to the pool. */
  afterStep(steps: Step[], i: number): void {
    for (const b of deadAfterSteps({ steps })[i]) {
      const t = this.refs.get(b);
      if (t) forgetQuantized(t);
    }
  }

  /**
   * The next row recorded for `blob` may take the row of the in-place ReLU `node` (step `at`, negative_slope 0)
   * that reads it next in the same pass: the ReLU's integers are max(q, 0), its reference max(ref, 0).
   */
  reluFollows(blob: string, at: number, node: LayerNode, inPlace: boolean): void {
    this.reluNext = reluRows ? { at, node, blob, inPlace: inPlace && reluApply } : undefined;
  }

  /**
   * A layer's fixed result (and its local result) against the reference of `blob`; `reluOf`: a ReLU step's input
   * (its row may have been taken in the producer's pass).
   */
  record(node: LayerNode, idx: number, blob: string, fixed: Val, local?: Val, reluOf?: Val): void {
    const ref = this.refs.get(blob);
    const rn = this.reluNext?.blob === blob ? this.reluNext : undefined;
    this.reluNext = undefined;
    if (ref) this.add(node, idx, blob, ref, fixed, local, reluOf, rn);
    // a local run's integers are read only here (the fixed ones go on down the chain)
    // (one taken from the quantized reference stays for the other layers that read it: local.ts)
    if (local?.q && local.q !== fixed.q && !isQuantizedReference(local.q)) releaseResident(local.q);
  }

  private add(node: LayerNode, idx: number, blob: string, ref: Tensor, fixed: Val, local?: Val, reluOf?: Val, rn?: ReluNext): void {
    const held = this.reluHeld?.at === idx ? this.reluHeld : undefined;
    if (held) this.reluHeld = undefined;
    let ls = this.stats.layers.get(idx);
    if (!ls) {
      ls = { index: idx, name: node.name, type: node.type, blob, where: fixed.q ? 'hw' : 'sw', cumulative: newErrorAcc() };
      this.stats.layers.set(idx, ls);
    }
    if (local && !ls.local) ls.local = newErrorAcc();
    if (held && heldRowApplies(held, blob, fixed, local, reluOf)) {
      addFixedSums(ls.cumulative, held.q.length, held.sums);
      reluRowStats.fused++;
      return;
    }
    const terms: FixedErrorTerm[] = [];
    for (const [acc, v] of [[ls.cumulative, fixed], [ls.local, local]] as const) {
      if (!acc || !v) continue;
      if (v.q && v.fmt) terms.push({ acc, q: v.q, scale: formatScale(v.fmt), bw: v.fmt.bw });
      else accumulateError(acc, ref.data, dequant(v), v.q, v.fmt?.bw);
    }
    // the cumulative and local sums in one pass over the reference (and the next ReLU's, see reluFollows)
    const withRelu = !!rn && !!fixed.q && terms.length > 0 && terms[0].q === fixed.q;
    const twin = withRelu && rn.inPlace ? reluTwinOf(terms[0].q) : undefined;
    const inPlace: ReluInPlace | undefined = twin && { twin };
    const sums = terms.length ? accumulateFixedErrors(ref.data, terms, withRelu, inPlace) : undefined;
    if (rn && sums) this.reluHeld = { at: rn.at, node: rn.node, blob, q: terms[0].q, ref, scale: terms[0].scale, bw: terms[0].bw, sums };
    if (inPlace?.applied) {
      reluAppliedResident(terms[0].q, inPlace.absMax!);
      this.reluDone.add(terms[0].q);
      reluRowStats.applied++;
    }
  }

  /** A conv's result, compared once the layer at `last` (the end of its fused chain) has its reference. */
  holdFused(node: LayerNode, idx: number, last: number, fixed: Val, local?: Val): void {
    this.pending.set(idx, { node, last, fixed, local });
  }

  /** The absorbed layer at `idx` has run its reference: compare the convs whose chain ends here. */
  absorbed(idx: number): void {
    for (const [ci, p] of this.pending) {
      if (p.last !== idx) continue;
      this.record(p.node, ci, p.node.tops[0], p.fixed, p.local);
      this.pending.delete(ci);
    }
  }
}

/**
 * The ReLU's row is the one taken in its producer's pass: it read the producer's integers and float reference
 * (nothing changed them between), its integers (max(q, 0) by construction) have their format, and it has no local run.
 */
function heldRowApplies(h: HeldReluRow, blob: string, fixed: Val, local: Val | undefined, reluOf: Val | undefined): boolean {
  return h.blob === blob && !!h.readRef && !local && reluOf?.q === h.q && !!fixed.q && fixed.q.length === h.q.length &&
    !!fixed.fmt && formatScale(fixed.fmt) === h.scale && fixed.fmt.bw === h.bw;
}
