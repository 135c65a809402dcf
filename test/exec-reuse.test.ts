import { runNet } from '../src/exec/executor';
import { BufferPool, sharedBufferPool } from '../src/kernels/bufpool';
import { isWasmArray, kernelBackend, shutdownKernels } from '../src/kernels';
import type { Tensor } from '../src/tensor';
import { mulberry32 } from '../src/io/calibset';
import { differing } from './helpers/same';
import { benchNet, randomInput, rng, type BenchNet } from './bench/netutil';

const { abs } = Math; // global lookups are slow inside jest's vm context

// runNet({reuseBuffers}) recycles dead blobs' buffers: every layer output must stay the same.

afterAll(() => shutdownKernels());

/**
 * Reduced inputs (ResNet-18 72×72, MobileNet-SSD 96×96): the same layers, blobs above and below the pool's smallest
 * buffer, a tenth of the full-size work. CHAIQ_FULL_NETS=1: the prototxts' sizes.
 */
const FULL = !!process.env.CHAIQ_FULL_NETS;
const SIZE: Record<string, number> = { 'resnet18_priv.prototxt': 72, 'mobilenet_ssd.prototxt': 96 };
/** each net built once: its random weights cost more than its runs in jest's sandbox */
const nets = new Map<string, BenchNet>();
function net(file: string): BenchNet {
  if (!nets.has(file)) nets.set(file, benchNet(file, 5, 1, FULL ? undefined : SIZE[file]));
  return nets.get(file)!;
}

/** per blob version (layer/top) a checksum of the values as onLayer sees them */
async function versions(b: BenchNet, x: Tensor, reuse: boolean): Promise<{ sums: Map<string, string>; out: Map<string, Float32Array> }> {
  const sums = new Map<string, string>();
  const res = await runNet(b.net, x, {
    warn: () => {},
    reuseBuffers: reuse,
    onLayer: (node, tops) =>
      tops.forEach((t, i) => {
        const d = t.data;
        const n = d.length;
        let s = 0;
        let s2 = 0;
        for (let k = 0; k < n; k++) {
          s += d[k] * ((k & 7) + 1);
          s2 += abs(d[k]);
        }
        sums.set(`${node.name}/${i}`, `${t.data.length}:${s}:${s2}`);
      }),
  });
  const out = new Map([...res].map(([k, t]) => [k, Float32Array.from(t.data)]));
  return { sums, out };
}

test.each(['resnet18_priv.prototxt', 'mobilenet_ssd.prototxt'])('%s: same values with reuseBuffers', async (file) => {
  sharedBufferPool().clear();
  const b = net(file);
  const x = randomInput(b.inputShape, 9);
  const x0 = Float32Array.from(x.data);
  const ref = await versions(b, x, false);
  await versions(b, x, true); // fills the pool
  const got = await versions(b, x, true); // runs on recycled buffers
  expect(differing([['input', x0]], () => x.data)).toEqual([]); // the caller's input is never recycled
  expect(got.sums.size).toBe(ref.sums.size);
  const bad = [...ref.sums].filter(([k, v]) => got.sums.get(k) !== v).map(([k]) => k);
  expect(bad).toEqual([]);
  expect(differing(ref.out, (k) => got.out.get(k))).toEqual([]);
}, 60000);

test('reuseBuffers: activations live in wasm memory during the run, the returned tensors do not', async () => {
  const b = net('resnet18_priv.prototxt');
  const x = randomInput(b.inputShape, 9);
  let inWasm = 0;
  const res = await runNet(b.net, x, {
    warn: () => {},
    reuseBuffers: true,
    onLayer: (_node, tops) => {
      for (const t of tops) if (isWasmArray(t.data)) inWasm++;
    },
  });
  if (kernelBackend() === 'wasm') expect(inWasm).toBeGreaterThan(10);
  for (const t of res.values()) expect(isWasmArray(t.data)).toBe(false);
  const all = await runNet(b.net, x, { warn: () => {}, reuseBuffers: true, keep: 'all' });
  for (const t of all.values()) expect(isWasmArray(t.data)).toBe(false);
  const plain = await runNet(b.net, x, { warn: () => {}, keep: 'all' });
  expect(differing([...plain].map(([k, t]) => [k, t.data]), (k) => all.get(k)?.data)).toEqual([]);
}, 60000);

test('releaseDead: wasm arrays share one ArrayBuffer, only overlapping ones are busy', () => {
  const pool = new BufferPool(true);
  const a = pool.take(4096);
  const b = pool.take(4096);
  if (!isWasmArray(a)) return; // no wasm here
  expect(a.buffer).toBe(b.buffer);
  const view = new Float32Array(a.buffer, a.byteOffset + 64, 16); // a live view into a
  pool.releaseDead(new Set([{ shape: [4096], data: a }, { shape: [4096], data: b }]), [{ shape: [16], data: view }], []);
  expect(pool.take(4096)).toBe(b); // b was recycled, a (overlapped by a live view) was not
  expect(pool.take(4096)).not.toBe(a);
});

test("the bench nets' PRNG gives the values of the calibration one (mulberry32)", () => {
  for (const seed of [0, 5, 2 ** 32 - 1]) {
    const a = rng(seed);
    const b = mulberry32(seed);
    expect(Array.from({ length: 1000 }, a)).toEqual(Array.from({ length: 1000 }, b));
  }
});
