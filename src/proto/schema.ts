import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import { ChaiqError, SourceLoc } from '../errors';
import type { Msg } from './message';

let root: protobuf.Root | undefined;

/** caffe.proto lives beside this file in src/; from dist/src/proto/ it is three levels up. */
function protoPath(): string {
  const candidates = [path.join(__dirname, 'caffe.proto'), path.resolve(__dirname, '../../../src/proto/caffe.proto')];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new ChaiqError(`cannot find caffe.proto (looked in ${candidates.join(', ')})`);
}

/** The Caffe schema (src/proto/caffe.proto), loaded once with snake_case names kept. */
export function caffeRoot(): protobuf.Root {
  if (!root) {
    const r = protobuf.parse(fs.readFileSync(protoPath(), 'utf8'), { keepCase: true }).root;
    r.resolveAll();
    root = r;
  }
  return root;
}

const typeCache = new Map<string, protobuf.Type>();
/** A message type by full name (`caffe.LayerParameter`; the `caffe.` prefix may be left out). */
export function lookupType(name: string): protobuf.Type {
  let t = typeCache.get(name);
  if (!t) {
    const full = name.includes('.') ? name : `caffe.${name}`;
    const r = caffeRoot();
    try {
      t = r.lookupType(full);
    } catch {
      throw new ChaiqError(`no message type ${full} in caffe.proto`);
    }
    typeCache.set(name, t);
  }
  return t;
}

/** A enum type by full name (`caffe.PoolingParameter.PoolMethod`). */
export function lookupEnum(name: string): protobuf.Enum {
  return caffeRoot().lookupEnum(name);
}

/** The value protobufjs gives an unset field, as Msg holds it (enum → name, long → number). */
function defaultOf(field: protobuf.Field): unknown {
  const d = field.typeDefault;
  if (field.resolvedType instanceof protobuf.Enum) {
    const names = field.resolvedType.valuesById;
    return typeof d === 'number' ? names[d] ?? d : d;
  }
  if (d && typeof d === 'object' && 'low' in (d as object)) return protobuf.util.LongBits.from(d as protobuf.Long).toNumber(field.type === 'uint64' || field.type === 'fixed64');
  return d;
}

/**
 * A copy of `msg` with proto2 `[default = ...]` values (or the type's zero value) filled in for
 * every unset singular scalar/enum field; set sub-messages are filled recursively, unset ones
 * stay absent and repeated fields stay as they are. Source locations are carried over.
 */
export function withDefaults(typeName: string | protobuf.Type, msg: Msg): Msg {
  const type = typeof typeName === 'string' ? lookupType(typeName) : typeName;
  const out: Msg = {};
  for (const f of type.fieldsArray) {
    const v = msg[f.name];
    if (f.resolvedType instanceof protobuf.Type) {
      if (v === undefined) continue;
      const sub = f.resolvedType;
      out[f.name] = f.repeated ? (v as Msg[]).map((m) => withDefaults(sub, m)) : withDefaults(sub, v);
    } else if (v !== undefined) {
      out[f.name] = Array.isArray(v) ? v.slice() : v;
    } else if (!f.repeated && !f.map) {
      out[f.name] = defaultOf(f);
    }
  }
  // keys the schema does not know (should not happen for bound messages) are kept as they are
  for (const k of Object.keys(msg)) if (!(k in out) && !type.fields[k]) out[k] = msg[k];
  copyLocations(msg, out);
  return out;
}

// ---- source locations of bound messages (kept out of the enumerable data) ----

export interface MsgLocations {
  /** where the message's text starts (the `{`, or the file start for the root) */
  loc: SourceLoc;
  /** field name → location of each value (one entry per repeated element) */
  fields: Map<string, SourceLoc[]>;
  /** field name → location of the field name (one per occurrence) */
  names: Map<string, SourceLoc[]>;
}

export const locations = new WeakMap<object, MsgLocations>();

export function copyLocations(from: object, to: object): void {
  const l = locations.get(from);
  if (l) locations.set(to, l);
}
