/**
 * src/recover/bias-correction.ts: iterative bias correction on a hand-checked 6-bit Xilinx net, and the
 * property that the corrected bias survives the runtime's bias format (it is written on its grid).
 */
import { buildNet } from '../src/graph/build';
import { biasFormat, correctBiases, correctedBias, meanFixedError } from '../src/recover/bias-correction';
import { applyPlanToNetParam } from '../src/print/precision';
import { quantizeDynamicFixed, quantizeXilinx } from '../src/chaidnn/arith';
import { setThreads } from '../src/kernels';
import type { NetParam } from '../src/proto/message';
import type { Tensor } from '../src/tensor';
import type { PrecisionPlan } from '../src/quant/plan';

setThreads(1);
const quiet = () => undefined;

// 1×1 conv, 2 output channels: w = (0.3, −0.15) with th_params = |w| (w_q = ±31), b = (0.07, 0.2);
// input and output at th 3.1 (sf 0.1), 6 bit
const param: NetParam = {
  name: 'bc',
  layer: [
    { name: 'data', type: 'Input', top: ['data'], input_param: { shape: [{ dim: [1, 1, 1, 1] }] } },
    { name: 'c', type: 'Convolution', bottom: ['data'], top: ['c'], convolution_param: { num_output: 2, kernel_size: [1] } },
    { name: 'r', type: 'ReLU', bottom: ['c'], top: ['c'] },
  ],
};
const weights = new Map<string, Tensor[]>([['c', [{ shape: [2, 1, 1, 1], data: Float32Array.of(0.3, -0.15) }, { shape: [2], data: Float32Array.of(0.07, 0.2) }]]]);
const plan: PrecisionPlan = new Map([
  ['c', { quant_type: 'Xilinx', bw_layer_in: 6, th_layer_in: 3.1, bw_params: 6, th_params: [0.3, 0.15], bw_layer_out: 6, th_layer_out: 3.1 }],
]);
const img = (v: number): Tensor => ({ shape: [1, 1, 1, 1], data: Float32Array.of(v) });
// x = 5 clips to 3.1 (x_q 31); x = 0.26 rounds to x_q 3
const images = [img(5), img(0.26)];

describe('iterative bias correction', () => {
  test('hand-checked: the measured mean error, the corrected biases, and the error left (≤ half a bias step)', async () => {
    const net = buildNet(param, { weights, warn: quiet });
    const r = await correctBiases({ net, netParam: param, plan, images });
    // ch0: fixed 1.0 and 0.2 against float 1.57 and 0.148 → mean −0.259
    // ch1: fixed −0.3 and 0.2 against float −0.55 and 0.161 → mean 0.1445
    const e = r.corrected[0].meanError;
    expect(r.corrected.map((c) => c.layer)).toEqual(['c']);
    expect(e[0]).toBeCloseTo(-0.259, 5);
    expect(e[1]).toBeCloseTo(0.1445, 5);
    // b_q 1 → 1 + round(2.59) = 4, b_q 2 → 2 + round(−1.445) = 1, written on the grid k·sf_out
    const b = r.weights.get('c')![1].data;
    expect(Array.from(quantizeXilinx(b, 3.1, 6))).toEqual([4, 1]);
    expect(b[0]).toBe(Math.fround(4 * Math.fround(3.1 / 31)));
    // the input net is unchanged
    expect(Array.from(net.layers[1].blobs[1].data)).toEqual([Math.fround(0.07), Math.fround(0.2)]);
    // measured again on the same images, with the corrected bias: 0.041 and 0.0445, within sf_out/2 = 0.05
    const floatMean = Float64Array.of((1.57 + 0.148) / 2, (-0.55 + 0.161) / 2);
    const after = await meanFixedError(applyPlanToNetParam(param, plan), r.weights, 'c', 'c', images, floatMean);
    expect(after[0]).toBeCloseTo(0.041, 5);
    expect(after[1]).toBeCloseTo(0.0445, 5);
    for (const v of after) expect(Math.abs(v)).toBeLessThanOrEqual(0.05);
  });

  test('after a rewrite of the weights (the rounding), the error is measured against the reference float net, not the rewritten one', async () => {
    // ch0's weight moved to the grid point 30·sf_w (as --optimize_rounding writes it): the fixed outputs stay
    // 1.0 and 0.2, the rewritten net's float ones become 1.5216 and 0.1455
    const sfW = 0.3 / 31;
    const moved = new Map(weights);
    moved.set('c', [{ shape: [2, 1, 1, 1], data: Float32Array.of(30 * sfW, -0.15) }, weights.get('c')![1]]);
    const rewritten = buildNet(param, { weights: moved, warn: quiet });
    const reference = buildNet(param, { weights, warn: quiet });
    const own = await correctBiases({ net: rewritten, netParam: param, plan, images });
    const f0 = Math.fround(30 * sfW);
    expect(own.corrected[0].meanError[0]).toBeCloseTo((1.0 + 0.2 - (5 * f0 + Math.fround(0.07)) - (0.26 * f0 + Math.fround(0.07))) / 2, 5);
    const r = await correctBiases({ net: rewritten, netParam: param, plan, images, reference });
    // against the original float outputs 1.57 and 0.148: −0.259 as in the net without the rewrite
    expect(r.corrected[0].meanError[0]).toBeCloseTo(-0.259, 5);
    expect(r.corrected[0].meanError[1]).toBeCloseTo(0.1445, 5);
    expect(Array.from(quantizeXilinx(r.weights.get('c')![1].data, 3.1, 6))).toEqual([4, 1]);
    // the rewritten weights are the ones kept
    expect(r.weights.get('c')![0].data[0]).toBe(f0);
  });

  test('the corrected float bias rounds to the chosen integer under the runtime rule, both modes, and stays in range', () => {
    const x = biasFormat({ quant_type: 'Xilinx', bw_layer_out: 8, th_layer_out: 7.3 });
    const b = Float32Array.of(0.01, -2.5, 7, 0.3);
    const err = [0.2, -0.07, -3, 0];
    const cb = correctedBias(b, err, x);
    const q0 = quantizeXilinx(b, 7.3, 8);
    const q1 = quantizeXilinx(cb, 7.3, 8);
    err.forEach((e, c) => expect(q1[c]).toBe(Math.min(127, Math.max(-127, q0[c] + Math.round(-e / x.step)))));
    expect(cb[3]).toBe(b[3]); // nothing to correct: the bias is kept as it was
    const d = biasFormat({ quant_type: 'DynamicFixed', bw_layer_out: 6, fl_layer_out: 3 });
    expect(d.step).toBe(0.125);
    const db = correctedBias(Float32Array.of(0.3, -3.9, 3.8), [0.26, 0.1, -1], d);
    expect(Array.from(quantizeDynamicFixed(db, 6, 3))).toEqual([0, -32, 31]);
  });
});
