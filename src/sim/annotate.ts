/**
 * A minimal in-memory Xilinx-mode annotation for exercising the simulator (tests, bench, figures):
 * float-run a few calibration inputs, take KL (or max) thresholds per blob version, build the plan with
 * the quantizer's buildXilinxPlan and attach each block as the layer's precision_param.
 * The real flow is `chaiq quantize`; this only saves writing a prototxt in between.
 */
import type { Net } from '../graph/types';
import type { Tensor } from '../tensor';
import { runNet } from '../exec/executor';
import { buildXilinxPlan } from '../quant/xilinx';
import { computeThresholdKL, computeThresholdMax } from '../calib/threshold';
import type { PrecisionPlan } from '../quant/plan';

export async function annotateXilinx(
  net: Net, calib: Tensor[], bw: number, method: 'kl' | 'max' = 'kl',
): Promise<PrecisionPlan> {
  const chunks = new Map<string, Float32Array[]>();
  for (const x of calib) {
    await runNet(net, x, {
      warn: () => {},
      onLayer: (node, tops) => {
        tops.forEach((t, ti) => {
          const k = `${node.index}/${ti}`;
          if (!chunks.has(k)) chunks.set(k, []);
          chunks.get(k)!.push(Float32Array.from(t.data));
        });
      },
    });
  }
  const thOf = (li: number, ti: number): number => {
    const parts = chunks.get(`${li}/${ti}`);
    if (!parts) return NaN;
    const n = parts.reduce((s, p) => s + p.length, 0);
    const all = new Float32Array(n);
    let o = 0;
    for (const p of parts) { all.set(p, o); o += p.length; }
    return (method === 'kl' ? computeThresholdKL(all, bw) : computeThresholdMax(all)).th;
  };
  const { plan } = buildXilinxPlan(net, thOf, { bitwidths: { in: bw, params: bw, out: bw } });
  applyPlan(net, plan);
  return plan;
}

/** Sets each planned layer's precision_param (in memory). */
export function applyPlan(net: Net, plan: PrecisionPlan): void {
  for (const l of net.layers) {
    const b = plan.get(l.name);
    if (b) {
      l.param.precision_param = b;
      delete l.param.quantization_param;
    }
  }
}
