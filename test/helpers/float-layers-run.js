'use strict';
// The corpus-model checks of test/float-layers.test.ts (every net annotated on one input, all its floatable layers
// run in float at once, then each ranked alone), run on dist/ in a plain node process: the simulator's loops run
// several times slower inside jest's sandbox. Reads the cases as JSON on stdin, prints {name: result} as JSON.
const fs = require('fs');
const path = require('path');
const ROOT = path.resolve(__dirname, '../..');
const { loadModel } = require(path.join(ROOT, 'dist/src/graph/load'));
const { annotateXilinx } = require(path.join(ROOT, 'dist/src/sim/annotate'));
const { compileSim, runSim } = require(path.join(ROOT, 'dist/src/sim/simulate'));
const { floatableLayers, resolveFloatLayers } = require(path.join(ROOT, 'dist/src/sim/float-layers'));
const { rankFloatLayers, rankingOutputs } = require(path.join(ROOT, 'dist/src/sim/layer-ranking'));
const { setThreads, shutdownKernels } = require(path.join(ROOT, 'dist/src/kernels'));

/** the test's seeded LCG input in [0, 1) */
function input(dims, seed) {
  const n = dims.reduce((a, b) => a * b, 1);
  let s = seed;
  return { shape: [1, ...dims], data: Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32)) };
}

async function one({ d, w, dims }) {
  let net;
  try {
    net = loadModel(d, w, { inputShape: [1, ...dims], warn: () => {} }).graph;
    await annotateXilinx(net, [input(dims, 1)], 8, 'max');
  } catch (e) {
    return { setupError: String((e && e.stack) || e) };
  }
  try {
    const prog = compileSim(net, { warn: () => {} });
    const names = floatableLayers(prog.steps);
    const all = await runSim(prog, input(dims, 2), { floatLayers: resolveFloatLayers(prog.steps, names, () => {}) });
    const outputs = [...all.outputs].map(([b, t]) => ({ blob: b, finite: t.data.every(Number.isFinite), inReference: all.reference.has(b) }));
    const r = names.length ? await rankFloatLayers(prog, [input(dims, 2)], [-1], rankingOutputs(net), { key: 'sqnr' }) : { layers: [] };
    return { floatable: names.length, outputs, ranked: r.layers.length, nanSqnr: r.layers.filter((l) => Number.isNaN(l.sqnrDb)).map((l) => l.layer) };
  } catch (e) {
    return { error: String((e && e.message) || e) };
  }
}

(async () => {
  setThreads(1);
  const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = {};
  for (const c of cases) out[c.name] = await one(c);
  await shutdownKernels();
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(1);
});
