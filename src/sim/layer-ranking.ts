/**
 * Where the loss comes from: each fixed-point layer in turn runs alone in float (--float_layers L) and the net
 * output is compared with the float net's. Layers are ranked by what that recovers: top-1 agreement with float
 * (classifiers), then output SQNR (the only key for nets whose output is no class vector).
 */
import type { Net } from '../graph/types';
import type { Tensor } from '../tensor';
import { runSim, type SimProgram } from './simulate';
import { floatableLayers } from './float-layers';
import { accumulateError, newErrorAcc, summarize, topK } from './metrics';

export type RankKey = 'top1' | 'sqnr';

export interface LayerRecovery {
  layer: string;
  type: string;
  /** float/fixed top-1 agreement with this layer in float (fraction of the images) */
  agreement: number;
  /** fixed top-1 accuracy with this layer in float, when the images are labelled */
  accuracy: number | null;
  /** net output SQNR (dB) with this layer in float */
  sqnrDb: number;
  /** gains over the all-fixed net: agreement in points of fraction, SQNR in dB */
  agreementGain: number;
  sqnrGainDb: number;
}

export interface LayerRanking {
  key: RankKey;
  images: number;
  /** agreement is read at output_blob, SQNR over all of output_blobs */
  output_blob: string;
  output_blobs: string[];
  baseline: { agreement: number; accuracy: number | null; sqnrDb: number };
  /** best recovery first */
  layers: LayerRecovery[];
}

interface Outcome { agreement: number; accuracy: number | null; sqnrDb: number }

/** Per image, the net outputs in order; the first is the one classes are read from. */
type Outputs = Float32Array[];

function outcome(refs: Outputs[], fixed: Outputs[], labels: number[]): Outcome {
  const acc = newErrorAcc();
  let agree = 0;
  let correct = 0;
  let labelled = 0;
  refs.forEach((r, k) => {
    r.forEach((o, j) => accumulateError(acc, o, fixed[k][j]));
    const f = topK(fixed[k][0], 1)[0];
    if (topK(r[0], 1)[0] === f) agree++;
    if (labels[k] >= 0) {
      labelled++;
      if (labels[k] === f) correct++;
    }
  });
  return { agreement: refs.length ? agree / refs.length : 0, accuracy: labelled ? correct / labelled : null, sqnrDb: summarize(acc).sqnrDb };
}

/**
 * The blobs the ranking compares: the net outputs, a final Softmax read at its input (the logits: same top-1,
 * and an SQNR that saturated probabilities do not swamp).
 */
export function rankingOutputs(net: Net): string[] {
  return net.outputs.map((b) => {
    const w = [...net.layers].reverse().find((l) => l.tops.includes(b));
    return w && w.def?.probabilities && w.bottoms.length === 1 && w.bottoms[0] !== b ? w.bottoms[0] : b;
  });
}

/** Gains may be ±Infinity (an exact output); a finite comparison key keeps the sort total. */
const finite = (v: number) => (Number.isNaN(v) ? -Infinity : v);

/**
 * Runs the net once all fixed (with the float reference) and once per fixed-point layer with that layer in float.
 * `inputs` are held in memory: meant for a few images (the cost is layers × images simulations).
 */
