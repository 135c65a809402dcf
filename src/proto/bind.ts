import * as protobuf from 'protobufjs';
import type { FieldNode, MessageNode, PrototxtDoc, ScalarNode, Span } from '../../grammar/cst';
import { ChaiqError, SourceLoc } from '../errors';
import type { Msg } from './message';
import { locations, lookupType, MsgLocations } from './schema';

/** Where a bound message starts in its file (the `{` of a nested message, 1:1 for the root). */
export function locOf(msg: Msg): SourceLoc | undefined {
  return locations.get(msg)?.loc;
}

/**
 * Where a field's value is (for a repeated field, the `index`-th element, default the first).
 * For a message-typed field this is its `{`.
 */
export function fieldLocOf(msg: Msg, field: string, index = 0): SourceLoc | undefined {
  return locations.get(msg)?.fields.get(field)?.[index];
}

/** Where a field's name is written (the `index`-th occurrence for a repeated field written as several lines). */
export function fieldNameLocOf(msg: Msg, field: string, index = 0): SourceLoc | undefined {
  return locations.get(msg)?.names.get(field)?.[index];
}

/** Levenshtein distance, for did-you-mean hints. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = new Array<number>(n + 1);
  let cur = new Array<number>(n + 1);
  for (let j = 0; j <= n; j++) prev[j] = j;
  for (let i = 1; i <= m; i++) {
    cur[0] = i;
    for (let j = 1; j <= n; j++) {
      const c = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + c);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[n];
}

/** The closest candidate within a reasonable distance, or undefined. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  const limit = Math.max(1, Math.floor(word.length / 3));
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= limit ? best : undefined;
}

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64 = new Set(['uint64', 'fixed64']);
const FLOAT = new Set(['float', 'double']);

const TRUE = new Set(['true', 'True', 't']);
const FALSE = new Set(['false', 'False', 'f']);

function describeScalar(n: ScalarNode): string {
  if (n.kind === 'string') return `string ${n.raw.length > 40 ? n.raw.slice(0, 37) + '...' : n.raw}`;
  return `'${n.raw}'`;
}

/**
 * Locations of one bound message, computed from its syntax nodes only when asked for: binding a big
 * net then allocates almost nothing for locations (lint and graph look up a few of them).
 */
class LazyLocations implements MsgLocations {
  private built?: { fields: Map<string, SourceLoc[]>; names: Map<string, SourceLoc[]> };
  /** syntax nodes bound into this message (several when a singular message is written twice) */
  readonly nodes: MessageNode[] = [];
  constructor(
    readonly loc: SourceLoc,
    private readonly file: string,
    private readonly type: protobuf.Type,
    /** field and value nodes that failed to bind (absent from the message) */
    private readonly skip: Set<object>,
  ) {}
  get fields(): Map<string, SourceLoc[]> {
    return (this.built ??= this.build()).fields;
  }
  get names(): Map<string, SourceLoc[]> {
    return (this.built ??= this.build()).names;
  }
  private build() {
    const fields = new Map<string, SourceLoc[]>();
    const names = new Map<string, SourceLoc[]>();
    const at = (s: Span): SourceLoc => ({ file: this.file, line: s.line, col: s.col });
    for (const node of this.nodes) {
      for (const f of node.fields) {
        const field = this.type.fields[f.name];
        if (!field || this.skip.has(f)) continue;
        let n = names.get(f.name);
        if (!n) names.set(f.name, (n = []));
        n.push(at(f.nameSpan));
        let v = fields.get(f.name);
        if (!v) fields.set(f.name, (v = []));
        for (const x of Array.isArray(f.value) ? f.value : [f.value]) {
          if (this.skip.has(x)) continue;
          if (!field.repeated && v.length) continue; // merged singular message: its first `{`
          v.push(at(x.span));
        }
      }
    }
    return { fields, names };
  }
}

class Binder {
  /** nodes that failed to bind, shared by all LazyLocations of this document */
  private skip = new Set<object>();

  errors: ChaiqError[] = [];
  constructor(private file: string) {}

  loc(span: Span): SourceLoc {
    return { file: this.file, line: span.line, col: span.col };
  }

  /** records an error; `node` (a field or value node) is marked as not bound */
  err(span: Span, message: string, node?: object) {
    this.errors.push(new ChaiqError(message, this.loc(span)));
    if (node) this.skip.add(node);
  }

  bindMessage(node: MessageNode, type: protobuf.Type, into?: Msg): Msg {
    const out: Msg = into ?? {};
    let locs = into ? locations.get(into) : undefined;
    if (!(locs instanceof LazyLocations)) {
      locs = new LazyLocations(this.loc(node.span), this.file, type, this.skip);
      locations.set(out, locs);
    }
    (locs as LazyLocations).nodes.push(node);
    for (const f of node.fields) this.bindField(f, type, out);
    return out;
  }

