import type { PrototxtDoc, MessageNode, FieldNode, ScalarNode } from '../../grammar/cst';
import type { PrecisionPlan, PrecisionBlock } from '../quant/plan';
import type { NetParam, LayerParam } from '../proto/message';
import type { WarnFn } from '../errors';
import { ChaiqError } from '../errors';
import { isFloatPrecisionField, orderedFields } from '../chaidnn/precision-fields';
import { formatFloat32 } from '../io/floatfmt';
import { parsePrototxt } from '../../grammar';
import { input as inputLayerDef } from '../layers/input';

const BLOCK_FIELDS = new Set(['precision_param', 'quantization_param']);

export interface ApplyPlanOptions {
  warn?: WarnFn;
  /**
   * For V0/V1 (`layers {}`) or `input:`-style files, which cannot carry a precision_param on the
   * input: the upgraded NetParameter and a canonical printer (src/print/format.ts `printMessage`).
   */
  upgraded?: { net: NetParam; printMessage: (typeName: string, msg: any) => string };
  /** the N,C,H,W the plan was made at (--input_shape): written into the Input layer's shape */
  inputShape?: number[];
}

/** One precision_param block as text lines (no EOL), fields in field-number order (§1), floats as Python 2 str(float32). */
export function renderBlock(block: PrecisionBlock, indent: string, unit: string): string[] {
  const lines = [`${indent}precision_param {`];
  for (const k of orderedFields(block)) {
    const v = block[k];
    const vals = Array.isArray(v) ? v : [v];
    for (const x of vals) lines.push(`${indent}${unit}${k}: ${renderValue(k, x)}`);
  }
  lines.push(`${indent}}`);
  return lines;
}

function renderValue(k: string, x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x);
  if (typeof x !== 'number') throw new ChaiqError(`precision_param field ${k} has a non-numeric value`);
  if (isFloatPrecisionField(k)) return formatFloat32(x);
  if (!Number.isInteger(x)) throw new ChaiqError(`precision_param field ${k} must be an integer, got ${x}`);
  return String(x);
}

const isWs = (s: string) => /^[ \t]*$/.test(s);

function lineStart(text: string, off: number): number {
  const i = Math.max(text.lastIndexOf('\n', off - 1), text.lastIndexOf('\r', off - 1));
  return i + 1;
}
function lineEnd(text: string, off: number): number {
  let i = off;
  while (i < text.length && text[i] !== '\n' && text[i] !== '\r') i++;
  return i;
}
/** end of the line including its EOL */
function afterEol(text: string, off: number): number {
  let i = lineEnd(text, off);
  if (text[i] === '\r' && text[i + 1] === '\n') return i + 2;
  if (i < text.length) return i + 1;
  return i;
}

/** Whitespace before `off` when `off` is the first non-blank of its line, else undefined. */
function leadingIndent(text: string, off: number): string | undefined {
  const before = text.slice(lineStart(text, off), off);
  return isWs(before) ? before : undefined;
}

function scalarValue(f: FieldNode | undefined): string | undefined {
  if (!f || Array.isArray(f.value) || !('kind' in (f.value as any))) return undefined;
  return String((f.value as ScalarNode).value);
}

/** The edit that sets the first dim of an Input layer's first shape to 1, if it is not 1 already. */
function batchOneEdit(layer: MessageNode): (Edit & { was: string }) | undefined {
  const sub = (m: MessageNode, name: string) => {
    const f = m.fields.find((x) => x.name === name);
    return f && !Array.isArray(f.value) && !('kind' in f.value) ? (f.value as MessageNode) : undefined;
  };
  const param = sub(layer, 'input_param');
  const shape = param && sub(param, 'shape');
  const dim = shape?.fields.find((x) => x.name === 'dim');
  if (!dim) return undefined;
  const first = (Array.isArray(dim.value) ? dim.value[0] : dim.value) as ScalarNode | MessageNode | undefined;
  if (!first || !('kind' in first) || first.kind !== 'number' || first.value === 1) return undefined;
  return { start: first.span.start, end: first.span.end, text: '1', was: first.raw };
}

