/**
 * `chaiq simulate` on a detector end to end: a tiny synthetic SSD (one head, PriorBox, DetectionOutput) with
 * deterministic weights, quantized and simulated through the CLI; the report carries the detection agreement.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { writeCaffemodel } from '../src/proto/write-caffemodel';
import { writeNpy } from '../src/io/npy';
import { randTensor } from './quant-net';
import { cliServer } from './helpers/cli';
import { formatDetectionText } from '../src/sim/detection';

/** main() in one node process for the commands here (what they compute and print, their exit codes) */
const cli = cliServer();
afterAll(() => cli.close());

const PROTOTXT = `name: "tiny_ssd"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "feat" type: "Convolution" bottom: "data" top: "feat" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "feat_relu" type: "ReLU" bottom: "feat" top: "feat" }
layer { name: "loc" type: "Convolution" bottom: "feat" top: "loc" convolution_param { num_output: 8 kernel_size: 3 pad: 1 } }
layer { name: "loc_perm" type: "Permute" bottom: "loc" top: "loc_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "loc_flat" type: "Flatten" bottom: "loc_perm" top: "loc_flat" flatten_param { axis: 1 } }
layer { name: "conf" type: "Convolution" bottom: "feat" top: "conf" convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "conf_perm" type: "Permute" bottom: "conf" top: "conf_perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "conf_flat" type: "Flatten" bottom: "conf_perm" top: "conf_flat" flatten_param { axis: 1 } }
layer { name: "conf_reshape" type: "Reshape" bottom: "conf_flat" top: "conf_reshape" reshape_param { shape { dim: 0 dim: -1 dim: 2 } } }
layer { name: "conf_softmax" type: "Softmax" bottom: "conf_reshape" top: "conf_softmax" softmax_param { axis: 2 } }
layer { name: "conf_sm_flat" type: "Flatten" bottom: "conf_softmax" top: "conf_sm_flat" flatten_param { axis: 1 } }
layer { name: "priors" type: "PriorBox" bottom: "feat" bottom: "data" top: "priors"
  prior_box_param { min_size: 3 max_size: 6 clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }
layer { name: "detection_out" type: "DetectionOutput" bottom: "loc_flat" bottom: "conf_sm_flat" bottom: "priors" top: "detection_out"
  detection_output_param { num_classes: 2 share_location: true background_label_id: 0
    nms_param { nms_threshold: 0.45 top_k: 100 } code_type: CENTER_SIZE keep_top_k: 30 confidence_threshold: 0.01 } }
`;

