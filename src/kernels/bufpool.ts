/**
 * Recycling of dead activation buffers (runNet's `reuseBuffers`): a fresh Float32Array per layer output
 * costs a zero-filled allocation plus garbage-collector work on tens of MB of external memory per
 * forward; reusing the buffers of blobs nobody reads any more avoids most of it. Buffers handed out are
 * zeroed, like `new Float32Array(n)`, unless asked for stale. The executor passes its pool to the forwards
 * in their context (ForwardContext.buffers); a forward called without one allocates fresh arrays.
 */
import type { Tensor } from '../tensor';
import { isWasmArray, wasmFloat32Array } from '.';

/** cap on idle pooled memory */
const MAX_POOLED_BYTES = 512 << 20;
/** below this, allocation is cheap and pooling not worth it */
const MIN_FLOATS = 1024;

export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  /** the arrays take() made in wasm memory (whole blocks) */
  private readonly wasmBlocks = new WeakSet<Float32Array>();

  /**
   * `inWasm`: new buffers are allocated inside the conv kernels' wasm memory when there is room, so that
   * convolutions read their input and write their output in place instead of copying them in and out.
   */
  constructor(private readonly inWasm = true) {}

  /** A Float32Array of length n, a recycled one when available; zeroed unless `zero` is false. */
  take(n: number, zero = true): Float32Array {
    const list = this.free.get(n);
    if (list && list.length) {
      const a = list.pop()!;
      this.pooledBytes -= a.byteLength;
      if (zero) a.fill(0);
      return a;
    }
    if (this.inWasm && n >= MIN_FLOATS) {
      const a = wasmFloat32Array(n);
      if (a) {
        this.wasmBlocks.add(a);
        if (zero) a.fill(0);
        return a;
      }
    }
    return new Float32Array(n);
  }

  /**
   * Release the buffers of `dead` tensors unless a live tensor or a protected array (the caller's inputs)
   * shares their memory; each buffer at most once. Clears `dead`. Arrays in wasm memory all share one
   * ArrayBuffer: for them, sharing means overlapping byte ranges.
   */
  releaseDead(dead: Set<Tensor>, live: Iterable<Tensor>, protect: Iterable<Float32Array>): void {
    const busy = new Set<ArrayBufferLike>();
    const ranges: number[] = []; // [start, end) pairs of busy wasm arrays
    const mark = (a: Float32Array): void => {
      if (isWasmArray(a)) ranges.push(a.byteOffset, a.byteOffset + a.byteLength);
      else busy.add(a.buffer);
    };
    for (const a of protect) mark(a);
    for (const t of live) mark(t.data);
    for (const t of dead) {
      const a = t.data;
      if (isWasmArray(a)) {
        const s = a.byteOffset;
        const e = s + a.byteLength;
        let hit = false;
        for (let i = 0; i < ranges.length && !hit; i += 2) hit = s < ranges[i + 1] && ranges[i] < e;
        if (hit) continue;
        ranges.push(s, e); // released once
        this.release(a);
        continue;
      }
      const b = a.buffer;
      if (busy.has(b)) continue;
      busy.add(b); // released once
      this.release(a);
    }
    dead.clear();
  }

  /** Drop every pooled buffer (tests, memory pressure). */
  clear(): void {
    this.free.clear();
    this.pooledBytes = 0;
  }

  /** Give a dead buffer back (only whole-buffer arrays or whole wasm blocks: a view may share its memory with live data). */
  private release(a: Float32Array): void {
    if (a.length < MIN_FLOATS) return;
    if (!(a.byteOffset === 0 && a.buffer.byteLength === a.byteLength) && !this.wasmBlocks.has(a)) return;
    if (this.pooledBytes + a.byteLength > MAX_POOLED_BYTES) return;
    let list = this.free.get(a.length);
    if (!list) this.free.set(a.length, (list = []));
    list.push(a);
    this.pooledBytes += a.byteLength;
  }
}

let threadPool: BufferPool | undefined;

/**
 * The pool runNet uses for `reuseBuffers: true`, one per thread and kept across runs, so that the images of a
 * calibration or simulation reuse one set of buffers instead of filling wasm memory with new ones.
 */
export function sharedBufferPool(): BufferPool {
  return (threadPool ??= new BufferPool(true));
}
