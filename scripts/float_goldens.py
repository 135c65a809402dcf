#!/usr/bin/python3
"""Independent float reference for chaiq's executor (task H4b).

Parses prototxt/caffemodel with protoc-generated classes from the corpus SSD caffe.proto, runs every layer
in PyTorch float64 with Caffe's semantics written out here (not ported from chaiq), and writes
test/fixtures/float/<net>/golden.json (+ small full blobs as .npy). Weights for nets without a caffemodel
and all inputs come from a counter-based hash PRNG that test/forward.test.ts reproduces bit-exactly.

Run: /usr/bin/python3 scripts/float_goldens.py   (needs protoc, numpy, torch, google.protobuf)
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from google.protobuf import text_format

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(os.path.dirname(ROOT), 'shared', 'corpus')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'float')
FULL_MAX = 6000  # blobs up to this many values are stored whole; bigger ones as stats + samples
NSAMPLE = 24

_tmp = tempfile.mkdtemp()
subprocess.check_call(['protoc', '--python_out=' + _tmp, '-I' + os.path.join(CORPUS, 'proto'), 'caffe-ssd.proto'])
sys.path.insert(0, _tmp)
import importlib  # noqa: E402
pb = importlib.import_module('caffe_ssd_pb2')

torch.set_default_dtype(torch.float64)


# ------------------------------------------------------------------ PRNG shared with the TS test
def prng(seed, n):
    """uniform in [-1, 1): lowbias32 hash of (i*0x9E3779B1 + seed*0x85EBCA77 + 1) mod 2^32."""
    i = np.arange(n, dtype=np.uint64)
    m = np.uint64(0xFFFFFFFF)
    x = (i * np.uint64(0x9E3779B1) + np.uint64((seed * 0x85EBCA77 + 1) & 0xFFFFFFFF)) & m
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & m
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & m
    x ^= x >> np.uint64(16)
    return x.astype(np.float64) / 4294967296.0 * 2.0 - 1.0


def random_blob(ltype, li, bi, shape):
    """Synthetic trained blob; the policy is mirrored in test/forward.test.ts (randomBlob)."""
    n = int(np.prod(shape)) if len(shape) else 1
    u = prng(li * 16 + bi + 1, n)
    if ltype in ('Convolution', 'Deconvolution', 'InnerProduct') and bi == 0:
        fan = n / shape[0]
        v = u * math.sqrt(3.0 / fan)
    elif ltype == 'BatchNorm':
        v = [u * 0.2, (1.0 + 0.5 * u) * 2.0, np.full(n, 2.0)][bi]
    elif ltype == 'Scale':
        v = 1.0 + 0.3 * u if bi == 0 else 0.1 * u
    elif ltype == 'PReLU':
        v = 0.25 + 0.1 * u
    elif ltype == 'Normalize':
        v = 10.0 + 5.0 * u
    else:
        v = 0.1 * u
    return np.asarray(v, dtype=np.float32).reshape(shape)


# ------------------------------------------------------------------ net loading
V1_TYPES = {
    'CONVOLUTION': 'Convolution', 'POOLING': 'Pooling', 'INNER_PRODUCT': 'InnerProduct', 'RELU': 'ReLU',
    'SOFTMAX': 'Softmax', 'LRN': 'LRN', 'DROPOUT': 'Dropout', 'CONCAT': 'Concat', 'SPLIT': 'Split',
    'ELTWISE': 'Eltwise', 'SIGMOID': 'Sigmoid', 'TANH': 'TanH', 'FLATTEN': 'Flatten', 'POWER': 'Power',
    'DATA': 'Data', 'ACCURACY': 'Accuracy', 'SOFTMAX_LOSS': 'SoftmaxWithLoss', 'SLICE': 'Slice',
    'ABSVAL': 'AbsVal', 'BNLL': 'BNLL', 'ARGMAX': 'ArgMax', 'EXP': 'Exp', 'DECONVOLUTION': 'Deconvolution',
}


class Layer:
    def __init__(self, name, type_, bottoms, tops, msg):
        self.name, self.type, self.bottoms, self.tops, self.p = name, type_, list(bottoms), list(tops), msg


def load_net(proto_path):
    net = pb.NetParameter()
    text_format.Merge(open(proto_path).read(), net)
    layers, inputs = [], []
    if len(net.input):
        for i, name in enumerate(net.input):
            if len(net.input_shape):
                shape = list(net.input_shape[i].dim)
            else:
                shape = list(net.input_dim[i * 4:i * 4 + 4])
            inputs.append((name, shape))
    for l in net.layer:
        if any(r.HasField('phase') and r.phase != pb.TEST for r in l.include):
            continue
        if any(r.HasField('phase') and r.phase == pb.TEST for r in l.exclude):
            continue
        if l.type == 'Data':  # train/test net: its first top is the image input, the label is not fed
            inputs.append((l.top[0], None))
            continue
        if l.type == 'Input':
            for j, t in enumerate(l.top):
                sh = l.input_param.shape[j if len(l.input_param.shape) > 1 else 0]
                inputs.append((t, list(sh.dim)))
            continue
        layers.append(Layer(l.name, l.type, l.bottom, l.top, l))
    for l in net.layers:
        tname = pb.V1LayerParameter.LayerType.Name(l.type)
        layers.append(Layer(l.name, V1_TYPES[tname], l.bottom, l.top, l))
    return layers, inputs


def blob_array(b):
    if len(b.shape.dim):
        shape = list(b.shape.dim)
    else:
        shape = [b.num, b.channels, b.height, b.width]
    data = np.array(b.data if len(b.data) else b.double_data, dtype=np.float32)
    return data.reshape(shape) if data.size == int(np.prod(shape)) else data


def load_weights(path):
    net = pb.NetParameter()
    net.ParseFromString(open(path, 'rb').read())
    w = {}
    for l in list(net.layer) + list(net.layers):
        if len(l.blobs):
            w[l.name] = [blob_array(b) for b in l.blobs]
    return w


# ------------------------------------------------------------------ layer math (float64 torch)
def T(a):
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def pair(rep, h, w, has_h, dflt):
    if has_h:
        return h, w
    r = list(rep)
    if not r:
        return dflt, dflt
    return (r[0], r[0]) if len(r) == 1 else (r[0], r[1])


def conv_geom(cp):
    kh, kw = pair(cp.kernel_size, cp.kernel_h, cp.kernel_w, cp.HasField('kernel_h'), 0)
    ph, pw = pair(cp.pad, cp.pad_h, cp.pad_w, cp.HasField('pad_h'), 0)
    sh, sw = pair(cp.stride, cp.stride_h, cp.stride_w, cp.HasField('stride_h'), 1)
    d = list(cp.dilation)
    dh, dw = (1, 1) if not d else ((d[0], d[0]) if len(d) == 1 else (d[0], d[1]))
    return kh, kw, ph, pw, sh, sw, dh, dw


def blob_shapes(L, x):
    t = L.type
    if t in ('Convolution', 'Deconvolution'):
        cp = L.p.convolution_param
        kh, kw = conv_geom(cp)[:2]
        c, o, g = x.shape[1], cp.num_output, cp.group
        w = [o, c // g, kh, kw] if t == 'Convolution' else [c, o // g, kh, kw]
        return [w, [o]] if cp.bias_term else [w]
    if t == 'InnerProduct':
        ip = L.p.inner_product_param
        ax = ip.axis if ip.axis >= 0 else ip.axis + x.dim()
        k = int(np.prod(x.shape[ax:]))
        w = [k, ip.num_output] if ip.transpose else [ip.num_output, k]
        return [w, [ip.num_output]] if ip.bias_term else [w]
    if t == 'BatchNorm':
        return [[x.shape[1]], [x.shape[1]], [1]]
    if t == 'Scale':
        sp = L.p.scale_param
        ax = sp.axis if sp.axis >= 0 else sp.axis + x.dim()
        na = x.dim() - ax if sp.num_axes == -1 else sp.num_axes
        s = list(x.shape[ax:ax + na])
        return [s, s] if sp.bias_term else [s]
    if t == 'Bias':
        return [[x.shape[1]]]
    if t == 'PReLU':
        return [[1] if L.p.prelu_param.channel_shared else [x.shape[1]]]
    if t == 'Normalize':
        return [[1] if L.p.norm_param.channel_shared else [x.shape[1]]]
    return []


def pool(x, pp):
    n, c, h, w = x.shape
    if pp.global_pooling:
        kh, kw, ph, pw, sh, sw = h, w, 0, 0, 1, 1
    else:
        kh, kw = pair(pp.kernel_size and [pp.kernel_size] or [], pp.kernel_h, pp.kernel_w, pp.HasField('kernel_h'), 0)
        ph, pw = pair(pp.pad and [pp.pad] or [], pp.pad_h, pp.pad_w, pp.HasField('pad_h'), 0)
        sh, sw = pair([pp.stride] if pp.HasField('stride') else [], pp.stride_h, pp.stride_w, pp.HasField('stride_h'), 1)
    oh = int(math.ceil((h + 2 * ph - kh) / sh)) + 1
    ow = int(math.ceil((w + 2 * pw - kw) / sw)) + 1
    if ph or pw:
        if (oh - 1) * sh >= h + ph:
            oh -= 1
        if (ow - 1) * sw >= w + pw:
            ow -= 1
    y = torch.zeros(n, c, oh, ow)
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * sh - ph, j * sw - pw
            if pp.pool == pb.PoolingParameter.MAX:
                he, we = min(hs + kh, h), min(ws + kw, w)
                hs, ws = max(hs, 0), max(ws, 0)
                y[:, :, i, j] = x[:, :, hs:he, ws:we].amax(dim=(2, 3))
            elif pp.pool == pb.PoolingParameter.AVE:
                he, we = min(hs + kh, h + ph), min(ws + kw, w + pw)
                size = (he - hs) * (we - ws)
                hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
                y[:, :, i, j] = x[:, :, hs:he, ws:we].sum(dim=(2, 3)) / size
            else:
                raise ValueError('pool method')
    return y


def axis_of(a, nd):
    return a + nd if a < 0 else a


def prior_box(L, feat, img):
    p = L.p.prior_box_param
    ars = [1.0]
    for ar in p.aspect_ratio:
        if any(abs(ar - a) < 1e-6 for a in ars):
            continue
        ars.append(ar)
        if p.flip:
            ars.append(1.0 / ar)
    lh, lw = feat.shape[2], feat.shape[3]
    if p.HasField('img_h') or p.HasField('img_w'):
        ih, iw = p.img_h, p.img_w
    elif p.HasField('img_size'):
        ih = iw = p.img_size
    else:
        ih, iw = img.shape[2], img.shape[3]
    if p.HasField('step_h') or p.HasField('step_w'):
        sth, stw = p.step_h, p.step_w
    elif p.HasField('step'):
        sth = stw = p.step
    else:
        sth, stw = np.float32(ih / lh), np.float32(iw / lw)
    boxes = []
    for h in range(lh):
        for w in range(lw):
            cx = np.float32((w + p.offset) * stw)
            cy = np.float32((h + p.offset) * sth)
            for s, mn in enumerate(p.min_size):
                mn = int(mn)  # Caffe: int min_size_ = min_sizes_[s] (bit-exact reference: scripts/priorbox_goldens.py)
                sizes = [(mn, mn)]
                if len(p.max_size):
                    z = np.float32(math.sqrt(mn * int(p.max_size[s])))
                    sizes.append((z, z))
                for ar in ars:
                    if abs(ar - 1) < 1e-6:
                        continue
                    sizes.append((np.float32(mn * math.sqrt(ar)), np.float32(mn / math.sqrt(ar))))
                for bw, bh in sizes:
                    boxes += [(cx - bw / 2.) / iw, (cy - bh / 2.) / ih, (cx + bw / 2.) / iw, (cy + bh / 2.) / ih]
    boxes = np.array(boxes)
    if p.clip:
        boxes = np.clip(boxes, 0, 1)
    var = list(p.variance) or [0.1]
    v = np.full(boxes.size, var[0]) if len(var) == 1 else np.tile(np.array(var), boxes.size // 4)
    return T(np.stack([boxes, v])[None])


def iou(a, b):
    if b[0] > a[2] or b[2] < a[0] or b[1] > a[3] or b[3] < a[1]:
        return 0.0
    ix = [max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]
    size = lambda r: 0.0 if r[2] < r[0] or r[3] < r[1] else (r[2] - r[0]) * (r[3] - r[1])
    i = size(ix)
    return i / (size(a) + size(b) - i)


def detection_output(L, loc, conf, prior):
    p = L.p.detection_output_param
    assert p.share_location and p.code_type == pb.PriorBoxParameter.CENTER_SIZE
    ncls = p.num_classes
    npri = prior.shape[2] // 4
    pr = prior[0, 0].reshape(npri, 4).numpy()
    var = prior[0, 1].reshape(npri, 4).numpy()
    n = loc.shape[0]
    thr = p.confidence_threshold if p.HasField('confidence_threshold') else -3.4e38
    rows = []
    for img in range(n):
        l = loc[img].reshape(npri, 4).numpy()
        pw, ph = pr[:, 2] - pr[:, 0], pr[:, 3] - pr[:, 1]
        pcx, pcy = (pr[:, 0] + pr[:, 2]) / 2, (pr[:, 1] + pr[:, 3]) / 2
        cx = var[:, 0] * l[:, 0] * pw + pcx
        cy = var[:, 1] * l[:, 1] * ph + pcy
        bw = np.exp(var[:, 2] * l[:, 2]) * pw
        bh = np.exp(var[:, 3] * l[:, 3]) * ph
        bx = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
        sc = conf[img].reshape(npri, ncls).numpy().astype(np.float32)
        keep_all = {}
        for c in range(ncls):
            if c == p.background_label_id:
                continue
            cand = [i for i in range(npri) if sc[i, c] > thr]
            cand.sort(key=lambda i: (-sc[i, c], i))
            if p.nms_param.top_k > -1 and p.nms_param.HasField('top_k'):
                cand = cand[:p.nms_param.top_k]
            keep = []
            for i in cand:
                if all(iou(bx[i], bx[k]) <= p.nms_param.nms_threshold for k in keep):
                    keep.append(i)
            keep_all[c] = keep
        total = sum(len(v) for v in keep_all.values())
        if p.keep_top_k > -1 and total > p.keep_top_k:
            pairs = sorted(((sc[i, c], c, i) for c, v in keep_all.items() for i in v), key=lambda t: (-t[0], t[1], t[2]))
            keep_all = {}
            for s_, c, i in pairs[:p.keep_top_k]:
                keep_all.setdefault(c, []).append(i)
        for c in sorted(keep_all):
            for i in keep_all[c]:
                rows.append([img, c, sc[i, c]] + list(bx[i]))
    if not rows:
        out = -np.ones((1, 1, n, 7))
        out[0, 0, :, 0] = np.arange(n)
        return T(out)
    return T(np.array(rows)[None, None])


def forward_layer(L, B, W):
    t = L.type
    x = B[0] if B else None
    if t == 'Convolution':
        cp = L.p.convolution_param
        kh, kw, ph, pw, sh, sw, dh, dw = conv_geom(cp)
        return [F.conv2d(b, T(W[0]), T(W[1]).reshape(-1) if cp.bias_term else None, (sh, sw), (ph, pw), (dh, dw), cp.group) for b in B]
    if t == 'Deconvolution':
        cp = L.p.convolution_param
        kh, kw, ph, pw, sh, sw, dh, dw = conv_geom(cp)
        return [F.conv_transpose2d(b, T(W[0]), T(W[1]).reshape(-1) if cp.bias_term else None, (sh, sw), (ph, pw), 0, cp.group, (dh, dw)) for b in B]
    if t == 'InnerProduct':
        ip = L.p.inner_product_param
        ax = axis_of(ip.axis, x.dim())
        xm = x.reshape(int(np.prod(x.shape[:ax])), -1)
        w = T(W[0]).reshape(-1, ip.num_output) if ip.transpose else T(W[0]).reshape(ip.num_output, -1).t()
        y = xm @ w
        if ip.bias_term:
            y = y + T(W[1]).reshape(-1)
        return [y.reshape(list(x.shape[:ax]) + [ip.num_output])]
    if t == 'Pooling':
        return [pool(x, L.p.pooling_param)]
    if t == 'ReLU':
        s = L.p.relu_param.negative_slope
        return [torch.where(x > 0, x, x * s)]
    if t == 'PReLU':
        a = T(W[0]).reshape(-1)
        a = a.reshape(1, -1, *([1] * (x.dim() - 2))) if a.numel() > 1 else a
        return [torch.where(x > 0, x, x * a)]
    if t == 'Sigmoid':
        return [torch.sigmoid(x)]
    if t == 'TanH':
        return [torch.tanh(x)]
    if t == 'AbsVal':
        return [x.abs()]
    if t == 'ELU':
        return [torch.where(x > 0, x, L.p.elu_param.alpha * (torch.exp(x) - 1))]
    if t == 'BNLL':
        return [torch.log1p(torch.exp(x))]
    if t == 'Exp':
        e = L.p.exp_param
        lb = 1.0 if e.base == -1 else math.log(e.base)
        return [torch.exp(lb * (e.shift + e.scale * x))]
    if t == 'Power':
        pp = L.p.power_param
        return [(pp.shift + pp.scale * x) ** pp.power]
    if t in ('Dropout',):
        return [x]
    if t == 'Split':
        return [x for _ in L.tops]
    if t == 'BatchNorm':
        bp = L.p.batch_norm_param
        if bp.HasField('use_global_stats') and not bp.use_global_stats:
            dims = [0] + list(range(2, x.dim()))
            m = x.mean(dim=dims, keepdim=True)
            v = ((x - m) ** 2).mean(dim=dims, keepdim=True)
            return [(x - m) / torch.sqrt(v + bp.eps)]
        f = float(W[2].reshape(-1)[0])
        sf = 0.0 if f == 0 else 1.0 / f
        sh = [1, -1] + [1] * (x.dim() - 2)
        m = T(W[0]).reshape(sh) * sf
        v = T(W[1]).reshape(sh) * sf
        return [(x - m) / torch.sqrt(v + bp.eps)]
    if t == 'Scale':
        sp = L.p.scale_param
        ax = axis_of(sp.axis, x.dim())
        if len(B) > 1:
            s, bi = B[1], 0
        else:
            s, bi = T(W[0]), 1
        sh = [1] * ax + list(s.shape) + [1] * (x.dim() - ax - s.dim())
        y = x * s.reshape(sh)
        if sp.bias_term:
            y = y + T(W[bi]).reshape(sh)
        return [y]
    if t == 'Bias':
        bp = L.p.bias_param
        ax = axis_of(bp.axis, x.dim())
        b = B[1] if len(B) > 1 else T(W[0])
        sh = [1] * ax + list(b.shape) + [1] * (x.dim() - ax - b.dim())
        return [x + b.reshape(sh)]
    if t == 'Eltwise':
        ep = L.p.eltwise_param
        if ep.operation == pb.EltwiseParameter.SUM:
            co = list(ep.coeff) or [1.0] * len(B)
            return [sum(c * b for c, b in zip(co, B))]
        if ep.operation == pb.EltwiseParameter.PROD:
            y = B[0]
            for b in B[1:]:
                y = y * b
            return [y]
        y = B[0]
        for b in B[1:]:
            y = torch.maximum(y, b)
        return [y]
    if t == 'Concat':
        cp = L.p.concat_param
        ax = cp.concat_dim if cp.HasField('concat_dim') and not cp.HasField('axis') else axis_of(cp.axis, x.dim())
        return [torch.cat(B, ax)]
    if t == 'Slice':
        sp = L.p.slice_param
        ax = sp.slice_dim if sp.HasField('slice_dim') and not sp.HasField('axis') else axis_of(sp.axis, x.dim())
        pts = list(sp.slice_point)
        if pts:
            bounds = [0] + pts + [x.shape[ax]]
            return [x.narrow(ax, bounds[i], bounds[i + 1] - bounds[i]) for i in range(len(L.tops))]
        return list(torch.chunk(x, len(L.tops), ax))
    if t == 'Softmax':
        return [torch.softmax(x, axis_of(L.p.softmax_param.axis, x.dim()))]
    if t == 'Flatten':
        fp = L.p.flatten_param
        a, e = axis_of(fp.axis, x.dim()), axis_of(fp.end_axis, x.dim())
        return [x.reshape(list(x.shape[:a]) + [-1] + list(x.shape[e + 1:]))]
    if t == 'Reshape':
        rp = L.p.reshape_param
        dims = list(rp.shape.dim)
        start = rp.axis if rp.axis >= 0 else x.dim() + rp.axis + 1
        end = x.dim() if rp.num_axes == -1 else start + rp.num_axes
        mid = [x.shape[start + i] if d == 0 else d for i, d in enumerate(dims)]
        return [x.reshape(list(x.shape[:start]) + mid + list(x.shape[end:]))]
    if t == 'Permute':
        order = [axis_of(o, x.dim()) for o in L.p.permute_param.order]
        order += [i for i in range(x.dim()) if i not in order]
        return [x.permute(order).contiguous()]
    if t == 'Crop':
        cp = L.p.crop_param
        ax = axis_of(cp.axis, x.dim())
        offs = list(cp.offset)
        y = x
        for i in range(ax, x.dim()):
            o = 0 if not offs else (offs[0] if len(offs) == 1 else offs[i - ax])
            y = y.narrow(i, o, B[1].shape[i])
        return [y]
    if t == 'LRN':
        lp = L.p.lrn_param
        size, alpha, beta, k = lp.local_size, lp.alpha, lp.beta, lp.k
        sq = x * x
        if lp.norm_region == pb.LRNParameter.ACROSS_CHANNELS:
            pre = (size - 1) // 2
            c = x.shape[1]
            s = torch.zeros_like(x)
            for ch in range(c):
                s[:, ch] = sq[:, max(0, ch - pre):min(c, ch - pre + size)].sum(1)
            return [x * (k + alpha / size * s) ** (-beta)]
        pad = (size - 1) // 2
        avg = F.avg_pool2d(sq, size, 1, pad, count_include_pad=True)
        return [x * (1 + alpha * avg) ** (-beta)]
    if t == 'Normalize':
        np_ = L.p.norm_param
        s = T(W[0]).reshape(-1)
        sc = s[0] if np_.channel_shared else s.reshape(1, -1, 1, 1)
        if np_.across_spatial:
            norm = torch.sqrt((x * x).sum(dim=(1, 2, 3), keepdim=True) + np_.eps)
        else:
            norm = torch.sqrt((x * x).sum(dim=1, keepdim=True) + np_.eps)
        return [x / norm * sc]
    if t == 'PriorBox':
        return [prior_box(L, B[0], B[1] if len(B) > 1 else None)]
    if t == 'DetectionOutput':
        return [detection_output(L, B[0], B[1], B[2])]
    if t == 'Threshold':
        return [(x > L.p.threshold_param.threshold).double()]
    if t == 'Log':
        lp = L.p.log_param
        lb = 1.0 if lp.base == -1 else math.log(lp.base)
        return [torch.log(lp.shift + lp.scale * x) / lb]
    if t == 'Tile':
        tp = L.p.tile_param
        ax = axis_of(tp.axis, x.dim())
        reps = [1] * x.dim()
        reps[ax] = tp.tiles
        return [x.repeat(*reps)]
    if t == 'ArgMax':
        ap = L.p.argmax_param
        assert ap.HasField('axis')
        ax = axis_of(ap.axis, x.dim())
        v, i = torch.sort(x, dim=ax, descending=True, stable=True)
        return [(v if ap.out_max_val else i.double()).narrow(ax, 0, ap.top_k)]
    raise NotImplementedError(t)


# ------------------------------------------------------------------ the nets
M = 'models/'
NETS = [
    # id, prototxt, caffemodel or None, input scale, input shape override
    ('lenet_ahmdtaha', M + 'lenet_mnist_ahmdtaha/mnist_deploy.prototxt', M + 'lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel', 0.5, None),
    ('lenet_everpeace_v1', M + 'lenet_mnist_v1_everpeace/lenet.prototxt', M + 'lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel', 0.5, [2, 1, 28, 28]),
    ('cifar10_quick', M + 'cifar10_quick_v1_everpeace/cifar10_quick.prototxt', M + 'cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel', 60.0, [2, 3, 32, 32]),
    ('cifar10_full', M + 'cifar10_full_v1_everpeace/cifar10_full.prototxt', M + 'cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel', 60.0, None),
    ('resnet20', M + 'cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', M + 'cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel', 0.5, [2, 3, 32, 32]),
    ('mtcnn_det1', M + 'mtcnn_kpzhang93/det1.prototxt', M + 'mtcnn_kpzhang93/det1.caffemodel', 1.0, [1, 3, 40, 33]),
    ('mtcnn_det2', M + 'mtcnn_kpzhang93/det2.prototxt', M + 'mtcnn_kpzhang93/det2.caffemodel', 1.0, [2, 3, 24, 24]),
    ('mtcnn_det3', M + 'mtcnn_kpzhang93/det3.prototxt', M + 'mtcnn_kpzhang93/det3.caffemodel', 1.0, None),
    ('mtcnn_det4', M + 'mtcnn_kpzhang93/det4.prototxt', M + 'mtcnn_kpzhang93/det4.caffemodel', 1.0, None),
    ('ultraface_slim', M + 'ultraface_slim320_linzaer/slim-320.prototxt', M + 'ultraface_slim320_linzaer/slim-320.caffemodel', 1.0, None),
    ('ultraface_rfb', M + 'ultraface_rfb320_linzaer/RFB-320.prototxt', M + 'ultraface_rfb320_linzaer/RFB-320.caffemodel', 1.0, None),
    ('yufacedetect', M + 'yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.prototxt', M + 'yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.caffemodel', 100.0, None),
    ('squeezenet_v1.1', 'prototxt/squeezenet_v1.1.prototxt', None, 1.0, [1, 3, 227, 227]),
    ('mobilenet_v1', 'prototxt/mobilenet_v1.prototxt', None, 1.0, [1, 3, 224, 224]),
    ('googlenet', 'prototxt/bvlc_googlenet.prototxt', None, 1.0, [1, 3, 224, 224]),
    ('mobilenet_ssd', 'prototxt/mobilenet_ssd.prototxt', None, 1.0, None),
]
LOCAL = os.path.join(ROOT, 'test', 'fixtures', 'float', 'nets')
for f in sorted(os.listdir(LOCAL)) if os.path.isdir(LOCAL) else []:
    if f.endswith('.prototxt'):
        NETS.append((f[:-9], os.path.join(LOCAL, f), None, 1.0, None))


def stats(a):
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    n = a.size
    idx = sorted(set(int(round(k * (n - 1) / (NSAMPLE - 1))) for k in range(NSAMPLE))) if n else []
    return {
        'sum': float(a.sum()), 'sumAbs': float(np.abs(a).sum()), 'sumSq': float((a * a).sum()),
        'maxAbs': float(np.abs(a).max()) if n else 0.0,
        'idx': idx, 'val': [float(a[i]) for i in idx],
    }


def run(net_id, proto, weights, in_scale, in_shape):
    path = proto if os.path.isabs(proto) else os.path.join(CORPUS, proto)
    layers, inputs = load_net(path)
    W = load_weights(os.path.join(CORPUS, weights)) if weights else {}
    blobs = {}
    in_desc = []
    for k, (name, shape) in enumerate(inputs):
        shape = in_shape if (in_shape and k == 0) else shape
        x = (prng(1000003 + k, int(np.prod(shape))) * in_scale).astype(np.float32).reshape(shape)
        blobs[name] = T(x)
        in_desc.append({'name': name, 'shape': list(shape), 'seed': 1000003 + k, 'scale': in_scale})
    outdir = os.path.join(OUT, net_id)
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        os.remove(os.path.join(outdir, f))
    recs = []
    random_w = []
    for li, L in enumerate(layers):
        if L.type in ('Silence',):
            continue
        if any(b not in blobs for b in L.bottoms) and L.type in ('Accuracy', 'SoftmaxWithLoss'):
            continue  # needs the label, which inference does not feed
        B = [blobs[b] for b in L.bottoms]
        if weights:
            Wl = W.get(L.name, [])
        else:
            shapes = blob_shapes(L, B[0]) if B else []
            Wl = [random_blob(L.type, li, bi, s) for bi, s in enumerate(shapes)]
            if shapes:
                random_w.append({'layer': L.name, 'type': L.type, 'index': li, 'shapes': shapes})
        tops = forward_layer(L, B, Wl)
        for ti, (tn, tv) in enumerate(zip(L.tops, tops)):
            blobs[tn] = tv
            a = tv.numpy().astype(np.float64)
            rec = {'layer': L.name, 'top': tn, 'i': ti, 'shape': list(a.shape)}
            rec.update(stats(a))
            if a.size <= FULL_MAX:
                fn = '%03d_%d.npy' % (li, ti)
                np.save(os.path.join(outdir, fn), a.astype(np.float32))
                rec['file'] = fn
            recs.append(rec)
    golden = {'net': net_id, 'prototxt': proto if not os.path.isabs(proto) else os.path.relpath(proto, ROOT),
              'weights': weights, 'inputs': in_desc, 'randomWeights': random_w if not weights else None, 'blobs': recs}
    with open(os.path.join(outdir, 'golden.json'), 'w') as f:
        json.dump(golden, f, indent=0)
    print('%-20s %3d layers %4d blobs' % (net_id, len(layers), len(recs)), flush=True)


if __name__ == '__main__':
    only = set(sys.argv[1:])
    for spec in NETS:
        if only and spec[0] not in only:
            continue
        run(*spec)


# ------------------------------------------------------------------ CIFAR-10 subset (PIL = libjpeg decode)
def cifar_goldens(per_class_fixture=25):
    """Accuracy of the 3 CIFAR nets on the 2000-JPEG subset with libjpeg-decoded pixels, and a fixture of the
    first `per_class_fixture` images per class (uint8 RGB planar) with every net's expected top-1."""
    from PIL import Image
    root = os.path.join(CORPUS, 'data', 'cifar10_test_jpg_subset')
    classes = sorted(os.listdir(root))
    files, labels = [], []
    for ci, c in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(root, c))):
            files.append(c + '/' + f)
            labels.append(ci)
    px = np.stack([np.asarray(Image.open(os.path.join(root, f)).convert('RGB')).transpose(2, 0, 1) for f in files])
    labels = np.array(labels)
    mean = np.array(blob_array_file(os.path.join(CORPUS, M + 'cifar10_resnet20_lijianfei/cifar10_mean.binaryproto'))).reshape(3, 32, 32)
    sel = np.array([i for i in range(len(files)) if int(files[i].split('/')[1][:4]) < per_class_fixture])
    out = {'files': [files[i] for i in sel], 'labels': labels[sel].tolist(), 'nets': {}}
    for nid, proto, weights in [
        ('cifar10_quick_v1_everpeace', M + 'cifar10_quick_v1_everpeace/cifar10_quick.prototxt', M + 'cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel'),
        ('cifar10_full_v1_everpeace', M + 'cifar10_full_v1_everpeace/cifar10_full.prototxt', M + 'cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel'),
        ('cifar10_resnet20_lijianfei', M + 'cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', M + 'cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel'),
    ]:
        if 'resnet20' in nid:
            x = (px.astype(np.float32) - np.array([125.3, 122.9, 113.8], dtype=np.float32).reshape(1, 3, 1, 1)) * np.float32(0.00390625)
        else:
            x = px.astype(np.float32) - mean.astype(np.float32)[None]
        layers, inputs = load_net(os.path.join(CORPUS, proto))
        W = load_weights(os.path.join(CORPUS, weights))
        preds, outs = [], []
        for s in range(0, len(files), 500):
            blobs = {inputs[0][0]: T(x[s:s + 500])}
            last = None
            for L in layers:
                B = [blobs[b] for b in L.bottoms if b in blobs]
                if len(B) < len(L.bottoms):
                    continue
                for tn, tv in zip(L.tops, forward_layer(L, B, W.get(L.name, []))):
                    blobs[tn] = tv
                    last = tn
            y = blobs[last].reshape(len(x[s:s + 500]), -1).numpy()
            preds += y.argmax(1).tolist()
            outs += y.tolist()
        preds = np.array(preds)
        acc = float((preds == labels).mean())
        out['nets'][nid] = {'accuracy2000': acc, 'pred': preds[sel].tolist(), 'first10': outs[:10]}
        print('%-28s top-1 on 2000 (libjpeg pixels): %.4f' % (nid, acc), flush=True)
    d = os.path.join(OUT, 'cifar')
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, 'subset_rgb_u8.npy'), px[sel].astype(np.uint8))
    with open(os.path.join(d, 'expected.json'), 'w') as f:
        json.dump(out, f)


