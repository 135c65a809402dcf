#!/usr/bin/python3
"""Bit-exact reference for SSD's PriorBox (weiliu89/caffe, branch ssd, PriorBoxLayer::Forward_cpu).

Written from the C++ types, not from chaiq: min/max sizes are float fields truncated to int, center_x/step are
float32, sqrt of the int product min*max and sqrt(ar) are double, the coordinate expression
(center_x - box_width / 2.) / img_width is double and stored into a float32 blob, aspect ratios are float32
(1./ar rounded to float). Each case's prior_box_param is flat `key: value` text, read here as protobuf does
(float fields rounded to float32, repeated fields in order). Writes test/fixtures/priorbox/golden.json;
test/priorbox.test.ts compares chaiq to it.

Run: python3 scripts/priorbox_goldens.py   (needs numpy)
"""
import json
import math
import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'priorbox')

f32 = np.float32
f64 = np.float64

REPEATED = {'min_size', 'max_size', 'aspect_ratio', 'variance'}
FLOATS = {'min_size', 'max_size', 'aspect_ratio', 'variance', 'step', 'step_h', 'step_w', 'offset'}
DEFAULTS = {'flip': True, 'clip': False, 'offset': f32(0.5), 'img_size': 0, 'img_h': 0, 'img_w': 0,
            'step': f32(0), 'step_h': f32(0), 'step_w': f32(0)}


class Param:
    """PriorBoxParameter from flat text: HasField, repeated lists, defaults of caffe-ssd.proto."""

    def __init__(self, text):
        self.fields = {k: [] for k in REPEATED}
        self.given = set()
        toks = text.split()
        for k, v in zip(toks[0::2], toks[1::2]):
            k = k.rstrip(':')
            val = f32(float(v)) if k in FLOATS else (v == 'true' if k in ('flip', 'clip') else int(v))
            self.given.add(k)
            if k in REPEATED:
                self.fields[k].append(val)
            else:
                self.fields[k] = val

    def HasField(self, k):
        return k in self.given

    def __getattr__(self, k):
        f = self.__dict__['fields']
        return f[k] if k in f else DEFAULTS[k]


