/** A fused convolution's epilogue (ConvEpilogue): in plain JS, and staged for the wasm kernels (EpiP in kernels.c). */
import type { ConvEpilogue } from './types';
import type { WasmRuntime } from './wasm-runtime';

function epFlags(ep: ConvEpilogue): number {
  return (ep.bn ? 1 : 0) | (ep.scale ? 2 : 0) | (ep.relu ? 4 : 0) | (ep.residual ? 8 : 0) | (ep.reluAfterResidual ? 16 : 0);
}

/** The epilogue in plain JS on one image's output y [outC, hw] (res: that image's residual). */
export function epilogueJs(ep: ConvEpilogue, y: Float32Array, outC: number, hw: number, res: Float32Array | null): void {
  const fr = Math.fround;
  for (let c = 0; c < outC; c++) {
    const mu = ep.bn ? ep.bn.mean[c] : 0;
    const sd = ep.bn ? ep.bn.sd[c] : 1;
    const a = ep.scale ? ep.scale.a[c] : 1;
    const b = ep.scale ? ep.scale.b[c] : 0;
    for (let i = c * hw; i < (c + 1) * hw; i++) {
      let v = y[i];
      if (ep.bn) v = fr((v - mu) / sd);
      if (ep.scale) v = fr(v * a + b);
      if (ep.relu) v = v > 0 ? v : 0;
      if (res) v = fr(v + res[i]);
      if (ep.reluAfterResidual) v = v > 0 ? v : 0;
      y[i] = v;
    }
  }
}

/** room for one EpiP (kernels.c: flags and five pointers) */
export const EPI_BYTES = 64;

export interface StagedEpilogue {
  flags: number; mean: number; sd: number; a: number; b: number;
}

/** The epilogue's per-channel parameters in the arena; writeEpi then makes an EpiP of them. */
export function stageEpilogue(r: WasmRuntime, ep: ConvEpilogue, outC: number): StagedEpilogue {
  return {
    flags: epFlags(ep),
    mean: ep.bn ? r.putF64(ep.bn.mean.subarray(0, outC)) : 0,
    sd: ep.bn ? r.putF64(ep.bn.sd.subarray(0, outC)) : 0,
    a: ep.scale ? r.putF64(ep.scale.a.subarray(0, outC)) : 0,
    b: ep.scale ? r.putF64(ep.scale.b.subarray(0, outC)) : 0,
  };
}

/** An EpiP at addr (res: the byte address of the residual, or 0). */
export function writeEpi(r: WasmRuntime, addr: number, st: StagedEpilogue, res: number): void {
  r.I32().set([st.flags, st.mean, st.sd, st.a, st.b, res], addr >>> 2);
}
