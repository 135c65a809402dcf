'use strict';
// The accuracy runs of test/sim-accuracy.test.ts (LeNet × MNIST at 8 and 6 bit, cifar10_quick × the CIFAR JPEG
// subset) on dist/ in a plain node process: the simulator's loops run several times slower inside jest's sandbox.
//   usage: node test/helpers/sim-accuracy-run.js CORPUS   prints {lenet8, lenet6, cifar10_quick} as JSON
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ROOT = path.resolve(__dirname, '../..');
const { loadModel } = require(path.join(ROOT, 'dist/src/graph/load'));
const { annotateXilinx } = require(path.join(ROOT, 'dist/src/sim/annotate'));
const { compileSim, layerReports, newSimStats, runSim } = require(path.join(ROOT, 'dist/src/sim/simulate'));
const { addClassification, newClassStats } = require(path.join(ROOT, 'dist/src/sim/metrics'));
const { loadImage, loadMeanFile, meanForDims, preprocess } = require(path.join(ROOT, 'dist/src/io/images'));
const { setThreads, shutdownKernels } = require(path.join(ROOT, 'dist/src/kernels'));

const CORPUS = process.argv[2];
const LENET = `${CORPUS}/models/lenet_mnist_v1_everpeace`;
const images = zlib.gunzipSync(fs.readFileSync(`${CORPUS}/data/mnist/t10k-images-idx3-ubyte.gz`));
const labels = zlib.gunzipSync(fs.readFileSync(`${CORPUS}/data/mnist/t10k-labels-idx1-ubyte.gz`));
const digit = (i) => ({ shape: [1, 1, 28, 28], data: Float32Array.from(images.subarray(16 + i * 784, 16 + (i + 1) * 784), (v) => Math.fround(v / 255)) });
const lenet = () => loadModel(`${LENET}/lenet.prototxt`, `${LENET}/lenet_iter_10000.caffemodel`, { inputShape: [1, 1, 28, 28], warn: () => {} }).graph;

async function score(net, n, get, label) {
  const prog = compileSim(net, { warn: () => {} });
  const stats = newSimStats();
  const cls = newClassStats();
  const out = net.outputs[0];
  for (let i = 0; i < n; i++) {
    const r = await runSim(prog, await get(i), { stats });
    addClassification(cls, r.reference.get(out).data, r.outputs.get(out).data, label(i));
  }
  const reports = layerReports(stats).map((r) => ({ name: r.name, where: r.where, cumulativeFinite: Number.isFinite(r.cumulative.sqnrDb), hasLocal: r.local !== undefined }));
  return { cls, reports };
}

(async () => {
  // small convs: one thread avoids waiting on workers when the machine is busy
  setThreads(1);
  const out = {};
  const calib = Array.from({ length: 100 }, (_, k) => digit(k));
  for (const bw of [8, 6]) {
    const net = lenet();
    await annotateXilinx(net, calib, bw);
    out[`lenet${bw}`] = await score(net, 500, (i) => digit(1000 + i), (i) => labels[8 + 1000 + i]);
  }
  const m = loadModel(`${CORPUS}/models/cifar10_quick_v1_everpeace/cifar10_quick.prototxt`,
    `${CORPUS}/models/cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel`, { warn: () => {} });
  const pre = {
    dims: [3, 32, 32], transpose: [2, 0, 1], channelSwap: [0, 1, 2], rawScale: 255,
    mean: meanForDims(loadMeanFile(`${CORPUS}/models/cifar10_resnet20_lijianfei/cifar10_mean.binaryproto`), [3, 32, 32]), inputScale: 1,
  };
  const root = `${CORPUS}/data/cifar10_test_jpg_subset`;
  const classes = fs.readdirSync(root).sort();
  const load = async (f) => ({ shape: [1, 3, 32, 32], data: preprocess(await loadImage(f), pre) });
  const cal = [];
  for (const c of classes) cal.push(await load(path.join(root, c, '0000.jpg')), await load(path.join(root, c, '0001.jpg')));
  await annotateXilinx(m.graph, cal, 8);
  const files = [];
  classes.forEach((c, k) => { for (let j = 20; j < 40; j++) files.push([path.join(root, c, `${String(j).padStart(4, '0')}.jpg`), k]); });
  out.cifar10_quick = await score(m.graph, files.length, (i) => load(files[i][0]), (i) => files[i][1]);
  await shutdownKernels();
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(1);
});
