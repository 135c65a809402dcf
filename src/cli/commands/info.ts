import type { CommandModule } from 'yargs';
import { ChaiqError, warnToStderr } from '../../errors';
import type { WarnFn } from '../../errors';
import { loadModelWithDims } from '../preprocess';
import type { Net } from '../../graph/types';
import { loadModel } from '../../graph/load';
import { checkFiniteWeights } from '../../graph/finite';

interface InfoArgs {
  deploy_model: string;
  weights?: string;
  format: 'text' | 'json';
  dims?: string;
  input_shape?: string;
}

export interface InfoLayer {
  name: string;
  type: string;
  bottoms: string[];
  tops: string[];
  /** null: unknown (an unknown layer type or Python layer upstream) */
  top_shapes: (number[] | null)[];
  params: number | null;
  macs: number | null;
}

export interface InfoJson {
  name: string;
  inputs: { name: string; shape: (number | null)[] }[];
  layers: InfoLayer[];
}

/** Per-layer summary of a built net: shapes from the graph, params/MACs from the layer registry. */
export function netInfo(net: Net): InfoJson {
  const layers = net.layers.map((n): InfoLayer => {
    const known = n.bottomShapes.every((s) => s !== undefined) && n.topShapes.every((s) => s !== undefined);
    const bottoms = n.bottomShapes as number[][];
    const tops = n.topShapes as number[][];
    let params: number | null = null;
    let macs: number | null = null;
    if (n.def && known) {
      params = n.def.params ? n.def.params(n, bottoms) : 0;
      macs = n.def.macs ? n.def.macs(n, bottoms, tops) : 0;
    }
    return {
      name: n.name,
      type: n.type,
      bottoms: n.bottoms.slice(),
      tops: n.tops.slice(),
      top_shapes: n.topShapes.map((s) => (s ? s.slice() : null)),
      params,
      macs,
    };
  });
  return {
    name: net.name,
    inputs: net.inputs.map((i) => ({ name: i.name, shape: i.shape.map((d) => (d >= 0 ? d : null)) })),
    layers,
  };
}

function shapeText(s: (number | null)[] | null): string {
  return s ? s.map((d) => (d === null ? '?' : String(d))).join('x') : '?';
}

/** 1234567 → "1.23M" */
export function humanCount(v: number): string {
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'K']];
  for (const [u, s] of units) if (v >= u) return `${(v / u).toFixed(2)}${s}`;
  return String(v);
}

/** A blob list for the table, cut short past 40 characters ("a,b,+4 more"). */
function names(list: string[]): string {
  if (list.length === 0) return '-';
  let s = list.join(',');
  if (s.length <= 40) return s;
  let n = 0;
  s = '';
  while (n < list.length && (s + list[n]).length <= 30) s += list[n++] + ',';
  return `${s}+${list.length - n} more`;
}

/** Aligned text table + totals. */
export function infoText(info: InfoJson): string {
  const head = ['layer', 'type', 'bottoms', 'tops', 'top shapes', 'params', 'MACs'];
  // a cell is cut at 80 characters: one absurd name (a mangled file) must not blow up every row's padding
  const cell = (c: string) => (c.length <= 80 ? c : `${c.slice(0, 60)}…${c.slice(-19)}`);
  const rows = info.layers.map((l) => [
    l.name,
    l.type,
    names(l.bottoms),
    names(l.tops),
    l.top_shapes.map(shapeText).join(' ') || '-',
    l.params === null ? '?' : String(l.params),
    l.macs === null ? '?' : String(l.macs),
  ].map(cell));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const right = new Set([5, 6]);
  const line = (r: string[]) =>
    r.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  const out: string[] = [];
  out.push(`net: ${info.name || '(unnamed)'}`);
  for (const i of info.inputs) out.push(`input: ${i.name} ${shapeText(i.shape)}`);
  out.push(line(head));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out.push(line(r));
  const params = info.layers.reduce((s, l) => s + (l.params ?? 0), 0);
  const macs = info.layers.reduce((s, l) => s + (l.macs ?? 0), 0);
  const unknown = info.layers.filter((l) => l.params === null).length;
  out.push(
    `total: ${info.layers.length} layers, ${params} params (${humanCount(params)}), ${macs} MACs (${humanCount(macs)})` +
      (unknown ? `; ${unknown} layer(s) with unknown shapes not counted` : ''),
  );
  return out.join('\n') + '\n';
}

/** "1,3,224,224" → [1,3,224,224] (`flag` names the option in the error) */
export function parseDims(s: string, flag = '--dims'): number[] {
  const dims = s.split(/[,x ]+/).filter(Boolean).map(Number);
  if (dims.length === 0 || dims.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new ChaiqError(`${flag}: expected positive integers like 1,3,224,224, got '${s}'`, {}, 2);
  }
  return dims;
}

/**
 * info's shape flags: --input_shape N,C,H,W and --dims C,H,W as in every command. `--dims N,C,H,W` (info's
 * old form) still works, as --input_shape, with a deprecation warning.
 */
function infoShapeFlags(args: InfoArgs, warn: WarnFn): { inputShape?: number[]; dims?: string } {
  let inputShape = args.input_shape !== undefined ? parseDims(args.input_shape, '--input_shape') : undefined;
  let dims = args.dims;
  if (dims !== undefined && parseDims(dims).length !== 3) {
    const old = parseDims(dims);
    warn(`--dims ${old.join(',')}: info's N,C,H,W form of --dims is deprecated; use --input_shape ${old.join(',')} (--dims takes C,H,W, as in the other commands)`);
    if (inputShape && old.join(',') !== inputShape.join(',')) throw new ChaiqError(`--dims ${old.join(',')} disagrees with --input_shape ${inputShape.join(',')}`, {}, 2);
    inputShape = old;
    dims = undefined;
  }
  return { inputShape, dims };
}

/** `chaiq info`: per-layer shapes, parameter counts and MACs of a deploy prototxt. */
export const infoCommand: CommandModule<{}, InfoArgs> = {
  command: 'info',
  describe: 'list layers with their output shapes, parameter counts and MACs',
  builder: (y) =>
    y
      .option('deploy_model', { type: 'string', demandOption: true, describe: 'deploy prototxt' })
      .option('weights', { type: 'string', describe: 'caffemodel: blobs are checked against the prototxt' })
      .option('format', { choices: ['text', 'json'] as const, default: 'text' as const })
      .option('input_shape', {
        type: 'string',
        describe: 'N,C,H,W of the (first) input, e.g. 1,3,224,224: a fully convolutional net at another size, or a Data layer that reads a database',
      })
      .option('dims', { type: 'string', describe: 'C,H,W of the input, as in the other commands (must agree with the Input layer; sets a Data layer\'s)' }),
  handler: (args) => {
    const { inputShape, dims } = infoShapeFlags(args, warnToStderr);
    const m = dims !== undefined ? loadModelWithDims(args.deploy_model, args.weights, dims, { warn: warnToStderr, inputShape }).model
      : loadModel(args.deploy_model, args.weights, { warn: warnToStderr, inputShape });
    checkFiniteWeights(m.graph, args.weights, { allow: true, warn: warnToStderr });
    const info = netInfo(m.graph);
    process.stdout.write(args.format === 'json' ? JSON.stringify(info, null, 2) + '\n' : infoText(info));
  },
};
