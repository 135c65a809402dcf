#!/usr/bin/python3
"""Shape goldens for test/shapes.test.ts: every layer's top shapes for real Caffe nets, derived
independently of chaiq's TypeScript shape code.

Prototxts are parsed with Google's protobuf text_format against the SSD fork's caffe.proto (compiled with
protoc into a temp dir; a few fork fields patched in). Each layer is then run with PyTorch on the 'meta'
device (shapes only, no arithmetic): conv/deconv/pool/linear/cat/flatten/permute/reshape/split/slicing are
torch's own shape logic. Caffe-specific rules torch does not have (pooling's ceil + pad clipping, Reshape's
0/-1 codes, PriorBox, ArgMax, DetectionOutput's fake (1,1,1,7)) are written out here from Caffe's C++,
and pooling is cross-checked: torch's ceil_mode clips a last window that starts in the right padding just
as Caffe does when pad > 0 (checked on every pooling layer; a disagreement aborts).

Run: /usr/bin/python3 scripts/shape_goldens.py   (writes test/fixtures/shapes/<net>.json)
"""
import glob
import json
import math
import os
import re
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F
from google.protobuf import text_format

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.normpath(os.path.join(ROOT, '..', 'shared', 'corpus'))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'shapes')
META = torch.device('meta')

# (golden name, path under corpus, input shape override for nets whose Data layer reads a DB, note)
NETS = [
    ('lenet', 'prototxt/lenet.prototxt', None),
    ('lenet_v1', 'models/lenet_mnist_v1_everpeace/lenet.prototxt', None),
    ('lenet_ahmdtaha', 'models/lenet_mnist_ahmdtaha/mnist_deploy.prototxt', None),
    ('cifar10_quick', 'prototxt/cifar10_quick.prototxt', None),
    ('cifar10_full', 'prototxt/cifar10_full.prototxt', None),
    ('bvlc_alexnet', 'prototxt/bvlc_alexnet.prototxt', None),
    ('bvlc_googlenet', 'prototxt/bvlc_googlenet.prototxt', None),
    ('bvlc_caffenet_full_conv', 'prototxt/bvlc_caffenet_full_conv.prototxt', None),
    ('old_v1_vgg19', 'prototxt/old_v1_vgg19.prototxt', None),
    ('resnet50', 'prototxt/resnet50.prototxt', None),
    ('resnet18_priv', 'prototxt/resnet18_priv.prototxt', None),
    ('resnext50_32x4d', 'prototxt/resnext50_32x4d.prototxt', None),
    ('squeezenet_v1.0', 'prototxt/squeezenet_v1.0.prototxt', None),
    ('squeezenet_v1.1', 'prototxt/squeezenet_v1.1.prototxt', None),
    ('mobilenet_v1', 'prototxt/mobilenet_v1.prototxt', None),
    ('mobilenet_v2', 'prototxt/mobilenet_v2.prototxt', None),
    ('mobilenet_ssd', 'prototxt/mobilenet_ssd.prototxt', None),
    ('ssd_vgg300_voc0712', 'prototxt/ssd_vgg300_voc0712.prototxt', None),
    ('densenet121', 'prototxt/densenet121.prototxt', None),
    ('inception_v3', 'prototxt/inception_v3.prototxt', None),
    ('inception_v4', 'prototxt/inception_v4.prototxt', None),
    ('xception', 'prototxt/xception.prototxt', None),
    ('vgg16_pytorch_soeaver', 'prototxt/vgg16_pytorch_soeaver.prototxt', None),
    ('vgg16_memorydata_tuzand', 'prototxt/vgg16_memorydata_tuzand.prototxt', None),
    ('yolov1_tiny', 'prototxt/yolov1_tiny_deploy.prototxt', None),
    ('segnet_basic_camvid', 'prototxt/segnet_basic_camvid.prototxt', None),
    ('pspnet_resnet101v2', 'prototxt/pspnet_resnet101v2_interp_densecrf.prototxt', None),
    ('bvlc_reference_caffenet', 'prototxt/bvlc_reference_caffenet.prototxt', None),
    ('bvlc_reference_rcnn_ilsvrc13', 'prototxt/bvlc_reference_rcnn_ilsvrc13.prototxt', None),
    ('finetune_flickr_style', 'prototxt/finetune_flickr_style.prototxt', None),
    ('inception_v1_tf_nolrn', 'prototxt/inception_v1_tf_nolrn.prototxt', None),
    ('inception_v2_bn', 'prototxt/inception_v2_bn.prototxt', None),
    ('resnet101', 'prototxt/resnet101.prototxt', None),
    ('resnet152', 'prototxt/resnet152.prototxt', None),
    ('mobilenet_ssd_voc_nobn', 'prototxt/mobilenet_ssd_voc_nobn.prototxt', None),
    ('mnist_siamese', 'prototxt/mnist_siamese.prototxt', None),
    ('net_surgery_conv', 'prototxt/net_surgery_conv.prototxt', None),
    ('old_inputdim_bvlc_alexnet', 'prototxt/old_inputdim_bvlc_alexnet.prototxt', None),
    ('old_inputshape_bvlc_reference_caffenet', 'prototxt/old_inputshape_bvlc_reference_caffenet.prototxt', None),
    ('old_v1_bvlc_googlenet', 'prototxt/old_v1_bvlc_googlenet.prototxt', None),
    ('old_v1_cifar10_quick', 'prototxt/old_v1_cifar10_quick.prototxt', None),
    ('yolov1_small', 'prototxt/yolov1_small_deploy.prototxt', None),
    ('vgg16_modified_davidgengenbach', 'prototxt/vgg16_modified_davidgengenbach.prototxt', None),
    ('segnet_pascal', 'prototxt/segnet_pascal.prototxt', None),
    ('enet_deploy_final_bnmerged', 'prototxt/enet_deploy_final_bnmerged.prototxt', None),
    ('cifar10_full_v1', 'models/cifar10_full_v1_everpeace/cifar10_full.prototxt', None),
    ('cifar10_quick_v1', 'models/cifar10_quick_v1_everpeace/cifar10_quick.prototxt', None),
    # train_log.txt: the TEST net's Data layer gives "Top shape: 100 3 32 32"
    ('cifar10_quick_train_test', 'models/cifar10_quick_v1_everpeace/cifar10_quick_train_test.prototxt', [100, 3, 32, 32]),
    ('xportdnn_fcn5', 'chaidnn/xportdnn_fcn5_deploy_fp32.prototxt', None),
    ('mlsuite_googlenet_nolrn', 'chaidnn/mlsuite_googlenet_nolrn_deploy_fp32.prototxt', None),
    ('mlsuite_mobilenet_nobn', 'chaidnn/mlsuite_mobilenet_nobn_deploy_fp32.prototxt', None),
    ('mlsuite_resnet50_nobn', 'chaidnn/mlsuite_resnet50_nobn_deploy_fp32.prototxt', None),
    ('mlsuite_vgg16', 'chaidnn/mlsuite_vgg16_deploy_fp32.prototxt', None),
    # the Data layer reads cifar10 test_lmdb: 10 x 3 x 32 x 32 per train_ResNet-20.log ("Top shape: 10 3 32 32")
    ('resnet20', 'models/cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', [10, 3, 32, 32]),
    ('se_resnet20', 'models/cifar10_se_resnet20_lijianfei/test_SE-ResNet_20.prototxt', [10, 3, 32, 32]),
    ('mtcnn_det1', 'models/mtcnn_kpzhang93/det1.prototxt', None),
    ('mtcnn_det2', 'models/mtcnn_kpzhang93/det2.prototxt', None),
    ('mtcnn_det3', 'models/mtcnn_kpzhang93/det3.prototxt', None),
    ('mtcnn_det4', 'models/mtcnn_kpzhang93/det4.prototxt', None),
    ('ultraface_rfb320', 'models/ultraface_rfb320_linzaer/RFB-320.prototxt', None),
    ('ultraface_slim320', 'models/ultraface_slim320_linzaer/slim-320.prototxt', None),
    ('yufacedetectnet', 'models/yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.prototxt', None),
]

