import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCli, CORPUS, ROOT } from './helpers/cli';
import { zeroingThreshold } from '../src/chaidnn/weights';
import { quantizeXilinx, quantizeWeightsXilinx } from '../src/chaidnn/arith';
import { formatFloat32 } from '../src/io/floatfmt';
import { loadModel, loadNetText } from '../src/graph/load';
import { lintText } from '../src/lint/lint';

const f32 = Math.fround;
const prev32 = (x: number) => {
  const b = new Float32Array([x]);
  new Uint32Array(b.buffer)[0] -= 1;
  return b[0];
};

describe('th_params of channels whose weights are ~0 (XportDNN writes 0.0, a zero scale on the board)', () => {
  test.each([[7.5e-13, 8], [7.5e-13, 6], [1e-8, 8], [0, 8], [0, 6], [1e-40, 8]])('max|W| = %p, %p-bit: the smallest positive threshold that still quantizes to 0', (m, bw) => {
    const th = zeroingThreshold(m, bw);
    expect(th).toBeGreaterThan(0);
    expect(f32(th)).toBe(th);
    // the runtime's sf = th/(2^(bw-1)-1) is a normal float, so w/sf never divides by zero
    expect(f32(th / (2 ** (bw - 1) - 1))).toBeGreaterThanOrEqual(2 ** -126);
    expect(Array.from(quantizeXilinx([m, -m, 0], th, bw))).toEqual([0, 0, 0]);
    // and one float32 below, either the channel no longer quantizes to 0 or sf is no longer normal
    const below = prev32(th);
    const stillZero = Array.from(quantizeXilinx([m, -m], below, bw)).every((q) => q === 0);
    expect(stillZero && f32(below / (2 ** (bw - 1) - 1)) >= 2 ** -126).toBe(false);
    // printed as XportDNN prints floats (Python 2 str, 12 digits) it stays the same non-zero float32
    const s = formatFloat32(th);
    expect(s).not.toBe('0.0');
    expect(f32(Number(s))).toBe(th);
  });
});

describe('ResNet-20 (conv1 has BN-folded channels of ~7.5e-13)', () => {
  const W = path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel');
  const DEPLOY = path.join(ROOT, 'test/fixtures/quant/resnet20_deploy.prototxt');
  const CAT = path.join(CORPUS, 'data/cifar10_test_jpg_subset/cat');

  test('the committed Xilinx output has no zero threshold and no bad-threshold lint', () => {
    const file = path.join(ROOT, 'test/fixtures/quant/quantized/resnet20_xilinx_888.prototxt');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).not.toMatch(/th_params: -?0\.0\n/);
    expect(lintText(text, file).filter((d) => d.rule === 'bad-threshold')).toEqual([]);
  });

  test('quantize --optimized_weights (folded offline, so the runtime uses th_params): the tiny channels quantize to 0 in the simulator', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-zth-'));
    const out = path.join(d, 'r20.prototxt');
    const cm = path.join(d, 'r20.caffemodel');
    const r = runCli(['quantize', '-q', '--deploy_model', DEPLOY, '--weights', W, '--calibration_directory', CAT, '--calibration_size', '2',
      '--bitwidths', '8,8,8', '--quantized_deploy_model', out, '--optimized_weights', cm]);
    expect(r.code).toBe(0);
    const lint = runCli(['lint', out, '--weights', cm]);
    expect(lint.stdout).not.toMatch(/bad-threshold/);
    expect(lint.code).toBe(0);
    const conv1 = loadNetText(out).net.layer.find((l) => l.name === 'conv1')!;
    const th: number[] = conv1.precision_param!.th_params;
    const model = loadModel(out, cm);
    const Wt = model.graph.layers.find((l) => l.name === 'conv1')!.blobs[0];
    const outC = Wt.shape[0];
    const per = Wt.data.length / outC;
    const q = quantizeWeightsXilinx(Wt.data, outC, th, 8);
    let tiny = 0;
    for (let c = 0; c < outC; c++) {
      expect(th[c]).toBeGreaterThan(0);
      const seg = Wt.data.subarray(c * per, (c + 1) * per);
      const maxAbs = seg.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
      if (maxAbs > 1e-8) continue;
      tiny++;
      expect(Array.from(q.subarray(c * per, (c + 1) * per)).every((v) => v === 0)).toBe(true);
    }
    expect(tiny).toBe(3);
  });
});
