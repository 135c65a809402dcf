import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import * as protobuf from 'protobufjs';
import { parsePrototxt } from '../grammar';
import { ChaiqError, formatError } from '../src/errors';
import { bindMessage, bindMessageAll, didYouMean, fieldLocOf, locOf } from '../src/proto/bind';
import type { Msg } from '../src/proto/message';
import { caffeRoot, lookupType, withDefaults } from '../src/proto/schema';
import { formatCanonical, formatFloat32, printMessage } from '../src/print/format';
import { CORPUS, corpusPrototxts } from './helpers/corpus';

const bind = (text: string, type = 'caffe.NetParameter') => bindMessage(parsePrototxt(text, 'b.prototxt'), type);
const bindErr = (text: string, type = 'caffe.NetParameter') => {
  try {
    bind(text, type);
  } catch (e) {
    expect(e).toBeInstanceOf(ChaiqError);
    return formatError(e as ChaiqError);
  }
  throw new Error('no error');
};

describe('corpus binds to caffe.NetParameter', () => {
  const DOCS = 'chaidnn_docs_precision_param_examples.prototxt';
  const files = corpusPrototxts().filter((f) => !f.endsWith(DOCS));
  const Net = lookupType('caffe.NetParameter');
  test.each(files.map((f) => [path.relative(CORPUS, f), f]))('%s', (_rel, f) => {
    const doc = parsePrototxt(fs.readFileSync(f, 'utf8'), f);
    const r = bindMessageAll(doc);
    expect(r.errors.map((e) => formatError(e))).toEqual([]);
    expect(r.msg.layer?.length || r.msg.layers?.length).toBeGreaterThan(0);
    // the bound form is protobufjs' own toObject form
    expect(Net.toObject(Net.fromObject(r.msg), { enums: String, longs: Number })).toEqual(r.msg);
  });

  test('the CHaiDNN docs snippet reports the upstream typo bwlayer_in with a hint', () => {
    const f = path.join(CORPUS, 'chaidnn', DOCS);
    const r = bindMessageAll(parsePrototxt(fs.readFileSync(f, 'utf8'), f));
    expect(r.errors.map((e) => formatError(e))).toEqual([
      `${f}:31:3: error: unknown field \`bwlayer_in\` in caffe.PrecisionParameter (did you mean \`bw_layer_in\`?)`,
    ]);
    // binding went on past the error
    expect(r.msg.layer.length).toBeGreaterThan(3);
    expect(r.msg.layer[1].precision_param).toMatchObject({ quant_type: 'Xilinx', bw_layer_out: 8 });
  });

  test('fork fields bind: ceil_mode, bn_param, upsample_param, interp_param, SSD visualize', () => {
    const m = bind(
      'layer { pooling_param { ceil_mode: false } bn_param { bn_mode: INFERENCE scale_filler { type: "constant" value: 1 } } ' +
        'upsample_param { scale: 2 } interp_param { height: 64 width: 64 } detection_output_param { visualize: true } }',
    );
    expect(m.layer[0]).toEqual({
      pooling_param: { ceil_mode: false },
      bn_param: { bn_mode: 'INFERENCE', scale_filler: { type: 'constant', value: 1 } },
      upsample_param: { scale: 2 },
      interp_param: { height: 64, width: 64 },
      detection_output_param: { visualize: true },
    });
  });
});

