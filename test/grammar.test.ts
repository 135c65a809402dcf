import * as fs from 'fs';
import * as path from 'path';
import fc from 'fast-check';
import { parsePrototxt, parsePrototxtAll } from '../grammar';
import type { FieldNode, MessageNode, ScalarNode } from '../grammar/cst';
import { ChaiqError, formatError } from '../src/errors';
import { formatCanonical, reprintLossless } from '../src/print/format';
import { bindMessageAll } from '../src/proto/bind';
import { CORPUS, corpusPrototxts } from './helpers/corpus';

const scalar = (f: FieldNode) => f.value as ScalarNode;
const msg = (f: FieldNode) => f.value as MessageNode;

describe('corpus', () => {
  const files = corpusPrototxts();
  test('has the expected files', () => {
    expect(files.length).toBeGreaterThanOrEqual(80);
    expect(files.some((f) => f.includes('/chaidnn/'))).toBe(true);
    expect(files.some((f) => f.includes('/models/'))).toBe(true);
  });
  test.each(files.map((f) => [path.relative(CORPUS, f), f]))('%s parses and re-prints byte for byte', (_rel, f) => {
    const text = fs.readFileSync(f, 'utf8');
    const r = parsePrototxtAll(text, f);
    expect(r.errors.map((e) => formatError(e))).toEqual([]);
    expect(reprintLossless(r.doc!)).toBe(text);
  });
});

describe('syntax', () => {
  test('all value forms Caffe files use', () => {
    const text = [
      `name:"x" # no space`,
      `a: 'single \\'q\\''`,
      `b: "adj" 'acent' # concatenated`,
      `c: 0x1F`,
      `d: -7`,
      `e: 1e-5`,
      `f: .5`,
      `g: 5.`,
      `h: -inf`,
      `i: inf`,
      `j: nan`,
      `k: True`,
      `l: MAX`,
      `dim: [1, 3, 224, 224]`,
      `m: { n: 1 }`,
      `o { p: 2 }`,
      `q < r: 3 >`,
      `s: 1.0f, t: 2; u: 010`,
    ].join('\n');
    const doc = parsePrototxt(text, 't.prototxt');
    const by = (n: string) => doc.root.fields.find((f) => f.name === n)!;
    expect(scalar(by('name')).value).toBe('x');
    expect(scalar(by('a')).value).toBe("single 'q'");
    expect(scalar(by('b')).value).toBe('adjacent');
    expect(scalar(by('b')).raw).toBe(`"adj" 'acent'`);
    expect(scalar(by('c')).value).toBe(31);
    expect(scalar(by('d')).value).toBe(-7);
    expect(scalar(by('e')).value).toBe(1e-5);
    expect(scalar(by('f')).value).toBe(0.5);
    expect(scalar(by('g')).value).toBe(5);
    expect(scalar(by('h')).value).toBe(-Infinity);
    expect(scalar(by('i'))).toMatchObject({ kind: 'number', raw: 'inf', value: Infinity });
    expect(scalar(by('j'))).toMatchObject({ kind: 'number', raw: 'nan' });
    expect(scalar(by('j')).value).toBeNaN();
    expect(scalar(by('k'))).toMatchObject({ kind: 'ident', value: 'True' });
    expect((by('dim').value as ScalarNode[]).map((s) => s.value)).toEqual([1, 3, 224, 224]);
    expect(msg(by('m')).fields[0].name).toBe('n');
    expect(msg(by('o')).fields[0].name).toBe('p');
    expect(msg(by('q')).fields[0].name).toBe('r');
    expect(scalar(by('s')).value).toBe(1);
    expect(scalar(by('u')).value).toBe(8); // C octal, as protobuf reads it
    expect(reprintLossless(doc)).toBe(text);
  });

  test('escapes: C escapes, octal/hex bytes as UTF-8, unicode', () => {
    const doc = parsePrototxt(`s: "a\\n\\t\\\\\\"\\x41\\101\\303\\251\\u00e9é"`, 'e');
    expect(scalar(doc.root.fields[0]).value).toBe('a\n\t\\"AAééé');
  });

  test('spans and positions (1-based, tabs count one column, CRLF)', () => {
    const text = 'layer {\r\n\tname: "a"\r\n  top: "b" }';
    const doc = parsePrototxt(text, 'p');
    const layer = doc.root.fields[0];
    expect(layer.nameSpan).toEqual({ start: 0, end: 5, line: 1, col: 1 });
    const m = msg(layer);
    expect(m.span).toMatchObject({ start: 6, end: text.length, line: 1, col: 7 });
    expect(m.fields[0].nameSpan).toMatchObject({ line: 2, col: 2 });
    expect(scalar(m.fields[1]).span).toMatchObject({ line: 3, col: 8 });
    expect(text.slice(m.fields[1].span.start, m.fields[1].span.end)).toBe('top: "b"');
    expect(layer.span.end).toBe(text.length);
    expect(reprintLossless(doc)).toBe(text);
  });

  test('empty file, comments only, no trailing newline', () => {
    for (const t of ['', '# only a comment', '\n\n  # c\n', 'a: 1', 'a {}', 'a: []']) {
      const doc = parsePrototxt(t, 'x');
      expect(reprintLossless(doc)).toBe(t);
    }
  });

  test('the reprint is built from the tree: editing the tree changes the output', () => {
    const text = 'layer {\n  name: "a" # keep\n  top: "b"\n}\n';
    const doc = parsePrototxt(text, 'x');
    const m = msg(doc.root.fields[0]);
    m.fields[0].name = 'nom';
    (m.fields[1].value as ScalarNode).raw = '"c"';
    expect(reprintLossless(doc)).toBe('layer {\n  nom: "a" # keep\n  top: "c"\n}\n');
    m.fields.pop();
    (m as any).gaps.splice(1, 1);
    expect(reprintLossless(doc)).toBe('layer {\n  nom: "a"\n}\n');
  });
});

