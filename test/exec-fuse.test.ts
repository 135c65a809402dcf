import { runNet } from '../src/exec/executor';
import { fusionPlan } from '../src/exec/fuse';
import { conv2dBatch, setUseWasm, shutdownKernels } from '../src/kernels';
import type { Net } from '../src/graph/types';
import type { Tensor } from '../src/tensor';
import { benchNet, benchTopology, randomInput, type BenchNet } from './bench/netutil';
import { differing } from './helpers/same';

// runNet fuses Convolution + in-place BatchNorm/Scale/ReLU (+ residual Eltwise SUM + ReLU) into one kernel call:
// every value must be what the layers give one by one (fuse: false), bit for bit.

afterAll(() => shutdownKernels());

const quiet = { warn: () => {} };

/**
 * The nets run at 72×72: the same layers and fusion chains, feature maps from 36×36 down to 3×3 (odd and even,
 * above and below the GEMM kernels' size thresholds) for a tenth of the 224×224 work. CHAIQ_FULL_NETS=1: full size.
 */
const SIZE = process.env.CHAIQ_FULL_NETS ? undefined : 72;

/** each net built once, its batches sharing the weights: random weights cost more than the runs in jest's sandbox */
const nets = new Map<string, BenchNet>();
function net(file: string, batch: number): BenchNet {
  const key = `${file}:${batch}`;
  if (!nets.has(key)) {
    if (batch === 1) nets.set(key, benchNet(file, 3, 1, SIZE));
    else {
      const one = net(file, 1);
      const t = benchTopology(file, batch, SIZE);
      t.net.layers.forEach((l, i) => (l.blobs = one.net.layers[i].blobs));
      nets.set(key, { ...one, ...t });
    }
  }
  return nets.get(key)!;
}

async function outputs(file: string, opts: { fuse: boolean; keep?: 'all' | string[]; reuseBuffers?: boolean; batch?: number }): Promise<Map<string, Float32Array>> {
  const b = net(file, opts.batch ?? 1);
  const x: Tensor = randomInput(b.inputShape, 11);
  const res = await runNet(b.net, x, { ...quiet, fuse: opts.fuse, keep: opts.keep, reuseBuffers: opts.reuseBuffers });
  return new Map([...res].map(([k, t]) => [k, Float32Array.from(t.data)]));
}

function expectSame(got: Map<string, Float32Array>, want: Map<string, Float32Array>): void {
  expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
  const bad = [...want].filter(([k, v]) => {
    const g = got.get(k)!;
    if (g.length !== v.length) return true;
    for (let i = 0; i < v.length; i++) if (!Object.is(g[i], v[i])) return true;
    return false;
  });
  expect(bad.map(([k]) => k)).toEqual([]);
}

test('the plan finds the ResNet and MobileNet chains', () => {
  const r18 = [...fusionPlan(benchTopology('resnet18_priv.prototxt').net).values()];
  expect(r18.filter((c) => c.eltwise && c.reluAfter).length).toBeGreaterThan(4);
  const r = fusionPlan(benchTopology('resnet50.prototxt').net);
  const cands = [...r.values()];
  expect(cands.length).toBe(53);
  expect(cands.filter((c) => c.bn && c.scale).length).toBe(53);
  expect(cands.filter((c) => c.eltwise && c.reluAfter).length).toBe(16);
  const m = fusionPlan(benchTopology('mobilenet_v1.prototxt').net);
  expect([...m.values()].filter((c) => c.bn && c.scale && c.relu).length).toBe(27);
});

test.each(['resnet18_priv.prototxt', 'mobilenet_v1.prototxt', 'bvlc_googlenet.prototxt'])('%s: the nets below fuse the chains of the full-size net', (file) => {
  const chains = (n: { net: Net }) => [...fusionPlan(n.net)].map(([i, c]) => [i, !!c.bn, !!c.scale, !!c.relu, !!c.eltwise, !!c.reluAfter]);
  const full = chains(benchTopology(file));
  expect(full.length).toBeGreaterThan(0);
  expect(chains(net(file, 1))).toEqual(full);
});

describe.each([
  ['resnet18_priv.prototxt', 1],
  ['mobilenet_v1.prototxt', 1],
  ['bvlc_googlenet.prototxt', 1],
  ['resnet18_priv.prototxt', 3],
  ['mobilenet_v1.prototxt', 2],
])('%s batch %d', (file, batch) => {
  test('fused = unfused, every blob (keep all)', async () => {
    const want = await outputs(file, { fuse: false, keep: 'all', batch });
    expectSame(await outputs(file, { fuse: true, keep: 'all', batch }), want);
  }, 120000);
  test('fused = unfused, outputs, recycled buffers', async () => {
    const want = await outputs(file, { fuse: false, batch });
    await outputs(file, { fuse: true, reuseBuffers: true, batch }); // fills the pool
    expectSame(await outputs(file, { fuse: true, reuseBuffers: true, batch }), want);
  }, 120000);
});

test('plain-JS kernels apply the epilogue too', async () => {
  setUseWasm(false);
  try {
    const b = net('resnet18_priv.prototxt', 1);
    // a smaller input keeps the JS path quick
    const x: Tensor = randomInput([1, 3, 64, 64], 11);
    const want = await runNet(b.net, x, { ...quiet, fuse: false, reshape: true });
    const got = await runNet(b.net, x, { ...quiet, fuse: true, reshape: true });
    expect(differing([...want].map(([k, t]) => [k, t.data]), (k) => got.get(k)?.data)).toEqual([]);
  } finally {
    setUseWasm(true);
  }
}, 120000);

test('an epilogue given to conv2dBatch applies to that call only', async () => {
  const p = { inC: 1, inH: 3, inW: 3, outC: 1, outH: 1, outW: 1, kH: 3, kW: 3, strideH: 1, strideW: 1, padH: 0, padW: 0, dilH: 1, dilW: 1, group: 1 };
  const x = new Float32Array(9).fill(-1);
  const w = new Float32Array(9).fill(1);
  const out = new Float32Array(1);
  await conv2dBatch(x, 1, w, null, p, out);
  expect(out[0]).toBe(-9);
  await conv2dBatch(x, 1, w, null, p, out, { scale: { a: Float64Array.of(2), b: Float64Array.of(1) }, relu: true, residual: Float32Array.of(-3), reluAfterResidual: false });
  expect(out[0]).toBe(-3); // relu(-9·2 + 1) - 3
  await conv2dBatch(x, 1, w, null, p, out);
  expect(out[0]).toBe(-9); // that call only
});
