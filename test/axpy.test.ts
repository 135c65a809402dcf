/** SENet's Axpy (top = a ⊙ x + y, one scale per sample and channel) on hand-checked numbers. */
import { forwardOf } from '../src/layers/registry';
import { miniNet } from './quant-net';

test('Axpy: each channel of x scaled by its a, plus y', async () => {
  const net = miniNet([
    { name: 'in', type: 'Input', tops: ['a', 'x', 'y'] },
    { name: 'axpy', type: 'Axpy', bottoms: ['a', 'x', 'y'], tops: ['out'] },
  ]);
  const node = net.layers[1];
  const a = { shape: [1, 2, 1, 1], data: Float32Array.from([2, -0.5]) };
  const x = { shape: [1, 2, 1, 2], data: Float32Array.from([1, 3, 4, -2]) };
  const y = { shape: [1, 2, 1, 2], data: Float32Array.from([10, 20, 30, 40]) };
  const [out] = await forwardOf('Axpy')!(node, [a, x, y], { warn: () => {} });
  // channel 0: 2·1 + 10, 2·3 + 20; channel 1: −0.5·4 + 30, −0.5·(−2) + 40
  expect(out.shape).toEqual([1, 2, 1, 2]);
  expect(Array.from(out.data)).toEqual([12, 26, 28, 41]);
  expect(() => forwardOf('Axpy')!(node, [a, x], { warn: () => {} })).toThrow(/3 bottoms/);
});
