#!/usr/bin/python3
"""Golden fixtures for src/calib/threshold.ts (run with /usr/bin/python3, numpy 1.x).

ComputeThreshold below is the original xfDNN quantize_base.ComputeThreshold (chaidnn-semantics.md §4.3),
written out literally (np.histogram 'sqrt' with range (0, mx), density=True, np.interp, np.linspace,
np.argmin). Writes test/fixtures/calib/threshold/{cases.json,inputs.bin}.
  usage: /usr/bin/python3 scripts/threshold_reference.py
"""
import json
import os
import numpy as np

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'calib', 'threshold')


def compute_threshold(data, bitwidth, bins='sqrt'):
    """Literal original. Returns (threshold, nbins, all_nan)."""
    mn = 0
    mx = np.abs(data).max()
    zed = np.float64(0.0)
    if np.isclose(mx, zed):
        return zed, 0, False
    hist, bin_edges = np.histogram(np.abs(data), bins, range=(mn, mx), density=True)
    hist = hist / np.sum(hist)
    cumsum = np.cumsum(hist)
    n = pow(2, bitwidth - 1)
    threshold = []
    d = []
    if n + 1 > len(bin_edges) - 1:
        return bin_edges[-1], len(bin_edges) - 1, False
    with np.errstate(divide='ignore', invalid='ignore'):
        for i in range(n + 1, len(bin_edges), 1):
            threshold_tmp = (i + 0.5) * (bin_edges[1] - bin_edges[0])
            threshold = np.concatenate((threshold, [threshold_tmp]))
            p = np.copy(cumsum)
            p[(i - 1):] = 1
            x = np.linspace(0.0, 1.0, n)
            xp = np.linspace(0.0, 1.0, i)
            fp = p[:i]
            p_interp = np.interp(x, xp, fp)
            x = np.linspace(0.0, 1.0, i)
            xp = np.linspace(0.0, 1.0, n)
            fp = p_interp
            q_interp = np.interp(x, xp, fp)
            q = np.copy(p)
            q[:i] = q_interp
            d_tmp = np.sum((cumsum - q) * np.log2(cumsum / q))
            d = np.concatenate((d, [d_tmp]))
    th = threshold[np.argmin(d)]
    assert type(th) == np.float64
    return th, len(bin_edges) - 1, bool(np.all(np.isnan(d)))


def main():
    rs = np.random.RandomState(20261122)
    cases = []

    def add(name, arr, bws=(8, 6)):
        cases.append((name, np.asarray(arr, dtype=np.float32).ravel(), bws))

    add('normal_1k', rs.randn(1000), (8, 6, 4))
    add('normal_10k', rs.randn(10000))
    add('normal_40k_scaled', rs.randn(40000) * 3.7 + 0.4)
    add('laplace_20k', rs.laplace(0, 1.5, 20000))
    add('relu_30k', np.maximum(0, rs.randn(30000) * 2.0 + 0.3))
    add('relu_100k', np.maximum(0, rs.randn(50000) * 5.0 - 1.0), (8, 6, 16))
    add('uniform_5k', rs.uniform(-1, 1, 5000))
    add('uniform_pos_empty_first_bin', rs.uniform(0.5, 1.0, 10000))
    add('all_zeros', np.zeros(500))
    add('one_value', [3.5])
    add('constant', np.full(100, -2.0))
    add('fewer_bins_than_levels', rs.randn(300), (8, 6))
    add('huge_outlier', np.concatenate([rs.randn(50000), [1000.0]]))
    add('normal_bw16', rs.randn(40000), (16, 8))
    add('realish_conv', np.where(rs.rand(40000) < 0.6, 0.0, rs.exponential(2.0, 40000)) * (1 + 0.1 * rs.randn(40000)))
    add('negative_heavy', -rs.exponential(1.0, 20000))
    add('tiny_scale', rs.randn(15000) * 1e-4)
    add('large_scale', rs.laplace(0, 1e4, 15000))
    add('integers', np.round(rs.randn(25000) * 20))
    mx = np.float32(7.3)
    nb = 200
    edges = np.linspace(0, mx, nb + 1, dtype=np.float32)
    add('on_edges', np.concatenate([np.tile(edges, 50), rs.uniform(0, float(mx), 40000 - 50 * (nb + 1))]))
    add('gamma_mix', np.concatenate([rs.gamma(0.5, 1.0, 20000), -rs.gamma(2.0, 0.3, 10000)]))
    add('below_isclose', rs.randn(100) * 1e-9)
    add('relu_6bit_only', np.maximum(0, rs.randn(8000)), (6, 2))

    os.makedirs(OUT, exist_ok=True)
    blob = bytearray()
    meta = []
    for name, arr, bws in cases:
        off = len(blob) // 4
        blob += arr.astype('<f4').tobytes()
        a = np.abs(arr)
        entry = {'name': name, 'offset': off, 'length': int(arr.size),
                 'absMax': float(a.max()), 'absMin': float(a.min()), 'results': []}
        mxa = a.max()
        if not np.isclose(mxa, 0):
            hist, e = np.histogram(a, 'sqrt', range=(0, mxa))
            entry['nbins'] = int(hist.size)
            entry['histNonzero'] = [[int(k), int(c)] for k, c in enumerate(hist) if c]
        for p in (99.99, 99.9, 50.0):
            entry.setdefault('percentile', {})[str(p)] = float(np.percentile(a, p))
        for bw in bws:
            th, nbins, all_nan = compute_threshold(arr, bw)
            r = {'bw': bw, 'original': float(th), 'nbins': int(nbins), 'allNaN': all_nan}
            # our port replaces the all-NaN failure with max|x|
            r['expected'] = float(mxa) if all_nan else float(th)
            r['fallback'] = all_nan
            entry['results'].append(r)
        meta.append(entry)
    with open(os.path.join(OUT, 'inputs.bin'), 'wb') as f:
        f.write(bytes(blob))
    with open(os.path.join(OUT, 'cases.json'), 'w') as f:
        json.dump({'generator': 'scripts/threshold_reference.py', 'numpy': np.__version__, 'cases': meta}, f, indent=1)
    print('wrote', len(meta), 'cases,', len(blob), 'bytes')


if __name__ == '__main__':
    main()