# fork fields the SSD proto lacks (field numbers are arbitrary: text format only)
PATCH_POOLING = '  optional bool ceil_mode = 1013 [default = true];\n'
PATCH_LAYER = '''  optional BNParameter bn_param = 1041;
  optional UpsampleParameter upsample_param = 1042;
  optional InterpParameter interp_param = 1043;
'''
PATCH_MSGS = '''
message BNParameter {
  enum BNMode { LEARN = 0; INFERENCE = 1; }
  optional BNMode bn_mode = 3 [default = LEARN];
  optional FillerParameter scale_filler = 1;
  optional FillerParameter shift_filler = 2;
}
message UpsampleParameter {
  optional uint32 scale = 1 [default = 2];
  optional uint32 scale_h = 2;
  optional uint32 scale_w = 3;
  optional bool pad_out_h = 4 [default = false];
  optional bool pad_out_w = 5 [default = false];
  optional uint32 upsample_h = 6;
  optional uint32 upsample_w = 7;
}
message InterpParameter {
  optional int32 height = 1 [default = 0];
  optional int32 width = 2 [default = 0];
  optional int32 zoom_factor = 3 [default = 1];
  optional int32 shrink_factor = 4 [default = 1];
  optional int32 pad_beg = 5 [default = 0];
  optional int32 pad_end = 6 [default = 0];
}
'''