describe('simulate on a synthetic SSD', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-det-'));
  const proto = path.join(tmp, 'tiny_ssd.prototxt');
  const model = path.join(tmp, 'tiny_ssd.caffemodel');
  const inputs = path.join(tmp, 'inputs');
  beforeAll(() => {
    fs.writeFileSync(proto, PROTOTXT);
    const conv = (name: string, out: number, inC: number, seed: number, scale: number) => ({
      name, type: 'Convolution', blobs: [randTensor([out, inC, 3, 3], seed, scale), randTensor([out], seed + 1, 0.1)],
    });
    writeCaffemodel(model, 'tiny_ssd', [conv('feat', 8, 3, 1, 0.5), conv('loc', 8, 8, 3, 0.3), conv('conf', 4, 8, 5, 1)]);
    fs.mkdirSync(inputs);
    for (let k = 0; k < 4; k++) {
      const t = randTensor([3, 8, 8], 100 + k, 1);
      writeNpy(path.join(inputs, `x${k}.npy`), { shape: t.shape, data: Float32Array.from(t.data, (v) => (v + 1) / 2) });
    }
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test.each([8, 6])('%d-bit: precision, recall, mean IoU and score error of the fixed detections', async (bw) => {
    const q = path.join(tmp, `q${bw}.prototxt`);
    const qr = await cli.run(['quantize', '-q', '--deploy_model', proto, '--weights', model, '--calibration_directory', inputs, '--calibration_size', '4',
      '--bitwidths', `${bw},${bw},${bw}`, '--quantized_deploy_model', q]);
    expect(qr.stderr).not.toMatch(/error/);
    expect(qr.code).toBe(0);
    const r = await cli.run(['simulate', '--deploy_model', q, '--weights', model, '--calibration_directory', inputs, '--format', 'json', '--rank_layers']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.detection.outputs).toEqual({ kind: 'ssd', blob: 'detection_out' });
    expect(j.detection.images).toBe(4);
    expect(j.detection.float_detections).toBeGreaterThan(0);
    for (const k of ['precision', 'recall', 'mean_iou']) {
      expect(j.detection[k]).toBeGreaterThan(0);
      expect(j.detection[k]).toBeLessThanOrEqual(1);
    }
    expect(j.detection.mean_iou).toBeGreaterThanOrEqual(0.5);
    expect(j.detection.mean_score_error).toBeGreaterThanOrEqual(0);
    // a detector is ranked by output SQNR
    expect(j.layer_ranking.key).toBe('sqnr');
    const t = await cli.run(['simulate', '--deploy_model', q, '--weights', model, '--calibration_directory', inputs, '--detection_threshold', '0.6']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/detections \(DetectionOutput 'detection_out'\): float detections with score > 0\.6 matched by fixed ones at IoU ≥ 0\.5: precision \d/);
  });

  describe('--metrics', () => {
    const q = path.join(tmp, 'q8m.prototxt');
    const sim = async (metrics: string, format: string, ...more: string[]) => {
      const r = await cli.run(['simulate', '--deploy_model', q, '--weights', model, '--calibration_directory', inputs, '--metrics', metrics, '--format', format, ...more]);
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      return r.stdout;
    };
    let layers: any;
    beforeAll(async () => {
      expect((await cli.run(['quantize', '-q', '--deploy_model', proto, '--weights', model, '--calibration_directory', inputs, '--calibration_size', '4',
        '--bitwidths', '8,8,8', '--quantized_deploy_model', q])).code).toBe(0);
      layers = JSON.parse(await sim('layers', 'json', '--save_results', path.join(tmp, 'layers.json')));
    });

    test('agreement reports the detection agreement of layers; none reports none', async () => {
      const agreement = JSON.parse(await sim('agreement', 'json'));
      expect(layers.detection.float_detections).toBeGreaterThan(0);
      expect(agreement.detection).toEqual(layers.detection);
      expect(agreement.agreement).toEqual(layers.agreement);
      const detLines = (await sim('agreement', 'text')).split('\n').filter((l) => l.startsWith('detections ('));
      expect(detLines).toEqual([formatDetectionText(layers.detection.outputs, layers.detection).trimEnd()]);
      expect(await sim('none', 'text')).not.toMatch(/detections/);
    });

    test('--save_results carries the detection agreement: merged shards (agreement) and a whole run (layers) report it', async () => {
      const shards: string[] = [];
      for (const [i, k] of ['0/2', '1/2'].entries()) {
        const f = path.join(tmp, `agreement-${i}.json`);
        await sim('agreement', 'json', '--shard', k, '--save_results', f);
        shards.push(f);
      }
      const merged = await cli.run(['merge-results', ...shards, '--format', 'json']);
      expect(merged.code).toBe(0);
      expect(JSON.parse(merged.stdout).detection).toEqual(layers.detection);
      // a shard without detection figures (an older chaiq's) is not merged with those that have them
      const old = JSON.parse(fs.readFileSync(shards[1], 'utf8'));
      delete old.accumulators.detection;
      fs.writeFileSync(path.join(tmp, 'agreement-old.json'), JSON.stringify(old));
      const mixed = await cli.run(['merge-results', shards[0], path.join(tmp, 'agreement-old.json')]);
      expect(mixed.code).toBe(1);
      expect(mixed.stderr).toMatch(/agreement-old\.json: error: not a shard of the same run as .*: one of them has detection figures and the other none/);
      const whole = await cli.run(['merge-results', path.join(tmp, 'layers.json')]);
      expect(whole.code).toBe(0);
      expect(whole.stdout).toContain(formatDetectionText(layers.detection.outputs, layers.detection).trimEnd());
    });
  });

  test('--detection_threshold outside [0, 1) is a usage error', async () => {
    const r = await cli.run(['simulate', '--deploy_model', proto, '--weights', model, '--calibration_directory', inputs, '--detection_threshold', '1.5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--detection_threshold must be a score in \[0, 1\)/);
  });
});
