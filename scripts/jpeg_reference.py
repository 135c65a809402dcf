#!/usr/bin/python3
"""JPEG decoding goldens from PIL (libjpeg-turbo, default settings: JDCT_ISLOW + fancy upsampling), the decoder
caffe.io / OpenCV / the CIFAR reference used.

Writes test/fixtures/jpeg/:
  - synthetic small JPEGs (odd sizes, 4:4:4 / 4:2:2 / 4:2:0, progressive, grayscale, chroma width <= 2) encoded
    by PIL, so every upsampling path of libjpeg-turbo's jdsample.c is exercised;
  - goldens.json: per image {file, w, h, mode, sha256 of the RGB bytes (gray expanded to 3 equal channels)},
    plus the full RGB pixels (base64) of the small ones.
Corpus files are referenced as 'corpus:<path relative to /work/shared/corpus>'.

Run: /usr/bin/python3 scripts/jpeg_reference.py
"""
import base64
import glob
import hashlib
import json
import os

import numpy as np
from PIL import Image, features

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CORPUS = os.path.abspath(os.path.join(REPO, '..', 'shared', 'corpus'))
OUT = os.path.join(REPO, 'test', 'fixtures', 'jpeg')


def pattern(w, h, seed):
    """Colourful test pattern: gradients, hard colour edges, saturated patches and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 255 * (x / max(w - 1, 1))
    g = 255 * (y / max(h - 1, 1))
    b = 127 + 120 * np.sin((x + 2 * y) / 3.0)
    img = np.stack([r, g, b], -1)
    # hard edges: a red/blue checkerboard in one quadrant, pure colours elsewhere
    cb = ((x // 3 + y // 3) % 2 == 0) & (x < w / 2) & (y < h / 2)
    img[cb] = [255, 0, 0]
    img[~cb & (x < w / 2) & (y < h / 2)] = [0, 0, 255]
    img[(x > 2 * w / 3) & (y > 2 * h / 3)] = [0, 255, 0]
    img += rng.normal(0, 12, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


def synthetic():
    """(name, PIL image, save kwargs)"""
    cases = []
    for (w, h) in [(37, 23), (16, 16), (5, 5), (2, 3), (3, 7), (4, 9), (1, 1), (33, 17)]:
        for sub in (0, 1, 2):
            cases.append(('s%d_%dx%d.jpg' % (sub, w, h), Image.fromarray(pattern(w, h, w * 100 + h)),
                          dict(quality=75, subsampling=sub)))
    big = Image.fromarray(pattern(61, 45, 7))
    cases.append(('q100_s2_61x45.jpg', big, dict(quality=100, subsampling=2)))
    cases.append(('q20_s2_61x45.jpg', big, dict(quality=20, subsampling=2)))
    cases.append(('q5_s1_61x45.jpg', big, dict(quality=5, subsampling=1)))
    cases.append(('prog_s2_61x45.jpg', big, dict(quality=80, subsampling=2, progressive=True)))
    cases.append(('prog_s0_37x23.jpg', Image.fromarray(pattern(37, 23, 3)), dict(quality=90, subsampling=0, progressive=True)))
    gray = Image.fromarray(pattern(29, 19, 11)).convert('L')
    cases.append(('gray_29x19.jpg', gray, dict(quality=75)))
    cases.append(('gray_prog_29x19.jpg', gray, dict(quality=60, progressive=True)))
    return cases


def entry(file_id, path, full):
    im = Image.open(path)
    im.load()
    mode = im.mode
    rgb = np.asarray(im.convert('RGB'), dtype=np.uint8)
    e = {'file': file_id, 'w': im.size[0], 'h': im.size[1], 'mode': mode,
         'progressive': bool(im.info.get('progressive', 0)),
         'sha256': hashlib.sha256(rgb.tobytes()).hexdigest()}
    if full:
        e['rgb'] = base64.b64encode(rgb.tobytes()).decode('ascii')
    return e


def main():
    os.makedirs(OUT, exist_ok=True)
    out = []
    for name, im, kw in synthetic():
        p = os.path.join(OUT, name)
        im.save(p, 'JPEG', **kw)
        out.append(entry(name, p, True))
    for name in ('s1_37x23.jpg', 's1_5x5.jpg', 's1_2x3.jpg'):
        # no encoder option for 4:4:0 (h1v2): turn a 4:2:2 file into one by transposing its SOF (same MCU
        # sequence: 2 luma blocks, Cb, Cr), swapping W/H and the luma sampling factors 2x1 -> 1x2
        b = bytearray(open(os.path.join(OUT, name), 'rb').read())
        i = b.index(b'\xff\xc0')
        h, w = (b[i + 5] << 8) | b[i + 6], (b[i + 7] << 8) | b[i + 8]
        b[i + 5:i + 9] = bytes([w >> 8, w & 255, h >> 8, h & 255])
        assert b[i + 11] == 0x21
        b[i + 11] = 0x12
        t = 's440_%dx%d.jpg' % (h, w)
        open(os.path.join(OUT, t), 'wb').write(bytes(b))
        out.append(entry(t, os.path.join(OUT, t), True))
    # 4 components (Adobe CMYK): not decoded the libjpeg way (chaiq falls back to jpeg-js); size only
    Image.fromarray(pattern(9, 6, 5)).convert('CMYK').save(os.path.join(OUT, 'cmyk_9x6.jpg'), 'JPEG', quality=90)
    fallback = [{'file': 'cmyk_9x6.jpg', 'w': 9, 'h': 6}]
    others = sorted(glob.glob(os.path.join(CORPUS, 'images', '*.jpg'))) + \
        sorted(glob.glob(os.path.join(CORPUS, 'models', 'mtcnn_kpzhang93', '*.jpg')))
    for p in others:
        out.append(entry('corpus:' + os.path.relpath(p, CORPUS), p, False))
    cifar = sorted(glob.glob(os.path.join(CORPUS, 'data', 'cifar10_test_jpg_subset', '*', '*.jpg')))
    for i, p in enumerate(cifar[::40]):  # 50 images, 5 per class
        out.append(entry('corpus:' + os.path.relpath(p, CORPUS), p, i % 5 == 0))
    # all 2000 CIFAR JPEGs in class-folder order (the order of the accuracy runs): one hash of the RGB bytes,
    # so a fast test proves chaiq sees exactly the pixels behind the 73.05 / 78.90 / 81.20 % reference figures
    h = hashlib.sha256()
    for p in cifar:
        h.update(np.asarray(Image.open(p).convert('RGB'), dtype=np.uint8).tobytes())
    cifar_all = {'root': 'corpus:data/cifar10_test_jpg_subset', 'count': len(cifar), 'sha256': h.hexdigest()}
    doc = {'decoder': 'PIL %s, libjpeg-turbo %s (default: JDCT_ISLOW, fancy upsampling)'
           % (Image.__version__, features.version('jpg')), 'cifar2000': cifar_all, 'fallback': fallback, 'images': out}
    with open(os.path.join(OUT, 'goldens.json'), 'w') as f:
        json.dump(doc, f, indent=0)
        f.write('\n')
    print('%d images -> %s' % (len(out), OUT))


if __name__ == '__main__':
    main()
