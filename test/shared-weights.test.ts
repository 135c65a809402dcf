/**
 * Weights shared across the image workers: calibration and simulation hand every worker the net's blobs in one
 * SharedArrayBuffer, so memory does not grow with the worker count (results across --threads: sim-parallel.test).
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import { CORPUS } from './helpers/cli';
import { loadModelWithDims, loadNet } from '../src/pipeline/load';
import { layerBlobs, provideWeights, shareWeights, sharedWeightMap } from '../src/shared-weights';
import { netImage } from '../src/quant/calibrate-parallel';
import { simWorkerSetup } from '../src/cli/simulate-run';

const LENET = path.join(CORPUS, 'models/lenet_mnist_ahmdtaha');
const DEPLOY = path.join(LENET, 'mnist_deploy.prototxt');
const WEIGHTS = path.join(LENET, 'lenet_iter_10000.caffemodel');
const net = loadNet({ deploy: DEPLOY, weights: WEIGHTS, warn: () => undefined }).net;
const blobCount = net.layers.reduce((s, l) => s + l.blobs.reduce((t, b) => t + b.data.length, 0), 0);

test('one shared buffer holds every blob; the views on it are the same values, not copies', () => {
  const s = shareWeights(layerBlobs(net.layers));
  expect(s.buffer).toBeInstanceOf(SharedArrayBuffer);
  expect(s.buffer.byteLength).toBe(4 * blobCount);
  const m = sharedWeightMap(s);
  for (const l of net.layers.filter((x) => x.blobs.length)) {
    const got = m.get(l.name)!;
    expect(got.map((b) => b.shape)).toEqual(l.blobs.map((b) => b.shape));
    got.forEach((b, i) => {
      expect(b.data.buffer).toBe(s.buffer);
      // the bytes (toEqual on 400 K floats takes seconds)
      expect(Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength).equals(Buffer.from(l.blobs[i].data.buffer, l.blobs[i].data.byteOffset, l.blobs[i].data.byteLength))).toBe(true);
    });
  }
});

test('calibration and simulation workers are given the blobs in a SharedArrayBuffer', () => {
  const calib = netImage(net).weights;
  expect(calib.buffer).toBeInstanceOf(SharedArrayBuffer);
  expect(calib.buffer.byteLength).toBe(4 * blobCount);
  const sim = simWorkerSetup({ weights: WEIGHTS }, { net }, 1);
  expect(sim.weights!.buffer).toBeInstanceOf(SharedArrayBuffer);
  expect(sim.weights!.buffer.byteLength).toBe(4 * blobCount);
});

test('a worker thread gets the same memory, not a copy', async () => {
  const s = shareWeights(layerBlobs(net.layers));
  const src = `const { workerData, parentPort } = require('worker_threads');
    const b = workerData.weights.buffer;
    new Float32Array(b)[0] = 12345;
    parentPort.postMessage(b instanceof SharedArrayBuffer);`;
  const w = new Worker(src, { eval: true, workerData: { weights: s } });
  const shared = await new Promise((resolve, reject) => { w.on('message', resolve); w.on('error', reject); });
  await w.terminate();
  expect(shared).toBe(true);
  expect(new Float32Array(s.buffer)[0]).toBe(12345);
});

test('a load of the provided caffemodel takes the shared blobs and does not read the file', () => {
  const s = shareWeights(layerBlobs(net.layers));
  const absent = path.join(LENET, 'not-on-disk.caffemodel');
  provideWeights(absent, s);
  const g = loadModelWithDims({ deploy: DEPLOY, weights: absent, warn: () => undefined }).model.graph;
  const withBlobs = g.layers.filter((l) => l.blobs.length);
  expect(withBlobs.map((l) => l.name)).toEqual(net.layers.filter((l) => l.blobs.length).map((l) => l.name));
  for (const l of withBlobs) for (const b of l.blobs) expect(b.data.buffer).toBe(s.buffer);
  // another file is still read from disk
  const other = loadModelWithDims({ deploy: DEPLOY, weights: WEIGHTS, warn: () => undefined }).model.graph;
  expect(other.layers.find((l) => l.blobs.length)!.blobs[0].data.buffer).not.toBeInstanceOf(SharedArrayBuffer);
});
