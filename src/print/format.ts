import * as protobuf from 'protobufjs';
import type { FieldNode, MessageNode, PrototxtDoc, ScalarNode } from '../../grammar/cst';
import { quoteString } from '../../grammar/strings';
import { ChaiqError } from '../errors';
import type { Msg } from '../proto/message';
import { lookupType } from '../proto/schema';

/** The trivia the parser keeps between the significant parts of a node (see grammar/cst.ts). */
function gapsOf(node: MessageNode | FieldNode): string[] {
  const g = node.gaps;
  if (!g) throw new Error('syntax tree has no trivia (not built by grammar/parsePrototxt)');
  return g;
}

function isScalar(v: ScalarNode | MessageNode): v is ScalarNode {
  return (v as ScalarNode).kind !== undefined;
}

/**
 * Re-emits a file from its syntax tree alone: field names, scalar source text and the kept trivia
 * (whitespace, comments, punctuation). Equal to `doc.text` byte for byte when the tree is lossless.
 */
export function reprintLossless(doc: PrototxtDoc): string {
  const out: string[] = [];
  const message = (m: MessageNode) => {
    const gaps = gapsOf(m);
    for (let i = 0; i < m.fields.length; i++) {
      out.push(gaps[i]);
      field(m.fields[i]);
    }
    out.push(gaps[m.fields.length]);
  };
  const value = (v: ScalarNode | MessageNode) => (isScalar(v) ? out.push(v.raw) : message(v));
  const field = (f: FieldNode) => {
    const gaps = gapsOf(f);
    out.push(f.name, gaps[0]);
    if (Array.isArray(f.value)) {
      f.value.forEach((v, i) => {
        value(v);
        out.push(gaps[i + 1]);
      });
    } else value(f.value);
  };
  message(doc.root);
  return out.join('');
}

// ---- canonical formatting ----

interface GapComment {
  text: string;
  /** no line break between the previous element and this comment */
  trailing: boolean;
  /** a blank line precedes it */
  blankBefore: boolean;
}

/** Comments in a gap, and whether a blank line separates the last of them (or the gap start) from what follows. */
function scanGap(gap: string): { comments: GapComment[]; blankAfter: boolean } {
  const comments: GapComment[] = [];
  let newlines = 0;
  let sawNewline = false;
  for (let i = 0; i < gap.length; i++) {
    const c = gap[i];
    if (c === '\n') {
      newlines++;
      sawNewline = true;
    } else if (c === '#') {
      let j = gap.indexOf('\n', i);
      if (j < 0) j = gap.length;
      comments.push({ text: gap.slice(i, j).replace(/\s+$/, ''), trailing: !sawNewline, blankBefore: newlines >= 2 });
      newlines = 0;
      i = j - 1;
    }
  }
  return { comments, blankAfter: newlines >= 2 };
}

const STRING_OR_COMMENT = /"(?:[^"\\\n\r]|\\[^\n\r])*"|'(?:[^'\\\n\r]|\\[^\n\r])*'|#[^\n\r]*/g;

function canonicalScalar(v: ScalarNode): string {
  if (v.kind === 'string') return quoteString(v.value as string);
  if (v.kind === 'number') return v.raw.replace(/[ \t]+/g, '');
  return v.raw;
}

/**
 * Canonical layout of a parsed file: 2-space indent, one field per line, `name: value` and
 * `name {`, strings re-quoted with double quotes, numbers and enum names as written, comments kept
 * (on their own line, or trailing the line they trailed), at most one blank line kept between fields.
 * Idempotent: formatting the output again gives the same text.
 */