/** The edits that write `want` into an Input layer's first shape (its dims, one by one), if it differs. */
function inputShapeEdits(layer: MessageNode, want: number[], file?: string): { edits: Edit[]; was: string } | undefined {
  const sub = (m: MessageNode, name: string) => {
    const f = m.fields.find((x) => x.name === name);
    return f && !Array.isArray(f.value) && !('kind' in f.value) ? (f.value as MessageNode) : undefined;
  };
  const param = sub(layer, 'input_param');
  const shape = param && sub(param, 'shape');
  if (!shape) return undefined;
  const dims = shape.fields.filter((x) => x.name === 'dim').flatMap((f) => (Array.isArray(f.value) ? f.value : [f.value])) as (ScalarNode | MessageNode)[];
  if (dims.length !== want.length || dims.some((d) => !('kind' in d) || d.kind !== 'number')) {
    throw new ChaiqError(`the Input layer's shape has ${dims.length} dims; --input_shape gives ${want.length}`, { file }, 2);
  }
  const nums = dims as ScalarNode[];
  if (nums.every((d, i) => d.value === want[i])) return undefined;
  return { edits: nums.map((d, i) => ({ start: d.span.start, end: d.span.end, text: String(want[i]) })), was: nums.map((d) => d.raw).join(',') };
}

