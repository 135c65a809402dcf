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
import { accumulateError, accumulateFixedErrors, newErrorAcc, type FixedErrorTerm } from './metrics';
import { formatScale } from '../chaidnn/format';
import type { ReferenceRun } from './reference';
import { forgetQuantized, isQuantizedReference } from './local';
import { dequant, type SimStats, type Val } from './result';
import { releaseResident } from '../kernels';
import { deadAfterSteps } from './fixed-chain';
import type { Step } from './steps';

export async function floatForward(node: LayerNode, bottoms: Tensor[], warn: WarnFn): Promise<Tensor[]> {
  const fwd = node.def?.forward;
  if (!fwd) throw new ChaiqError(`layer '${node.name}': type ${node.type} has no float forward`, node.loc ?? {});
  return await fwd(node, bottoms, { warn });
}

export class ReferenceObserver {
  readonly refs = new Map<string, Tensor>();
  /** fused convs waiting for the last layer they absorb: conv index → its result */
  private pending = new Map<number, { node: LayerNode; last: number; fixed: Val; local?: Val }>();

  /** `run`: the float net on the executor, in lockstep (reference.ts); without it each layer's forward runs here */
  constructor(private stats: SimStats, private warn: WarnFn, private onReference?: (node: LayerNode, tops: Tensor[]) => void, private run?: ReferenceRun) {}

  /** The layer's float reference: its bottoms' reference values (returned) and its tops (stored). */
  async forward(node: LayerNode): Promise<Tensor[]> {
    const bottoms = node.bottoms.map((b) => this.refs.get(b)!);
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

  /** A layer's fixed result (and its local result) against the reference of `blob`. */
  record(node: LayerNode, idx: number, blob: string, fixed: Val, local?: Val): void {
    const ref = this.refs.get(blob);
    if (ref) this.add(node, idx, blob, ref, fixed, local);
    // a local run's integers are read only here (the fixed ones go on down the chain)
    // (one taken from the quantized reference stays for the other layers that read it: local.ts)
    if (local?.q && local.q !== fixed.q && !isQuantizedReference(local.q)) releaseResident(local.q);
  }

  private add(node: LayerNode, idx: number, blob: string, ref: Tensor, fixed: Val, local?: Val): void {
    let ls = this.stats.layers.get(idx);
    if (!ls) {
      ls = { index: idx, name: node.name, type: node.type, blob, where: fixed.q ? 'hw' : 'sw', cumulative: newErrorAcc() };
      this.stats.layers.set(idx, ls);
    }
    if (local && !ls.local) ls.local = newErrorAcc();
    const terms: FixedErrorTerm[] = [];
    for (const [acc, v] of [[ls.cumulative, fixed], [ls.local, local]] as const) {
      if (!acc || !v) continue;
      if (v.q && v.fmt) terms.push({ acc, q: v.q, scale: formatScale(v.fmt), bw: v.fmt.bw });
      else accumulateError(acc, ref.data, dequant(v), v.q, v.fmt?.bw);
    }
    // the cumulative and local sums in one pass over the reference
    if (terms.length) accumulateFixedErrors(ref.data, terms);
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
