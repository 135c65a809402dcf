#!/usr/bin/python3
"""Golden integer outputs for chaiq's fixed-point simulator (test/sim-arith.test.ts).

Written independently of src/sim from the formulas in chaidnn-semantics.md §3.2-§3.5, with numpy
integer arithmetic (int64; t = acc*S fits: |acc| < 2^31, S < 2^34 in the cases below). C `float`
steps of CHaiDNN are float32 here too.

Each case is a small net given three ways: prototxt text, the same layers as plain JSON param objects,
and weights; plus the float input and the expected INTEGER value of every blob (last writer wins).

Usage: /usr/bin/python3 scripts/sim_reference.py  → test/fixtures/sim/nets.json
"""
import json
import os
import zlib

import numpy as np

F = np.float32
OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'sim', 'nets.json')


def rha(v):
    """C round(): half away from zero, on float32 values (exact in float64)."""
    v = np.asarray(v, dtype=np.float64)
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def sf_of(th, bw):
    return F(F(th) / F(2 ** (bw - 1) - 1))


def q_xilinx(x, th, bw):
    th = F(th)
    x = np.asarray(x, dtype=F)
    if th == 0:
        return np.zeros(x.shape, np.int64)
    d = np.clip(x, -th, th).astype(F)
    q = rha((d / sf_of(th, bw)).astype(F))
    m = 2 ** (bw - 1) - 1
    return np.clip(q, -m, m)


def q_df(x, bw, fl):
    hi, lo = 2 ** (bw - 1) - 1, -(2 ** (bw - 1))
    x = np.asarray(x, dtype=np.float64)
    d = np.clip(x, lo * 2.0 ** -fl, hi * 2.0 ** -fl)
    return np.clip(rha(d * 2.0 ** fl), lo, hi)


def sat(y, bw):
    return np.clip(y, -(2 ** (bw - 1)), 2 ** (bw - 1) - 1)


def round_shift(t, s):
    t = np.asarray(t, dtype=np.int64)
    if s <= 0:
        return t << (-s)
    return np.sign(t) * ((np.abs(t) + (1 << (s - 1))) >> s)


CLIPS = [0]


def conv_acc(x, w, stride, pad, dil, group, psum18):
    """x (C,H,W) int64, w (O, C/g, kh, kw) int64 → acc (O, OH, OW); order ic → kh → kw per output."""
    C, H, W = x.shape
    O, cpg, kh, kw = w.shape
    OH = (H + 2 * pad - (dil * (kh - 1) + 1)) // stride + 1
    OW = (W + 2 * pad - (dil * (kw - 1) + 1)) // stride + 1
    xp = np.zeros((C, H + 2 * pad, W + 2 * pad), np.int64)
    xp[:, pad:pad + H, pad:pad + W] = x
    acc = np.zeros((O, OH, OW), np.int64)
    opg = O // group
    for o in range(O):
        g = o // opg
        for icl in range(cpg):
            ic = g * cpg + icl
            for a in range(kh):
                for b in range(kw):
                    patch = xp[ic, a * dil: a * dil + stride * (OH - 1) + 1: stride,
                               b * dil: b * dil + stride * (OW - 1) + 1: stride]
                    acc[o] = acc[o] + w[o, icl, a, b] * patch
                    if psum18:
                        CLIPS[0] += int(((acc[o] < -131072) | (acc[o] > 131071)).sum())
                        acc[o] = np.clip(acc[o], -131072, 131071)
    return acc


def pool_out(n, k, pad, s):
    o = int(np.ceil((n + 2 * pad - k) / s)) + 1
    if pad > 0 and (o - 1) * s >= n + pad:
        o -= 1
    return o


def pool(x, method, k, s, pad, bw_out, extra_shift=0):
    C, H, W = x.shape
    OH, OW = pool_out(H, k, pad, s), pool_out(W, k, pad, s)
    y = np.zeros((C, OH, OW), np.int64)
    A = int(F(F(F(1) / F(k * k)) * F(65536)))  # (short)(float)
    for i in range(OH):
        for j in range(OW):
            h0, w0 = i * s - pad, j * s - pad
            win = x[:, max(h0, 0):min(h0 + k, H), max(w0, 0):min(w0 + k, W)]
            if method == 'MAX':
                y[:, i, j] = win.reshape(C, -1).max(axis=1)
            else:
                t = win.reshape(C, -1).sum(axis=1) * A
                y[:, i, j] = sat(round_shift(t, 16 + extra_shift), bw_out)
    return y


