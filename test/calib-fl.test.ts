import { chooseFl, ristrettoFl, ristrettoIl, trim2FixedPoint, quantMseValues } from '../src/calib/fl';
import { StatsCollector } from '../src/calib/stats';
import { absHistogram } from '../src/calib/threshold';

describe('Trim2FixedPoint', () => {
  it('saturates to the asymmetric range, then rounds half away from zero', () => {
    expect(trim2FixedPoint(0.9, 4, 3)).toBe(0.875);
    expect(trim2FixedPoint(-2, 4, 3)).toBe(-1);
    expect(trim2FixedPoint(0.3125, 4, 4)).toBe(0.3125);
    expect(trim2FixedPoint(0.15625, 4, 3)).toBe(0.125); // 1.25 → 1
    expect(trim2FixedPoint(0.1875, 4, 3)).toBe(0.25); // 1.5 → 2
    expect(trim2FixedPoint(-0.1875, 4, 3)).toBe(-0.25); // -1.5 → -2 (away from zero)
    expect(trim2FixedPoint(-0.0625, 8, 3)).toBe(-0.125); // -0.5 → -1
    expect(trim2FixedPoint(2000, 8, -3)).toBe(127 * 8);
    expect(trim2FixedPoint(1000, 8, -3)).toBe(1000);
  });
});

describe('Ristretto rule (calibration-algorithms.md §1.2)', () => {
  it('weights keep the sign bit, activations drop one bit', () => {
    expect(ristrettoFl(0.9, 8, 'weights')).toBe(7); // IL = ceil(log2 .9 + 1) = 1
    expect(ristrettoFl(0.9, 8, 'activations')).toBe(8); // IL = ceil(log2 .9) = 0
    expect(ristrettoFl(1223, 8, 'activations')).toBe(-3); // doc example
    expect(ristrettoFl(4, 8, 'weights')).toBe(5); // log2 4 + 1 = 3
    expect(ristrettoFl(4, 8, 'activations')).toBe(6);
    expect(ristrettoFl(0, 8, 'weights')).toBe(7);
  });

  // IL by hand: weights ceil(log2 m) + 1, activations ceil(log2 m); 8-bit fl = 8 − IL
  it.each([
    // m, weights fl, activations fl
    [0.5, 8, 9], // log2 = −1 exactly: weights IL 0 (127/256 < 0.5 saturates one LSB, as Ristretto)
    [0.50000006, 7, 8], // float32 just above 0.5
    [1, 7, 8],
    [1.0000001, 6, 7], // float32 just above 1
    [2, 6, 7],
    [2.0000000000000004, 5, 6], // double just above 2: log2(m) + 1 rounds to 2 in double, the literal Ristretto sum gives 6
    [8, 4, 5],
    [8.000000000000002, 3, 4], // same at 8
    [128, 0, 1],
    [128.00000000000006, -1, 0], // and at 128
    [1023, -3, -2],
    [1024, -3, -2],
    [1025, -4, -3],
  ])('max %p: weights fl %p, activations fl %p', (m, w, a) => {
    expect(ristrettoFl(m, 8, 'weights')).toBe(w);
    expect(ristrettoFl(m, 8, 'activations')).toBe(a);
    expect(ristrettoIl(m, 'weights')).toBe(8 - w);
  });

  it('no finite range (0, NaN, Inf) gives IL 1, so fl stays defined', () => {
    for (const m of [0, NaN, Infinity]) for (const k of ['weights', 'activations'] as const) expect(ristrettoFl(m, 8, k)).toBe(7);
  });

  it('weights are Ristretto\'s ceil(log2(max) + 1) on every float32 max near a power of two', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    for (let k = -140; k <= 127; k++) {
      for (let d = -2; d <= 2; d++) {
        f[0] = 2 ** k;
        u[0] += d;
        expect(ristrettoIl(f[0], 'weights')).toBe(Math.ceil(Math.log2(f[0]) + 1) + 0); // + 0: no −0
      }
    }
  });

  it('chooseFl leaves non-finite weights out of the range and the error (an Inf weight used to loop forever)', () => {
    const r = chooseFl([Infinity, 0.3, -0.45, NaN], 8, { kind: 'weights', search: 1 });
    expect(r.ruleFl).toBe(8); // from 0.45: IL 0
    expect(r.candidates).toEqual([7, 8, 9]);
    expect(r.mse.every(Number.isFinite)).toBe(true);
  });
});

