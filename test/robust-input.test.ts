import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parsePrototxtAll } from '../grammar';
import { CORPUS, ROOT, runCli } from './helpers/cli';

const LENET = path.join(ROOT, 'models/lenet');
const CAFFEMODEL = path.join(LENET, 'lenet_iter_10000.caffemodel');
const PROTO = path.join(LENET, 'lenet.prototxt');
let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-robust-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l && !/: warning: /.test(l));

describe('binary input given as a prototxt', () => {
  test.each([
    ['info', ['info', '--deploy_model', CAFFEMODEL, '--weights', PROTO], 1],
    ['fmt', ['fmt', CAFFEMODEL], 1],
    ['lint', ['lint', CAFFEMODEL], 1],
    ['diff', ['diff', CAFFEMODEL, PROTO], 2],
  ] as const)('%s names the file and says it is a caffemodel', (_, args, code) => {
    const r = runCli([...args]);
    expect(r.code).toBe(code);
    const lines = errorLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${CAFFEMODEL}: error: this looks like a binary caffemodel, not a prototxt`);
    expect(r.stderr).not.toMatch(/internal error|Maximum call stack/);
  });

  test('a JPEG and a PNG are named as images, no raw bytes in the message', () => {
    for (const [f, kind] of [[path.join(CORPUS, 'images/cat_caffe.jpg'), 'JPEG'], [path.join(CORPUS, 'images/camvid_0001TP_008550.png'), 'PNG']]) {
      const r = runCli(['fmt', f]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(`${f}: error: this looks like a ${kind} image, not a prototxt\n`);
    }
  });

  test('control characters in a message are escaped', () => {
    const f = path.join(tmp, 'ctl.prototxt');
    fs.writeFileSync(f, 'name: "lenet"\nlayer {\n  name: "a"\n  type: "ReLU"\n  \x7f bottom: "x"\n}\n' + '# padding\n'.repeat(20));
    const r = runCli(['fmt', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${f}:5:3: error: unexpected character '\\x7f'\n`);
  });
});

describe('nesting depth', () => {
  test('700 levels: a located error, exit 1, for every command that reads prototxts', () => {
    const f = path.join(tmp, 'deep.prototxt');
    fs.writeFileSync(f, 'layer {\n' + 'a {'.repeat(700) + '}'.repeat(700) + '\n}\n');
    for (const args of [['fmt', f], ['info', '--deploy_model', f], ['lint', f], ['diff', f, PROTO]]) {
      const r = runCli(args);
      expect(r.code).toBe(args[0] === 'diff' ? 2 : 1);
      const msg = `${f}:2:300: error: message nested deeper than 100 levels`;
      if (args[0] === 'lint') expect(r.stdout).toBe(`${msg} [syntax]\n`);
      else expect(errorLines(r.stderr)).toEqual([msg]);
    }
  });

  test('100 levels parse, 101 do not', () => {
    const at = (n: number) => 'a {'.repeat(n) + '}'.repeat(n);
    expect(parsePrototxtAll(at(100), 'x').errors).toEqual([]);
    expect(parsePrototxtAll(at(101), 'x').errors[0].message).toBe('message nested deeper than 100 levels');
  });
});

describe('errors found by the fuzzer name the file', () => {
  test('diff of a V0 prototxt with an unknown layer type', () => {
    const f = path.join(tmp, 'v0.prototxt');
    fs.writeFileSync(f, 'name: "n"\nlayers {\n  layer {\n    name: "a"\n    type: "nosuch"\n  }\n}\n');
    const r = runCli(['diff', f, PROTO]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^${f}:\\d+:\\d+: error: unknown V0 layer type 'nosuch'\\n$`));
  });

  test('forward of images on a net without an input: bad input naming the prototxt', () => {
    const f = path.join(tmp, 'noinput.prototxt');
    fs.writeFileSync(f, 'name: "n"\n');
    const img = path.join(LENET, 'digits/test/0', fs.readdirSync(path.join(LENET, 'digits/test/0'))[0]);
    const r = runCli(['forward', '--deploy_model', f, '--input', img]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${f}: error: images need a net with one input; this one has 0\n`);
  });
});

test('a huge token in a message is cut in the middle (one readable line)', () => {
  const f = path.join(tmp, 'hugetype.prototxt');
  fs.writeFileSync(f, `input: "data"\ninput_dim: 1\ninput_dim: 1\ninput_dim: 4\ninput_dim: 4\nlayer {\n  name: "a"\n  type: "${'X'.repeat(50000)}"\n  bottom: "data"\n  top: "a"\n}\n`);
  const r = runCli(['info', '--deploy_model', f]);
  expect([0, 1]).toContain(r.code);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines.length).toBeGreaterThan(0);
  for (const l of lines) expect(l.length).toBeLessThan(1200);
  expect(r.stderr).toMatch(/ \.\.\. \(\d+ characters\) \.\.\. /);
});

describe('what the 100 000-case fuzz run found', () => {
  test('a blob too large to run is a located error, not an allocation crash (forward, quantize)', () => {
    const f = path.join(tmp, 'huge.prototxt');
    fs.writeFileSync(f, 'layer {\n  name: "data"\n  type: "Input"\n  top: "data"\n  input_param { shape { dim: 10 dim: 3 dim: 200 dim: 2147483648 } }\n}\n');
    const img = path.join(LENET, 'digits/test/0', fs.readdirSync(path.join(LENET, 'digits/test/0'))[0]);
    const fwd = runCli(['forward', '--deploy_model', f, '--input', img]);
    expect(fwd.code).toBe(1);
    expect(fwd.stderr).toMatch(new RegExp(`^${f}:1:\\d+: error: layer 'data' \\(Input\\): top 'data' of shape \\(10,3,200,2147483648\\) would hold \\d+ values, more than chaiq can run`));
    const q = runCli(['quantize', '--quant_type', 'DynamicFixed', '--deploy_model', f, '--quantized_deploy_model', path.join(tmp, 'huge_q.prototxt')]);
    expect(q.code).toBe(1);
    expect(errorLines(q.stderr)).toHaveLength(1);
    expect(fs.existsSync(path.join(tmp, 'huge_q.prototxt'))).toBe(false);
  });

  test('info keeps its table readable when a layer type is a huge token', () => {
    const f = path.join(tmp, 'hugetype2.prototxt');
    fs.writeFileSync(f, `input: "data"\ninput_dim: 1\ninput_dim: 1\ninput_dim: 4\ninput_dim: 4\n${Array.from({ length: 3 }, (_, i) => `layer {\n  name: "a${i}"\n  type: "${'layer {'.repeat(20000)}"\n  bottom: "data"\n  top: "a${i}"\n}\n`).join('')}`);
    const r = runCli(['info', '--deploy_model', f]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/internal error/);
    for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThan(400);
  });
});
