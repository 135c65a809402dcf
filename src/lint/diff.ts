import { precisionBlock } from '../chaidnn/mode';
import type { LayerParam, Msg } from '../proto/message';

/** One difference between two annotated nets, layer by layer (matched by name). */
export interface DiffEntry {
  layer: string;
  kind: 'layer-added' | 'layer-removed' | 'block-added' | 'block-removed' | 'field-added' | 'field-removed' | 'field-changed' | 'param-changed';
  field?: string;
  old?: unknown;
  new?: unknown;
  /** (new - old) / |old| for numbers; for a repeated field the largest in magnitude */
  relChange?: number;
}

export interface DiffOptions {
  /** numbers closer than this (relative) are equal; default 1e-6 */
  rtol?: number;
  /** also compare everything outside the precision blocks */
  all?: boolean;
}

/** The precision block of a layer: `precision_param`, or ML-Suite's `quantization_param` (same fields). */
export { precisionBlock };

function relDiff(a: number, b: number): number {
  if (a === b || (Number.isNaN(a) && Number.isNaN(b))) return 0;
  return a === 0 ? Infinity : (b - a) / Math.abs(a);
}

/** Relative change between two field values, or undefined when they are not both numeric. */
function valueChange(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return relDiff(a, b);
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x) => typeof x === 'number')) {
    let worst = 0;
    for (let i = 0; i < a.length; i++) {
      const r = relDiff(a[i], b[i] as number);
      if (Math.abs(r) > Math.abs(worst)) worst = r;
    }
    return worst;
  }
  return undefined;
}

function sameValue(a: unknown, b: unknown, rtol: number): boolean {
  const r = valueChange(a, b);
  if (r !== undefined) return Math.abs(r) <= rtol;
  return JSON.stringify(a) === JSON.stringify(b);
}

function diffBlocks(layer: string, a: Msg, b: Msg, rtol: number, out: DiffEntry[]): void {
  const fields = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  for (const f of fields) {
    if (!(f in b)) out.push({ layer, kind: 'field-removed', field: f, old: a[f] });
    else if (!(f in a)) out.push({ layer, kind: 'field-added', field: f, new: b[f] });
    else if (!sameValue(a[f], b[f], rtol)) {
      out.push({ layer, kind: 'field-changed', field: f, old: a[f], new: b[f], relChange: valueChange(a[f], b[f]) });
    }
  }
}

function withoutPrecision(layer: LayerParam): Msg {
  const { precision_param, quantization_param, ...rest } = layer;
  return rest;
}

/**
 * Compares the precision blocks of two nets layer by layer. Layers are matched by name;
 * with `all`, the rest of each layer's parameters are compared too.
 */
export function diffNets(a: LayerParam[], b: LayerParam[], opts: DiffOptions = {}): DiffEntry[] {
  const rtol = opts.rtol ?? 1e-6;
  const out: DiffEntry[] = [];
  const byName = (ls: LayerParam[]) => {
    const m = new Map<string, LayerParam>();
    ls.forEach((l, i) => m.set(l.name ?? `#${i}`, l));
    return m;
  };
  const ma = byName(a);
  const mb = byName(b);
  for (const [name, la] of ma) {
    const lb = mb.get(name);
    if (!lb) {
      if (opts.all || precisionBlock(la)) out.push({ layer: name, kind: 'layer-removed' });
      continue;
    }
    const pa = precisionBlock(la);
    const pb = precisionBlock(lb);
    if (pa && !pb) out.push({ layer: name, kind: 'block-removed', old: pa });
    else if (!pa && pb) out.push({ layer: name, kind: 'block-added', new: pb });
    else if (pa && pb) diffBlocks(name, pa, pb, rtol, out);
    if (opts.all) {
      const ra = withoutPrecision(la);
      const rb = withoutPrecision(lb);
      const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])];
      for (const k of keys) {
        if (!sameValue(ra[k], rb[k], rtol)) out.push({ layer: name, kind: 'param-changed', field: k, old: ra[k], new: rb[k] });
      }
    }
  }
  for (const [name, lb] of mb) {
    if (!ma.has(name) && (opts.all || precisionBlock(lb))) out.push({ layer: name, kind: 'layer-added' });
  }
  return out;
}

function show(v: unknown): string {
  if (Array.isArray(v)) return v.length > 4 ? `[${v.slice(0, 3).join(', ')}, … ${v.length} values]` : `[${v.join(', ')}]`;
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}

/** One line per difference: `layer: field old → new (+1.2%)`. */
export function formatDiffText(entries: DiffEntry[]): string {
  return entries
    .map((e) => {
      switch (e.kind) {
        case 'field-changed':
        case 'param-changed': {
          const rel = e.relChange !== undefined && e.relChange !== 0 && Number.isFinite(e.relChange) ? ` (${e.relChange > 0 ? '+' : ''}${(e.relChange * 100).toPrecision(3)}%)` : '';
          return `${e.layer}: ${e.field} ${show(e.old)} → ${show(e.new)}${rel}`;
        }
        case 'field-added':
          return `${e.layer}: + ${e.field}: ${show(e.new)}`;
        case 'field-removed':
          return `${e.layer}: - ${e.field}: ${show(e.old)}`;
        case 'block-added':
          return `${e.layer}: + precision block`;
        case 'block-removed':
          return `${e.layer}: - precision block`;
        case 'layer-added':
          return `+ layer ${e.layer}`;
        case 'layer-removed':
          return `- layer ${e.layer}`;
      }
    })
    .join('\n');
}