describe('chooseFl', () => {
  it('hand-checked weights example: rule fl 3 is the MSE minimum', () => {
    const w = [0.9, -0.3, 0.05, 0.6];
    const r = chooseFl(w, 4, { kind: 'weights', search: 2 });
    expect(r.ruleFl).toBe(3);
    expect(r.candidates).toEqual([1, 2, 3, 4, 5]);
    // by hand: fl=1 → (.01+.04+.0025+.01)/4, fl=2 → .025/4, fl=3 → .00625/4, fl=4 → (.2139+.000156+.000156+.0264)/4
    expect(r.mse[0]).toBeCloseTo(0.0625 / 4, 12);
    expect(r.mse[1]).toBeCloseTo(0.025 / 4, 12);
    expect(r.mse[2]).toBeCloseTo(0.00625 / 4, 12);
    expect(r.mse[3]).toBeCloseTo((0.21390625 + 0.00015625 + 0.00015625 + 0.02640625) / 4, 12);
    expect(r.fl).toBe(3);
    for (const m of r.mse) expect(r.mse[2]).toBeLessThanOrEqual(m);
  });
  it('hand-checked activations example: search moves off the clipping rule', () => {
    const x = [0.9, 0.1, 0.2, 0.15];
    const r = chooseFl(x, 4, { kind: 'activations' });
    expect(r.ruleFl).toBe(4); // IL = ceil(log2 .9) = 0
    const i4 = r.candidates.indexOf(4);
    const i3 = r.candidates.indexOf(3);
    expect(r.mse[i4]).toBeCloseTo((0.4625 ** 2 + 0.025 ** 2 + 0.0125 ** 2 + 0.025 ** 2) / 4, 12);
    expect(r.mse[i3]).toBeCloseTo(0.004375 / 4, 12);
    expect(r.fl).toBe(3);
    expect(Math.min(...r.mse)).toBe(r.mse[r.candidates.indexOf(r.fl)]);
  });
  it('search 0 returns the rule; all-zero input is defined', () => {
    expect(chooseFl([0.9, 0.1], 8, { search: 0 }).fl).toBe(8);
    const z = chooseFl(new Float32Array(4), 8);
    expect(z.fl).toBe(7);
    expect(z.mse.every((m) => m === 0)).toBe(true);
  });
  it('from a histogram and from streaming stats (fine histogram) it agrees with raw values on smooth data', () => {
    const x = new Float32Array(20000);
    let s = 7;
    for (let i = 0; i < x.length; i++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      x[i] = ((s / 2147483648) * 2 - 1) * 5.3;
    }
    const raw = chooseFl(x, 8, { kind: 'activations' });
    const c = new StatsCollector();
    c.observe('b', x);
    const st = chooseFl(c.get('b'), 8, { kind: 'activations' });
    const hi = chooseFl(absHistogram(x, 4096), 8, { kind: 'activations' });
    expect(st.ruleFl).toBe(raw.ruleFl);
    expect(st.fl).toBe(raw.fl);
    expect(hi.fl).toBe(raw.fl);
    expect(quantMseValues(x, 8, raw.fl)).toBe(raw.mse[raw.candidates.indexOf(raw.fl)]);
  });
  it('rejects bad options', () => {
    expect(() => chooseFl([1], 1)).toThrow(/bit width/);
    expect(() => chooseFl([1], 8, { search: -1 })).toThrow(/search radius/);
  });
});
