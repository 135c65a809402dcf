// CHaiDNN stores a DynamicFixed conv bias in a C short (HCONV_BIAS_TYPE, hw_settings.h) at 2^(fl_in + fl_params):
// a bias that does not fit wraps on the board; the simulator wraps it too and the auto plan keeps it from happening.
import * as A from '../src/chaidnn/arith';
import { buildDynamicFixedPlan } from '../src/quant/dynamicfixed';
import { miniNet } from './quant-net';

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
