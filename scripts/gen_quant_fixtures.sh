#!/bin/sh
# Regenerates test/fixtures/quant/quantized/*.prototxt with the built CLI (npm run build first), then checks them with
# Google protobuf. The jest suite re-checks their invariants and that LeNet re-quantizes byte-identically.
set -e
cd "$(dirname "$0")/.."
C=../shared/corpus
O=test/fixtures/quant/quantized
M=$C/models
CAT=$C/data/cifar10_test_jpg_subset/cat
q() { node bin/chaiq.js quantize -q "$@"; }
q --deploy_model $M/lenet_mnist_ahmdtaha/mnist_deploy.prototxt --weights $M/lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel \
  --mnist $C/data/mnist/t10k-images-idx3-ubyte.gz --calibration_size 8 --bitwidths 8,8,8 --quantized_deploy_model $O/lenet_xilinx_888.prototxt
q --deploy_model $M/lenet_mnist_ahmdtaha/mnist_deploy.prototxt --weights $M/lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel \
  --mnist $C/data/mnist/t10k-images-idx3-ubyte.gz --calibration_size 8 --bitwidths 6,6,6 --pow2 --quantized_deploy_model $O/lenet_xilinx_666_pow2.prototxt
q --deploy_model $M/cifar10_quick_v1_everpeace/cifar10_quick.prototxt --weights $M/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel \
  --calibration_directory $CAT --calibration_size 8 --bitwidths 8,8,8 --quantized_deploy_model $O/cifar10_quick_xilinx_888.prototxt
q --deploy_model $M/cifar10_full_v1_everpeace/cifar10_full.prototxt --weights $M/cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel \
  --calibration_directory $CAT --calibration_size 8 --bitwidths 6,6,6 --quantized_deploy_model $O/cifar10_full_xilinx_666.prototxt
q --deploy_model test/fixtures/quant/resnet20_deploy.prototxt --weights $M/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel \
  --calibration_directory $CAT --calibration_size 8 --bitwidths 8,8,8 --raw_scale 1 --mean_value 0.491,0.482,0.447 --quantized_deploy_model $O/resnet20_xilinx_888.prototxt
q --quant_type DynamicFixed --deploy_model test/fixtures/quant/resnet20_deploy.prototxt --weights $M/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel \
  --bitwidths 8,8,8 --fl_bitwidths 4,6,4 --quantized_deploy_model $O/resnet20_dynamicfixed_uniform.prototxt
q --quant_type DynamicFixed --deploy_model test/fixtures/quant/resnet20_deploy.prototxt --weights $M/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel \
  --calibration_directory $CAT --calibration_size 8 --bitwidths 8,8,8 --fl_bitwidths auto --raw_scale 1 --mean_value 0.491,0.482,0.447 --quantized_deploy_model $O/resnet20_dynamicfixed_auto.prototxt
/usr/bin/python3 scripts/check_with_protoc.py $O/*.prototxt
