#!/usr/bin/env python3
"""Independent reference for src/calib/progressive.ts: XportDNN's progressive calibration.

The xfDNN quantizer's executeCalibration (chaidnn-semantics.md §4.2-4.4) written out in numpy, with its own
prototxt reader, caffemodel (protobuf wire format) reader and Caffe float layers; nothing is taken from the
TypeScript. All calibration images form one batch; layers run in prototxt order on the progressively
quantized net; the thresholds are what XportDNN would write (name-keyed dicts read after the whole pass,
§4.6), literally, including where they break a CHaiDNN invariant. ComputeThreshold is the original KL-J
(as in scripts/threshold_reference.py) with chaiq's one deviation: max|x| when every divergence is NaN.

Writes test/fixtures/calib/progressive/reference.json.
  usage: python3 scripts/progressive_reference.py      (numpy only)
"""
import gzip
import json
import os
import re
import struct

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(os.path.dirname(ROOT), 'shared', 'corpus')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'calib', 'progressive')
f32 = np.float32


# ------------------------------------------------------------------ prototxt (text format), generic
def parse_text(text):
    toks = re.findall(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[{}:]|[^\s{}:"\']+', re.sub(r'#[^\n]*', '', text))
    pos = 0

    def msg(end):
        nonlocal pos
        d = {}
        while pos < len(toks) and toks[pos] != end:
            key = toks[pos]
            pos += 1
            if toks[pos] == ':':
                pos += 1
            if toks[pos] == '{':
                pos += 1
                v = msg('}')
                pos += 1
            else:
                v = toks[pos]
                pos += 1
                if v[0] in '"\'':
                    v = v[1:-1]
                else:
                    try:
                        v = int(v)
                    except ValueError:
                        try:
                            v = float(v)
                        except ValueError:
                            pass
            d.setdefault(key, []).append(v)
        return d

    return msg(None)


V1 = {'CONVOLUTION': 'Convolution', 'POOLING': 'Pooling', 'RELU': 'ReLU', 'INNER_PRODUCT': 'InnerProduct',
      'SOFTMAX': 'Softmax', 'DROPOUT': 'Dropout', 'CONCAT': 'Concat', 'ELTWISE': 'Eltwise', 'LRN': 'LRN'}


def one(d, k, default=None):
    return d[k][0] if k in d else default


def load_layers(path):
    net = parse_text(open(path).read())
    layers = []
    if 'input' in net:  # input: + input_dim → an Input layer named "input"
        dims = net.get('input_dim') or one(net, 'input_shape', {}).get('dim')
        layers.append({'name': 'input', 'type': 'Input', 'bottom': [], 'top': [net['input'][0]], 'dims': dims})
    for l in net.get('layer', []) + net.get('layers', []):
        t = l['type'][0]
        t = V1.get(t, t)
        e = {'name': l['name'][0], 'type': t, 'bottom': l.get('bottom', []), 'top': l.get('top', []), 'p': l}
        if t == 'Input':
            e['dims'] = one(l, 'input_param')['shape'][0]['dim']
        layers.append(e)
    return layers


# ------------------------------------------------------------------ caffemodel (protobuf wire format)
def fields(buf):
    i = 0
    n = len(buf)
    while i < n:
        key, i = varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(buf, i)
        elif wt == 1:
            v = buf[i:i + 8]
            i += 8
        elif wt == 2:
            ln, i = varint(buf, i)
            v = buf[i:i + ln]
            i += ln
        elif wt == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError('wire type %d' % wt)
        yield num, wt, v


def varint(buf, i):
    r = 0
    s = 0
    while True:
        b = buf[i]
        i += 1
        r |= (b & 0x7f) << s
        s += 7
        if b < 0x80:
            return r, i


def blob(buf):
    data = []
    for num, wt, v in fields(buf):
        if num == 5:
            data.append(np.frombuffer(v, dtype='<f4') if wt == 2 else np.frombuffer(v, dtype='<f4'))
    return np.concatenate(data).astype(f32) if data else np.zeros(0, f32)


def load_weights(path):
    w = {}
    raw = open(path, 'rb').read()
    for num, wt, v in fields(raw):
        if num not in (100, 2) or wt != 2:
            continue
        name_f, blob_f = (1, 7) if num == 100 else (4, 6)
        name = None
        blobs = []
        for n2, w2, v2 in fields(v):
            if n2 == name_f and w2 == 2:
                name = v2.decode()
            elif n2 == blob_f and w2 == 2:
                blobs.append(blob(v2))
        if blobs:
            w[name] = blobs
    return w


# ------------------------------------------------------------------ Caffe float layers (float64 inside, float32 out)
def conv(x, W, b, p):
    cp = one(p, 'convolution_param')
    k = one(cp, 'kernel_size')
    s = one(cp, 'stride', 1)
    pad = one(cp, 'pad', 0)
    g = one(cp, 'group', 1)
    co = one(cp, 'num_output')
    n, c, h, wd = x.shape
    W = W.reshape(co, c // g, k, k).astype(np.float64)
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = (h + 2 * pad - k) // s + 1
    wo = (wd + 2 * pad - k) // s + 1
    out = np.empty((n, co, ho, wo))
    cg, og = c // g, co // g
    for gi in range(g):
        cols = np.empty((n, cg, k, k, ho, wo))
        for i in range(k):
            for j in range(k):
                cols[:, :, i, j] = xp[:, gi * cg:(gi + 1) * cg, i:i + s * ho:s, j:j + s * wo:s]
        cols = cols.reshape(n, cg * k * k, ho * wo)
        out[:, gi * og:(gi + 1) * og] = np.einsum('ok,nkp->nop', W[gi * og:(gi + 1) * og].reshape(og, -1), cols).reshape(n, og, ho, wo)
    if b is not None and one(cp, 'bias_term', 'true') != 'false':
        out += b.astype(np.float64)[None, :, None, None]
    return out.astype(f32)


def pool(x, p):
    pp = one(p, 'pooling_param')
    method = one(pp, 'pool', 'MAX')
    n, c, h, w = x.shape
    if one(pp, 'global_pooling', 'false') == 'true':
        k, s, pad = h, 1, 0
    else:
        k = one(pp, 'kernel_size')
        s = one(pp, 'stride', 1)
        pad = one(pp, 'pad', 0)
    ho = int(np.ceil((h + 2 * pad - k) / s)) + 1
    wo = int(np.ceil((w + 2 * pad - k) / s)) + 1
    if pad:
        if (ho - 1) * s >= h + pad:
            ho -= 1
        if (wo - 1) * s >= w + pad:
            wo -= 1
    out = np.empty((n, c, ho, wo), np.float64)
    x64 = x.astype(np.float64)
    for i in range(ho):
        for j in range(wo):
            hs, ws = i * s - pad, j * s - pad
            he, we = min(hs + k, h + pad), min(ws + k, w + pad)
            size = (he - hs) * (we - ws)  # Caffe's AVE divisor counts the padding, not beyond it
            hs0, ws0, he0, we0 = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            win = x64[:, :, hs0:he0, ws0:we0]
            out[:, :, i, j] = win.max(axis=(2, 3)) if method == 'MAX' else win.sum(axis=(2, 3)) / size
    return out.astype(f32)


def inner_product(x, W, b, p):
    ip = one(p, 'inner_product_param')
    no = one(ip, 'num_output')
    x2 = x.reshape(x.shape[0], -1).astype(np.float64)
    y = x2 @ W.reshape(no, -1).astype(np.float64).T
    if b is not None and one(ip, 'bias_term', 'true') != 'false':
        y += b.astype(np.float64)
    return y.astype(f32)


def softmax(x):
    e = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(f32)


# ------------------------------------------------------------------ quantize_base primitives (§4.3)
def compute_threshold(data, bitwidth, bins='sqrt'):
    mx = np.abs(data).max()
    if np.isclose(mx, 0):
        return 0.0
    hist, bin_edges = np.histogram(np.abs(data), bins, range=(0, mx), density=True)
    hist = hist / np.sum(hist)
    cumsum = np.cumsum(hist)
    n = pow(2, bitwidth - 1)
    if n + 1 > len(bin_edges) - 1:
        return float(bin_edges[-1])
    threshold = []
    d = []
    with np.errstate(divide='ignore', invalid='ignore'):
        for i in range(n + 1, len(bin_edges), 1):
            threshold.append((i + 0.5) * float(bin_edges[1] - bin_edges[0]))  # float64, as numpy 1.x gave it
            p = np.copy(cumsum)
            p[(i - 1):] = 1
            p_interp = np.interp(np.linspace(0.0, 1.0, n), np.linspace(0.0, 1.0, i), p[:i])
            q_interp = np.interp(np.linspace(0.0, 1.0, i), np.linspace(0.0, 1.0, n), p_interp)
            q = np.copy(p)
            q[:i] = q_interp
            d.append(np.sum((cumsum - q) * np.log2(cumsum / q)))
    d = np.array(d)
    if np.all(np.isnan(d)):
        return float(mx)  # chaiq's fallback (the original returns a tiny threshold here)
    return float(threshold[int(np.argmin(d))])


def float2fixed2float(x, bw, th):
    """clip to ±th, round(x/sf)·sf half to even, all in float32 (numpy 1.x casts the scalars to the array's type)."""
    if th == 0:
        return np.zeros_like(x)
    sf = f32(th / (2.0 ** (bw - 1) - 1))
    x = np.clip(x, -f32(th), f32(th)).astype(f32)
    return (np.round(x / sf).astype(f32) * sf).astype(f32)


def levels(x, bw, th):
    """the integers of float2fixed2float: round(clip(x, ±th)/sf)"""
    if th == 0:
        return np.zeros_like(x)
    sf = f32(th / (2.0 ** (bw - 1) - 1))
    return np.round(np.clip(x, -f32(th), f32(th)).astype(f32) / sf).astype(f32)


def scaled(acc, sf_in, sf_w, b):
    """(sf_in·sf_w[c])·acc + b[c] in float64, to float32: the weighted layer on quantized data, computed on
    its integer levels (exact sums, so independent of the summation order)"""
    shape = (1, -1) + (1,) * (acc.ndim - 2)
    m = (np.float64(sf_in) * sf_w.astype(np.float64)).reshape(shape)
    y = m * acc
    if b is not None:
        y = y + b.astype(np.float64).reshape(shape)
    return y.astype(f32)


def threshold_weights(W):
    return np.abs(W.reshape(W.shape[0], -1)).max(axis=1)


# ------------------------------------------------------------------ executeCalibration (§4.4)
def calibrate(layers, weights, batch, bitwidths):
    _, bw_w, bw_out = bitwidths
    blobs = {}
    th_in, th_out, th_params = {}, {}, {}
    producers = {}  # blob -> the layers that wrote it, in order

    def forward(l):
        t = l['type']
        xs = [blobs[b] for b in l['bottom']]
        if t == 'Input':
            return [batch]
        if t in ('Convolution', 'InnerProduct'):
            w = weights[l['name']]
            # the layer on quantized input and weights: integer levels, one scale per output channel
            f = conv if t == 'Convolution' else inner_product
            acc = f(l['x_levels'], l['w_levels'], None, l['p']).astype(np.float64)
            return [scaled(acc, l['sf_in'], l['sf_w'], w[1] if len(w) > 1 else None)]
        if t == 'ReLU':
            return [np.maximum(xs[0], f32(0))]
        if t == 'Pooling':
            return [pool(xs[0], l['p'])]
        if t == 'Dropout':
            return [xs[0]]
        if t == 'Concat':
            return [np.concatenate(xs, axis=1)]
        if t == 'Eltwise':
            return [np.sum(np.stack([x.astype(np.float64) for x in xs]), axis=0).astype(f32)]
        if t == 'Softmax':
            return [softmax(xs[0])]
        raise ValueError(t)

    def run(lo, hi):
        """net.forward(start=lo, end=hi): layers lo..hi in order"""
        for l in layers[lo:hi + 1]:
            for top, v in zip(l['top'], forward(l)):
                blobs[top] = v

    index = {l['name']: i for i, l in enumerate(layers)}
    for i, l in enumerate(layers):
        t, name = l['type'], l['name']
        for top in l['top']:
            producers.setdefault(top, []).append(i)
        if t == 'Input':
            run(i, i)
            top = l['top'][0]
            th = compute_threshold(blobs[top], bw_out)
            th_out[top] = th
            blobs[top] = float2fixed2float(blobs[top], bw_out, th)
        elif t in ('Convolution', 'InnerProduct'):
            b = l['bottom'][0]
            th_in[name] = th_out[b]
            l['x_levels'] = levels(blobs[b], bw_out, th_in[name])
            l['sf_in'] = f32(th_in[name] / (2.0 ** (bw_out - 1) - 1)) if th_in[name] else f32(0)
            blobs[b] = float2fixed2float(blobs[b], bw_out, th_in[name])
            W = weights[name][0]
            co = one(one(l['p'], 'convolution_param' if t == 'Convolution' else 'inner_product_param'), 'num_output')
            W = W.reshape(co, -1)
            th_params[name] = threshold_weights(W)
            l['w_levels'] = np.stack([levels(W[c], bw_w, th_params[name][c]) for c in range(co)])
            l['sf_w'] = np.array([f32(x / (2.0 ** (bw_w - 1) - 1)) for x in th_params[name]], f32)
            run(i, i)
            top = l['top'][0]
            th_out[top] = compute_threshold(blobs[top], bw_out)
            blobs[top] = float2fixed2float(blobs[top], bw_out, th_out[top])
        elif t == 'ReLU':
            # forward(start=bottom layer, end=relu): the producer re-run on its (quantized) input, then the ReLU
            b = l['bottom'][0]
            start = [p for p in producers[b] if p < i][0]  # the first writer of the blob (the conv of conv+ReLU)
            run(start, i)
            top = l['top'][0]
            th_out[top] = compute_threshold(blobs[top], bw_out)
            blobs[top] = float2fixed2float(blobs[top], bw_out, th_out[top])
        elif t in ('Pooling', 'LRN', 'Dropout'):
            b = l['bottom'][0]
            top = l['top'][0]
            th_in[name] = th_out[b]
            blobs[b] = float2fixed2float(blobs[b], bw_out, th_in[name])
            run(i, i)
            th_out[top] = th_in[name]
        elif t == 'Concat':
            for b in l['bottom']:
                ws = [p for p in producers[b] if p < i]
                run(ws[0], ws[-1])  # regenerate the input in float
            run(i, i)
            top = l['top'][0]
            th = compute_threshold(blobs[top], bw_out)
            blobs[top] = float2fixed2float(blobs[top], bw_out, th)
            th_in[name] = th_out[top] = th
            for b in l['bottom']:
                th_out[b] = th
        elif t == 'Eltwise':
            th = max(th_out[b] for b in l['bottom'])
            th_in[name] = th
            for b in l['bottom'][1:]:
                blobs[b] = float2fixed2float(blobs[b], bw_out, th)
            run(i, i)
            top = l['top'][0]
            th_out[top] = th
            blobs[top] = float2fixed2float(blobs[top], bw_out, th)
        elif t == 'Softmax':
            pass  # "Passing"
        else:
            raise ValueError('not in the reference: ' + t)
    # the blocks as XportDNN writes them (§4.6): read from the dicts after the whole pass
    out = {}
    for l in layers:
        t, name = l['type'], l['name']
        top = l['top'][0] if l['top'] else None
        if t == 'Input':
            out[name] = {'th_layer_out': th_out[top]}
        elif t in ('Convolution', 'InnerProduct'):
            out[name] = {'th_layer_in': th_in[name], 'th_layer_out': th_out[top], 'th_params': [float(x) for x in th_params[name]]}
        elif t == 'ReLU':
            out[name] = {'th_layer_in': th_out[top], 'th_layer_out': th_out[top]}
        elif t in ('Pooling', 'LRN', 'Dropout', 'Concat', 'Eltwise'):
            out[name] = {'th_layer_in': th_in[name], 'th_layer_out': th_out[top]}
    return out


# ------------------------------------------------------------------ inputs (the TS test makes the same)
def lcg(shape, seed, scale=1.0):
    """test/quant-net.ts randTensor: s = s·1664525 + 1013904223 mod 2^32, ((s/2^32)·2 − 1)·scale in float32."""
    n = int(np.prod(shape))
    s = (seed & 0xFFFFFFFF) or 1
    out = np.empty(n, np.float64)
    a, c, m = 1664525, 1013904223, 1 << 32
    cur = s
    for i in range(n):
        cur = (cur * a + c) % m
        out[i] = cur
    return (((out / 2.0 ** 32) * 2 - 1) * scale).astype(f32).reshape(shape)


def pixel_images(n, c, h, w, seed, mean):
    """integer pixels 0..255 from the LCG minus a per-channel mean (what XportDNN's preprocessing gives)"""
    ims = []
    for k in range(n):
        t = lcg([c, h, w], seed + k).astype(np.float64)
        px = np.floor((t + 1) * 127.5)
        ims.append((px - np.asarray(mean, np.float64)[:, None, None]).astype(f32))
    return np.stack(ims)


def mnist(n):
    with gzip.open(os.path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz')) as f:
        raw = f.read()
    _, cnt, h, w = struct.unpack('>IIII', raw[:16])
    px = np.frombuffer(raw, np.uint8, n * h * w, 16).reshape(n, 1, h, w)
    return (px.astype(f32) * f32(0.00390625)).astype(f32)


def fcn5_weights(layers):
    """as test/quant-fcn5.test.ts: conv weights randTensor([n, cin, 3, 3], seed++, 0.3), biases ([n], seed++, 0.1)"""
    w = {}
    seed = 10
    cin = 3
    for l in layers:
        if l['type'] != 'Convolution':
            continue
        n = one(one(l['p'], 'convolution_param'), 'num_output')
        W = lcg([n, cin, 3, 3], seed, 0.3)
        b = lcg([n], seed + 1, 0.1)
        seed += 2
        w[l['name']] = [W, b]
        cin = n
    return w


CASES = [
    # name, deploy, weights (None: generated), inputs, bitwidth sets
    ('lenet', 'models/lenet_mnist_ahmdtaha/mnist_deploy.prototxt', 'models/lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel',
     lambda: mnist(64), [(8, 8, 8), (6, 6, 6)]),
    ('fcn5', 'chaidnn/xportdnn_fcn5_deploy_fp32.prototxt', None,
     lambda: pixel_images(1, 3, 200, 200, 101, [104, 117, 123]), [(6, 6, 6), (8, 6, 8)]),
    ('cifar10_quick', 'models/cifar10_quick_v1_everpeace/cifar10_quick.prototxt', 'models/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel',
     lambda: pixel_images(16, 3, 32, 32, 201, [125, 123, 114]), [(8, 8, 8)]),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    res = {'generator': 'scripts/progressive_reference.py', 'numpy': np.__version__, 'nets': {}}
    for name, deploy, wpath, inputs, bws in CASES:
        layers = load_layers(os.path.join(CORPUS, deploy))
        weights = load_weights(os.path.join(CORPUS, wpath)) if wpath else fcn5_weights(layers)
        batch = inputs()
        entry = {'deploy': deploy, 'batch': list(batch.shape), 'results': {}}
        for bw in bws:
            entry['results'][','.join(map(str, bw))] = calibrate([dict(l) for l in layers], weights, batch, bw)
            print(name, bw, 'done')
        res['nets'][name] = entry
    with open(os.path.join(OUT, 'reference.json'), 'w') as f:
        json.dump(res, f, indent=1)


if __name__ == '__main__':
    main()