describe('values', () => {
  test('bound form: snake_case, arrays, enum names, unset absent', () => {
    const m = bind(
      `name: "n" input: "data" input_dim: [1, 3, 224, 224]
       layer { name: 'c' type: "Convolution" bottom: "data" top: "c" include { phase: TEST }
         convolution_param { num_output: 0x10 kernel_size: 3 pad: [1] bias_term: False weight_filler { type: "xavier" std: 1e-2 } engine: 1 } }`,
    );
    expect(m).toEqual({
      name: 'n',
      input: ['data'],
      input_dim: [1, 3, 224, 224],
      layer: [
        {
          name: 'c',
          type: 'Convolution',
          bottom: ['data'],
          top: ['c'],
          include: [{ phase: 'TEST' }],
          convolution_param: { num_output: 16, kernel_size: [3], pad: [1], bias_term: false, weight_filler: { type: 'xavier', std: 0.01 }, engine: 'CAFFE' },
        },
      ],
    });
  });

  test('booleans as protobuf text format accepts them', () => {
    for (const [w, v] of [['true', true], ['True', true], ['t', true], ['1', true], ['false', false], ['False', false], ['f', false], ['0', false]] as const) {
      expect(bind(`force_backward: ${w}`).force_backward).toBe(v);
    }
    expect(bindErr('force_backward: 2')).toMatch(/1:17: error: field `force_backward` takes a bool/);
  });

  test('floats: inf, nan, negative, exponents; ints: hex, negative int32, int64', () => {
    const m = bind(`layer { loss_weight: [inf, -inf, 1e-5, -2.5, 3] threshold_param { threshold: nan } input_param { shape { dim: 9007199254740991 } } convolution_param { axis: -1 } }`);
    expect(m.layer[0].loss_weight).toEqual([Infinity, -Infinity, 1e-5, -2.5, 3]);
    expect(m.layer[0].threshold_param.threshold).toBeNaN();
    expect(m.layer[0].input_param.shape[0].dim).toEqual([9007199254740991]);
    expect(m.layer[0].convolution_param.axis).toBe(-1);
  });

  test('a singular message given twice is merged; repeated messages accumulate', () => {
    const m = bind('layer { convolution_param { num_output: 1 } convolution_param { pad: 2 } param { lr_mult: 1 } param { lr_mult: 2 } }');
    expect(m.layer[0].convolution_param).toEqual({ num_output: 1, pad: [2] });
    expect(m.layer[0].param).toEqual([{ lr_mult: 1 }, { lr_mult: 2 }]);
  });

  test('V1 layers with enum types', () => {
    const m = bind('layers { name: "c" type: CONVOLUTION blobs_lr: 1 }');
    expect(m.layers[0]).toEqual({ name: 'c', type: 'CONVOLUTION', blobs_lr: [1] });
  });

  test.each([
    ['layer { bwlayer_in: 1 }', '1:9: error: unknown field `bwlayer_in` in caffe.LayerParameter'],
    ['layer { precision_param { bwlayer_in: 8 } }', '1:27: error: unknown field `bwlayer_in` in caffe.PrecisionParameter (did you mean `bw_layer_in`?)'],
    ['layer { convolution_param { num_output: 1.5 } }', '1:41: error: field `num_output` takes an integer (uint32), not the non-integer 1.5'],
    ['layer { convolution_param { num_output: "3" } }', '1:41: error: field `num_output` takes an integer (uint32), not string "3"'],
    ['layer { convolution_param { num_output: -1 } }', '1:41: error: field `num_output` is uint32: negative value -1 is not allowed'],
    ['layer { convolution_param { num_output: 4294967296 } }', '1:41: error: value 4294967296 is out of range for uint32 field `num_output`'],
    ['layer { convolution_param { axis: 2147483648 } }', '1:35: error: value 2147483648 is out of range for int32 field `axis`'],
    ['layer { pooling_param { pool: MEAN } }', '1:31: error: unknown value `MEAN` for enum field `pool` (caffe.PoolingParameter.PoolMethod): expected one of MAX, AVE, STOCHASTIC'],
    ['layer { pooling_param { pool: "MAX" } }', '1:31: error: field `pool` takes an enum value (MAX, AVE, STOCHASTIC), not string "MAX"'],
    ['layer { pooling_param: 3 }', '1:24: error: field `pooling_param` is a message (caffe.PoolingParameter): write `pooling_param { ... }`, not a value'],
    ['layer { name { a: 1 } }', '1:14: error: field `name` takes a string value, not a message'],
    ['layer { name: x }', '1:15: error: field `name` takes a string in quotes, not \'x\''],
    ['layer { dropout_param { dropout_ratio: "0.5" } }', '1:40: error: field `dropout_ratio` takes a float number, not string "0.5"'],
    ['layer { name: "a" name: "b" }', '1:19: error: field `name` is not repeated but is given more than once'],
  ])('%s', (text, want) => {
    expect(bindErr(text)).toBe(`b.prototxt:${want}`);
  });

  test('bindMessageAll collects every error and keeps the good fields', () => {
    const r = bindMessageAll(parsePrototxt('layer { nme: "a" top: "t" convolution_param { pad: -1 num_output: 4 } }\nlayer { name: 3 }', 'x'));
    expect(r.errors.map((e) => `${e.loc.line}:${e.loc.col}`)).toEqual(['1:9', '1:52', '2:15']);
    expect(r.msg.layer).toEqual([{ top: ['t'], convolution_param: { num_output: 4 } }, {}]);
  });

  test('didYouMean', () => {
    expect(didYouMean('bwlayer_in', ['bw_layer_in', 'bw_layer_out', 'fl_layer_in'])).toBe('bw_layer_in');
    expect(didYouMean('zzzzzz', ['bw_layer_in'])).toBeUndefined();
  });
});

