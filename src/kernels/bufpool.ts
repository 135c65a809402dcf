/**
 * Recycling of dead activation buffers (runNet's `reuseBuffers`): a fresh Float32Array per layer output
 * costs a zero-filled allocation plus garbage-collector work on tens of MB of external memory per
 * forward; reusing the buffers of blobs nobody reads any more avoids most of it. Buffers handed out are
 * zeroed, like `new Float32Array(n)`.
 */
import type { Tensor } from '../tensor';
import { isWasmArray, wasmFloat32Array } from '.';

/** the arrays takeBuffer made in wasm memory (whole blocks) */
const wasmBlocks = new WeakSet<Float32Array>();

const pool = new Map<number, Float32Array[]>();
let pooledBytes = 0;
/** cap on idle pooled memory */
const MAX_POOLED_BYTES = 512 << 20;
/** below this, allocation is cheap and pooling not worth it */
const MIN_FLOATS = 1024;

let inWasm = 0;

/**
 * While on (runNet with reuseBuffers turns it on for its duration; nesting counts), new buffers are
 * allocated inside the conv kernels' wasm memory when there is room, so that convolutions read their input
 * and write their output in place instead of copying them in and out.
 */
export function buffersInWasm(on: boolean): void {
  inWasm = Math.max(0, inWasm + (on ? 1 : -1));
}

/** A Float32Array of length n, a recycled one when available; zeroed unless `zero` is false. */
export function takeBuffer(n: number, zero = true): Float32Array {
  const list = pool.get(n);
  if (list && list.length) {
    const a = list.pop()!;
    pooledBytes -= a.byteLength;
    if (zero) a.fill(0);
    return a;
  }
  if (inWasm > 0 && n >= MIN_FLOATS) {
    const a = wasmFloat32Array(n);
    if (a) {
      wasmBlocks.add(a);
      if (zero) a.fill(0);
      return a;
    }
  }
  return new Float32Array(n);
}

/** Give a dead buffer back (only whole-buffer arrays or whole wasm blocks: a view may share its memory with live data). */
function release(a: Float32Array): void {
  if (a.length < MIN_FLOATS) return;
  if (!(a.byteOffset === 0 && a.buffer.byteLength === a.byteLength) && !wasmBlocks.has(a)) return;
  if (pooledBytes + a.byteLength > MAX_POOLED_BYTES) return;
  let list = pool.get(a.length);
  if (!list) pool.set(a.length, (list = []));
  list.push(a);
  pooledBytes += a.byteLength;
}

/**
 * Release the buffers of `dead` tensors unless a live tensor or a protected array (the caller's inputs)
 * shares their memory; each buffer at most once. Clears `dead`. Arrays in wasm memory all share one
 * ArrayBuffer: for them, sharing means overlapping byte ranges.
 */
export function releaseDead(dead: Set<Tensor>, live: Iterable<Tensor>, protect: Iterable<Float32Array>): void {
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
      release(a);
      continue;
    }
    const b = a.buffer;
    if (busy.has(b)) continue;
    busy.add(b); // released once
    release(a);
  }
  dead.clear();
}

/** Drop every pooled buffer (tests, memory pressure). */
export function clearBufferPool(): void {
  pool.clear();
  pooledBytes = 0;
}
