/** src/cli/inputs.ts: the `# input:` header written by --optimized_weights and read back as default preprocessing. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { applyInputHeader, inputHeaderLine, parseInputShape, readInputHeader } from '../src/cli/inputs';
import { buildPreprocess } from '../src/cli/preprocess';
import { XPORTDNN_PREPROCESS } from '../src/io/images';
import type { Preprocess } from '../src/io/images';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-header-'));
let n = 0;
function headerOf(line: string) {
  const f = path.join(dir, `h${n++}.prototxt`);
  fs.writeFileSync(f, `# rewritten by chaiq quantize --optimized_weights: use with the weights in q.caffemodel\r\n${line}\r\nname: "x"\n`);
  const warnings: string[] = [];
  const h = readInputHeader(f, (m) => warnings.push(m));
  return { f, h, warnings };
}

test('the line round-trips: per-channel mean (times input_scale), channel order, mean image with its factor', () => {
  const pre: Preprocess = { ...XPORTDNN_PREPROCESS, dims: [3, 32, 32], channelSwap: [0, 1, 2], mean: [125.3, 122.9, 113.8] };
  const line = inputHeaderLine(pre);
  expect(line).toBe("# input: pixels 0..255 minus 125.3,122.9,113.8, no scale (as CHaiDNN's image reader feeds it); channel_swap 0,1,2 (the reader gives BGR, 2,1,0)");
  const { f, h, warnings } = headerOf(line);
  expect(warnings).toEqual([]);
  expect(h.rewritten).toBe(true);
  expect(h.input).toMatchObject({ line: 2, mean: [125.3, 122.9, 113.8], channelSwap: [0, 1, 2], meanImageScale: 1 });
  const args = applyInputHeader({ dims: '3,32,32' }, h, f, () => undefined);
  const got = buildPreprocess(args, [3, 32, 32]);
  expect(got).toEqual({ ...pre, transpose: [2, 0, 1] });
  // raw_scale 1 with input_scale 255 feeds the board's scale: the mean is scaled by input_scale
  expect(inputHeaderLine({ ...XPORTDNN_PREPROCESS, dims: [1, 28, 28], rawScale: 1, inputScale: 255, mean: [0.5] })).toMatch(/minus 127\.5, no scale/);
  const img = headerOf(inputHeaderLine({ ...XPORTDNN_PREPROCESS, mean: new Float32Array(3 * 224 * 224) }, 255));
  expect(img.h.input).toMatchObject({ mean: 'image', meanImageScale: 255 });
  expect(() => applyInputHeader({}, img.h, img.f, () => undefined)).toThrow(/give that image with --mean_file/);
  expect(applyInputHeader({ mean_file: 'm.binaryproto' }, img.h, img.f, () => undefined).mean_file_scale).toBe(255);
});

test('flags given explicitly win, with a warning only where they disagree; other # input: lines are ignored with a warning', () => {
  const { f, h } = headerOf("# input: pixels 0..255 minus 127.0, no scale (as CHaiDNN's image reader feeds it)");
  const warnings: string[] = [];
  const warn = (m: string, loc?: { line?: number }) => warnings.push(`${loc?.line}: ${m}`);
  // the same values, written otherwise: no warning
  expect(applyInputHeader({ raw_scale: 255.0, mean_value: '127,127,127', input_scale: 1 }, h, f, warn).mean_value).toBe('127,127,127');
  expect(warnings).toEqual([]);
  const a = applyInputHeader({ input_scale: 0.00390625, mean_value: '125.3' }, h, f, warn);
  expect(a).toMatchObject({ input_scale: 0.00390625, mean_value: '125.3', raw_scale: 255 });
  expect(warnings).toEqual([
    '2: --input_scale 0.00390625 disagrees with the input this prototxt takes (no scale, input_scale 1, as its `# input:` line says): the flag wins',
    '2: --mean_value 125.3 disagrees with the input this prototxt takes (pixels minus 127.0, as its `# input:` line says): the flag wins',
  ]);
  const other = headerOf('# input: BGR, mean subtracted');
  expect(other.h.input).toBeUndefined();
  expect(other.warnings).toEqual(['this `# input:` line is not one chaiq wrote; it is ignored (give the preprocessing flags)']);
  // no header: the flags as they are
  const none = path.join(dir, 'plain.prototxt');
  fs.writeFileSync(none, 'name: "x"\n# input: pixels 0..255 minus 1.0, no scale\n');
  expect(readInputHeader(none, () => undefined)).toEqual({ rewritten: false });
});

test('--input_shape', () => {
  expect(parseInputShape('1,3,344,450')).toEqual([1, 3, 344, 450]);
  expect(parseInputShape('1x3x32x32', { batchOne: true })).toEqual([1, 3, 32, 32]);
  expect(() => parseInputShape('3,32,32')).toThrow(/N,C,H,W/);
  expect(() => parseInputShape('2,3,32,32', { batchOne: true })).toThrow(/runs batch 1/);
});
