'use strict';
// Progressive calibration of the reference cases (test/calib-progressive.test.ts), run on dist/ in a plain
// node process: its float32 loops run ~10x slower inside jest's sandbox. Prints
// {net: {bitwidths: {layer: precision block}}} as JSON.
//   usage: node test/helpers/progressive-run.js CORPUS net:bw[,...] ...   e.g. lenet:8,8,8
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ROOT = path.resolve(__dirname, '../..');
const { loadModel } = require(path.join(ROOT, 'dist/src/graph/load'));
const { progressiveThresholds, stackBatch } = require(path.join(ROOT, 'dist/src/quant/progressive'));
const { buildXilinxPlan } = require(path.join(ROOT, 'dist/src/quant/xilinx'));
const { checkInvariants } = require(path.join(ROOT, 'dist/src/quant/invariants'));
const { applyPlan } = require(path.join(ROOT, 'dist/src/print/precision'));

const CORPUS = process.argv[2];

/** test/quant-net.ts randTensor */
function randTensor(shape, seed, scale = 1) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return { shape, data };
}
/** the inputs the reference used: MNIST t10k digits ·1/256; LCG pixels 0..255 minus a per-channel mean */
function mnist(n) {
  const raw = zlib.gunzipSync(fs.readFileSync(path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz')));
  return Array.from({ length: n }, (_, k) => ({ shape: [1, 1, 28, 28], data: Float32Array.from(raw.subarray(16 + k * 784, 16 + (k + 1) * 784), (p) => p * 0.00390625) }));
}
function pixels(n, c, h, w, seed, mean) {
  return Array.from({ length: n }, (_, k) => {
    const t = randTensor([1, c, h, w], seed + k, 1);
    for (let i = 0; i < t.data.length; i++) t.data[i] = Math.floor((t.data[i] + 1) * 127.5) - mean[Math.floor(i / (h * w))];
    return t;
  });
}
const NETS = {
  lenet: { deploy: 'models/lenet_mnist_ahmdtaha/mnist_deploy.prototxt', weights: 'models/lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel', inputs: () => mnist(64) },
  fcn5: { deploy: 'chaidnn/xportdnn_fcn5_deploy_fp32.prototxt', inputs: () => pixels(1, 3, 200, 200, 101, [104, 117, 123]) },
  cifar10_quick: {
    deploy: 'models/cifar10_quick_v1_everpeace/cifar10_quick.prototxt',
    weights: 'models/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel',
    inputs: () => pixels(16, 3, 32, 32, 201, [125, 123, 114]),
  },
};

async function run(name, bws) {
  const n = NETS[name];
  const m = loadModel(path.join(CORPUS, n.deploy), n.weights ? path.join(CORPUS, n.weights) : undefined);
  if (!n.weights) {
    // as test/quant-fcn5.test.ts: generated conv weights
    let seed = 10;
    for (const l of m.graph.layers) {
      if (l.type !== 'Convolution') continue;
      const co = l.param.convolution_param.num_output;
      l.blobs = [randTensor([co, l.bottomShapes[0][1], 3, 3], seed++, 0.3), randTensor([co], seed++, 0.1)];
    }
  }
  const [i, p, o] = bws.split(',').map(Number);
  const bitwidths = { in: i, params: p, out: o };
  const { thOf } = await progressiveThresholds(m.graph, stackBatch(n.inputs()), { bitwidths, method: 'kl', warn: () => undefined });
  const { plan } = buildXilinxPlan(m.graph, thOf, { bitwidths });
  return { plan: Object.fromEntries(plan), violations: checkInvariants(m.graph, plan).filter((v) => v.severity === 'error'), text: name === 'fcn5' ? applyPlan(m.doc, plan, { warn: () => undefined }) : undefined };
}

(async () => {
  const out = {};
  for (const a of process.argv.slice(3)) {
    const [name, bws] = a.split(':');
    (out[name] ??= {})[bws] = await run(name, bws);
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
})().catch((e) => {
  process.stderr.write(String(e && e.stack) + '\n');
  process.exit(1);
});
