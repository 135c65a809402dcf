#!/usr/bin/python3
"""Golden fixtures for src/io/images.ts (needs Debian python3-skimage 0.19, python3-pil, numpy).

caffe.io.load_image / resize_image / Transformer.preprocess as in BVLC caffe python/caffe/io.py, with
skimage.transform.resize(order=1, mode='constant', anti_aliasing=False) — the 2018 (skimage <= 0.15)
behaviour XportDNN ran with (no Gaussian pre-blur when downscaling).
Writes test/fixtures/calib/images/{resize.json, preprocess.json, *.png}.
  usage: /usr/bin/python3 scripts/resize_reference.py
"""
import json
import os
import numpy as np
import skimage
import skimage.io
from skimage.transform import resize
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
OUT = os.path.join(ROOT, 'test', 'fixtures', 'calib', 'images')
CORPUS = os.path.abspath(os.path.join(ROOT, '..', 'shared', 'corpus'))


def load_image(filename, color=True):
    img = skimage.img_as_float(skimage.io.imread(filename, as_gray=not color)).astype(np.float32)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return img


def resize_image(im, new_dims, interp_order=1):
    im_min, im_max = im.min(), im.max()
    if im_max > im_min:
        im_std = (im - im_min) / (im_max - im_min)
        resized_std = resize(im_std, new_dims, order=interp_order, mode='constant', anti_aliasing=False)
        resized_im = resized_std * (im_max - im_min) + im_min
    else:
        ret = np.empty((new_dims[0], new_dims[1], im.shape[-1]), dtype=np.float32)
        ret.fill(im_min)
        return ret
    return resized_im.astype(np.float32)


def preprocess(img, dims, transpose=(2, 0, 1), channel_swap=(2, 1, 0), raw_scale=255.0,
               mean=(104.0, 117.0, 123.0), input_scale=1.0):
    caffe_in = img.astype(np.float32, copy=False)
    if caffe_in.shape[:2] != tuple(dims[1:]):
        caffe_in = resize_image(caffe_in, dims[1:])
    caffe_in = caffe_in.transpose(transpose)
    if caffe_in.shape[0] == 3 and channel_swap is not None:
        caffe_in = caffe_in[list(channel_swap), :, :]
    caffe_in *= raw_scale
    m = np.array(mean)
    caffe_in -= m[:, np.newaxis, np.newaxis] if m.size > 1 else m
    caffe_in *= input_scale
    return caffe_in