describe('locations', () => {
  const text = 'name: "n"\nlayer {\n  name: "a"\n  top: "x"\n  top: "y"\n  convolution_param { kernel_size: [3, 5] }\n}\n';
  const m = bind(text);
  test('locOf and fieldLocOf', () => {
    expect(locOf(m)).toEqual({ file: 'b.prototxt', line: 1, col: 1 });
    expect(locOf(m.layer[0])).toEqual({ file: 'b.prototxt', line: 2, col: 7 });
    expect(fieldLocOf(m, 'layer', 0)).toEqual({ file: 'b.prototxt', line: 2, col: 7 });
    expect(fieldLocOf(m.layer[0], 'name')).toEqual({ file: 'b.prototxt', line: 3, col: 9 });
    expect(fieldLocOf(m.layer[0], 'top', 1)).toEqual({ file: 'b.prototxt', line: 5, col: 8 });
    expect(fieldLocOf(m.layer[0].convolution_param, 'kernel_size', 1)).toEqual({ file: 'b.prototxt', line: 6, col: 40 });
    expect(fieldLocOf(m.layer[0], 'bottom')).toBeUndefined();
  });
  test('locations stay aligned with the values when some fail to bind; merged messages point at the first', () => {
    const r = bindMessageAll(parsePrototxt('layer { top: "a" top: 3 top: "b" pooling_param { pool: MAX } pooling_param { stride: 2 } }', 'e'));
    const l = r.msg.layer[0];
    expect(l.top).toEqual(['a', 'b']);
    expect(fieldLocOf(l, 'top', 1)).toEqual({ file: 'e', line: 1, col: 30 });
    expect(fieldLocOf(l, 'pooling_param')).toEqual({ file: 'e', line: 1, col: 48 });
    expect(l.pooling_param).toEqual({ pool: 'MAX', stride: 2 });
    expect(fieldLocOf(l.pooling_param, 'stride')).toEqual({ file: 'e', line: 1, col: 86 });
  });
  test('locations are not enumerable data', () => {
    expect(Object.keys(m.layer[0])).toEqual(['name', 'top', 'convolution_param']);
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
  });
  test('withDefaults fills proto2 defaults, recursively for set sub-messages, and keeps locations', () => {
    const d = withDefaults('caffe.LayerParameter', m.layer[0]);
    expect(d.convolution_param).toMatchObject({ kernel_size: [3, 5], bias_term: true, group: 1, axis: 1, engine: 'DEFAULT', num_output: 0 });
    expect(d.pooling_param).toBeUndefined();
    expect(d.phase).toBe('TRAIN');
    expect(d.top).toEqual(['x', 'y']);
    expect(m.layer[0].convolution_param.bias_term).toBeUndefined(); // the input is not changed
    expect(locOf(d)).toEqual(locOf(m.layer[0]));
    const p = withDefaults('caffe.PoolingParameter', {});
    expect(p).toMatchObject({ pool: 'MAX', stride: 1, ceil_mode: true, global_pooling: false });
    expect(withDefaults('caffe.PrecisionParameter', {}).quant_type).toBe('DynamicFixed');
  });
  test('schema is loaded once', () => {
    expect(caffeRoot()).toBe(caffeRoot());
    expect(lookupType('LayerParameter')).toBe(lookupType('caffe.LayerParameter'));
  });
});

// ---- property tests: printMessage → parse → bind is the identity ----