class Net:
    def __init__(self, name, mode, bw, psum18=False):
        self.name, self.mode, self.bw, self.psum18 = name, mode, bw, psum18
        self.layers = []  # JSON param objects
        self.weights = {}
        self.rng = np.random.RandomState(zlib.crc32(name.encode()))

    def prec(self, **kw):
        p = dict(kw)
        p['quant_type'] = self.mode
        return p

    def add(self, layer):
        self.layers.append(layer)

    def prototxt(self):
        def fmt(v):
            if isinstance(v, str):
                return '"%s"' % v if not v.isupper() else v
            if isinstance(v, bool):
                return 'true' if v else 'false'
            if isinstance(v, float):
                return repr(v)
            return str(v)

        def emit(obj, ind):
            out = []
            for k, v in obj.items():
                if isinstance(v, dict):
                    out.append('%s%s {' % (ind, k))
                    out += emit(v, ind + '  ')
                    out.append('%s}' % ind)
                elif isinstance(v, list):
                    for e in v:
                        if isinstance(e, dict):
                            out.append('%s%s {' % (ind, k))
                            out += emit(e, ind + '  ')
                            out.append('%s}' % ind)
                        else:
                            out.append('%s%s: %s' % (ind, k, fmt(e)))
                else:
                    out.append('%s%s: %s' % (ind, k, fmt(v)))
            return out

        lines = ['name: "%s"' % self.name]
        for l in self.layers:
            lines.append('layer {')
            lines += emit(l, '  ')
            lines.append('}')
        return '\n'.join(lines) + '\n'


def f32list(a):
    return [float(v) for v in np.asarray(a, dtype=F).ravel()]


def run(net, x):
    """Independent executor of the small nets: integers between layers, ReLU fused into its producer."""
    mode, bw = net.mode, net.bw
    ints = {}
    blobs_float = {'data': x}
    layers = net.layers
    for li, l in enumerate(layers):
        t = l['type']
        p = l.get('precision_param', {})
        if t == 'Input':
            continue
        if t == 'ReLU':
            ints[l['top'][0]] = np.maximum(ints[l['bottom'][0]], 0)
            continue
        fused_relu = (li + 1 < len(layers) and layers[li + 1]['type'] == 'ReLU'
                      and layers[li + 1]['bottom'][0] == l['top'][0])
        ins = []
        for b in l['bottom']:
            if b in ints:
                ins.append(ints[b])
            elif mode == 'Xilinx':
                ins.append(q_xilinx(blobs_float[b], p['th_layer_in'], p['bw_layer_in']))
            else:
                ins.append(q_df(blobs_float[b], p['bw_layer_in'], p['fl_layer_in']))
        if t == 'Convolution':
            cp = l['convolution_param']
            W = net.weights[l['name']][0]
            B = net.weights[l['name']][1] if len(net.weights[l['name']]) > 1 else None
            O = W.shape[0]
            if mode == 'Xilinx':
                wq = np.stack([q_xilinx(W[o], p['th_params'][o], p['bw_params']) for o in range(O)])
                bq = q_xilinx(B, p['th_layer_out'], p['bw_layer_out']) if B is not None else np.zeros(O, np.int64)
                sf_in = sf_of(p['th_layer_in'], p['bw_layer_in'])
                sf_out = sf_of(p['th_layer_out'], p['bw_layer_out'])
                S = np.array([rha(F(F(F(sf_of(p['th_params'][o], p['bw_params']) * sf_in) / sf_out) * F(2 ** 22)))
                              for o in range(O)], np.int64)
            else:
                wq = q_df(W, p['bw_params'], p['fl_params'])
                ipf, wf, opf = p['fl_layer_in'], p['fl_params'], p['fl_layer_out']
                if B is not None:
                    b1 = q_df(B, p['bw_layer_out'], opf).astype(np.float64) * 2.0 ** -opf
                    bint = np.trunc(b1 * 2.0 ** (ipf + wf)).astype(np.int64)
                else:
                    bint = np.zeros(O, np.int64)
            acc = conv_acc(ins[0], wq, cp.get('stride', 1), cp.get('pad', 0), cp.get('dilation', 1),
                           cp.get('group', 1), net.psum18)
            if mode == 'Xilinx':
                tt = acc * S[:, None, None] + (bq * (1 << 22))[:, None, None]
                y = round_shift(tt, 22)
            else:
                y = round_shift(acc + bint[:, None, None], ipf + wf - opf)
            y = sat(y, p['bw_layer_out'])
            if fused_relu:
                y = np.maximum(y, 0)
            ints[l['top'][0]] = y
        elif t == 'Pooling':
            pp = l['pooling_param']
            extra = p['fl_layer_in'] - p['fl_layer_out'] if mode == 'DynamicFixed' and pp['pool'] == 'AVE' else 0
            ints[l['top'][0]] = pool(ins[0], pp['pool'], pp['kernel_size'], pp.get('stride', 1), pp.get('pad', 0),
                                     p.get('bw_layer_out', bw), extra)
        elif t == 'Eltwise':
            y = sat(sum(ins), p['bw_layer_out'])
            if fused_relu:
                y = np.maximum(y, 0)
            ints[l['top'][0]] = y
        elif t == 'Concat':
            ints[l['top'][0]] = np.concatenate(ins, axis=0)
        else:
            raise ValueError(t)
    return ints