def main():
    os.makedirs(OUT, exist_ok=True)
    rs = np.random.RandomState(7)
    resize_cases = []
    for (h, w, c, H, W) in [(5, 7, 3, 3, 4), (4, 4, 3, 9, 6), (10, 13, 1, 10, 5), (2, 3, 3, 7, 7),
                            (6, 6, 3, 6, 6), (17, 11, 3, 8, 23), (3, 3, 1, 3, 8)]:
        im = (rs.rand(h, w, c) * 3 - 1).astype(np.float32)
        out = resize_image(im, (H, W))
        resize_cases.append({'in': [h, w, c], 'out': [H, W], 'src': im.ravel().tolist(), 'expected': out.ravel().tolist()})
    const = np.full((4, 5, 3), 0.25, np.float32)
    resize_cases.append({'in': [4, 5, 3], 'out': [2, 2], 'src': const.ravel().tolist(),
                         'expected': resize_image(const, (2, 2)).ravel().tolist()})
    with open(os.path.join(OUT, 'resize.json'), 'w') as f:
        json.dump({'generator': 'scripts/resize_reference.py', 'skimage': skimage.__version__, 'cases': resize_cases}, f)

    # small PNGs in every colour type, and what caffe.io.load_image makes of them
    base = (rs.rand(4, 5, 4) * 255).astype(np.uint8)
    pngs = {
        'rgb.png': Image.fromarray(base[:, :, :3], 'RGB'),
        'rgba.png': Image.fromarray(base, 'RGBA'),
        'gray.png': Image.fromarray(base[:, :, 0], 'L'),
        'gray_alpha.png': Image.fromarray(base[:, :, :2], 'LA'),
        'palette.png': Image.fromarray(base[:, :, :3], 'RGB').convert('P', palette=Image.ADAPTIVE, colors=7),
    }
    g16 = (rs.rand(4, 5) * 65535).astype(np.uint16)
    pngs['gray16.png'] = Image.fromarray(g16)
    loads = {}
    for name, im in pngs.items():
        p = os.path.join(OUT, name)
        im.save(p)
        arr = load_image(p)
        if name == 'gray_alpha.png':
            # skimage gives (H, W, 2): load_image keeps 2 channels (caffe would fail later); we take the gray
            # channel tiled to RGB, so record that instead
            arr = np.tile(arr[:, :, :1], (1, 1, 3))
        loads[name] = {'shape': list(arr.shape), 'data': arr.ravel().tolist()}

    pre_cases = []

    def sample(x):
        flat = x.ravel()
        idx = list(range(0, flat.size, max(1, flat.size // 1500)))
        return {'shape': list(x.shape), 'idx': idx, 'values': [float(flat[i]) for i in idx],
                'sum': float(flat.astype(np.float64).sum())}

    camvid = os.path.join(CORPUS, 'images', 'camvid_0001TP_008550.png')
    annot = os.path.join(CORPUS, 'images', 'camvid_0001TP_008550_annot.png')
    catg = os.path.join(CORPUS, 'images', 'cat_gray_caffe.jpg')
    cifar = os.path.join(CORPUS, 'data', 'cifar10_test_jpg_subset', 'cat', '0000.jpg')
    pre_cases.append({'file': 'images/camvid_0001TP_008550.png', 'dims': [3, 224, 224], 'exact': True,
                      **sample(preprocess(load_image(camvid), (3, 224, 224)))})
    pre_cases.append({'file': 'images/camvid_0001TP_008550.png', 'dims': [3, 400, 500], 'exact': True,
                      'rawScale': 1.0, 'mean': [0.5], 'inputScale': 2.0, 'channelSwap': [0, 1, 2],
                      **sample(preprocess(load_image(camvid), (3, 400, 500), channel_swap=(0, 1, 2), raw_scale=1.0,
                                          mean=(0.5,), input_scale=2.0))})
    pre_cases.append({'file': 'images/camvid_0001TP_008550_annot.png', 'dims': [1, 90, 120], 'exact': True,
                      'mean': [10.0],
                      **sample(preprocess(load_image(annot, color=False), (1, 90, 120), mean=(10.0,)))})
    pre_cases.append({'file': 'images/camvid_0001TP_008550.png', 'dims': [1, 100, 100], 'exact': True,
                      'mean': [0.0],
                      **sample(preprocess(load_image(camvid, color=False), (1, 100, 100), mean=(0.0,)))})
    pre_cases.append({'file': 'images/cat_gray_caffe.jpg', 'dims': [3, 227, 227], 'exact': False,
                      **sample(preprocess(load_image(catg), (3, 227, 227)))})
    pre_cases.append({'file': 'data/cifar10_test_jpg_subset/cat/0000.jpg', 'dims': [3, 32, 32], 'exact': False,
                      **sample(preprocess(load_image(cifar), (3, 32, 32)))})
    pre_cases.append({'file': 'data/cifar10_test_jpg_subset/cat/0000.jpg', 'dims': [3, 64, 48], 'exact': False,
                      **sample(preprocess(load_image(cifar), (3, 64, 48)))})
    with open(os.path.join(OUT, 'preprocess.json'), 'w') as f:
        json.dump({'generator': 'scripts/resize_reference.py', 'skimage': skimage.__version__,
                   'loads': loads, 'cases': pre_cases}, f)
    print('wrote', len(resize_cases), 'resize cases,', len(pre_cases), 'preprocess cases,', len(pngs), 'pngs')


if __name__ == '__main__':
    main()