def blob_array_file(path):
    b = pb.BlobProto()
    b.ParseFromString(open(path, 'rb').read())
    return blob_array(b)


if __name__ == '__main__' and (not sys.argv[1:] or 'cifar' in sys.argv[1:]):
    cifar_goldens()


def cli_fixtures():
    """A 2-layer net whose conv weights hold a NaN (chaiq forward must warn, naming the layer)."""
    d = os.path.join(OUT, 'cli')
    os.makedirs(d, exist_ok=True)
    proto = ('name: "nan_net"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } } }\n'
             'layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 3 } }\n'
             'layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }\n')
    open(os.path.join(d, 'nan_net.prototxt'), 'w').write(proto)
    net = pb.NetParameter()
    net.name = 'nan_net'
    l = net.layer.add()
    l.name, l.type = 'conv', 'Convolution'
    w = np.linspace(-1, 1, 18).astype(np.float32)
    w[4] = np.nan
    b = l.blobs.add()
    b.shape.dim.extend([2, 1, 3, 3])
    b.data.extend(w.tolist())
    b2 = l.blobs.add()
    b2.shape.dim.extend([2])
    b2.data.extend([0.5, -0.5])
    open(os.path.join(d, 'nan_net.caffemodel'), 'wb').write(net.SerializeToString())


if __name__ == '__main__' and (not sys.argv[1:] or 'cli' in sys.argv[1:]):
    cli_fixtures()
