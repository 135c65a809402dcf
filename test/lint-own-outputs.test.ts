/**
 * `lint --weights` on chaiq's own outputs of every corpus model with weights (issue 13, acceptance 1): no error
 * chaiq could have avoided and no false warning. What lint still reports is checked here, each kind against the
 * facts it states: the net's layer types and kernels (CHaiDNN cannot run them: the net, not the file, is the
 * problem), fractional lengths above the bit width (really above it; with the weights, values that really saturate)
 * and, for uniform DynamicFixed, a folded conv's fl_params that the runtime ignores. The models are quantized and
 * linted through the built library in one plain node process (test/helpers/lint-own-run.js), and each output is
 * simulated on one input: every net that quantize writes and lint passes also simulates.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { LintDiagnostic } from '../src/lint/rules';
import { loadWeights } from '../src/proto/caffemodel';
import { trim2FixedPoint } from '../src/chaidnn/arith';
import { batchNormMean, batchNormVariance } from '../src/chaidnn/weights';
import type { Tensor } from '../src/tensor';
import { CORPUS, runNodeHelper } from './helpers/cli';

const M = path.join(CORPUS, 'models');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-lint-own-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const FACE = path.join(tmp, 'face');
const CIFAR = path.join(tmp, 'cifar');

const MNIST = { mnist: path.join(CORPUS, 'data/mnist/t10k-images-idx3-ubyte.gz') };
const CIFAR_IMG = { dir: CIFAR };
const FACE_IMG = { dir: FACE };
/** det4 takes five 24x24 patches stacked as 15 channels */
const PATCHES = { pixels: [1, 15, 24, 24] };

const MODES = {
  x8: { mode: 'Xilinx', bitwidths: { in: 8, params: 8, out: 8 } },
  x6: { mode: 'Xilinx', bitwidths: { in: 6, params: 6, out: 6 } },
  df: { mode: 'DynamicFixed', fl: 'auto', bitwidths: { in: 8, params: 8, out: 8 } },
  dfu: { mode: 'DynamicFixed', fl: { in: 2, params: 5, out: 2 }, bitwidths: { in: 8, params: 8, out: 8 } },
} as const;
type Mode = keyof typeof MODES;

// [label, prototxt, caffemodel, calibration, extra options, modes]
const NETS: [string, string, string, object, object, Mode[]][] = [
  ['LeNet (ahmdtaha)', 'lenet_mnist_ahmdtaha/mnist_deploy.prototxt', 'lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel', MNIST, {}, ['x8', 'df']],
  ['LeNet (everpeace, V1)', 'lenet_mnist_v1_everpeace/lenet.prototxt', 'lenet_mnist_v1_everpeace/lenet_iter_10000.caffemodel', MNIST, {}, ['x8', 'df']],
  ['CIFAR-10 quick', 'cifar10_quick_v1_everpeace/cifar10_quick.prototxt', 'cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel', CIFAR_IMG, { dims: [3, 32, 32] }, ['x8', 'x6', 'df']],
  ['CIFAR-10 full', 'cifar10_full_v1_everpeace/cifar10_full.prototxt', 'cifar10_full_v1_everpeace/cifar10_full_iter_70000.caffemodel', CIFAR_IMG, { dims: [3, 32, 32] }, ['x8', 'df']],
  ['ResNet-20', 'cifar10_resnet20_lijianfei/test_ResNet_20.prototxt', 'cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel', CIFAR_IMG, { inputShape: [1, 3, 32, 32] }, ['x8', 'df', 'dfu']],
  ['SE-ResNet-20', 'cifar10_se_resnet20_lijianfei/test_SE-ResNet_20.prototxt', 'cifar10_se_resnet20_lijianfei/cifar10_SE-ResNet_20_iter_53000.caffemodel', CIFAR_IMG, { inputShape: [1, 3, 32, 32] }, ['x8', 'df', 'dfu']],
  ['MTCNN det1', 'mtcnn_kpzhang93/det1.prototxt', 'mtcnn_kpzhang93/det1.caffemodel', FACE_IMG, {}, ['x8', 'x6', 'df']],
  ['MTCNN det2', 'mtcnn_kpzhang93/det2.prototxt', 'mtcnn_kpzhang93/det2.caffemodel', FACE_IMG, {}, ['x8', 'x6', 'df']],
  ['MTCNN det3', 'mtcnn_kpzhang93/det3.prototxt', 'mtcnn_kpzhang93/det3.caffemodel', FACE_IMG, {}, ['x8', 'x6', 'df']],
  ['MTCNN det4', 'mtcnn_kpzhang93/det4.prototxt', 'mtcnn_kpzhang93/det4.caffemodel', PATCHES, {}, ['x8', 'df']],
  ['UltraFace slim', 'ultraface_slim320_linzaer/slim-320.prototxt', 'ultraface_slim320_linzaer/slim-320.caffemodel', FACE_IMG, {}, ['x8', 'x6', 'df']],
  ['UltraFace RFB', 'ultraface_rfb320_linzaer/RFB-320.prototxt', 'ultraface_rfb320_linzaer/RFB-320.caffemodel', FACE_IMG, {}, ['x8', 'x6', 'df']],
  ['YuFaceDetectNet', 'yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.prototxt', 'yufacedetectnet_v1_libfacedetection/yufacedetectnet-open-v1.caffemodel', FACE_IMG, {}, ['x8', 'x6', 'df']],
];

