/**
 * Operands kept in the kernels' wasm memory across calls: packed (or, for depthwise convs, raw) weights keyed
 * by the weight array object, so that a net's forward packs each layer's weights once instead of copying and
 * repacking them on every call (ResNet-50: ~94 MB a forward); and the zone of activation buffers that kernels
 * use in place. A cache entry is used only while the cache generation, the layout and a sample of the values
 * still match, so a weight array refilled in place is repacked (a change confined to values between the
 * sampled positions is not seen: call clearWeightCache() after editing weights in place).
 */
import { rt } from './config';
import { peekRuntime, type WasmRuntime } from './wasm-runtime';

interface WeightEntry {
  gen: number;
  addr: number;
  layout: string;
  sample: Float32Array;
}
const weightCache = new WeakMap<object, WeightEntry>();
/** Bytes of wasm memory the weight cache may hold (everything is dropped when a new entry would exceed it). */
let weightCacheCap = 1024 << 20;
const SAMPLES = 64;

type Numeric = Float32Array | Int32Array | Int16Array | Int8Array;

/**
 * A Float32Array of n floats inside the kernels' wasm memory (kernels then read/write it in place, no copy),
 * or null (no wasm, or that region is full). Stale contents. Freed when garbage-collected. For runNet's buffers.
 */
export function wasmFloat32Array(n: number): Float32Array | null {
  const r = rt();
  return r ? r.zoneView(n) : null;
}

/** Whether `a` lives in the kernels' wasm memory (a wasmFloat32Array or a view of one). */
export function isWasmArray(a: Float32Array): boolean {
  const r = peekRuntime();
  return !!r && r.addrOf(a) >= 0;
}

/** Forget every cached packed weight array (e.g. after changing weights in place). */
export function clearWeightCache(): void {
  const r = peekRuntime();
  if (r) r.flushCache();
}

/** Cap (bytes) on the wasm memory used to keep packed weights between calls; 0 disables the cache. */
export function setWeightCacheBytes(bytes: number): void {
  weightCacheCap = Math.max(0, Math.floor(bytes));
  clearWeightCache();
}

function sampleOf(w: Numeric, len: number, into?: Float32Array): Float32Array {
  const s = into ?? new Float32Array(SAMPLES + 1);
  const step = len / SAMPLES;
  for (let i = 0; i < SAMPLES; i++) s[i] = w[Math.floor(i * step)];
  s[SAMPLES] = len ? w[len - 1] : 0;
  return s;
}

function sameSample(a: Float32Array, w: Numeric, len: number): boolean {
  const step = len / SAMPLES;
  for (let i = 0; i < SAMPLES; i++) {
    const v = w[Math.floor(i * step)];
    if (v !== a[i] && !(v !== v && a[i] !== a[i])) return false;
  }
  const v = len ? w[len - 1] : 0;
  return v === a[SAMPLES] || (v !== v && a[SAMPLES] !== a[SAMPLES]);
}

/**
 * The cached copy of w (layout: a key of how it was laid out) or -1; `fill` writes a fresh one of `floats`
 * 32-bit words at the address given. Call before anything else is allocated in the arena: a miss resets it.
 */
export function cachedOperand(r: WasmRuntime, w: Numeric, len: number, layout: string, floats: number, fill: (addr: number) => void): number {
  const e = weightCache.get(w);
  if (e && e.gen === r.generation && e.layout === layout && sameSample(e.sample, w, len)) return e.addr;
  if (weightCacheCap <= 0) return -1;
  const addr = r.cacheReserve(floats, weightCacheCap);
  if (addr < 0) return -1;
  fill(addr);
  r.reset();
  weightCache.set(w, { gen: r.generation, addr, layout, sample: sampleOf(w, len, e?.sample) });
  return addr;
}
