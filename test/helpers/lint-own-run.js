'use strict';
// Quantize corpus models through the built library and lint each output with its weights
// (test/lint-own-outputs.test.ts), in a plain node process: the kernels run several times slower inside jest's
// sandbox. Reads the cases as JSON on stdin, prints one result per case as JSON:
//   { id, text, plan: {layer: block}, layers: [{name, type, bottoms, tops, kernel}], diagnostics, simulated } or { id, error }
// (simulated: 'ok' when the output also simulates on one input, else the error)
const fs = require('fs');
const os = require('os');
const path = require('path');
const ROOT = path.resolve(__dirname, '../..');
const chaiq = require(path.join(ROOT, 'dist/src/index'));
const { lintText } = require(path.join(ROOT, 'dist/src/lint/lint'));
const { loadWeights } = require(path.join(ROOT, 'dist/src/proto/caffemodel'));

/** a deterministic pseudo-random input of pixel range (det4's five stacked 24x24 patches) */
function pixels(shape, seed) {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 255 - 128) };
}

function inputsOf(c) {
  if (c.mnist) return chaiq.calibrationFromMnist(c.mnist, { size: 1 });
  if (c.dir) return chaiq.calibrationFromDirectory(c.dir, { size: 1 });
  return chaiq.calibrationFromTensors([pixels(c.pixels, 7)]);
}

/** simulate the output on one input (every net quantize writes must also simulate): the run's message or 'ok' */
async function simulateOne(c, q) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-lint-own-sim-'));
  try {
    const deploy = path.join(dir, 'q.prototxt');
    fs.writeFileSync(deploy, q.text);
    const shape = [1, ...q.net.inputs[0].shape.slice(1)];
    const s = await chaiq.simulate({
      deploy, weights: c.weights, inputShape: c.options.inputShape, dims: c.options.dims, top: 1,
      samples: [{ name: 'x', label: -1, load: async () => pixels(shape, 11) }],
    });
    return s.images === 1 ? 'ok' : `${s.images} images`;
  } catch (e) {
    return `error: ${e.message}`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function run(c) {
  try {
    const q = await chaiq.quantize({ ...c.options, deploy: c.proto, weights: c.weights, inputs: inputsOf(c.calibration) });
    const diagnostics = lintText(q.text, `${c.id}.prototxt`, { weights: loadWeights(c.weights) });
    const layers = q.net.layers.map((l) => {
      const cp = l.param.convolution_param;
      const k = cp ? cp.kernel_h ?? (Array.isArray(cp.kernel_size) ? cp.kernel_size[0] : cp.kernel_size) : undefined;
      return { name: l.name, type: l.type, bottoms: l.bottoms, tops: l.tops, kernel: k };
    });
    return { id: c.id, text: q.text, plan: Object.fromEntries(q.plan), layers, diagnostics, simulated: await simulateOne(c, q) };
  } catch (e) {
    return { id: c.id, error: { message: e.message, chaiq: e instanceof chaiq.ChaiqError, exitCode: e.exitCode } };
  }
}

(async () => {
  const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
  const out = [];
  for (const c of cases) out.push(await run(c));
  process.stdout.write(JSON.stringify(out));
})();