/** The indent unit of the file: the indentation of the first field that starts a line inside a top-level message. */
export function detectIndentUnit(doc: PrototxtDoc): string {
  for (const f of doc.root.fields) {
    if (Array.isArray(f.value) || 'kind' in f.value) continue;
    for (const g of (f.value as MessageNode).fields) {
      const ind = leadingIndent(doc.text, g.span.start);
      if (ind) return ind;
    }
  }
  return '  ';
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/** True when the file cannot carry the plan in place (V0/V1 `layers`, or `input:` declared at the top level). */
export function needsUpgradeForPlan(doc: PrototxtDoc): boolean {
  return doc.root.fields.some((f) => f.name === 'layers' || f.name === 'input' || f.name === 'input_dim' || f.name === 'input_shape');
}

/**
 * Re-emits the deploy prototxt byte for byte, except that each planned layer gets its
 * precision_param block (an existing precision_param / quantization_param is replaced in place,
 * otherwise the block becomes the layer's last field, indented like its other fields). Blocks on
 * layers the plan leaves out are removed. V0/V1 files are printed upgraded to V2 (with a warning).
 */
export function applyPlan(doc: PrototxtDoc, plan: PrecisionPlan, opts: ApplyPlanOptions = {}): string {
  if (needsUpgradeForPlan(doc)) {
    if (!opts.upgraded)
      throw new ChaiqError('this file declares its input or layers in the old (V0/V1) form and must be upgraded to carry precision_param', { file: doc.file });
    opts.warn?.(
      'the net uses the old `layers`/`input:` form, which has no place for precision_param: writing it upgraded to V2 (layer {} with an Input layer), printed canonically',
      { file: doc.file },
    );
    // print the upgraded net canonically, then splice the blocks into that text like any V2 file
    const v2 = opts.upgraded.printMessage('NetParameter', applyPlanToNetParam(opts.upgraded.net, new Map()));
    return applyPlan(parsePrototxt(v2, doc.file), plan, { warn: opts.warn, inputShape: opts.inputShape });
  }
  const text = doc.text;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const fileUnit = detectIndentUnit(doc);
  const edits: Edit[] = [];
  const seen = new Set<string>();
  let seenInput = false;
  for (const f of doc.root.fields) {
    if (f.name !== 'layer' || Array.isArray(f.value) || 'kind' in f.value) continue;
    const msg = f.value as MessageNode;
    const name = scalarValue(msg.fields.find((x) => x.name === 'name'));
    const block = name !== undefined ? plan.get(name) : undefined;
    if (name !== undefined && block) seen.add(name);
    const isInput = scalarValue(msg.fields.find((x) => x.name === 'type')) === inputLayerDef.type;
    const shapeEdit = isInput && opts.inputShape && !seenInput ? inputShapeEdits(msg, [1, ...opts.inputShape.slice(1)], doc.file) : undefined;
    if (shapeEdit) {
      opts.warn?.(`the Input layer "${name}" is written with the shape the net was calibrated at, (1,${opts.inputShape!.slice(1).join(',')}), instead of (${shapeEdit.was})`, { file: doc.file });
      edits.push(...shapeEdit.edits);
    } else if (isInput && !(opts.inputShape && !seenInput)) {
      const e = batchOneEdit(msg);
      if (e) {
        opts.warn?.(`input '${name}' has batch ${e.was}; CHaiDNN runs batch 1, so the output declares 1 (as XportDNN's do)`, { file: doc.file });
        edits.push(e);
      }
    }
    if (isInput) seenInput = true;
    const existing = msg.fields.filter((x) => BLOCK_FIELDS.has(x.name));
    const layerIndent = leadingIndent(text, f.span.start) ?? '';
    const firstOwnLine = msg.fields.map((x) => leadingIndent(text, x.span.start)).find((x) => x !== undefined);
    const fieldIndent = firstOwnLine ?? layerIndent + fileUnit;
    // files mix styles (a 4-space Input layer above 2-space layers): nest like this layer does
    const unit = firstOwnLine && firstOwnLine.length > layerIndent.length && firstOwnLine.startsWith(layerIndent) ? firstOwnLine.slice(layerIndent.length) : fileUnit;
    existing.forEach((x, i) => {
      if (i === 0 && block) {
        const ind = leadingIndent(text, x.span.start) ?? fieldIndent;
        const lines = renderBlock(block, ind, unit);
        lines[0] = lines[0].slice(ind.length);
        edits.push({ start: x.span.start, end: x.span.end, text: lines.join(eol) });
      } else {
        edits.push(removal(text, x));
      }
    });
    if (block && existing.length === 0) {
      const brace = msg.span.end - 1;
      const lines = renderBlock(block, fieldIndent, unit);
      const ls = lineStart(text, brace);
      if (isWs(text.slice(ls, brace))) {
        edits.push({ start: ls, end: ls, text: lines.join(eol) + eol });
      } else {
        const last = msg.fields[msg.fields.length - 1];
        const from = last ? last.span.end : msg.span.start + 1;
        const gap = text.slice(from, brace);
        if (isWs(gap)) edits.push({ start: from, end: brace, text: eol + lines.join(eol) + eol + layerIndent });
        else edits.push({ start: brace, end: brace, text: eol + lines.join(eol) + eol + layerIndent });
      }
    }
  }
  for (const k of plan.keys()) if (!seen.has(k)) opts.warn?.(`plan names layer "${k}", which is not in the file`, { file: doc.file });
  edits.sort((a, b) => a.start - b.start);
  let out = '';
  let pos = 0;
  for (const e of edits) {
    out += text.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + text.slice(pos);
}

/** Removes a field: the whole line(s) when it stands alone on them, else just its text. */
function removal(text: string, f: FieldNode): Edit {
  const ls = lineStart(text, f.span.start);
  const le = lineEnd(text, f.span.end);
  const after = text.slice(f.span.end, le);
  if (isWs(text.slice(ls, f.span.start)) && isWs(after)) return { start: ls, end: afterEol(text, f.span.end), text: '' };
  let end = f.span.end;
  while (text[end] === ' ' || text[end] === '\t') end++;
  return { start: f.span.start, end, text: '' };
}

/** The plan applied to a bound NetParameter (a copy): precision_param set, quantization_param dropped. */
export function applyPlanToNetParam(net: NetParam, plan: PrecisionPlan): NetParam {
  const layer = net.layer.map((l: LayerParam) => {
    const c: LayerParam = { ...l };
    delete c.precision_param;
    delete c.quantization_param;
    const b = l.name !== undefined ? plan.get(l.name) : undefined;
    if (b) {
      const pb: PrecisionBlock = {};
      for (const k of orderedFields(b)) pb[k] = isFloatPrecisionField(k) ? (Array.isArray(b[k]) ? b[k].map(Math.fround) : Math.fround(b[k])) : b[k];
      c.precision_param = pb;
    }
    return c;
  });
  return { ...net, layer };
}
