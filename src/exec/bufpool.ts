/**
 * Recycling of dead activation buffers (runNet's `reuseBuffers`): a fresh Float32Array per layer output
 * costs a zero-filled allocation plus garbage-collector work on tens of MB of external memory per
 * forward; reusing the buffers of blobs nobody reads any more avoids most of it. Buffers handed out are
 * zeroed, like `new Float32Array(n)`.
 */
import type { Tensor } from '../tensor';

const pool = new Map<number, Float32Array[]>();
let pooledBytes = 0;
/** cap on idle pooled memory */
const MAX_POOLED_BYTES = 512 << 20;
/** below this, allocation is cheap and pooling not worth it */
const MIN_FLOATS = 1024;

/** A Float32Array of length n, a recycled one when available; zeroed unless `zero` is false. */
export function takeBuffer(n: number, zero = true): Float32Array {
  const list = pool.get(n);
  if (list && list.length) {
    const a = list.pop()!;
    pooledBytes -= a.byteLength;
    if (zero) a.fill(0);
    return a;
  }
  return new Float32Array(n);
}

/** Give a dead buffer back (only whole-buffer arrays: a view may share its memory with live data). */
function release(a: Float32Array): void {
  if (a.length < MIN_FLOATS || a.byteOffset !== 0 || a.buffer.byteLength !== a.byteLength) return;
  if (pooledBytes + a.byteLength > MAX_POOLED_BYTES) return;
  let list = pool.get(a.length);
  if (!list) pool.set(a.length, (list = []));
  list.push(a);
  pooledBytes += a.byteLength;
}

/**
 * Release the buffers of `dead` tensors unless a live tensor or a protected buffer (the caller's inputs)
 * shares their memory; each buffer at most once. Clears `dead`.
 */
export function releaseDead(dead: Set<Tensor>, live: Iterable<Tensor>, protect: ReadonlySet<ArrayBufferLike>): void {
  const busy = new Set<ArrayBufferLike>(protect);
  for (const t of live) busy.add(t.data.buffer);
  for (const t of dead) {
    const b = t.data.buffer;
    if (busy.has(b)) continue;
    busy.add(b); // released once
    release(t.data);
  }
  dead.clear();
}

/** Drop every pooled buffer (tests, memory pressure). */
export function clearBufferPool(): void {
  pool.clear();
  pooledBytes = 0;
}