def build_cases():
    cases = []

    def xil_net(name, bw, psum18=False, big_s=False):
        n = Net(name, 'Xilinx', bw, psum18)
        r = n.rng
        C, H, W = 3, 9, 9
        x = (r.randn(1, C, H, W) * 40).astype(F)
        th_in = F(90.0)
        n.add({'name': 'data', 'type': 'Input', 'top': ['data'],
               'input_param': {'shape': {'dim': [1, C, H, W]}},
               'precision_param': {'bw_layer_out': bw, 'th_layer_out': float(th_in)}})

        def conv(name, bottom, top, cin, cout, k, stride, pad, group, th_in, th_out, dil=1, wscale=0.2, relu=True,
                 split_sign=False):
            Wt = (r.randn(cout, cin // group, k, k) * wscale).astype(F)
            if split_sign:  # positive then negative taps: the 18-bit running sum clips, then comes back
                h = cin // group // 2
                Wt[:, :h] = np.abs(Wt[:, :h])
                Wt[:, h:] = -np.abs(Wt[:, h:]) * 0.5
            Bt = (r.randn(cout) * th_out * 0.3).astype(F)
            thp = [float(F(np.abs(Wt[o]).max() * (0.8 if o % 2 else 1.0))) for o in range(cout)]
            if big_s:
                thp = [t * 600.0 for t in thp]
            n.weights[name] = [Wt, Bt]
            cp = {'num_output': cout, 'kernel_size': k}
            if pad:
                cp['pad'] = pad
            if stride != 1:
                cp['stride'] = stride
            if group != 1:
                cp['group'] = group
            if dil != 1:
                cp['dilation'] = dil
            n.add({'name': name, 'type': 'Convolution', 'bottom': [bottom], 'top': [top],
                   'convolution_param': cp,
                   'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, bw_params=bw,
                                             th_layer_in=float(th_in), th_layer_out=float(th_out), th_params=thp)})
            if relu:
                n.add({'name': name + '_relu', 'type': 'ReLU', 'bottom': [top], 'top': [top],
                       'precision_param': {'bw_layer_in': bw, 'bw_layer_out': bw,
                                           'th_layer_in': float(th_out), 'th_layer_out': float(th_out)}})

        t1, t2 = F(25.5), F(14.25)
        conv('conv1', 'data', 'conv1', 3, 8, 3, 1, 1, 1, th_in, t1, wscale=0.08)
        conv('dw2', 'conv1', 'dw2', 8, 8, 3, 1, 1, 8, t1, t2, wscale=0.5)                # depthwise
        conv('pw3', 'dw2', 'pw3', 8, 8, 1, 1, 0, 1, t2, t2, wscale=0.4, relu=False)
        conv('conv4', 'conv1', 'conv4', 8, 8, 5, 1, 2, 1, t1, t2, wscale=0.1, relu=False)  # 5x5 pad 2
        n.add({'name': 'add5', 'type': 'Eltwise', 'bottom': ['pw3', 'conv4'], 'top': ['add5'],
               'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, th_layer_in=float(t2), th_layer_out=float(t2))})
        n.add({'name': 'add5_relu', 'type': 'ReLU', 'bottom': ['add5'], 'top': ['add5']})
        n.add({'name': 'maxp', 'type': 'Pooling', 'bottom': ['add5'], 'top': ['maxp'],
               'pooling_param': {'pool': 'MAX', 'kernel_size': 3, 'stride': 2},
               'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, th_layer_in=float(t2), th_layer_out=float(t2))})
        n.add({'name': 'avep', 'type': 'Pooling', 'bottom': ['add5'], 'top': ['avep'],
               'pooling_param': {'pool': 'AVE', 'kernel_size': 3, 'stride': 2},
               'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, th_layer_in=float(t2), th_layer_out=float(t2))})
        n.add({'name': 'cat', 'type': 'Concat', 'bottom': ['maxp', 'avep'], 'top': ['cat'],
               'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, th_layer_in=float(t2), th_layer_out=float(t2))})
        conv('conv6', 'cat', 'conv6', 16, 6, 3, 2, 1, 1, t2, F(7.0) if not psum18 else F(120.0), dil=1, wscale=0.15,
             split_sign=psum18)
        n.add({'name': 'gap', 'type': 'Pooling', 'bottom': ['conv6'], 'top': ['gap'],
               'pooling_param': {'pool': 'AVE', 'kernel_size': 2, 'stride': 1},
               'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, th_layer_in=7.0 if not psum18 else 120.0,
                                         th_layer_out=7.0 if not psum18 else 120.0)})
        return n, x

    def df_net(name, bw, fls):
        ipf, wf, opf = fls
        n = Net(name, 'DynamicFixed', bw)
        r = n.rng
        C, H, W = 2, 8, 8
        x = (r.randn(1, C, H, W) * 2 ** (bw - 2 - ipf)).astype(F)
        n.add({'name': 'data', 'type': 'Input', 'top': ['data'], 'input_param': {'shape': {'dim': [1, C, H, W]}},
               'precision_param': {'bw_layer_out': bw, 'fl_layer_out': ipf, 'quant_type': 'DynamicFixed'}})

        def conv(name, bottom, top, cin, cout, k, stride, pad, group, fin, fout, relu):
            Wt = (r.randn(cout, cin // group, k, k) * 2 ** (bw - 5 - wf)).astype(F)
            Bt = (r.randn(cout) * 2 ** (bw - 3 - fout)).astype(F)
            n.weights[name] = [Wt, Bt]
            cp = {'num_output': cout, 'kernel_size': k, 'pad': pad, 'stride': stride, 'group': group}
            n.add({'name': name, 'type': 'Convolution', 'bottom': [bottom], 'top': [top], 'convolution_param': cp,
                   'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, bw_params=bw, fl_layer_in=fin,
                                             fl_layer_out=fout, fl_params=wf)})
            if relu:
                n.add({'name': name + '_relu', 'type': 'ReLU', 'bottom': [top], 'top': [top]})

        conv('conv1', 'data', 'conv1', 2, 4, 3, 1, 1, 1, ipf, opf, True)
        conv('conv2', 'conv1', 'conv2', 4, 4, 3, 2, 0, 2, opf, opf + 3, False)   # shift may go ≤ 0
        conv('conv3', 'conv1', 'conv3', 4, 4, 1, 1, 0, 1, opf, opf, False)
        n.add({'name': 'avep', 'type': 'Pooling', 'bottom': ['conv3'], 'top': ['avep'],
               'pooling_param': {'pool': 'AVE', 'kernel_size': 2, 'stride': 2},
               'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, fl_layer_in=opf, fl_layer_out=opf)})
        n.add({'name': 'maxp', 'type': 'Pooling', 'bottom': ['conv3'], 'top': ['maxp'],
               'pooling_param': {'pool': 'MAX', 'kernel_size': 2, 'stride': 2}})
        n.add({'name': 'add', 'type': 'Eltwise', 'bottom': ['avep', 'maxp'], 'top': ['add'],
               'precision_param': n.prec(bw_layer_in=bw, bw_layer_out=bw, fl_layer_in=opf, fl_layer_out=opf)})
        return n, x

    specs = [
        lambda: xil_net('xilinx8', 8),
        lambda: xil_net('xilinx6', 6),
        lambda: xil_net('xilinx8_psum18', 8, psum18=True),
        lambda: xil_net('xilinx8_bigS', 8, big_s=True),
        lambda: df_net('dynfixed8', 8, (2, 5, 2)),
        lambda: df_net('dynfixed6', 6, (1, 4, 1)),
        lambda: df_net('dynfixed8_negshift', 8, (0, 1, 4)),
    ]
    for mk in specs:
        n, x = mk()
        CLIPS[0] = 0
        ints = run(n, x[0])
        if n.psum18:
            print(n.name, 'psum18 clip events:', CLIPS[0])
        cases.append({
            'name': n.name, 'mode': n.mode, 'bw': n.bw, 'psum18': n.psum18,
            'prototxt': n.prototxt(),
            'layers': n.layers,
            'weights': {k: [{'shape': list(a.shape), 'data': f32list(a)} for a in v] for k, v in n.weights.items()},
            'input': {'shape': list(x.shape), 'data': f32list(x)},
            'expected': {k: {'shape': [1] + list(v.shape), 'data': [int(e) for e in v.ravel()]} for k, v in ints.items()},
        })
    return cases


def prim_cases():
    """Primitive-level goldens: quantizers, multipliers, avg-pool multiplier, requant with huge t."""
    r = np.random.RandomState(7)
    x = np.concatenate([(r.randn(200) * 30).astype(F), F([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 300, -300])])
    out = {'x': f32list(x), 'quant': [], 'avg': [], 'requant': []}
    for th, bw in [(90.0, 8), (90.0, 6), (0.37376704812, 8), (151.077041626, 6), (1.0, 8), (0.0, 8)]:
        out['quant'].append({'th': th, 'bw': bw, 'q': [int(v) for v in q_xilinx(x, th, bw)]})
    for bw, fl in [(8, 2), (6, 1), (8, -1), (8, 6)]:
        out['quant'].append({'bw': bw, 'fl': fl, 'q': [int(v) for v in q_df(x, bw, fl)]})
    for k in [2, 3, 5, 7]:
        out['avg'].append({'k': k, 'A': int(F(F(F(1) / F(k * k)) * F(65536)))})
    acc = np.array([0, 1, -1, 123456, -123456, 2 ** 30, -(2 ** 30), 2 ** 31 - 1], np.int64)
    for S, bq, bw in [(3000000, 5, 8), (2 ** 23 + 17, -7, 8), (2 ** 33 + 5, 3, 6)]:
        y = sat(round_shift(acc * S + bq * (1 << 22), 22), bw) if S < 2 ** 31 else \
            sat(np.array([int(np.sign(v)) * ((abs(v) + (1 << 21)) >> 22) for v in
                          [int(a) * S + bq * (1 << 22) for a in acc]], dtype=object).astype(np.int64), bw)
        out['requant'].append({'S': S, 'bq': bq, 'bw': bw, 'acc': [int(a) for a in acc], 'y': [int(v) for v in y]})
    return out


if __name__ == '__main__':
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    data = {'generator': 'scripts/sim_reference.py', 'cases': build_cases(), 'primitives': prim_cases()}
    with open(OUT, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
    print('wrote', OUT, os.path.getsize(OUT), 'bytes')
