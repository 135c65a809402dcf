/**
 * Which build of the wasm module to run. Relaxed SIMD (f32x4.relaxed_madd: one fused multiply-add where the
 * CPU has FMA) is on by default from Node 22 and behind --experimental-wasm-relaxed-simd on Node 20; that flag
 * can still be set from here before the module compiles (V8 flags are per process, so the worker threads that
 * instantiate the compiled module get it too). CHAIQ_FMA=0 forces the SIMD128 build (multiply, then add).
 */
import * as v8 from 'v8';
import { KERNELS_FMA_WASM_BASE64, KERNELS_WASM_BASE64 } from './wasm/kernels-wasm';

export type KernelVariant = 'fma' | 'simd128';

interface WasmValidate {
  validate(bytes: Uint8Array): boolean;
}
const WA = (globalThis as unknown as { WebAssembly: WasmValidate }).WebAssembly;

/** (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd) */
const RELAXED_PROBE = Uint8Array.from([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

let relaxed: boolean | undefined;

/** Whether this engine runs relaxed SIMD (setting the Node 20 flag when it is needed). */
export function relaxedSimdAvailable(): boolean {
  if (relaxed !== undefined) return relaxed;
  try {
    relaxed = WA.validate(RELAXED_PROBE);
    if (!relaxed) {
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
      relaxed = WA.validate(RELAXED_PROBE);
    }
  } catch {
    relaxed = false;
  }
  return relaxed;
}

/** Whether the FMA build is wanted: not with CHAIQ_FMA=0. */
export function fmaWanted(): boolean {
  return process.env.CHAIQ_FMA !== '0';
}

/** The module's bytes: the FMA build when wanted and the engine validates it, else the SIMD128 build. */
export function moduleBytes(): { bytes: Uint8Array; variant: KernelVariant } {
  if (fmaWanted() && relaxedSimdAvailable()) {
    const bytes = Buffer.from(KERNELS_FMA_WASM_BASE64, 'base64');
    if (WA.validate(bytes)) return { bytes, variant: 'fma' };
  }
  return { bytes: Buffer.from(KERNELS_WASM_BASE64, 'base64'), variant: 'simd128' };
}
