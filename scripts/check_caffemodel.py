#!/usr/bin/python3
"""Parse caffemodels with Google protobuf (binary wire format) against CHaiDNN's caffe.proto.

Usage: /usr/bin/python3 scripts/check_caffemodel.py [--proto FILE.proto] [--quiet] MODEL.caffemodel...
Compiles the proto (default: ../shared/corpus/proto/caffe-chaidnn.proto next to this repo) with protoc
into a temp dir, then ParseFromString()s each file as caffe.NetParameter and prints the net name, then one
line per layer: name, type and blob shapes (BlobShape dims, or legacy num/channels/height/width), with
the number of floats. Exits 1 if any file does not parse, has unknown fields, or has a blob whose data
length does not match its shape (Caffe's Blob::FromProto would reject it); 2 on bad usage.

An independent check of src/proto/write-caffemodel.ts (chaiq quantize --optimized_weights); the jest
suite does not need it."""
import argparse, importlib, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO = os.path.normpath(os.path.join(HERE, '..', '..', 'shared', 'corpus', 'proto', 'caffe-chaidnn.proto'))


def compile_proto(proto):
    tmp = tempfile.mkdtemp(prefix='check_caffemodel_')
    # protoc names the module after the file: make it a valid Python identifier
    src = os.path.join(tmp, 'caffe_chaidnn.proto')
    shutil.copyfile(proto, src)
    subprocess.check_call(['protoc', '-I', tmp, '--python_out', tmp, src])
    sys.path.insert(0, tmp)
    return importlib.import_module('caffe_chaidnn_pb2'), tmp


def blob_shape(b):
    if b.HasField('shape'):
        return list(b.shape.dim), False
    legacy = [b.num, b.channels, b.height, b.width]
    return legacy, True


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def unknown_fields(msg):
    """paths of fields protobuf kept as unknown (a field number caffe.proto does not define)"""
    out = []
    try:
        if len(msg.UnknownFields()):
            out.append(msg.DESCRIPTOR.full_name)
    except (AttributeError, NotImplementedError):  # UnknownFields() is not in every runtime
        return out
    for fd, v in msg.ListFields():
        if fd.message_type is None:
            continue
        items = v if fd.label == fd.LABEL_REPEATED else [v]
        for it in items:
            out.extend(unknown_fields(it))
    return out


def check(pb, path, quiet):
    with open(path, 'rb') as f:
        raw = f.read()
    net = pb.NetParameter()
    try:
        net.ParseFromString(raw)
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        print('FAIL %s: does not parse as caffe.NetParameter: %s' % (path, e))
        return False
    ok = True
    unk = unknown_fields(net)
    if unk:
        print('FAIL %s: unknown fields in %s' % (path, ', '.join(sorted(set(unk)))))
        ok = False
    if len(net.layers):
        layers = [(l.name, pb.V1LayerParameter.LayerType.Name(l.type), l.blobs) for l in net.layers]
        version = 'V1'
    else:
        layers = [(l.name, l.type, l.blobs) for l in net.layer]
        version = 'V2'
    nblobs = 0
    nfloats = 0
    lines = []
    for name, typ, blobs in layers:
        shapes = []
        for i, b in enumerate(blobs):
            shape, legacy = blob_shape(b)
            n = len(b.data) or len(b.double_data)
            if n != count(shape):
                print('FAIL %s: layer %r blob %d has %d values for shape %s' % (path, name, i, n, shape))
                ok = False
            shapes.append('(%s)%s' % (','.join(str(d) for d in shape), ' legacy' if legacy else ''))
            nblobs += 1
            nfloats += n
        lines.append('  %-32s %-14s %s' % (name, typ, ' '.join(shapes) if shapes else '-'))
    print('%s %s: net %r, %d %s layers, %d with blobs, %d blobs, %d floats, %d bytes'
          % ('ok  ' if ok else 'FAIL', path, net.name, len(layers), version,
             sum(1 for _, _, b in layers if len(b)), nblobs, nfloats, len(raw)))
    if not quiet:
        for line in lines:
            print(line)
    return ok


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--proto', default=DEFAULT_PROTO, help='caffe.proto to compile (default: %(default)s)')
    ap.add_argument('--quiet', '-q', action='store_true', help='only the summary line per file')
    ap.add_argument('files', nargs='+', metavar='MODEL.caffemodel')
    args = ap.parse_args(argv)
    pb, tmp = compile_proto(args.proto)
    try:
        bad = 0
        for path in args.files:
            try:
                good = check(pb, path, args.quiet)
            except OSError as e:
                print('FAIL %s: %s' % (path, e))
                good = False
            bad += 0 if good else 1
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
