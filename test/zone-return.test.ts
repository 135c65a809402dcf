/**
 * Zone memory given back on purpose (WasmRuntime.zoneReturn) and the resident chain's pool: blocks pooled for one
 * net's blob sizes must not keep the next net's blobs out of the zone (they staged: MobileNet after GoogLeNet and
 * ResNet-50 in one process ran its fixed chain at 1.4× the float forward instead of 0.8×).
 */
import { clearResidentPool, initKernels, quantizeResident, releaseResident, residentStats, shutdownKernels } from '../src/kernels';
import { rt } from '../src/kernels/config';

const spec = { kind: 'XilinxPack' as const, th: 4, inv: 127 / 4, m: 127 };

beforeAll(async () => {
  await initKernels();
});
afterAll(() => shutdownKernels());

/** Zone views of n floats until the zone is full (held, so the collector cannot give them back). */
function fillZone(n: number): Float32Array[] {
  const held: Float32Array[] = [];
  for (;;) {
    const v = rt()!.zoneView(n);
    if (!v) return held;
    held.push(v);
  }
}

test('zoneReturn gives a view back at once, and only once', () => {
  const r = rt();
  expect(r).not.toBeNull();
  clearResidentPool();
  const held = fillZone(1 << 20);
  expect(held.length).toBeGreaterThan(4);
  expect(r!.zoneView(1 << 20)).toBeNull();
  const v = held.pop()!;
  expect(r!.zoneReturn(v)).toBe(true);
  expect(r!.zoneReturn(v)).toBe(false);
  expect(r!.zoneReturn(new Float32Array(16))).toBe(false);
  const w = r!.zoneView(1 << 20);
  expect(w).not.toBeNull();
  held.push(w!);
  for (const h of held) r!.zoneReturn(h);
});

test('a full zone takes the pooled blocks of other sizes back for a new blob size', () => {
  const r = rt()!;
  clearResidentPool();
  // pool blocks of one size (an earlier net's blobs), then fill the rest of the zone
  const a = new Float32Array(1 << 18).fill(1);
  const pooled: Int32Array[] = [];
  for (let i = 0; i < 8; i++) pooled.push(quantizeResident(a, spec)!);
  expect(pooled.every((q) => q !== null)).toBe(true);
  for (const q of pooled) releaseResident(q);
  const held = fillZone(1 << 16);
  // a blob of another size: only the pooled blocks can make room for it
  const before = residentStats.noRoom;
  const q = quantizeResident(new Float32Array((1 << 18) + 64).fill(2), spec);
  expect(q).not.toBeNull();
  expect(residentStats.noRoom).toBe(before);
  expect(q![0]).toBe(64);
  releaseResident(q!);
  clearResidentPool();
  for (const h of held) r.zoneReturn(h);
});
