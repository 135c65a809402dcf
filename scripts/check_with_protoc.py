#!/usr/bin/python3
"""Parse quantized prototxts with Google protobuf (text_format) against CHaiDNN's caffe.proto.

Usage: /usr/bin/python3 scripts/check_with_protoc.py OUT.prototxt...
Compiles /work/shared/corpus/proto/caffe-chaidnn.proto with protoc into a temp dir, then text_format-parses
each file as caffe.NetParameter. Prints one line per file (layers, precision_param blocks, th_params count)
and exits 1 if any file fails."""
import os, subprocess, sys, tempfile, importlib

PROTO = '/work/shared/corpus/proto/caffe-chaidnn.proto'

def main(files):
    tmp = tempfile.mkdtemp()
    shutil_src = os.path.join(tmp, 'caffe_chaidnn.proto')
    with open(PROTO) as f, open(shutil_src, 'w') as g:
        g.write(f.read())
    subprocess.check_call(['protoc', '-I', tmp, '--python_out', tmp, shutil_src])
    sys.path.insert(0, tmp)
    pb = importlib.import_module('caffe_chaidnn_pb2')
    from google.protobuf import text_format
    bad = 0
    for path in files:
        net = pb.NetParameter()
        try:
            with open(path) as f:
                text_format.Parse(f.read(), net)
        except Exception as e:  # report and continue
            print('FAIL %s: %s' % (path, e))
            bad += 1
            continue
        blocks = [l for l in net.layer if l.HasField('precision_param')]
        nth = sum(len(l.precision_param.th_params) for l in blocks)
        qt = sorted(set(l.precision_param.quant_type for l in blocks if l.precision_param.HasField('quant_type')))
        print('ok   %s: %d layers, %d precision_param blocks, %d th_params, quant_type %s' % (path, len(net.layer), len(blocks), nth, ','.join(qt) or '-'))
    return 1 if bad else 0

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
