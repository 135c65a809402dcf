// CHaiDNN stores a DynamicFixed conv bias in a C short (HCONV_BIAS_TYPE, hw_settings.h) at 2^(fl_in + fl_params):
// a bias that does not fit wraps on the board; the simulator wraps it too and the auto plan keeps it from happening.
import * as A from '../src/chaidnn/arith';
import { buildDynamicFixedPlan } from '../src/quant/dynamicfixed';
import { miniNet } from './quant-net';
import { simulateNet } from '../src/sim/simulate';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';

test('the DynamicFixed bias word is 16 bits and wraps (hand-checked)', () => {
  // 8-bit out at fl 6: trim(1.5) = 1.5; at 2^(5+10) = 32768 → 49152, which a short holds as 49152 − 65536 = −16384
  expect(Array.from(A.quantizeBiasDynamicFixed([1.5], 8, 6, 5, 10))).toEqual([-16384]);
  // 0.999 → trim 64/64 = 1 (round(63.936) = 64) → 32768 → −32768
  expect(Array.from(A.quantizeBiasDynamicFixed([0.999], 8, 6, 5, 10))).toEqual([-32768]);
  // fits: 0.5·2^15 = 16384; −1·2^15 = −32768 is the smallest short
  expect(Array.from(A.quantizeBiasDynamicFixed([0.5, -1], 8, 6, 5, 10))).toEqual([16384, -32768]);
  expect(A.dynamicFixedBiasOverflows([0.5, -1, 1.5, -1.25], 8, 6, 5, 10)).toEqual([2, 3]);
  // one fraction bit less: 1.5·2^14 = 24576 fits
  expect(A.dynamicFixedBiasOverflows([1.5], 8, 6, 5, 9)).toEqual([]);
});

test('auto plan lowers fl_params until the biases fit the 16-bit word', () => {
  const W = { shape: [2, 1, 1, 1], data: Float32Array.from([0.2, -0.1]) };
  const b = { shape: [2], data: Float32Array.from([1.5, 0.25]) };
  const net = miniNet([
    { name: 'data', type: 'Input', tops: ['data'] },
    { name: 'conv', type: 'Convolution', bottoms: ['data'], tops: ['conv'], param: { convolution_param: { num_output: 2, kernel_size: 1 } }, blobs: [W, b] },
  ]);
  // activations fl 5 in, 6 out; weights ask for fl 10 (max 0.2): 1.5·2^(5+10) = 49152 would wrap; 2^(5+9)·1.5 = 24576 fits
  const plan = buildDynamicFixedPlan(net, { bitwidths: { in: 8, params: 8, out: 8 }, fl: 'auto', actFl: (li) => (li === 0 ? 5 : 6), weightFl: () => 10 }).plan;
  expect(plan.get('conv')!.fl_params).toBe(9);
  // small biases keep the weights' fl
  b.data[0] = 0.5;
  const plan2 = buildDynamicFixedPlan(net, { bitwidths: { in: 8, params: 8, out: 8 }, fl: 'auto', actFl: (li) => (li === 0 ? 5 : 6), weightFl: () => 10 }).plan;
  expect(plan2.get('conv')!.fl_params).toBe(10);
});

test('simulate: a bias beyond the 16-bit word is warned about and wrapped as on the board', async () => {
  // 1×1 conv, 8-bit, fl_in 5 + fl_params 10 = 2^15: bias 1.5 → 49152 → −16384 (−0.5 at the accumulator's scale)
  const text = `name: "n"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 1 dim: 1 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 1 kernel_size: 1 }
  precision_param { bw_layer_in: 8 bw_layer_out: 8 bw_params: 8 fl_layer_in: 5 fl_layer_out: 6 fl_params: 10 quant_type: "DynamicFixed" } }
`;
  const weights = new Map([['conv', [{ shape: [1, 1, 1, 1], data: Float32Array.from([0.0625]) }, { shape: [1], data: Float32Array.from([1.5]) }]]]);
  const net = buildNet(loadNetText('n.prototxt', { text }).net, { weights });
  const warns: string[] = [];
  const r = await simulateNet(net, { shape: [1, 1, 1, 1], data: Float32Array.from([1]) }, { keep: ['conv'], reference: false, warn: (m) => warns.push(m) });
  expect(warns.join('\n')).toMatch(/layer 'conv': the bias of 1 channel\(s\) \(first: 0\) does not fit CHaiDNN's 16-bit bias word at 2\^15/);
  // x = 1 → 32 (fl 5), w = 0.0625 → 64 (fl 10): acc 2048; + (−16384) = −14336; shift 5+10−6 = 9 → −28 (−0.4375 at fl 6);
  // unwrapped it would be (2048 + 49152) / 512 = 100 (1.5625)
  expect(Array.from(r.fixed.get('conv')!)).toEqual([-28]);
});