describe('syntax errors', () => {
  const err = (text: string) => {
    try {
      parsePrototxt(text, 'f.prototxt');
    } catch (e) {
      expect(e).toBeInstanceOf(ChaiqError);
      return formatError(e as ChaiqError);
    }
    throw new Error('no error');
  };
  test.each([
    ['a: "abc', `f.prototxt:1:4: error: missing terminating " character`],
    ['layer {\n  a: 1\n', `f.prototxt:3:1: error: expected a field name or '}' to close the '{' at 1:7, found end of file`],
    ['a { }\n}', `f.prototxt:2:1: error: unmatched '}'`],
    ['a: "x\\y"', `f.prototxt:1:6: error: invalid escape sequence '\\y' in string`],
    ['a: 1.2.3', `f.prototxt:1:4: error: malformed number '1.2.3'`],
    ['a: 5 ? b: 1', `f.prototxt:1:6: error: unexpected character '?'`],
    ['a 5', `f.prototxt:1:3: error: expected ':' between 'a' and its value`],
    ['a: }', `f.prototxt:1:4: error: expected a value for 'a', found '}'`],
    ['a { b: 1 >', `f.prototxt:1:10: error: '>' does not match the '{' at 1:3`],
    ['a: [1, 2', `f.prototxt:1:9: error: expected ']', found end of file`],
    ['a: "x" # c "\n  "b\\q"', `f.prototxt:2:5: error: invalid escape sequence '\\q' in string`],
    ['a: 1\n\n  b: "x', `f.prototxt:3:6: error: missing terminating " character`],
  ])('%j', (text, want) => {
    expect(err(text)).toBe(want);
  });

  test('recovers and reports several errors in one file', () => {
    const text = 'layer {\n  name: "a" @\n  top: 1.2.3\n}\n}\nlayer { x: "\\q" }\n';
    const r = parsePrototxtAll(text, 'f');
    expect(r.errors.map((e) => `${e.loc.line}:${e.loc.col}`)).toEqual(['2:13', '3:8', '5:1', '6:13']);
    expect(r.doc).toBeDefined();
    expect(r.doc!.root.fields.length).toBe(2);
  });
});

test('fuzz: any token soup gives located ChaiqErrors or a lossless tree, never a crash', () => {
  const tok = fc.constantFrom(
    'layer', 'name', ':', '{', '}', '<', '>', '[', ']', ',', ';', '"a"', "'b'", '"x\\q"', '"unterm', '1', '-2', '1.5', '1.5.3', '0x1F',
    'inf', '-inf', 'nan', 'True', 'MAX', '#c\n', '\n', ' ', '\t', '@', 'convolution_param', 'num_output', 'pooling_param', 'pool', 'top', '\r\n', 'dim',
  );
  fc.assert(
    fc.property(fc.array(tok, { maxLength: 40 }), (ts) => {
      const text = ts.join(' ');
      const r = parsePrototxtAll(text, 'f');
      for (const e of r.errors) {
        expect(e).toBeInstanceOf(ChaiqError);
        expect(e.loc.line).toBeGreaterThanOrEqual(1);
        expect(e.loc.col).toBeGreaterThanOrEqual(1);
      }
      if (r.doc) {
        // a partial tree (after errors) is still safe to bind and print
        bindMessageAll(r.doc);
        formatCanonical(r.doc);
        if (!r.errors.length) {
          expect(reprintLossless(r.doc)).toBe(text);
          const c = formatCanonical(r.doc);
          expect(formatCanonical(parsePrototxt(c, 'f'))).toBe(c);
        }
      }
    }),
    { numRuns: 1500 },
  );
});