const specialChars = fc.constantFrom('"', "'", '\\', '\n', '\r', '\t', '#', '{', '}', ':', '\u0001', '\u007f', 'é', '😀', '中');
const unit = fc.oneof(
  specialChars,
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const str = fc.string({ unit, maxLength: 12 });
const u32 = fc.integer({ min: 0, max: 4294967295 });
const i32 = fc.integer({ min: -2147483648, max: 2147483647 });
const flt = fc.oneof(fc.float(), fc.double(), fc.constantFrom(1e-5, -0.5, 5e-5, 1e30, Infinity, -Infinity));
const arr = <T>(a: fc.Arbitrary<T>) => fc.array(a, { minLength: 1, maxLength: 4 });
const opt = <T extends Record<string, fc.Arbitrary<unknown>>>(r: T) => fc.record(r, { requiredKeys: [] });

const filler = opt({ type: str, value: flt, std: flt, sparse: i32, variance_norm: fc.constantFrom('FAN_IN', 'FAN_OUT', 'AVERAGE') });
const layerArb = opt({
  name: str,
  type: str,
  bottom: arr(str),
  top: arr(str),
  phase: fc.constantFrom('TRAIN', 'TEST'),
  loss_weight: arr(flt),
  include: arr(opt({ phase: fc.constantFrom('TRAIN', 'TEST'), min_level: i32, stage: arr(str) })),
  convolution_param: opt({
    num_output: u32,
    bias_term: fc.boolean(),
    pad: arr(u32),
    kernel_size: arr(u32),
    group: u32,
    weight_filler: filler,
    engine: fc.constantFrom('DEFAULT', 'CAFFE', 'CUDNN'),
    axis: i32,
  }),
  pooling_param: opt({ pool: fc.constantFrom('MAX', 'AVE', 'STOCHASTIC'), kernel_size: u32, stride: u32, global_pooling: fc.boolean(), ceil_mode: fc.boolean() }),
  precision_param: opt({ bw_layer_in: u32, fl_layer_in: i32, quant_type: str, th_layer_in: flt, th_params: arr(flt) }),
  input_param: opt({ shape: arr(opt({ dim: arr(fc.maxSafeInteger()) })) }),
  blobs: arr(opt({ shape: opt({ dim: arr(fc.integer({ min: 0, max: 2 ** 40 })) }), data: arr(flt), num: i32 })),
});
const netArb = opt({
  name: str,
  input: arr(str),
  input_dim: arr(i32),
  force_backward: fc.boolean(),
  state: opt({ phase: fc.constantFrom('TRAIN', 'TEST'), level: i32, stage: arr(str) }),
  layer: fc.array(layerArb, { minLength: 1, maxLength: 3 }),
});

/** float fields compared as float32 (what Caffe stores) */
function asFloat32(type: protobuf.Type, m: Msg): Msg {
  const out: Msg = {};
  for (const [k, v] of Object.entries(m)) {
    const f = type.fields[k];
    const conv = (x: unknown): unknown =>
      f.resolvedType instanceof protobuf.Type ? asFloat32(f.resolvedType, x as Msg) : f.type === 'float' ? Math.fround(x as number) : x;
    out[k] = Array.isArray(v) ? v.map(conv) : conv(v);
  }
  return out;
}

describe('property: printMessage then parse+bind gives the message back', () => {
  const Layer = lookupType('caffe.LayerParameter');
  const Net = lookupType('caffe.NetParameter');
  test('caffe.LayerParameter', () => {
    fc.assert(
      fc.property(layerArb, (layer) => {
        const text = printMessage('caffe.LayerParameter', layer);
        const back = bindMessage(parsePrototxt(text, 'p'), 'caffe.LayerParameter');
        expect(asFloat32(Layer, back)).toEqual(asFloat32(Layer, layer));
      }),
      { numRuns: 300 },
    );
  });
  test('caffe.NetParameter, also through the canonical formatter', () => {
    fc.assert(
      fc.property(netArb, (net) => {
        const text = printMessage('caffe.NetParameter', net);
        const doc = parsePrototxt(text, 'p');
        const back = bindMessage(doc);
        expect(asFloat32(Net, back)).toEqual(asFloat32(Net, net));
        const canon = formatCanonical(doc);
        expect(canon).toBe(text); // printMessage output is already canonical
        expect(bindMessage(parsePrototxt(canon, 'p'))).toEqual(back);
      }),
      { numRuns: 150 },
    );
  });
  test('floats: "float32" printing is the shortest text of the float32 value and reads back to it', () => {
    fc.assert(
      fc.property(fc.array(flt, { minLength: 1, maxLength: 5 }), (ths) => {
        const text = printMessage('caffe.PrecisionParameter', { th_params: ths }, 0, { floats: 'float32' });
        const back = bindMessage(parsePrototxt(text, 'p'), 'caffe.PrecisionParameter');
        expect(back.th_params.map(Math.fround)).toEqual(ths.map(Math.fround));
      }),
    );
    expect(printMessage('caffe.PrecisionParameter', { th_layer_in: 752.14132257, th_layer_out: 0.1, bw_layer_in: 8 }, 0, { floats: 'float32' })).toBe(
      'th_layer_in: 752.1413\nth_layer_out: 0.1\nbw_layer_in: 8\n',
    );
    expect(formatFloat32(Math.fround(0.1))).toBe('0.1');
    expect(formatFloat32(1e-45)).toBe('1e-45');
  });
  test('printMessage with indent, and nested layout', () => {
    expect(printMessage('caffe.LayerParameter', { name: 'a"b', top: ['x'], pooling_param: { pool: 'MAX' } }, 1)).toBe(
      '  name: "a\\"b"\n  top: "x"\n  pooling_param {\n    pool: MAX\n  }\n',
    );
  });
});

test('performance: parse+bind of resnet152.prototxt is well under 200 ms after warm-up', () => {
  const f = path.join(CORPUS, 'prototxt/resnet152.prototxt');
  const text = fs.readFileSync(f, 'utf8');
  for (let i = 0; i < 3; i++) bindMessage(parsePrototxt(text, f));
  const t: number[] = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    bindMessage(parsePrototxt(text, f));
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  if (process.env.CHAIQ_SHOW_BENCH) console.log(`resnet152 parse+bind median ${t[3].toFixed(1)} ms`);
  expect(t[3]).toBeLessThan(200);
});