export function formatCanonical(doc: PrototxtDoc): string {
  const lines: string[] = [];
  const pad = (d: number) => '  '.repeat(d);

  /**
   * Emits a gap's comments: one written on the line of the previous element stays there, the others
   * get their own line. Returns whether a blank line should precede what follows the gap.
   * `atStart`: the gap opens a block, so no blank line is kept before its first item.
   */
  const emitGap = (gap: string, depth: number, atStart: boolean): boolean => {
    const { comments, blankAfter } = scanGap(gap);
    let emitted = !atStart;
    for (const c of comments) {
      if (c.trailing && lines.length > 0) {
        lines[lines.length - 1] += ' ' + c.text;
        continue;
      }
      if (c.blankBefore && emitted) lines.push('');
      lines.push(pad(depth) + c.text);
      emitted = true;
    }
    return blankAfter && emitted;
  };

  const message = (m: MessageNode, depth: number, isRoot: boolean) => {
    let gaps = gapsOf(m);
    if (!isRoot) {
      // drop the braces: gaps[0] starts with `{`/`<`, the last ends with `}`/`>`
      gaps = gaps.slice();
      gaps[0] = gaps[0].slice(1);
      gaps[gaps.length - 1] = gaps[gaps.length - 1].slice(0, -1);
    }
    for (let i = 0; i < m.fields.length; i++) {
      if (emitGap(gaps[i], depth, i === 0)) lines.push('');
      field(m.fields[i], depth);
    }
    emitGap(gaps[m.fields.length], depth, m.fields.length === 0);
  };

  const field = (f: FieldNode, depth: number) => {
    const gaps = gapsOf(f);
    // comments written inside a field (between its name and value, or inside a list) go before it
    for (const g of gaps) {
      if (g.indexOf('#') < 0) continue;
      for (const c of scanGap(g).comments) lines.push(pad(depth) + c.text);
    }
    // ... and so do comments between adjacent string literals (`"a" # c` newline `"b"`)
    for (const v of Array.isArray(f.value) ? f.value : [f.value]) {
      if (!isScalar(v) || v.kind !== 'string' || v.raw.indexOf('#') < 0) continue;
      for (const m of v.raw.matchAll(STRING_OR_COMMENT)) if (m[0][0] === '#') lines.push(pad(depth) + m[0].replace(/\s+$/, ''));
    }
    const one = (v: ScalarNode | MessageNode) => {
      if (isScalar(v)) lines.push(`${pad(depth)}${f.name}: ${canonicalScalar(v)}`);
      else {
        lines.push(`${pad(depth)}${f.name} {`);
        message(v, depth + 1, false);
        lines.push(`${pad(depth)}}`);
      }
    };
    if (!Array.isArray(f.value)) one(f.value);
    else if (f.value.length === 0) lines.push(`${pad(depth)}${f.name}: []`);
    else if (f.value.every(isScalar)) lines.push(`${pad(depth)}${f.name}: [${(f.value as ScalarNode[]).map(canonicalScalar).join(', ')}]`);
    else f.value.forEach(one); // a list of messages: one `name { }` block each (same meaning)
  };

  message(doc.root, 0, true);
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return lines.length ? lines.join('\n') + '\n' : '';
}

// ---- printing bound messages ----

/** A number as protobuf text format reads it back exactly (shortest round-trip form). */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  if (Object.is(v, -0)) return '-0';
  return String(v);
}

function bytesLiteral(b: Uint8Array): string {
  let s = '"';
  for (const x of b) {
    if (x === 0x22) s += '\\"';
    else if (x === 0x5c) s += '\\\\';
    else if (x >= 0x20 && x < 0x7f) s += String.fromCharCode(x);
    else s += '\\' + x.toString(8).padStart(3, '0');
  }
  return s + '"';
}

/**
 * The shortest decimal that reads back as the same float32 (what Caffe stores for a `float`
 * field), e.g. 0.1 rather than 0.10000000149011612.
 */
export function formatFloat32(v: number): string {
  const f = Math.fround(v);
  if (!Number.isFinite(f) || f === 0) return formatNumber(f); // inf/nan, 0 and -0 (also for underflow)
  for (let p = 1; p <= 9; p++) {
    const s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) return String(Number(s));
  }
  return String(f);
}

export interface PrintOptions {
  /** `exact` (default): every float as the shortest text of its double value; `float32`: float fields as the shortest text of their float32 value */
  floats?: 'exact' | 'float32';
}

function scalarText(field: protobuf.Field, v: unknown, opts: PrintOptions): string {
  if (field.resolvedType instanceof protobuf.Enum) return String(v);
  switch (field.type) {
    case 'string':
      return quoteString(String(v));
    case 'bytes':
      return bytesLiteral(v as Uint8Array);
    case 'bool':
      return v ? 'true' : 'false';
    case 'float':
      return opts.floats === 'float32' ? formatFloat32(Number(v)) : formatNumber(Number(v));
    default:
      return formatNumber(Number(v));
  }
}

/**
 * Prints a bound message (the Msg form of bind.ts / protobufjs toObject) in canonical text format:
 * fields in the object's key order, repeated fields one line per element, sub-messages as
 * `name {` blocks. `indent` is the nesting depth of the lines (2 spaces each). Ends with a newline
 * unless the message is empty.
 */
export function printMessage(typeName: string | protobuf.Type, msg: Msg, indent = 0, opts: PrintOptions = {}): string {
  const type = typeof typeName === 'string' ? lookupType(typeName) : typeName;
  const pad = '  '.repeat(indent);
  let out = '';
  for (const key of Object.keys(msg)) {
    const v = msg[key];
    if (v === undefined || v === null) continue;
    const field = type.fields[key];
    if (!field) throw new ChaiqError(`cannot print field \`${key}\`: not a field of ${type.fullName.slice(1)}`);
    const values = field.repeated ? (v as unknown[]) : [v];
    for (const x of values) {
      if (field.resolvedType instanceof protobuf.Type) {
        out += `${pad}${key} {\n${printMessage(field.resolvedType, x as Msg, indent + 1, opts)}${pad}}\n`;
      } else out += `${pad}${key}: ${scalarText(field, x, opts)}\n`;
    }
  }
  return out;
}
