/**
 * The layer registry is the one source of layer knowledge: every hardware type and every type with a
 * precision block declares its part in the precision plan, and the seed doc's table of which layer needs a
 * precision_param block, printed back from the registry, is the seed doc's table.
 */
import * as fs from 'fs';
import * as path from 'path';
import { allLayers, lookupLayer } from '../src/layers/registry';
import { defineLayer } from '../src/layers/define';
import { likeBottom } from '../src/layers/params';
import { lintText } from '../src/lint/lint';

const SEED = path.resolve(__dirname, '../../shared/seeds/chaidnn-quantization-guide.txt');

/** Seed doc row names that are not Caffe type strings. */
const SEED_NAMES: Record<string, string> = {
  'Pooling(Max, Avg)': 'Pooling',
  Argmax: 'ArgMax',
  NMS: 'DetectionOutput',
  'Depthwise Separable Convolution': 'Convolution',
  'Input/ Data': 'Input',
};

describe('layer registry', () => {
  test('every hardware type and every type with precision fields declares a plan role', () => {
    const missing = allLayers()
      .filter((d) => d.chaidnn === 'hw' || d.precision.Xilinx.length > 0 || d.precision.DynamicFixed.length > 0)
      .filter((d) => d.plan === undefined)
      .map((d) => d.type);
    expect(missing).toEqual([]);
  });

  test('the seed doc table of precision_param blocks, printed back from the registry', () => {
    const text = fs.readFileSync(SEED, 'utf8').split(/\r?\n/);
    const head = text.findIndex((l) => l.trim() === 'Layer Xilinx Quant Mode DynamicFixed Quant Mode');
    expect(head).toBeGreaterThan(0);
    const rows: string[] = [];
    for (const line of text.slice(head + 1)) {
      if (!/ (Yes|No) (Yes|No)$/.test(line.trim())) break;
      rows.push(line.trim());
    }
    expect(rows.length).toBeGreaterThan(20);
    const yn = (fields: readonly string[]) => (fields.length > 0 ? 'Yes' : 'No');
    const printed = rows.map((row) => {
      const name = row.replace(/ (Yes|No) (Yes|No)$/, '');
      const def = lookupLayer(SEED_NAMES[name] ?? name);
      if (!def) return `${name}: not in the registry`;
      return `${name} ${yn(def.precision.Xilinx)} ${yn(def.precision.DynamicFixed)}`;
    });
    expect(printed).toEqual(rows);
  });

  test('every data layer needs the input block the Input layer needs', () => {
    for (const d of allLayers().filter((x) => x.source)) expect(d.precision).toEqual(lookupLayer('Input')!.precision);
  });

  test('defineLayer fills the defaults: no trained values, no MACs, no precision block', () => {
    const d = defineLayer({ type: 'T', chaidnn: 'sw', shape: likeBottom });
    const node = { name: 't', type: 'T', bottoms: ['a'], tops: ['b'] } as any;
    expect(d.params!(node, [[1, 2]])).toBe(0);
    expect(d.macs!(node, [[1, 2]], [[1, 2]])).toBe(0);
    expect(d.precision).toEqual({ Xilinx: [], DynamicFixed: [] });
    expect(d.plan).toBeUndefined();
  });

  test('every type with a float forward declares it on its definition (no table to fall back to)', () => {
    const noForward = allLayers().filter((d) => !d.forward).map((d) => d.type).sort();
    // data sources are the executor's inputs; the rest have no float implementation in chaiq
    for (const t of noForward) expect(lookupLayer(t)!.source !== undefined || lookupLayer(t)!.chaidnn === 'unsupported').toBe(true);
  });

  test("DynamicFixed BatchNorm/Scale blocks carry no quant_type (the seed doc's snippets; CHaiDNN reads empty as DynamicFixed)", () => {
    for (const t of ['BatchNorm', 'Scale']) {
      expect(lookupLayer(t)!.precision.DynamicFixed).not.toContain('quant_type');
      expect(lookupLayer(t)!.precision.Xilinx).toContain('quant_type');
    }
  });

  test('lint counts every declared data source as the input layer (DenseImageData too)', () => {
    const net = `layer { name: "data" type: "DenseImageData" top: "data" top: "label" dense_image_data_param { source: "x" new_height: 8 new_width: 8 } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 3 } }
`;
    const inputMessages = lintText(net, 'x.prototxt').filter((d) => /input layer/.test(d.message));
    expect(inputMessages).toEqual([]);
  });
});
