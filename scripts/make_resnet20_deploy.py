#!/usr/bin/python3
"""Derive a deploy prototxt of the corpus CIFAR-10 ResNet-20 (lijianfei) test net for the quantizer tests:
the LMDB Data layer becomes an Input layer (1,3,32,32), the loss/accuracy layers become a Softmax. Everything
else is copied verbatim. Output: test/fixtures/quant/resnet20_deploy.prototxt"""
import re, os
src = '/work/shared/corpus/models/cifar10_resnet20_lijianfei/test_ResNet_20.prototxt'
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
text = open(src).read()
i = text.index('layer {')
j = text.index('\nlayer {', i) + 1
text = text[:i] + 'layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n  input_param { shape: { dim: 1 dim: 3 dim: 32 dim: 32 } }\n}\n' + text[j:]
k = text.index('layer {\n  name: "Softmax1"')
text = text[:k] + 'layer {\n  name: "prob"\n  type: "Softmax"\n  bottom: "fc1"\n  top: "prob"\n}\n'
open(os.path.join(root, 'test/fixtures/quant/resnet20_deploy.prototxt'), 'w').write(text)
