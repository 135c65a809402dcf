/**
 * The float reference of a simulation with per-layer metrics, on the executor's fast path: runNet with reused
 * buffers (activations in the kernels' wasm memory) and a Convolution fused with the BatchNorm/Scale the
 * simulator folds into it, run in lockstep with the fixed chain. runNet stops in its onLayer after each layer
 * until the simulator asks for the next one, so every value the metrics read (the layer's bottoms and tops)
 * is alive and unchanged while they read it, and nothing is copied.
 */
import type { WarnFn } from '../errors';
import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import { runNet } from '../exec/executor';
import { fusionPlan, type FusionCandidate } from '../exec/fuse';
import { absorbedOf, type Step } from './steps';

/**
 * The fusions the metrics allow: a conv with the leading BatchNorm/Scale/ReLU of its fused chain that the fixed
 * step absorbs too. The metrics compare such a conv only after the last layer it absorbs, so its earlier
 * versions of the blob are never read; a ReLU after the fold, and a residual Eltwise, have their own rows (the
 * conv's value before them is compared), so they run as layers.
 */
export function referenceFusion(net: Net, steps: Step[]): Map<number, FusionCandidate> {
  const have = fusions.get(steps);
  if (have) return have;
  const out = new Map<number, FusionCandidate>();
  for (const [ci, c] of fusionPlan(net)) {
    const absorbed = new Set(absorbedOf(steps[ci]));
    const keep: FusionCandidate = { conv: ci };
    for (const k of ['bn', 'scale', 'relu'] as const) {
      const n = c[k];
      if (!n) continue;
      if (!absorbed.has(n.index)) break;
      keep[k] = n;
    }
    if (keep.bn || keep.scale || keep.relu) out.set(ci, keep);
  }
  fusions.set(steps, out);
  return out;
}

const fusions = new WeakMap<Step[], Map<number, FusionCandidate>>();

let onExecutor = true;
/** The float reference on runNet (default), or each layer's forward on fresh arrays (tests compare the two). */
export function setReferenceOnExecutor(on: boolean): void {
  onExecutor = on;
}
export function referenceOnExecutor(): boolean {
  return onExecutor;
}

interface Delivery {
  node: LayerNode;
  tops: Tensor[];
}

/** The float net, layer by layer: `next()` resumes runNet until it has computed the next layer. */
export class ReferenceRun {
  private pending: Delivery | undefined;
  /** resumes runNet past the layer delivered last */
  private go: (() => void) | undefined;
  /** wakes next() when runNet delivers, ends or fails */
  private wake: (() => void) | undefined;
  private ended = false;
  private error: unknown;
  private readonly result: Promise<Map<string, Tensor>>;

  constructor(net: Net, input: Tensor, steps: Step[], keep: 'all' | string[], warn: WarnFn) {
    this.result = runNet(net, input, {
      warn, keep, reuseBuffers: true, fusion: referenceFusion(net, steps),
      onLayer: (node, tops) => {
        this.pending = { node, tops };
        this.signal();
        return new Promise<void>((resolve) => (this.go = resolve));
      },
    });
    this.result.then(() => {
      this.ended = true;
      this.signal();
    }, (e) => {
      this.ended = true;
      this.error = e;
      this.signal();
    });
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private resume(): void {
    const g = this.go;
    this.go = undefined;
    g?.();
  }

  /**
   * The tops of layer `node` (the layers before it are passed over: the net input's source layers). They stay
   * valid, as do every earlier layer's tops that a later layer reads, until the next call.
   */
  async until(node: LayerNode): Promise<Tensor[]> {
    for (;;) {
      const d = await this.next();
      if (!d) throw new Error(`float reference: runNet ended before layer '${node.name}'`);
      if (d.node === node) return d.tops;
      if (d.node.index > node.index) throw new Error(`float reference: layer '${d.node.name}' came before '${node.name}'`);
    }
  }

  private async next(): Promise<Delivery | undefined> {
    this.resume();
    while (!this.pending) {
      if (this.error !== undefined) throw this.error;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    const d = this.pending;
    this.pending = undefined;
    return d;
  }

  /** Runs the rest of the net; its kept blobs (copied out of the kernels' memory). */
  async finish(): Promise<Map<string, Tensor>> {
    while (await this.next());
    return await this.result;
  }
}
