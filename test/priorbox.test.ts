import * as fs from 'fs';
import * as path from 'path';
import { loadNetText } from '../src/graph/load';
import { buildNet } from '../src/graph/build';
import { runNet } from '../src/exec/executor';
import { shutdownKernels } from '../src/kernels';
import { ChaiqError } from '../src/errors';

/*
 * SSD PriorBox against scripts/priorbox_goldens.py, a numpy reference of weiliu89/caffe's
 * PriorBoxLayer::Forward_cpu with its float/double/int types (bit equality expected).
 */
interface Case { name: string; prior_box_param: string; feature: [number, number]; image: [number, number]; top: number[] }
const GOLDEN: { cases: Case[] } = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/priorbox/golden.json'), 'utf8'));

function net(param: string, feature: [number, number], image: [number, number]) {
  const text = `name: "priorbox"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: ${image[0]} dim: ${image[1]} } } }
layer { name: "feat" type: "Input" top: "feat" input_param { shape { dim: 1 dim: 2 dim: ${feature[0]} dim: ${feature[1]} } } }
layer { name: "prior" type: "PriorBox" bottom: "feat" bottom: "data" top: "prior" prior_box_param { ${param} } }
`;
  const file = 'priorbox.prototxt';
  return buildNet(loadNetText(file, { text }).net, { file });
}

async function priors(param: string, feature: [number, number], image: [number, number]): Promise<Float32Array> {
  const g = net(param, feature, image);
  const data = { shape: [1, 3, ...image], data: new Float32Array(3 * image[0] * image[1]) };
  const feat = { shape: [1, 2, ...feature], data: new Float32Array(2 * feature[0] * feature[1]) };
  const out = await runNet(g, { data, feat });
  return out.get('prior')!.data;
}

afterAll(() => shutdownKernels());

test.each(GOLDEN.cases.map((c) => [c.name, c] as const))('%s: bit-equal to the Caffe reference', async (_name, c) => {
  const top = await priors(c.prior_box_param, c.feature, c.image);
  expect(top.length).toBe(c.top.length);
  let worst = 0;
  let mismatches = 0;
  for (let i = 0; i < top.length; i++) {
    worst = Math.max(worst, Math.abs(top[i] - c.top[i]));
    if (top[i] !== c.top[i]) mismatches++;
  }
  expect(worst).toBeLessThan(1e-6);
  expect(mismatches).toBe(0);
});

test('the licence-plate detector\'s last PriorBox: min_size 450.6 is truncated to 450 as Caffe does', async () => {
  const c = GOLDEN.cases.find((k) => k.name === 'plate_512_last')!;
  const top = await priors(c.prior_box_param, c.feature, c.image);
  // location (h 1, w 0), aspect ratio 2: Caffe's xmin is -0.12148058 (was -0.12230921 with min_size 450.6)
  expect(top[20]).toBeCloseTo(-0.12148058, 8);
});

test('bad prior_box_param is a ChaiqError at the layer, as Caffe\'s CHECKs', async () => {
  const bad = ['min_size: 30 max_size: 20', 'min_size: 30 img_h: 300', 'min_size: 30 img_size: 300 img_h: 300 img_w: 300',
    'min_size: 30 step: 8 step_h: 8', 'min_size: 30 step_h: 8', 'min_size: 0', 'min_size: 30 variance: 0.1 variance: 0.2'];
  for (const p of bad) await expect(priors(p, [3, 3], [30, 30])).rejects.toThrow(ChaiqError);
});