def prior_box(p, lh, lw, img_h, img_w):
    min_sizes = [f32(v) for v in p.min_size]
    max_sizes = [f32(v) for v in p.max_size]
    ars = [f32(1.0)]
    for a in p.aspect_ratio:
        ar = f32(a)
        if any(abs(f32(ar - b)) < 1e-6 for b in ars):  # float - float, compared in double
            continue
        ars.append(ar)
        if p.flip:
            ars.append(f32(1.0 / f64(ar)))
    num_priors = len(ars) * len(min_sizes) + len(max_sizes)
    if p.HasField('img_h') or p.HasField('img_w'):
        ih, iw = p.img_h, p.img_w
    elif p.HasField('img_size'):
        ih = iw = p.img_size
    else:
        ih, iw = img_h, img_w
    if p.HasField('step_h') or p.HasField('step_w'):
        sth, stw = f32(p.step_h), f32(p.step_w)
    elif p.HasField('step'):
        sth = stw = f32(p.step)
    else:
        sth = stw = f32(0)
    if stw == 0 or sth == 0:
        stw = f32(f32(iw) / f32(lw))
        sth = f32(f32(ih) / f32(lh))
    off = f32(p.offset)
    out = []

    def put(cx, cy, bw, bh):
        out.append(f32((f64(cx) - f64(bw) / 2.0) / f64(iw)))
        out.append(f32((f64(cy) - f64(bh) / 2.0) / f64(ih)))
        out.append(f32((f64(cx) + f64(bw) / 2.0) / f64(iw)))
        out.append(f32((f64(cy) + f64(bh) / 2.0) / f64(ih)))

    for h in range(lh):
        for w in range(lw):
            cx = f32(f32(f32(w) + off) * stw)
            cy = f32(f32(f32(h) + off) * sth)
            for s in range(len(min_sizes)):
                mn = int(min_sizes[s])  # C++ float -> int truncates
                put(cx, cy, f32(mn), f32(mn))
                if max_sizes:
                    mx = int(max_sizes[s])
                    z = f32(math.sqrt(f64(mn * mx)))
                    put(cx, cy, z, z)
                for ar in ars:
                    if abs(f64(ar) - 1.0) < 1e-6:
                        continue
                    r = math.sqrt(f64(ar))
                    put(cx, cy, f32(mn * r), f32(mn / r))
    boxes = np.array(out, dtype=np.float32)
    if p.clip:
        boxes = np.minimum(np.maximum(boxes, f32(0)), f32(1))
    var = [f32(v) for v in p.variance] or [f32(0.1)]
    v = np.full(boxes.size, var[0], dtype=np.float32) if len(var) == 1 else np.tile(np.array(var, dtype=np.float32), boxes.size // 4)
    assert boxes.size == lh * lw * num_priors * 4
    return np.concatenate([boxes, v])


# (name, prior_box_param text, feature map h, w, image h, w)
CASES = [
    ('plate_512_last', 'min_size: 450.6000061035156 max_size: 492.0 aspect_ratio: 1.0 aspect_ratio: 2.0 flip: false clip: false offset: 0.5', 3, 3, 512, 512),
    ('ssd300_conv4_3', 'min_size: 30.0 max_size: 60.0 aspect_ratio: 2.0 flip: true clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 step: 8.0 offset: 0.5', 4, 5, 300, 300),
    ('mobilenet_ssd_flip', 'min_size: 60.0 max_size: 105.0 aspect_ratio: 2.0 aspect_ratio: 3.0 flip: true clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 offset: 0.5', 5, 5, 300, 300),
    ('fractional_sizes_clip', 'min_size: 21.7 max_size: 45.9 min_size: 33.3 max_size: 70.1 aspect_ratio: 2.0 aspect_ratio: 3.0 aspect_ratio: 0.5 flip: true clip: true', 4, 4, 300, 300),
    ('odd_image_no_step', 'min_size: 17.5 aspect_ratio: 1.6 aspect_ratio: 2.5 flip: false variance: 0.15 offset: 0.3', 5, 7, 333, 479),
    ('img_size_step', 'min_size: 64.0 max_size: 128.0 aspect_ratio: 3.0 img_size: 320 step: 33.3 offset: 0.25', 3, 4, 100, 100),
    ('img_hw_step_hw', 'min_size: 40.0 min_size: 80.9 aspect_ratio: 1.5 aspect_ratio: 0.7 flip: true clip: true img_h: 271 img_w: 413 step_h: 29.7 step_w: 41.3 offset: 0.0 variance: 0.1 variance: 0.2 variance: 0.3 variance: 0.4', 3, 3, 64, 64),
    ('duplicate_ratios_offset1', 'min_size: 10.99 max_size: 19.99 aspect_ratio: 2.0 aspect_ratio: 2.0000001 aspect_ratio: 0.5 aspect_ratio: 1.0 flip: true offset: 1.0', 2, 3, 97, 61),
    ('many_ratios_large', 'min_size: 99.9 max_size: 301.3 aspect_ratio: 1.1 aspect_ratio: 1.7 aspect_ratio: 4.3 aspect_ratio: 7.0 flip: true', 6, 2, 601, 599),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for name, text, lh, lw, ih, iw in CASES:
        p = Param(text)
        top = prior_box(p, lh, lw, ih, iw)
        cases.append({'name': name, 'prior_box_param': text, 'feature': [lh, lw], 'image': [ih, iw],
                      'top': [float(x) for x in top]})
    with open(os.path.join(OUT, 'golden.json'), 'w') as f:
        json.dump({'source': 'scripts/priorbox_goldens.py', 'cases': cases}, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', len(cases), 'cases to', OUT)


if __name__ == '__main__':
    main()
