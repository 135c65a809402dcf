import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parsePrototxt } from '../grammar';
import { bindMessage } from '../src/proto/bind';
import { formatCanonical } from '../src/print/format';
import { cliServer, runCli } from './helpers/cli';
import { CORPUS, corpusPrototxts } from './helpers/corpus';

const MALFORMED = path.join(__dirname, 'fixtures/malformed');

describe('formatCanonical', () => {
  test.each(corpusPrototxts().map((f) => [path.relative(CORPUS, f), f]))('%s: idempotent and meaning-preserving', (_rel, f) => {
    const doc = parsePrototxt(fs.readFileSync(f, 'utf8'), f);
    const once = formatCanonical(doc);
    const doc2 = parsePrototxt(once, f);
    expect(formatCanonical(doc2)).toBe(once);
    if (!f.endsWith('chaidnn_docs_precision_param_examples.prototxt')) expect(bindMessage(doc2)).toEqual(bindMessage(doc));
    // every comment survives
    const comments = (s: string) => (s.match(/#[^\n\r]*/g) ?? []).map((c) => c.trim());
    expect(comments(once)).toEqual(comments(doc.text));
  });

  test('layout: indent, one field per line, quotes, separators, comments, blank lines', () => {
    const text = [
      '# head',
      'name:"net"  # trailing',
      '',
      '',
      "layer < name: 'a\\'b' ; top: \"x\" \"y\", dim: [1,2] > # after",
      'layer: { # open',
      '  type: "T"',
      '',
      '  # before close',
      '}',
      'empty {}',
      'adj: "a#" # between',
      '  "b"',
    ].join('\r\n');
    expect(formatCanonical(parsePrototxt(text, 'x'))).toBe(
      [
        '# head',
        'name: "net" # trailing',
        '',
        'layer {',
        '  name: "a\'b"',
        '  top: "xy"',
        '  dim: [1, 2]',
        '} # after',
        'layer { # open',
        '  type: "T"',
        '',
        '  # before close',
        '}',
        'empty {',
        '}',
        '# between',
        'adj: "a#b"',
        '',
      ].join('\n'),
    );
  });
});

describe('chaiq fmt', () => {
  const cases = fs
    .readdirSync(MALFORMED)
    .filter((f) => f.endsWith('.prototxt'))
    .sort();
  test('there are at least 20 malformed cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });
  // main()'s answer to each file, in one node process (bin/chaiq.js itself: the tests below)
  const cli = cliServer();
  afterAll(() => cli.close());
  test.each(cases)('malformed/%s: one located error, exit 1, no stack trace', async (name) => {
    const file = path.join('test/fixtures/malformed', name);
    const header = fs.readFileSync(path.join(MALFORMED, name), 'utf8').split('\n')[0];
    const m = /^# expect: (\d+):(\d+): (.*)$/.exec(header);
    expect(m).not.toBeNull();
    const [, line, col, fragment] = m!;
    const r = await cli.run(['fmt', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const first = r.stderr.split('\n')[0];
    expect(first.slice(0, `${file}:${line}:${col}: error: `.length)).toBe(`${file}:${line}:${col}: error: `);
    expect(first).toContain(fragment);
    expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+/);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  test('prints canonical text; --check passes on corpus files; --in-place rewrites atomically', () => {
    const f = path.join(CORPUS, 'models/cifar10_resnet20_lijianfei/test_ResNet_20.prototxt');
    const r = runCli(['fmt', f]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(formatCanonical(parsePrototxt(fs.readFileSync(f, 'utf8'), f)));
    expect(runCli(['fmt', '--check', f]).code).toBe(0);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-fmt-'));
    const tmp = path.join(dir, 'n.prototxt');
    fs.writeFileSync(tmp, 'name:"n" layer<name:\'a\'>');
    expect(runCli(['fmt', '--in-place', tmp]).code).toBe(0);
    expect(fs.readFileSync(tmp, 'utf8')).toBe('name: "n"\nlayer {\n  name: "a"\n}\n');
    expect(runCli(['fmt', '--check', '--canonical', tmp]).code).toBe(0);
    const r2 = runCli(['fmt', '--check', '--canonical', f]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/not in canonical layout/);
    expect(fs.readdirSync(dir)).toEqual(['n.prototxt']);
    fs.rmSync(dir, { recursive: true });
  });

  test('reports several errors of one file, and reads stdin', () => {
    const r = runCli(['fmt', '-'], { input: 'layer { nme: "a" }\nlayer { top: 3 }\n' });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      '<stdin>:1:9: error: unknown field `nme` in caffe.LayerParameter (did you mean `name`?)',
      '<stdin>:2:14: error: field `top` takes a string in quotes, not \'3\'',
    ]);
    expect(runCli(['fmt', '--no-bind', '-'], { input: 'x: 1' }).stdout).toBe('x: 1\n');
    expect(runCli(['fmt', 'no/such/file.prototxt']).stderr).toMatch(/^no\/such\/file\.prototxt: error: prototxt not found/);
  });
});
