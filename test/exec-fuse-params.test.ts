import { buildFusion, fusionPlan } from '../src/exec/fuse';
import type { Tensor } from '../src/tensor';
import { num, sub } from '../src/layers/params';
import { benchNet } from './bench/netutil';

// buildFusion runs for every fused conv of every forward: its per-channel BatchNorm/Scale arrays are the
// candidate's own, refilled from the blobs on each call (no allocation), so weights changed in place still count.

test('the epilogue arrays are reused across calls and follow the blobs', () => {
  const b = benchNet('mobilenet_v1.prototxt', 5, 1, 32);
  const net = b.net;
  const cand = [...fusionPlan(net).values()].find((c) => c.bn && c.scale && c.relu)!;
  expect(cand).toBeDefined();
  const conv = net.layers[cand.conv];
  const x: Tensor = { shape: [1, ...conv.bottomShapes[0]!.slice(1)], data: new Float32Array(0) };
  const build = () => buildFusion(net, cand, x, new Map(), () => true)!;
  const first = build();
  const outC = first.ep.bn!.mean.length;
  const [m, v, f] = cand.bn!.blobs;
  const eps = num(sub(cand.bn!, 'batch_norm_param'), 'eps', 1e-5);
  const want = (i: number) => [m.data[i] * (1 / f.data[0]), Math.sqrt(v.data[i] * (1 / f.data[0]) + eps)];
  expect([first.ep.bn!.mean[3], first.ep.bn!.sd[3]]).toEqual(want(3));
  expect(Array.from(first.ep.scale!.a)).toEqual(Array.from(cand.scale!.blobs[0].data));
  const again = build();
  expect(again.ep.bn!.mean).toBe(first.ep.bn!.mean);
  expect(again.ep.scale!.b).toBe(first.ep.scale!.b);
  expect(again.layers).toEqual(first.layers);
  // a weight edited in place is seen by the next call
  const saved = [m.data[3], cand.scale!.blobs[0].data[outC - 1]];
  m.data[3] += 0.5;
  cand.scale!.blobs[0].data[outC - 1] = 7;
  try {
    const edited = build();
    expect(edited.ep.bn!.mean[3]).toBe(want(3)[0]);
    expect(edited.ep.scale!.a[outC - 1]).toBe(7);
  } finally {
    m.data[3] = saved[0];
    cand.scale!.blobs[0].data[outC - 1] = saved[1];
  }
});