export async function rankFloatLayers(
  prog: SimProgram, inputs: Tensor[], labels: number[], outBlobs: string[],
  opts: { key?: RankKey; onRun?: (done: number, total: number) => void } = {},
): Promise<LayerRanking> {
  const names = floatableLayers(prog.steps);
  const total = names.length + 1;
  const refs: Outputs[] = [];
  const base: Outputs[] = [];
  for (const x of inputs) {
    const r = await runSim(prog, x, { keep: outBlobs });
    refs.push(outBlobs.map((b) => r.reference.get(b)!.data));
    base.push(outBlobs.map((b) => r.outputs.get(b)!.data));
  }
  opts.onRun?.(1, total);
  const b = outcome(refs, base, labels);
  const layers: LayerRecovery[] = [];
  for (const name of names) {
    const fixed: Outputs[] = [];
    for (const x of inputs) {
      const r = await runSim(prog, x, { keep: outBlobs, reference: false, floatLayers: new Set([name]) });
      fixed.push(outBlobs.map((b) => r.outputs.get(b)!.data));
    }
    const o = outcome(refs, fixed, labels);
    const node = prog.net.layers.find((l) => l.name === name)!;
    layers.push({ layer: name, type: node.type, ...o, agreementGain: o.agreement - b.agreement, sqnrGainDb: o.sqnrDb - b.sqnrDb });
    opts.onRun?.(layers.length + 1, total);
  }
  const key = opts.key ?? 'top1';
  const order = names.map((n, i) => [n, i] as const);
  const pos = new Map(order);
  layers.sort((x, y) =>
    (key === 'top1' ? y.agreementGain - x.agreementGain : 0) ||
    finite(y.sqnrGainDb) - finite(x.sqnrGainDb) ||
    pos.get(x.layer)! - pos.get(y.layer)!);
  return { key, images: inputs.length, output_blob: outBlobs[0], output_blobs: outBlobs, baseline: b, layers };
}

const pct = (v: number | null) => (v === null ? '-' : (100 * v).toFixed(2) + '%');
const signedPt = (v: number) => (v >= 0 ? '+' : '') + (100 * v).toFixed(2);
const dB = (v: number) => (v === Infinity ? 'inf' : v === -Infinity ? '-inf' : Number.isNaN(v) ? '-' : v.toFixed(1));
const signedDb = (v: number) => (Number.isFinite(v) && v >= 0 ? '+' : '') + dB(v);

export function formatRankingText(r: LayerRanking): string {
  const lines: string[] = [];
  const by = r.key === 'top1' ? 'top-1 agreement with float, then output SQNR' : 'output SQNR';
  const sq = r.output_blobs.length > 1 ? `; SQNR over ${r.output_blobs.map((b) => `'${b}'`).join(', ')}` : '';
  lines.push(`each layer alone in float (--float_layers L), ${r.images} image(s), ranked by what it recovers (${by}); agreement at '${r.output_blob}'${sq}`);
  lines.push(`all fixed: agreement ${pct(r.baseline.agreement)}` + (r.baseline.accuracy !== null ? `, fixed top-1 ${pct(r.baseline.accuracy)}` : '') + `, output SQNR ${dB(r.baseline.sqnrDb)} dB`);
  const head = ['layer', 'type', 'agreement', 'gain pt'];
  if (r.baseline.accuracy !== null) head.push('top-1');
  head.push('SQNR dB', 'gain dB');
  const rows = [head];
  for (const l of r.layers) {
    const row = [l.layer, l.type, pct(l.agreement), signedPt(l.agreementGain)];
    if (r.baseline.accuracy !== null) row.push(pct(l.accuracy));
    row.push(dB(l.sqnrDb), signedDb(l.sqnrGainDb));
    rows.push(row);
  }
  const w = rows[0].map((_, i) => Math.max(...rows.map((x) => x[i].length)));
  for (const x of rows) lines.push(x.map((v, i) => (i === x.length - 1 ? v : v.padEnd(w[i]))).join('  ').trimEnd());
  return lines.join('\n') + '\n';
}

const jnum = (v: number | null) => (v === null || Number.isNaN(v) ? null : Number.isFinite(v) ? v : v > 0 ? 'inf' : '-inf');

export function rankingJson(r: LayerRanking) {
  return {
    key: r.key, images: r.images, output_blob: r.output_blob, output_blobs: r.output_blobs,
    baseline: { agreement: r.baseline.agreement, accuracy: r.baseline.accuracy, sqnr_db: jnum(r.baseline.sqnrDb) },
    layers: r.layers.map((l) => ({
      layer: l.layer, type: l.type, agreement: l.agreement, accuracy: l.accuracy, sqnr_db: jnum(l.sqnrDb),
      agreement_gain: l.agreementGain, sqnr_gain_db: jnum(l.sqnrGainDb),
    })),
  };
}