interface NetLayer { name: string; type: string; bottoms: string[]; tops: string[]; kernel?: number }
interface Result {
  id: string;
  text: string;
  plan: Record<string, Record<string, any>>;
  layers: NetLayer[];
  diagnostics: LintDiagnostic[];
  simulated?: string;
  error?: { message: string; chaiq: boolean; exitCode: number };
}
const results = new Map<string, Result>();
const caseId = (label: string, mode: string) => `${label} ${mode}`;

beforeAll(() => {
  fs.mkdirSync(FACE);
  fs.copyFileSync(path.join(CORPUS, 'images/ultraface_imgs_1.jpg'), path.join(FACE, 'a.jpg'));
  fs.mkdirSync(CIFAR);
  fs.copyFileSync(path.join(CORPUS, 'images/cifar10/airplane1651.png'), path.join(CIFAR, 'a.png'));
  const cases = NETS.flatMap(([label, proto, weights, calibration, extra, modes]) => modes.map((mode) => ({
    id: caseId(label, mode), proto: path.join(M, proto), weights: path.join(M, weights), calibration, options: { ...MODES[mode], ...extra },
  })));
  for (const x of runNodeHelper<Result[]>('lint-own-run.js', [], JSON.stringify(cases))) results.set(x.id, x);
}, 300_000);

test('every corpus model with weights is listed', () => {
  const listed = new Set(NETS.map((n) => n[2]));
  const models = fs.readdirSync(M).flatMap((d) => fs.readdirSync(path.join(M, d)).filter((f) => f.endsWith('.caffemodel')).map((f) => `${d}/${f}`));
  expect(models.filter((m) => !listed.has(m))).toEqual([]);
});

/** The layer types CHaiDNN runs, HW or SW (chaidnn-semantics §3.6 and its "which layers need precision_param" table). */
const CHAIDNN_RUNS = new Set(['Input', 'Data', 'Convolution', 'Deconvolution', 'BatchNorm', 'Scale', 'Pooling', 'ReLU', 'Concat', 'Permute',
  'Normalize', 'Eltwise', 'Power', 'InnerProduct', 'Crop', 'Softmax', 'Dropout', 'ArgMax', 'Flatten', 'PriorBox', 'Reshape', 'DetectionOutput']);
const HW_KERNELS = [1, 3, 5, 7, 11];
const ACTIVATION_FL = ['fl_layer_in', 'fl_layer_out'];

/** layer name by line of the printed prototxt (chaiq prints `layer {` then `  name: "..."`) */
function layerAtLine(text: string): (line: number) => string {
  const byLine: string[] = [];
  let cur = '';
  text.split('\n').forEach((s, i) => {
    const m = /^ {2}name: "(.*)"$/.exec(s);
    if (m) cur = m[1];
    byLine[i + 1] = cur;
  });
  return (line) => byLine[line];
}

/** The values a DynamicFixed weight field quantizes, read independently of lint. */
function fieldValues(name: string, blobs: Tensor[], field: string): ArrayLike<number> {
  const node = { name, type: '', blobs, param: {} };
  if (field === 'fl_params' || field === 'scale_gamma_fl') return blobs[0].data;
  if (field === 'scale_beta_fl') return blobs[1].data;
  if (field === 'batchnorm_mean_fl') return batchNormMean(node);
  if (field === 'batchnorm_variance_fl') return batchNormVariance(node);
  throw new Error(`no values for ${field}`);
}

