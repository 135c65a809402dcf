import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCli, CORPUS } from './helpers/cli';
import { parsePrototxt } from '../grammar';
import type { MessageNode, ScalarNode } from '../grammar/cst';

const FCN5 = path.join(CORPUS, 'chaidnn/xportdnn_fcn5_deploy_fp32.prototxt');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-xportdnn-'));

/** layer name → its precision_param fields (values as written) */
function blocks(text: string): Map<string, { type: string; fields: Record<string, unknown> }> {
  const out = new Map<string, { type: string; fields: Record<string, unknown> }>();
  for (const f of parsePrototxt(text, 'x').root.fields) {
    if (f.name !== 'layer') continue;
    const m = f.value as MessageNode;
    const get = (k: string) => (m.fields.find((x) => x.name === k)?.value as ScalarNode | undefined)?.value;
    const pp = m.fields.find((x) => x.name === 'precision_param');
    if (!pp) continue;
    const fields: Record<string, unknown> = {};
    for (const x of (pp.value as MessageNode).fields) fields[x.name] = (x.value as ScalarNode).value;
    out.set(String(get('name')), { type: String(get('type')), fields });
  }
  return out;
}

describe('DynamicFixed uniform with input fl ≠ output fl (XportDNN --fl_bitwidths 4,4,7)', () => {
  const args = (out: string) => ['--quant_type', 'DynamicFixed', '--deploy_model', FCN5, '--quantized_deploy_model', out, '--bitwidths', '8,8,8', '--fl_bitwidths', '4,4,7', '-q'];

  test('writes XportDNN\'s form (the same fl triple on every Convolution/Pooling), exits 0 with one fl warning; lint flags it', () => {
    const d = tmp();
    const out = path.join(d, 'fcn5_447.prototxt');
    const r = runCli(args(out), { bin: 'xportdnn.js' });
    expect(r.stderr).not.toMatch(/internal/);
    expect(r.code).toBe(0);
    const flWarnings = r.stderr.split('\n').filter((l) => /fl_bitwidths/.test(l));
    expect(flWarnings).toHaveLength(1);
    expect(flWarnings[0]).toMatch(/warning: --fl_bitwidths 4,4,7 .*wrong scale \(×8, 2\^\(7−4\)\)/);
    // the only other warning is the fcn5 file's own batch of 10 (written as 1, as XportDNN's files)
    expect(r.stderr.split('\n').filter((l) => /warning/.test(l) && !/fl_bitwidths/.test(l)).every((l) => /batch 10/.test(l))).toBe(true);
    const b = blocks(fs.readFileSync(out, 'utf8'));
    const convPool = [...b.values()].filter((x) => x.type === 'Convolution' || x.type === 'Pooling');
    expect(convPool.length).toBe(10);
    for (const x of convPool) {
      expect(x.fields.fl_layer_in).toBe(4);
      expect(x.fields.fl_layer_out).toBe(7);
      expect(x.fields.bw_layer_in).toBe(8);
      expect(x.fields.bw_layer_out).toBe(8);
      expect(x.fields.quant_type).toBe('DynamicFixed');
      if (x.type === 'Convolution') expect([x.fields.bw_params, x.fields.fl_params]).toEqual([8, 4]);
    }
    const lint = runCli(['lint', out]);
    expect(lint.code).toBe(1);
    expect(lint.stdout).toMatch(/'conv2_1' fl_layer_in 4 ≠ fl_layer_out 7 of its producer 'pool1'.*\[fl-mismatch\]/);
  });

  test('--strict refuses it (usage, exit 2) and writes nothing', () => {
    const d = tmp();
    const out = path.join(d, 'fcn5_447.prototxt');
    const r = runCli([...args(out), '--strict'], { bin: 'xportdnn.js' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error: --fl_bitwidths 4,4,7 .*\(--strict\)/);
    expect(fs.existsSync(out)).toBe(false);
  });

  test('equal input and output fl (2,5,2, the default) gives no fl warning', () => {
    const d = tmp();
    const out = path.join(d, 'fcn5_252.prototxt');
    const r = runCli(['--quant_type', 'DynamicFixed', '--deploy_model', FCN5, '--quantized_deploy_model', out, '-q'], { bin: 'xportdnn.js' });
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/fl_bitwidths/);
  });
});

test('progressive calibration on ResNet-20 (BatchNorm/Scale folded, Eltwise + ReLU): every invariant holds, lint finds no threshold mismatch', () => {
  const d = tmp();
  const out = path.join(d, 'r20.prototxt');
  const imgs = path.join(d, 'imgs');
  fs.mkdirSync(imgs);
  for (const f of ['0000.jpg', '0001.jpg']) fs.copyFileSync(path.join(CORPUS, 'data/cifar10_test_jpg_subset/cat', f), path.join(imgs, f));
  const r = runCli(['-q', '--deploy_model', path.join(__dirname, 'fixtures/quant/resnet20_deploy.prototxt'),
    '--weights', path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/cifar10_ResNet_20_iter_53500.caffemodel'),
    '--calibration_directory', imgs, '--calibration_size', '2', '--bitwidths', '8,8,8', '--dims', '3,32,32', '--channel_swap', '0,1,2',
    '--raw_scale', '255', '--mean_value', '125.3,122.9,113.8', '--input_scale', '0.00390625', '--quantized_deploy_model', out], { bin: 'xportdnn.js' });
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  const b = blocks(fs.readFileSync(out, 'utf8'));
  const elt = [...b.values()].filter((x) => x.type === 'Eltwise');
  expect(elt.length).toBe(9);
  for (const x of elt) expect(x.fields.th_layer_in).toBe(x.fields.th_layer_out);
  const lint = runCli(['lint', out]);
  expect(lint.stdout).not.toMatch(/th-mismatch|in-out-mismatch|shared-threshold/);
});
