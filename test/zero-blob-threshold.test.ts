/** A blob that is zero on every calibration image must not get th = 0 (sf = 0 on the board, a division by zero). */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as chaiq from '../src/index';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-zero-th-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const deploy = path.join(tmp, 'z.prototxt');
fs.writeFileSync(deploy, `name: "z"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 4 } } }
layer { name: "relu" type: "ReLU" bottom: "data" top: "r" }
layer { name: "pool" type: "Pooling" bottom: "r" top: "p" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
`);
// every pixel negative: the ReLU's output is all zero, its input's max is 2.875
const x = { shape: [1, 1, 4, 4], data: Float32Array.from({ length: 16 }, (_, i) => -1 - i / 8) };

test.each(['float', 'progressive'] as const)('%s calibration: a zero blob takes its input\'s threshold, with a warning', async (calibration) => {
  const warnings: string[] = [];
  const q = await chaiq.quantize({
    mode: 'Xilinx', deploy, bitwidths: { in: 8, params: 8, out: 8 }, calibration,
    inputs: chaiq.calibrationFromTensors([x]), warn: (m: string) => warnings.push(m),
  });
  const ths = [...(q.text ?? "").matchAll(/th_layer_(?:in|out): ([^\s]+)/g)].map((m) => Number(m[1]));
  expect(ths.length).toBe(5);
  for (const t of ths) expect(t).toBe(2.875);
  expect(warnings.filter((w) => /"r" \(layer "relu"\) is zero on every calibration image.*2\.875 taken from its input/.test(w))).toHaveLength(1);
});