  private bindField(f: FieldNode, type: protobuf.Type, out: Msg) {
    const field = type.fields[f.name];
    if (!field) {
      const hint = didYouMean(f.name, Object.keys(type.fields));
      this.err(f.nameSpan, `unknown field \`${f.name}\` in ${type.fullName.slice(1)}${hint ? ` (did you mean \`${hint}\`?)` : ''}`, f);
      return;
    }
    const values = Array.isArray(f.value) ? f.value : [f.value];
    if (Array.isArray(f.value) && !field.repeated) {
      this.err(f.nameSpan, `field \`${f.name}\` is not repeated: list syntax [...] is not allowed`, f);
      return;
    }
    for (const v of values) {
      const isMsgNode = !('kind' in v);
      if (field.resolvedType instanceof protobuf.Type) {
        if (!isMsgNode) {
          this.err(v.span, `field \`${f.name}\` is a message (${field.resolvedType.fullName.slice(1)}): write \`${f.name} { ... }\`, not a value`, v);
          continue;
        }
        if (field.repeated) {
          const m = this.bindMessage(v as MessageNode, field.resolvedType);
          (out[f.name] ??= []).push(m);
        } else {
          // a singular message given twice is merged, as protobuf's text parser does
          out[f.name] = this.bindMessage(v as MessageNode, field.resolvedType, out[f.name]);
        }
        continue;
      }
      if (isMsgNode) {
        this.err(v.span, `field \`${f.name}\` takes a ${this.typeLabel(field)} value, not a message`, v);
        continue;
      }
      const val = this.scalarValue(v as ScalarNode, field);
      if (val === undefined) {
        this.skip.add(v);
        continue;
      }
      if (field.repeated) {
        (out[f.name] ??= []).push(val);
      } else {
        if (f.name in out) {
          this.err(f.nameSpan, `field \`${f.name}\` is not repeated but is given more than once`, v);
          continue;
        }
        out[f.name] = val;
      }
    }
  }

  private typeLabel(field: protobuf.Field): string {
    if (field.resolvedType instanceof protobuf.Enum) return `enum (${field.resolvedType.fullName.slice(1)})`;
    return field.type;
  }

  private scalarValue(n: ScalarNode, field: protobuf.Field): unknown {
    const t = field.type;
    const name = field.name;
    if (field.resolvedType instanceof protobuf.Enum) {
      const e = field.resolvedType;
      if (n.kind === 'ident') {
        if (e.values[n.value as string] !== undefined) return n.value;
        const hint = didYouMean(n.value as string, Object.keys(e.values));
        this.err(
          n.span,
          `unknown value \`${n.value}\` for enum field \`${name}\` (${e.fullName.slice(1)}): expected one of ${Object.keys(e.values).join(', ')}${hint ? `; did you mean \`${hint}\`?` : ''}`,
        );
        return undefined;
      }
      if (n.kind === 'number' && this.isIntLiteral(n)) {
        const nm = e.valuesById[n.value as number];
        if (nm !== undefined) return nm;
        this.err(n.span, `${n.raw} is not a value of enum ${e.fullName.slice(1)} (field \`${name}\`)`);
        return undefined;
      }
      this.err(n.span, `field \`${name}\` takes an enum value (${Object.keys(e.values).join(', ')}), not ${describeScalar(n)}`);
      return undefined;
    }
    if (t === 'string' || t === 'bytes') {
      if (n.kind !== 'string') {
        this.err(n.span, `field \`${name}\` takes a ${t} in quotes, not ${describeScalar(n)}`);
        return undefined;
      }
      return t === 'bytes' ? Buffer.from(n.value as string, 'utf8') : n.value;
    }
    if (t === 'bool') {
      if (n.kind === 'ident' && TRUE.has(n.raw)) return true;
      if (n.kind === 'ident' && FALSE.has(n.raw)) return false;
      if (n.kind === 'number' && (n.raw === '1' || n.raw === '0')) return n.raw === '1';
      this.err(n.span, `field \`${name}\` takes a bool (true/false), not ${describeScalar(n)}`);
      return undefined;
    }
    if (FLOAT.has(t)) {
      if (n.kind === 'number') return n.value;
      this.err(n.span, `field \`${name}\` takes a ${t} number, not ${describeScalar(n)}`);
      return undefined;
    }
    // integers
    if (n.kind !== 'number' || !this.isIntLiteral(n)) {
      this.err(n.span, `field \`${name}\` takes an integer (${t}), not ${n.kind === 'number' ? `the non-integer ${n.raw}` : describeScalar(n)}`);
      return undefined;
    }
    const v = n.value as number;
    let lo: number;
    let hi: number;
    if (INT32.has(t)) [lo, hi] = [-2147483648, 2147483647];
    else if (UINT32.has(t)) [lo, hi] = [0, 4294967295];
    else if (INT64.has(t)) [lo, hi] = [-9223372036854775808, 9223372036854775807];
    else if (UINT64.has(t)) [lo, hi] = [0, 18446744073709551615];
    else {
      this.err(n.span, `field \`${name}\` has unsupported type ${t}`);
      return undefined;
    }
    if (v < lo || v > hi) {
      this.err(n.span, v < 0 && lo === 0 ? `field \`${name}\` is ${t}: negative value ${n.raw} is not allowed` : `value ${n.raw} is out of range for ${t} field \`${name}\``);
      return undefined;
    }
    return v;
  }

  private isIntLiteral(n: ScalarNode): boolean {
    const raw = n.raw;
    if (/0[xX]/.test(raw)) return true;
    return /^-?[ \t]*\d+$/.test(raw);
  }
}

/**
 * Binds a parsed prototxt to a message of `typeName`, collecting every error: unknown fields
 * (with a did-you-mean), values of the wrong type or out of range, unknown enum names.
 * Fields in error are left out of `msg`; binding goes on past them.
 */
export function bindMessageAll(doc: PrototxtDoc, typeName = 'caffe.NetParameter'): { msg: Msg; errors: ChaiqError[] } {
  const b = new Binder(doc.file);
  const msg = b.bindMessage(doc.root, lookupType(typeName));
  return { msg, errors: b.errors };
}

/** Binds a parsed prototxt to `typeName` (default caffe.NetParameter); throws the first error as ChaiqError. */
export function bindMessage(doc: PrototxtDoc, typeName = 'caffe.NetParameter'): Msg {
  const r = bindMessageAll(doc, typeName);
  if (r.errors.length) throw r.errors[0];
  return r.msg;
}
