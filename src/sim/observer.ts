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
import { accumulateError, accumulateFixedError, newErrorAcc, type ErrorAcc } from './metrics';
import { formatScale } from '../chaidnn/format';
import type { ReferenceRun } from './reference';
import { forgetQuantized } from './local';
import { dequant, type SimStats, type Val } from './result';

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

  /** The reference values of the kept blobs, at the end of the run. */
  async final(): Promise<Map<string, Tensor>> {
    return this.run ? await this.run.finish() : this.refs;
  }

  /** A layer's fixed result (and its local result) against the reference of `blob`. */
  record(node: LayerNode, idx: number, blob: string, fixed: Val, local?: Val): void {
    const ref = this.refs.get(blob);
    if (!ref) return;
    let ls = this.stats.layers.get(idx);
    if (!ls) {
      ls = { index: idx, name: node.name, type: node.type, blob, where: fixed.q ? 'hw' : 'sw', cumulative: newErrorAcc() };
      this.stats.layers.set(idx, ls);
    }
    addError(ls.cumulative, ref.data, fixed);
    if (local) {
      if (!ls.local) ls.local = newErrorAcc();
      addError(ls.local, ref.data, local);
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

function addError(acc: ErrorAcc, ref: Float32Array, v: Val): void {
  if (v.q && v.fmt) accumulateFixedError(acc, ref, v.q, formatScale(v.fmt), v.fmt.bw);
  else accumulateError(acc, ref, dequant(v), v.q, v.fmt?.bw);
}