def compile_proto():
    src = open(os.path.join(CORPUS, 'proto', 'caffe-ssd.proto')).read()
    src = re.sub(r'(message PoolingParameter \{\n)', lambda m: m.group(1) + PATCH_POOLING, src, count=1)
    src = re.sub(r'(message LayerParameter \{\n)', lambda m: m.group(1) + PATCH_LAYER, src, count=1)
    src += PATCH_MSGS
    d = tempfile.mkdtemp(prefix='chaiq_shape_goldens_')
    open(os.path.join(d, 'caffe.proto'), 'w').write(src)
    subprocess.check_call(['protoc', '--python_out=' + d, '-I' + d, os.path.join(d, 'caffe.proto')])
    sys.path.insert(0, d)
    import caffe_pb2  # noqa
    return caffe_pb2


pb = compile_proto()

V1_TYPES = {
    'CONVOLUTION': 'Convolution', 'POOLING': 'Pooling', 'INNER_PRODUCT': 'InnerProduct', 'RELU': 'ReLU',
    'LRN': 'LRN', 'CONCAT': 'Concat', 'DROPOUT': 'Dropout', 'SOFTMAX': 'Softmax', 'DATA': 'Data',
    'SOFTMAX_LOSS': 'SoftmaxWithLoss', 'ACCURACY': 'Accuracy', 'SPLIT': 'Split', 'FLATTEN': 'Flatten',
    'ELTWISE': 'Eltwise', 'SIGMOID': 'Sigmoid', 'TANH': 'TanH', 'POWER': 'Power', 'SLICE': 'Slice',
    'DECONVOLUTION': 'Deconvolution', 'ARGMAX': 'ArgMax', 'BNLL': 'BNLL', 'ABSVAL': 'AbsVal',
    'MEMORY_DATA': 'MemoryData', 'IMAGE_DATA': 'ImageData', 'HDF5_DATA': 'HDF5Data', 'SILENCE': 'Silence',
    'THRESHOLD': 'Threshold', 'EXP': 'Exp', 'DUMMY_DATA': 'DummyData',
}
DROPPED = {'SoftmaxWithLoss', 'Accuracy', 'Silence', 'EuclideanLoss', 'SigmoidCrossEntropyLoss'}
INPUT_TYPES = {'Input', 'Data', 'MemoryData', 'ImageData', 'HDF5Data', 'DummyData'}


def t(shape):
    return torch.empty(*shape, device=META)


def in_phase(layer, phase='TEST'):
    """NetState rules for the TEST phase (include/exclude on phase only)."""
    ph = pb.TEST
    if len(layer.include) > 0:
        return any((not r.HasField('phase')) or r.phase == ph for r in layer.include)
    return not any(r.HasField('phase') and r.phase == ph for r in layer.exclude)


def rep(field, n, default):
    v = list(field)
    if not v:
        return [default] * n
    assert len(v) in (1, n), (v, n)
    return [v[0] if len(v) == 1 else v[i] for i in range(n)]


def conv_geom(p, nsp):
    k = [p.kernel_h, p.kernel_w] if (p.HasField('kernel_h') or p.HasField('kernel_w')) else rep(p.kernel_size, nsp, None)
    s = [p.stride_h, p.stride_w] if (p.HasField('stride_h') or p.HasField('stride_w')) else rep(p.stride, nsp, 1)
    pd = [p.pad_h, p.pad_w] if (p.HasField('pad_h') or p.HasField('pad_w')) else rep(p.pad, nsp, 0)
    d = rep(p.dilation, nsp, 1)
    return k, s, pd, d


