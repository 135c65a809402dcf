/**
 * src/recover/rounding.ts: optimized weight rounding. A hand-checked channel, the error never grows (random
 * layers), and the written float weights round to the chosen integers under the runtime's rules (both modes).
 */
import { buildNet } from '../src/graph/build';
import { asymmetricError, optimizeChannel, optimizeRounding, quadError, weightGrids } from '../src/recover/rounding';
import { quantizeDynamicFixed, quantizeWeightsXilinx } from '../src/chaidnn/arith';
import { setThreads } from '../src/kernels';
import type { NetParam } from '../src/proto/message';
import type { Tensor } from '../src/tensor';
import type { PrecisionPlan } from '../src/quant/plan';
import { randTensor } from './quant-net';

setThreads(1);
const quiet = () => undefined;

describe('optimized rounding', () => {
  test('hand-checked: two equal inputs, w = (0.14, 0.14) on a 0.1 grid → (2, 1), error 0.0064 → 0.0004', () => {
    const grid = { step: 0.1, lo: -31, hi: 31, quantize: (w: number) => Math.round(w / 0.1) };
    const H = Float64Array.of(1, 1, 1, 1);
    const q = optimizeChannel([0.14, 0.14], H, grid);
    expect(Array.from(q)).toEqual([2, 1]);
    expect(quadError(H, [-0.04, -0.04])).toBeCloseTo(0.0064, 10);
    expect(quadError(H, [2 * 0.1 - 0.14, 0.1 - 0.14])).toBeCloseTo(0.0004, 10);
  });

  test('hand-checked asymmetric: float input 1, quantized 0.9, w = 0.14 on a 0.1 grid → 2 (error 0.0025 → 0.0016), where the float fit keeps 1', () => {
    const grid = { step: 0.1, lo: -31, hi: 31, quantize: (w: number) => Math.round(w / 0.1) };
    // H = x_q², b = x_q·y with y = w·x_float = 0.14, c = y²
    const H = Float64Array.of(0.81);
    const b = [0.9 * 0.14];
    const c = 0.14 * 0.14;
    expect(Array.from(optimizeChannel([0.14], H, grid, 4, b))).toEqual([2]);
    expect(asymmetricError(H, b, c, [0.1])).toBeCloseTo(0.0025, 12);
    expect(asymmetricError(H, b, c, [0.2])).toBeCloseTo(0.0016, 12);
    // on the float input (H = 1, b = H·w) the nearest, 1, is already the best
    expect(Array.from(optimizeChannel([0.14], Float64Array.of(1), grid))).toEqual([1]);
  });

  test('asymmetric: never increases ‖X_q v − y‖² (40 random channels with noisy inputs)', () => {
    for (let s = 0; s < 40; s++) {
      const K = 3 + (s % 9);
      const X = randTensor([20, K], 7 + s).data;
      const N = randTensor([20, K], 300 + s, 0.1).data;
      const w = randTensor([K], 1000 + s, 0.5).data;
      const H = new Float64Array(K * K);
      const b = new Float64Array(K);
      let c = 0;
      for (let n = 0; n < 20; n++) {
        let y = 0;
        for (let a = 0; a < K; a++) y += w[a] * X[n * K + a];
        c += y * y;
        for (let a = 0; a < K; a++) {
          const xa = X[n * K + a] + N[n * K + a];
          b[a] += xa * y;
          for (let bb = 0; bb < K; bb++) H[a * K + bb] += xa * (X[n * K + bb] + N[n * K + bb]);
        }
      }
      const step = 0.5 / 31;
      const grid = { step, lo: -31, hi: 31, quantize: (v: number) => Math.max(-31, Math.min(31, Math.round(v / step))) };
      const q = optimizeChannel(w, H, grid, 4, b);
      const near = asymmetricError(H, b, c, Array.from(w, (v) => grid.quantize(v) * step));
      const got = asymmetricError(H, b, c, Array.from(q, (v) => v * step));
      expect(got).toBeLessThanOrEqual(near + 1e-12);
      q.forEach((x, k) => expect(Math.abs(x - w[k] / step)).toBeLessThan(1));
    }
  });

  test('never increases the layer error it optimises (40 random channels), and moves only to floor/ceil', () => {
    for (let s = 0; s < 40; s++) {
      const K = 3 + (s % 9);
      const X = randTensor([20, K], 7 + s).data;
      const H = new Float64Array(K * K);
      for (let n = 0; n < 20; n++) for (let a = 0; a < K; a++) for (let b = 0; b < K; b++) H[a * K + b] += X[n * K + a] * X[n * K + b];
      const w = randTensor([K], 1000 + s, 0.5).data;
      const step = 0.5 / 31;
      const grid = { step, lo: -31, hi: 31, quantize: (v: number) => Math.max(-31, Math.min(31, Math.round(v / step))) };
      const q = optimizeChannel(w, H, grid);
      const near = quadError(H, Array.from(w, (v) => grid.quantize(v) * step - v));
      const got = quadError(H, Array.from(w, (v, k) => q[k] * step - v));
      expect(got).toBeLessThanOrEqual(near + 1e-15);
      q.forEach((x, k) => expect(Math.abs(x - w[k] / step)).toBeLessThan(1));
    }
  });

  const param: NetParam = {
    name: 'r',
    layer: [
      { name: 'data', type: 'Input', top: ['data'], input_param: { shape: [{ dim: [1, 3, 5, 5] }] } },
      { name: 'c', type: 'Convolution', bottom: ['data'], top: ['c'], convolution_param: { num_output: 4, kernel_size: [3], pad: [1] } },
    ],
  };
  const W = randTensor([4, 3, 3, 3], 5, 0.7);
  const weights = new Map<string, Tensor[]>([['c', [W, randTensor([4], 9, 0.1)]]]);
  const images = [0, 1, 2, 3].map((s) => randTensor([1, 3, 5, 5], 50 + s, 2));
  const th = Array.from({ length: 4 }, (_, o) => Math.max(...Array.from(W.data.subarray(o * 27, (o + 1) * 27), Math.abs)));

  test.each(([
    ['Xilinx 6', { quant_type: 'Xilinx', bw_layer_in: 6, th_layer_in: 2, bw_params: 6, th_params: th.map(Math.fround), bw_layer_out: 6, th_layer_out: 4 }],
    ['DynamicFixed 8', { quant_type: 'DynamicFixed', bw_layer_in: 8, fl_layer_in: 5, bw_params: 8, fl_params: 7, bw_layer_out: 8, fl_layer_out: 4 }],
  ] as [string, Record<string, unknown>][]).flatMap(([n, b]) => [[n, b, false], [n + ' (quantized inputs)', b, true]] as [string, Record<string, unknown>, boolean][]))('%s: the written weights round to the chosen integers under the runtime rule; each layer error ≤ round to nearest; deterministic', async (_, block, quantizedInputs) => {
    const net = buildNet(param, { weights, warn: quiet });
    const plan: PrecisionPlan = new Map([['c', block]]);
    const np = quantizedInputs ? param : undefined;
    const r = await optimizeRounding({ net, netParam: np, plan, images, seed: 3, samples: 25 });
    const out = r.weights.get('c')![0].data;
    const grids = weightGrids(block, 4)!;
    // the runtime's integers of the written weights, and back: exactly the written values
    const q = block.quant_type === 'Xilinx' ? quantizeWeightsXilinx(out, 4, block.th_params as number[], 6) : quantizeDynamicFixed(out, 8, 7);
    q.forEach((v, k) => expect(Math.fround(v * grids[Math.floor(k / 27)].step)).toBe(out[k]));
    expect(r.layers).toHaveLength(1);
    expect(r.layers[0].after).toBeLessThanOrEqual(r.layers[0].before);
    expect(r.layers[0].flipped).toBeGreaterThan(0);
    expect(r.layers[0].after).toBeLessThan(r.layers[0].before);
    const again = await optimizeRounding({ net, netParam: np, plan, images, seed: 3, samples: 25 });
    expect(Array.from(again.weights.get('c')![0].data)).toEqual(Array.from(out));
    // the original blobs are untouched
    expect(net.layers[1].blobs[0].data).toBe(W.data);
  });
  test('hand-checked centred (with bias correction after it): the flip that only moves the mean is left to the bias', async () => {
    // 1×1 conv, inputs (a, b), one output; input grid 1/16 (th 31/16), weight grid 1/32 (th 31/32), 6 bit.
    // a: float 1.03, quantized 1.0, w_a = 15/32 on the grid: a constant error −0.0140625 (a mean shift).
    // b ∈ {0.5, 1.5} on the grid, w_b = 0.2 = 6.4/32: nearest 6 (Δ −0.0125), other 7 (Δ +0.01875).
    // ‖X_q v − y‖²: 6 → 0.0203² + 0.0328² = 1.49e-3, 7 → 0.0047² + 0.0141² = 2.2e-4: it flips to 7 to
    // offset the mean; about the mean (Δ·(b − 1), b − 1 = ±0.5): 6 → 7.8e-5, 7 → 1.76e-4: it keeps 6.
    const p2: NetParam = {
      name: 'centred',
      layer: [
        { name: 'data', type: 'Input', top: ['data'], input_param: { shape: [{ dim: [1, 2, 1, 1] }] } },
        { name: 'c', type: 'Convolution', bottom: ['data'], top: ['c'], convolution_param: { num_output: 1, kernel_size: [1] } },
      ],
    };
    const w2 = new Map<string, Tensor[]>([['c', [{ shape: [1, 2, 1, 1], data: Float32Array.of(15 / 32, 0.2) }, { shape: [1], data: Float32Array.of(0) }]]]);
    const net = buildNet(p2, { weights: w2, warn: quiet });
    const plan: PrecisionPlan = new Map([['c', { quant_type: 'Xilinx', bw_layer_in: 6, th_layer_in: 31 / 16, bw_params: 6, th_params: [31 / 32], bw_layer_out: 6, th_layer_out: 4 }]]);
    const img = (a: number, b: number): Tensor => ({ shape: [1, 2, 1, 1], data: Float32Array.of(a, b) });
    const images = [img(1.03, 0.5), img(1.03, 1.5)];
    const q = (r: { weights: Map<string, Tensor[]> }) => Array.from(r.weights.get('c')![0].data, (v) => Math.round(v * 32));
    const plain = await optimizeRounding({ net, netParam: p2, plan, images });
    expect(q(plain)).toEqual([15, 7]);
    // reported per image × 64 samples
    expect(plain.layers[0].before * 128).toBeCloseTo(0.0203125 ** 2 + 0.0328125 ** 2, 7);
    expect(plain.layers[0].after * 128).toBeCloseTo(0.0046875 ** 2 + 0.0140625 ** 2, 7);
    const centred = await optimizeRounding({ net, netParam: p2, plan, images, centered: true });
    expect(q(centred)).toEqual([15, 6]);
    expect(centred.layers[0].before * 128).toBeCloseTo(2 * 0.00625 ** 2, 7);
    expect(centred.layers[0].after).toBe(centred.layers[0].before);
  });

  test('beforeLayer sees the weights rounded so far, once per fitted conv, in net order', async () => {
    const p3: NetParam = {
      name: 'two',
      layer: [
        { name: 'data', type: 'Input', top: ['data'], input_param: { shape: [{ dim: [1, 1, 1, 1] }] } },
        { name: 'c1', type: 'Convolution', bottom: ['data'], top: ['c1'], convolution_param: { num_output: 1, kernel_size: [1] } },
        { name: 'c2', type: 'Convolution', bottom: ['c1'], top: ['c2'], convolution_param: { num_output: 1, kernel_size: [1] } },
      ],
    };
    const w3 = new Map<string, Tensor[]>([
      ['c1', [{ shape: [1, 1, 1, 1], data: Float32Array.of(0.3) }, { shape: [1], data: Float32Array.of(0) }]],
      ['c2', [{ shape: [1, 1, 1, 1], data: Float32Array.of(0.7) }, { shape: [1], data: Float32Array.of(0) }]],
    ]);
    const net = buildNet(p3, { weights: w3, warn: quiet });
    const blk = (th: number) => ({ quant_type: 'Xilinx', bw_layer_in: 6, th_layer_in: 2, bw_params: 6, th_params: [th], bw_layer_out: 6, th_layer_out: 2 });
    const plan: PrecisionPlan = new Map([['c1', blk(0.3)], ['c2', blk(0.7)]]);
    const seen: [string, number][] = [];
    const r = await optimizeRounding({
      net, netParam: p3, plan, images: [{ shape: [1, 1, 1, 1], data: Float32Array.of(1) }],
      beforeLayer: async (node, w) => {
        seen.push([node.name, w.get('c1')![0].data[0]]);
      },
    });
    expect(seen.map((s) => s[0])).toEqual(['c1', 'c2']);
    // c2's hook sees c1's written weight (31 steps of 0.3/31)
    expect(seen[1][1]).toBe(r.weights.get('c1')![0].data[0]);
  });
});
