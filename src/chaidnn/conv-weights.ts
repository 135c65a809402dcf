/**
 * The weights and bias the runtime quantizes for a convolution: the trained ones, or with its fused BatchNorm /
 * Scale folded in (`fuseBNScaleConvParams`, chaidnn-semantics §3.5). The simulator quantizes these and lint
 * checks th_params against them, so both see what the board sees.
 */
import { ChaiqError } from '../errors';
import { foldBatchNorm } from './arith';
import { fusionRole } from './fusion';
import { bnFoldParams, scaleFoldParams, type FoldSource } from './weights';

export interface RuntimeConvWeights {
  W: Float32Array;
  /** null: no bias term and nothing folded */
  b: Float32Array | null;
  /** a BN/Scale was folded in: the runtime recomputes th_params from W and ignores the file's */
  folded: boolean;
}

/**
 * `conv` with its trained blobs, `chain` the BN/Scale layers the fusion rule (fusion.ts) folds into it, in order.
 * `biasTerm` false ignores a bias blob (convolution_param.bias_term).
 */
export function runtimeConvWeights(conv: FoldSource, outC: number, chain: readonly FoldSource[], biasTerm = true): RuntimeConvWeights {
  const Wb = conv.blobs[0];
  if (!Wb) throw new ChaiqError(`layer '${conv.name}' (${conv.type}): weights missing (no weights loaded for this layer?)`, conv.loc ?? {});
  const b = biasTerm && conv.blobs[1] ? conv.blobs[1].data : null;
  if (chain.length === 0) return { W: Wb.data, b, folded: false };
  let bn: ReturnType<typeof bnFoldParams> | null = null;
  let sc: ReturnType<typeof scaleFoldParams> | null = null;
  for (const l of chain) {
    if (fusionRole(l) === 'batchnorm') bn = bnFoldParams(l);
    else sc = scaleFoldParams(l);
  }
  const r = foldBatchNorm(Wb.data, b, outC, bn, sc);
  return { W: r.W, b: r.b, folded: true };
}
