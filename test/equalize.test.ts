/**
 * src/recover/equalize.ts: cross-layer equalization keeps the float net's function (conv → ReLU → conv,
 * conv → depthwise → conv, leaky ReLU) and balances the ranges it rescales, on hand-checked numbers.
 */
import { buildNet } from '../src/graph/build';
import { runNet } from '../src/exec/executor';
import { equalizablePairs, equalizeNet } from '../src/recover/equalize';
import { setThreads } from '../src/kernels';
import type { LayerParam, NetParam } from '../src/proto/message';
import type { Tensor } from '../src/tensor';
import { randTensor } from './quant-net';

setThreads(1);
const quiet = () => undefined;

function small(layers: (Omit<LayerParam, 'blobs'> & { blobs?: Tensor[] })[], input: number[]) {
  const weights = new Map<string, Tensor[]>();
  const layer: LayerParam[] = [{ name: 'data', type: 'Input', top: ['data'], input_param: { shape: [{ dim: input }] } }];
  for (const { blobs, ...l } of layers) {
    if (blobs) weights.set(String(l.name), blobs);
    layer.push(l);
  }
  const param: NetParam = { name: 'small', layer };
  return { param, graph: buildNet(param, { weights, warn: quiet }) };
}

const conv = (name: string, bottom: string, top: string, out: number, inC: number, k: number, seed: number, extra: object = {}, group = 1): LayerParam & { blobs: Tensor[] } => ({
  name, type: 'Convolution', bottom: [bottom], top: [top],
  convolution_param: { num_output: out, kernel_size: [k], pad: [Math.floor(k / 2)], group, ...extra },
  blobs: [randTensor([out, inC / group, k, k], seed), randTensor([out], seed + 1, 0.5)],
});
const relu = (name: string, blob: string, slope?: number): Omit<LayerParam, 'blobs'> => ({ name, type: 'ReLU', bottom: [blob], top: [blob], ...(slope ? { relu_param: { negative_slope: slope } } : {}) });

async function outputsOf(param: NetParam, weights: Map<string, Tensor[]>, x: Tensor): Promise<Tensor> {
  const net = buildNet(param, { weights, warn: quiet });
  const r = await runNet(net, x);
  return r.get(net.outputs[0])!;
}

function maxRelErr(got: Tensor, want: Tensor): number {
  let scale = 0;
  for (const v of want.data) scale = Math.max(scale, Math.abs(v));
  let e = 0;
  for (let i = 0; i < want.data.length; i++) e = Math.max(e, Math.abs(got.data[i] - want.data[i]));
  return e / scale;
}

describe('cross-layer equalization', () => {
  test('two 1x1 convs through a ReLU: s = sqrt(r1/r2), hand-checked', async () => {
    // A: 2 channels from 1, weights (4, 0.25); B: 1 output from 2 channels, weights (1, 4)
    // r1 = (4, 0.25), r2 = (1, 4): s = (2, 0.25) and both ranges become (2, 1)
    const { param, graph } = small([
      { name: 'a', type: 'Convolution', bottom: ['data'], top: ['a'], convolution_param: { num_output: 2, kernel_size: [1] },
        blobs: [{ shape: [2, 1, 1, 1], data: Float32Array.of(4, 0.25) }, { shape: [2], data: Float32Array.of(2, -1) }] },
      relu('r', 'a'),
      { name: 'b', type: 'Convolution', bottom: ['a'], top: ['b'], convolution_param: { num_output: 1, kernel_size: [1] },
        blobs: [{ shape: [1, 2, 1, 1], data: Float32Array.of(1, 4) }, { shape: [1], data: Float32Array.of(0.5) }] },
    ], [1, 1, 1, 1]);
    const r = equalizeNet(graph, param);
    expect(Array.from(r.weights.get('a')![0].data)).toEqual([2, 1]);
    expect(Array.from(r.weights.get('a')![1].data)).toEqual([1, -4]);
    expect(Array.from(r.weights.get('b')![0].data)).toEqual([2, 1]);
    expect(Array.from(r.weights.get('b')![1].data)).toEqual([0.5]);
    expect(r.pairs).toEqual([{ first: 'a', second: 'b', minFactor: 0.25, maxFactor: 2 }]);
    // the original blobs are untouched
    expect(Array.from(graph.layers[1].blobs[0].data)).toEqual([4, 0.25]);
    for (const v of [-3, 0.5, 2]) {
      const x = { shape: [1, 1, 1, 1], data: Float32Array.of(v) };
      expect((await outputsOf(r.net, r.weights, x)).data[0]).toBeCloseTo((await outputsOf(param, new Map([...graph.layers].filter((l) => l.blobs.length).map((l) => [l.name, l.blobs])), x)).data[0], 6);
    }
  });

  test('conv → ReLU → depthwise → leaky ReLU → conv keeps the float output (1e-5 relative) and balances every pair', async () => {
    const { param, graph } = small([
      conv('c1', 'data', 'c1', 8, 3, 3, 11),
      relu('r1', 'c1'),
      conv('dw', 'c1', 'dw', 8, 8, 3, 21, {}, 8),
      relu('r2', 'dw', 0.1),
      conv('pw', 'dw', 'pw', 4, 8, 1, 31),
    ], [1, 3, 6, 6]);
    // make the channel ranges very unequal, as trained nets have them
    const W1 = graph.layers[1].blobs[0];
    for (let o = 0; o < 8; o++) for (let t = 0; t < 27; t++) W1.data[o * 27 + t] *= 2 ** (o - 4);
    expect(equalizablePairs(graph).map(([a, b]) => [graph.layers[a].name, graph.layers[b].name])).toEqual([['c1', 'dw'], ['dw', 'pw']]);
    const before = new Map(graph.layers.filter((l) => l.blobs.length).map((l) => [l.name, l.blobs]));
    const r = equalizeNet(graph, param, { sweeps: 30 });
    for (let s = 0; s < 3; s++) {
      const x = randTensor([1, 3, 6, 6], 100 + s, 2);
      expect(maxRelErr(await outputsOf(r.net, r.weights, x), await outputsOf(param, before, x))).toBeLessThan(1e-5);
    }
    // balanced: for each pair, out-range of the first ≈ in-range of the second, channel by channel
    const W = (n: string) => r.weights.get(n)![0];
    const outR = (t: Tensor, c: number) => Math.max(...Array.from(t.data.subarray(c * (t.data.length / t.shape[0]), (c + 1) * (t.data.length / t.shape[0]))).map(Math.abs));
    for (let c = 0; c < 8; c++) {
      expect(outR(W('c1'), c) / outR(W('dw'), c)).toBeCloseTo(1, 2);
      let m = 0;
      for (let o = 0; o < 4; o++) m = Math.max(m, Math.abs(W('pw').data[o * 8 + c]));
      expect(outR(W('dw'), c) / m).toBeCloseTo(1, 2);
    }
  });

  test('a conv read by two layers, or whose output is the net output, is left alone', () => {
    const { param, graph } = small([
      conv('c1', 'data', 'c1', 4, 3, 1, 1),
      conv('c2', 'c1', 'c2', 4, 4, 1, 2),
      conv('c3', 'c1', 'c3', 4, 4, 1, 3),
    ], [1, 3, 2, 2]);
    expect(equalizablePairs(graph)).toEqual([]);
    const r = equalizeNet(graph, param);
    expect(r.pairs).toEqual([]);
  });
});
