/**
 * --optimize_rounding with --bias_correction: one sweep (src/recover/techniques.ts roundingStage). Hand-checked on
 * a 1×1 conv whose quantized input carries a constant error: the rounding leaves that mean shift to the bias, the
 * bias correction then removes it against the original float net.
 */
import { buildNet } from '../src/graph/build';
import { roundingStage } from '../src/recover/techniques';
import { quantizeXilinx } from '../src/chaidnn/arith';
import { setThreads } from '../src/kernels';
import type { NetParam } from '../src/proto/message';
import type { Tensor } from '../src/tensor';
import type { PrecisionPlan } from '../src/quant/plan';

setThreads(1);
const quiet = () => undefined;

// inputs (a, b): a float 1.03 is quantized to 1.0 on the input grid 1/16 (th 31/16), b ∈ {0.5, 1.5} on it;
// w = (15/32, 0.2) on the weight grid 1/32 (th 31/32); output grid 1/32 (th 31/32); 6 bit
const param: NetParam = {
  name: 'joint',
  layer: [
    { name: 'data', type: 'Input', top: ['data'], input_param: { shape: [{ dim: [1, 2, 1, 1] }] } },
    { name: 'c', type: 'Convolution', bottom: ['data'], top: ['c'], convolution_param: { num_output: 1, kernel_size: [1] } },
  ],
};
const weights = new Map<string, Tensor[]>([['c', [{ shape: [1, 2, 1, 1], data: Float32Array.of(15 / 32, 0.2) }, { shape: [1], data: Float32Array.of(0) }]]]);
const plan: PrecisionPlan = new Map([['c', { quant_type: 'Xilinx', bw_layer_in: 6, th_layer_in: 31 / 16, bw_params: 6, th_params: [31 / 32], bw_layer_out: 6, th_layer_out: 31 / 32 }]]);
const img = (a: number, b: number): Tensor => ({ shape: [1, 2, 1, 1], data: Float32Array.of(a, b) });
const images = [img(1.03, 0.5), img(1.03, 1.5)];
const rebuild = (r: { net: NetParam; weights: Map<string, Tensor[]> }) => ({ net: buildNet(r.net, { weights: r.weights, warn: quiet }), netParam: r.net });
const progress = () => ({ tick: () => undefined, stop: () => undefined });

test('rounding and bias correction in one sweep: w_b keeps its nearest 6/32, the bias takes the mean error', async () => {
  const net = buildNet(param, { weights, warn: quiet });
  const lines: string[] = [];
  const out = await roundingStage(net, param, plan, images, rebuild, { seed: 0, warn: quiet, info: (m) => lines.push(m), progress, biasCorrection: true });
  const [W, b] = out.layers.find((l) => l.name === 'c')!.blobs;
  // alone, the rounding flips w_b to 7/32 to offset a's error (test/rounding.test.ts); about the mean it keeps 6
  expect(Array.from(W.data, (v) => v * 32)).toEqual([15, 6]);
  // fixed outputs 0.5625 and 0.75 (on the output grid) against float 0.5828 and 0.7828: mean −0.0266, so the
  // bias moves by round(0.0266·32) = 1 step of the output grid
  expect(Array.from(quantizeXilinx(b.data, 31 / 32, 6))).toEqual([1]);
  expect(b.data[0]).toBe(1 / 32);
  expect(lines.join('\n')).toMatch(/bias correction: 1 of 1 convolutions moved their bias .* each after the rounding of the convolutions before it/);
});