def caffe_pool_size(i, k, s, p, ceil):
    q = (i + 2 * p - k) / s
    o = (math.ceil(q) if ceil else math.floor(q)) + 1
    if p > 0 and (o - 1) * s >= i + p:
        o -= 1
    return o


def layer_tops(L, typ, bs):
    """Top shapes of one layer from bottom shapes (lists of ints)."""
    n_top = len(L.top)
    if typ in ('Convolution', 'Deconvolution'):
        p = L.convolution_param
        axis = p.axis if p.axis >= 0 else p.axis + len(bs[0])
        assert axis == 1
        x = t(bs[0])
        nsp = len(bs[0]) - 2
        k, s, pd, d = conv_geom(p, nsp)
        g = p.group
        c = bs[0][1]
        conv = {(1, False): F.conv1d, (2, False): F.conv2d, (3, False): F.conv3d,
                (1, True): F.conv_transpose1d, (2, True): F.conv_transpose2d, (3, True): F.conv_transpose3d}[(nsp, typ == 'Deconvolution')]
        if typ == 'Convolution':
            w = t([p.num_output, c // g] + k)
        else:
            w = t([c, p.num_output // g] + k)
        y = conv(x, w, stride=s, padding=pd, dilation=d, groups=g)
        return [list(y.shape)] * n_top
    if typ == 'Pooling':
        p = L.pooling_param
        N, C, H, W = bs[0]
        if p.global_pooling:
            kh, kw = H, W
        elif p.HasField('kernel_size'):
            kh = kw = p.kernel_size
        else:
            kh, kw = p.kernel_h, p.kernel_w
        ph, pw = (p.pad_h, p.pad_w) if p.HasField('pad_h') else (p.pad, p.pad)
        sh, sw = (p.stride_h, p.stride_w) if p.HasField('stride_h') else (p.stride, p.stride)
        ceil = p.ceil_mode
        caffe = [N, C, caffe_pool_size(H, kh, sh, ph, ceil), caffe_pool_size(W, kw, sw, pw, ceil)]
        if ph <= kh // 2 and pw <= kw // 2:
            fn = F.max_pool2d if p.pool == pb.PoolingParameter.MAX else F.avg_pool2d
            y = list(fn(t(bs[0]), (kh, kw), (sh, sw), (ph, pw), ceil_mode=ceil).shape)
            # torch clips even without padding; Caffe only with padding. They agree unless kernel < stride.
            if y != caffe:
                raise SystemExit('pooling %s: torch %s vs Caffe rule %s' % (L.name, y, caffe))
        return [caffe] * n_top
    if typ == 'InnerProduct':
        p = L.inner_product_param
        axis = p.axis if p.axis >= 0 else p.axis + len(bs[0])
        M = int(torch.tensor(bs[0][:axis]).prod()) if axis > 0 else 1
        x = t(bs[0]).reshape(M, -1)
        w = t([p.num_output, x.shape[1]])
        y = F.linear(x, w)
        return [bs[0][:axis] + [y.shape[1]]] * n_top
    if typ == 'Concat':
        p = L.concat_param
        axis = p.concat_dim if p.HasField('concat_dim') else p.axis
        return [list(torch.cat([t(b) for b in bs], dim=axis).shape)] * n_top
    if typ == 'Eltwise':
        for b in bs:
            assert b == bs[0], (L.name, bs)
        return [bs[0]] * n_top
    if typ == 'Flatten':
        p = L.flatten_param
        return [list(torch.flatten(t(bs[0]), p.axis, p.end_axis).shape)] * n_top
    if typ == 'Reshape':
        p = L.reshape_param
        dims = list(p.shape.dim)
        b = bs[0]
        start = p.axis if p.axis >= 0 else len(b) + p.axis + 1
        end = len(b) if p.num_axes == -1 else start + p.num_axes
        new = [b[start + i] if d == 0 else d for i, d in enumerate(dims)]
        target = b[:start] + new + b[end:]
        return [list(t(b).reshape(target).shape)] * n_top  # torch infers the -1
    if typ == 'Permute':
        order = list(L.permute_param.order)
        order += [i for i in range(len(bs[0])) if i not in order]
        return [list(t(bs[0]).permute(*order).shape)] * n_top
    if typ == 'PriorBox':
        p = L.prior_box_param
        ars = [1.0]
        for a in p.aspect_ratio:
            if any(abs(a - x) < 1e-6 for x in ars):
                continue
            ars.append(a)
            if p.flip:
                ars.append(1.0 / a)
        num = len(ars) * len(p.min_size) + len(p.max_size)
        return [[1, 2, bs[0][2] * bs[0][3] * num * 4]]
    if typ == 'DetectionOutput':
        return [[1, 1, 1, 7]]
    if typ == 'Crop':
        p = L.crop_param
        axis = p.axis if p.axis >= 0 else p.axis + len(bs[0])
        idx = []
        offs = list(p.offset)
        for i in range(len(bs[0])):
            if i < axis:
                idx.append(slice(None))
            else:
                o = 0 if not offs else offs[0] if len(offs) == 1 else offs[i - axis]
                idx.append(slice(o, o + bs[1][i]))
        return [list(t(bs[0])[tuple(idx)].shape)]
    if typ == 'Slice':
        p = L.slice_param
        axis = p.slice_dim if p.HasField('slice_dim') else p.axis
        dim = bs[0][axis]
        pts = [0] + list(p.slice_point) + [dim] if len(p.slice_point) else None
        sizes = [pts[i + 1] - pts[i] for i in range(len(pts) - 1)] if pts else [dim // n_top] * n_top
        return [list(x.shape) for x in torch.split(t(bs[0]), sizes, dim=axis)]
    if typ == 'ArgMax':
        p = L.argmax_param
        if p.HasField('axis'):
            s = list(bs[0])
            s[p.axis] = p.top_k
            return [s]
        s = [1] * max(3, len(bs[0]))
        s[0] = bs[0][0]
        s[2] = p.top_k
        if p.out_max_val:
            s[1] = 2
        return [s]
    if typ == 'Axpy':
        return [bs[1]]
    if typ == 'Upsample':
        p = L.upsample_param
        N, C, H, W = bs[0]
        if p.HasField('upsample_h'):
            return [[N, C, p.upsample_h, p.upsample_w]]
        sh = p.scale_h if p.HasField('scale_h') else p.scale
        sw = p.scale_w if p.HasField('scale_w') else p.scale
        # SegNet's UpsampleLayer::Reshape: H * scale - pad_out (torch's max_unpool2d has no meta kernel)
        return [[N, C, H * sh - int(p.pad_out_h), W * sw - int(p.pad_out_w)]]
    if typ == 'Interp':
        p = L.interp_param
        N, C, H, W = bs[0]
        h, w = H + p.pad_beg + p.pad_end, W + p.pad_beg + p.pad_end
        if p.HasField('shrink_factor') and not p.HasField('zoom_factor'):
            h, w = (h - 1) // p.shrink_factor + 1, (w - 1) // p.shrink_factor + 1
        elif p.HasField('zoom_factor') and not p.HasField('shrink_factor'):
            h, w = h + (h - 1) * (p.zoom_factor - 1), w + (w - 1) * (p.zoom_factor - 1)
        elif p.HasField('height') and p.HasField('width'):
            h, w = p.height, p.width
        else:
            h, w = (h - 1) // p.shrink_factor + 1, (w - 1) // p.shrink_factor + 1
            h, w = h + (h - 1) * (p.zoom_factor - 1), w + (w - 1) * (p.zoom_factor - 1)
        return [list(F.interpolate(t(bs[0]), size=(h, w), mode='bilinear', align_corners=True).shape)]
    if typ in ('ReLU', 'PReLU', 'Sigmoid', 'TanH', 'Dropout', 'Softmax', 'LRN', 'BatchNorm', 'Scale', 'Bias',
               'Normalize', 'Power', 'BN', 'ELU', 'AbsVal', 'Split', 'Exp', 'Log', 'BNLL', 'Threshold'):
        return [bs[0]] * n_top
    raise SystemExit('layer %s: type %s not handled' % (L.name, typ))


def input_tops(L, typ, override):
    if override is not None:
        return [override] + [[override[0]]] * (len(L.top) - 1)
    if typ == 'Input':
        shapes = [list(s.dim) for s in L.input_param.shape]
        return [shapes[0 if len(shapes) == 1 else i] for i in range(len(L.top))]
    if typ == 'MemoryData':
        p = L.memory_data_param
        return [[p.batch_size, p.channels, p.height, p.width], [p.batch_size]][:len(L.top)]
    raise SystemExit('layer %s: %s needs an input shape override' % (L.name, typ))


def golden(name, rel, override):
    path = os.path.join(CORPUS, rel)
    net = pb.NetParameter()
    text_format.Parse(open(path).read(), net)
    blobs = {}
    out = []
    if len(net.input) > 0:  # legacy net-level inputs (input_shape or input_dim)
        for i, nm in enumerate(net.input):
            if len(net.input_shape) > 0:
                s = list(net.input_shape[i if len(net.input_shape) > 1 else 0].dim)
            else:
                s = list(net.input_dim[4 * i:4 * i + 4])
            blobs[nm] = s
    layers = [(L, L.type) for L in net.layer] or [(L, V1_TYPES[pb.V1LayerParameter.LayerType.Name(L.type)]) for L in net.layers]
    for L, typ in layers:
        if not in_phase(L):
            continue
        if typ in DROPPED:  # loss/accuracy/silence: chaiq's graph drops them
            continue
        if typ in INPUT_TYPES:
            tops = input_tops(L, typ, override)
        else:
            tops = layer_tops(L, typ, [blobs[b] for b in L.bottom])
        tops = [list(map(int, s)) for s in tops]
        for nm, s in zip(L.top, tops):
            blobs[nm] = s
        out.append({'name': L.name, 'type': typ, 'tops': tops})
    doc = {'net': name, 'source': rel, 'layers': out}
    if override is not None:
        doc['input_shape'] = override
    if len(net.input) > 0:
        doc['inputs'] = [{'name': nm, 'shape': blobs[nm]} for nm in net.input]
    return doc


# Real Caffe logs in the corpus print every top shape ("Top shape: 10 3 32 32 (30720)"): a third, fully
# independent source. The goldens of these nets must agree with the last net the log set up (the TEST net).
# The cifar10_quick log is from pre-N-D Caffe, where every blob was 4-D: (N, K) was printed as (N, K, 1, 1).
LOGS = {
    'resnet20': ('models/cifar10_resnet20_lijianfei/train_ResNet-20.log', False),
    'cifar10_quick_train_test': ('models/cifar10_quick_v1_everpeace/train_log.txt', True),
}


def as4d(shapes):
    return [s + [1] * (4 - len(s)) for s in shapes]


def check_log(doc, rel, legacy4d):
    per_layer = {}
    cur = None
    for line in open(os.path.join(CORPUS, rel), errors='replace'):
        m = re.search(r'(?:Setting up|Creating Layer) (\S+)', line)
        if m:
            if cur is None or cur[0] != m.group(1):
                cur = (m.group(1), [])
                per_layer[m.group(1)] = cur[1]  # later nets overwrite: the TEST net wins
            continue
        m = re.search(r'Top shape: ([\d ]*)\(', line)
        if m and cur is not None:
            cur[1].append([int(x) for x in m.group(1).split()])
    n = 0
    for L in doc['layers']:
        if L['type'] in INPUT_TYPES or L['name'] not in per_layer:
            continue
        if per_layer[L['name']] != (as4d(L['tops']) if legacy4d else L['tops']):
            raise SystemExit('%s: %s: golden %s, Caffe log %s' % (doc['net'], L['name'], L['tops'], per_layer[L['name']]))
        n += 1
    if n == 0:
        raise SystemExit('%s: no layer matched in %s' % (doc['net'], rel))
    print('  %s agrees with Caffe log %s on %d layers' % (doc['net'], rel, n))


def main():
    os.makedirs(OUT, exist_ok=True)
    only = set(sys.argv[1:])
    for name, rel, override in NETS:
        if only and name not in only:
            continue
        doc = golden(name, rel, override)
        with open(os.path.join(OUT, name + '.json'), 'w') as f:
            json.dump(doc, f, indent=None, separators=(',', ':'))
            f.write('\n')
        if name in LOGS:
            check_log(doc, *LOGS[name])
        last = doc['layers'][-1]
        print('%-26s %4d layers, last %s %s' % (name, len(doc['layers']), last['name'], last['tops']))


if __name__ == '__main__':
    main()