/** What a diagnostic says, checked against the net, the plan and the weights; throws when it is not true. */
function checkTrue(d: LintDiagnostic, q: Result, weights: Map<string, Tensor[]>, mode: Mode): string {
  const layer = (name: string) => {
    const n = q.layers.find((l) => l.name === name);
    if (!n) throw new Error(`${d.message}: no layer '${name}' in the net`);
    return n;
  };
  let m: RegExpExecArray | null;
  if (d.rule === 'unsupported-layer' && (m = /^CHaiDNN cannot run layer type '(\w+)' \(layer '([^']+)'\)$/.exec(d.message))) {
    const n = layer(m[2]);
    if (n.type !== m[1] || CHAIDNN_RUNS.has(n.type)) throw new Error(`false: ${d.message} (the layer is a ${n.type})`);
    return `unsupported ${n.type}`;
  }
  if (d.rule === 'hw-limits' && (m = /^convolution '([^']+)' has a (\d+)x(\d+) kernel/.exec(d.message))) {
    const k = layer(m[1]).kernel!;
    if (k !== Number(m[2]) || HW_KERNELS.includes(k)) throw new Error(`false: ${d.message} (kernel ${k})`);
    return `kernel ${k}x${k}`;
  }
  if (d.rule === 'fl-range' && d.severity === 'warning' && (m = /^(\w+) = (\d+) is above the bit width (\d+) \(range ±([\d.e-]+)\)(.*)$/.exec(d.message))) {
    const [, field, fl, bw, range, rest] = m;
    const name = layerAtLine(q.text)(d.line);
    const v = q.plan[name][field];
    if (v !== Number(fl) || v <= Number(bw) || Number(range) !== (2 ** (Number(bw) - 1) - 1) * 2 ** -v) throw new Error(`false: ${d.message} (${name} ${field} ${v})`);
    if (ACTIVATION_FL.includes(field)) {
      // lint has no activations to check against: it asks to check, and the fl is above bw
      if (rest !== '; valid Q(bw,fl), check the values fit') throw new Error(`unexpected: ${d.message}`);
      return 'activation fl above bw';
    }
    // with the weights lint checked the values: they must really saturate, up to the value named
    const sat = /^: values up to ([\d.e-]+) saturate$/.exec(rest);
    if (!sat) throw new Error(`weights given but not checked: ${d.message}`);
    const over = Array.from(fieldValues(name, weights.get(name)!, field))
      .filter((x) => Math.abs(trim2FixedPoint(x, Number(bw), v) - x) > 2 ** -v / 2).map(Math.abs);
    if (over.length === 0 || Math.max(...over) !== Number(sat[1])) throw new Error(`false: ${d.message}`);
    return 'weights saturate at fl above bw';
  }
  if (d.rule === 'folded-fl-params' && mode === 'dfu' && (m = /^CHaiDNN folds .* into '([^']+)' and then uses fl (\d+) for its weights \(from max\|W'\|\), not fl_params (\d+);/.exec(d.message))) {
    // uniform fl_params on every conv: the runtime derives a folded conv's fl from max|W'| instead (§3.5)
    const conv = layer(m[1]);
    const inPlace = q.layers.some((l) => (l.type === 'BatchNorm' || l.type === 'Scale') && l.bottoms[0] === conv.tops[0] && l.tops[0] === conv.tops[0]);
    if (!inPlace || q.plan[conv.name].fl_params !== Number(m[3]) || m[2] === m[3]) throw new Error(`false: ${d.message}`);
    return 'uniform fl_params on a folded conv';
  }
  throw new Error(`unexpected ${d.severity} [${d.rule}]: ${d.message}`);
}

describe.each(NETS)('%s: lint --weights on chaiq\'s output', (label, _proto, weights, _calibration, _extra, modes) => {
  test.each(modes)('%s: no avoidable error, every warning true', (mode) => {
    const q = results.get(caseId(label, mode))!;
    expect(q.error).toBeUndefined();
    const stored = loadWeights(path.join(M, weights));
    for (const d of q.diagnostics) checkTrue(d, q, stored, mode);
    // the errors left are the net's own (layers and kernels CHaiDNN has not), never one about chaiq's blocks
    for (const d of q.diagnostics.filter((x) => x.severity === 'error')) expect(['unsupported-layer', 'hw-limits']).toContain(d.rule);
    if (mode.startsWith('x')) expect(q.diagnostics.filter((d) => d.severity === 'warning')).toEqual([]);
    // and what quantize wrote also simulates (one input)
    expect(q.simulated).toBe('ok');
  });
});

