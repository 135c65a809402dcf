/**
 * `simulate --float_layers`: the named layers run in float inside the fixed net (Hailo's check: run the offending
 * layers in native form and see the error vanish). Such a layer dequantizes its input, runs its Caffe forward
 * (a conv with its fused BN/Scale), and its output is quantized with the format its first consumer reads (CHaiDNN
 * passes integers on unchanged, so that is the format the next layer expects), else with its own output format.
 */
import { ChaiqError, type WarnFn } from '../errors';
import type { LayerNode, Net } from '../graph/types';
import type { Tensor } from '../tensor';
import type { FixedFormat } from '../chaidnn/format';
import { absorbedOf, inputFormatOf, type Step, type StepKind } from './steps';

/** Step kinds computed in integers, which --float_layers can move to float. */
export const FLOATABLE_KINDS: ReadonlySet<StepKind> = new Set<StepKind>(['conv', 'pool', 'eltwise', 'concat', 'bn', 'scale']);

/**
 * The integer format the first consumer of step i's output reads it with (what "the next layer expects"),
 * looking through in-place ReLU, pass-through layers and a Concat that names no format; undefined when no
 * fixed-point layer reads it.
 */
export function consumerFormat(net: Net, steps: Step[], i: number): FixedFormat | undefined {
  const ab = absorbedOf(steps[i]);
  let frontier = [ab.length ? ab[ab.length - 1] : i];
  const seen = new Set<number>();
  while (frontier.length) {
    const next: number[] = [];
    for (const li of frontier) {
      for (const c of net.consumers(li, 0)) {
        if (seen.has(c)) continue;
        seen.add(c);
        const s = steps[c];
        const f = s.kind === 'concat' ? s.fout : inputFormatOf(s);
        if (f) return f;
        if (s.kind === 'relu' || s.kind === 'pass' || s.kind === 'concat' || s.kind === 'pool') next.push(c);
      }
    }
    frontier = next;
  }
  return undefined;
}

/** The layers --float_layers may name, in net order: those computed in integers. */
export function floatableLayers(steps: Step[]): string[] {
  return steps.filter((s) => FLOATABLE_KINDS.has(s.kind)).map((s) => s.node.name);
}

/**
 * The set of layer names to run in float. Unknown names are a usage error naming them all; a fused BN/Scale
 * stands for its convolution (they run as one layer); layers that already run in float are warned about.
 */
export function resolveFloatLayers(steps: Step[], names: string[], warn: WarnFn): Set<string> {
  const byName = new Map(steps.map((s, i) => [s.node.name, i]));
  const unknown = names.filter((n) => !byName.has(n));
  if (unknown.length) {
    throw new ChaiqError(`--float_layers: no layer named ${unknown.map((n) => `'${n}'`).join(', ')} in the net`, {}, 2);
  }
  const absorbedBy = new Map<number, number>();
  steps.forEach((s, i) => absorbedOf(s).forEach((j) => absorbedBy.set(j, i)));
  const out = new Set<string>();
  for (const n of names) {
    const own = byName.get(n) ?? 0;
    const s = steps[absorbedBy.get(own) ?? own];
    if (!FLOATABLE_KINDS.has(s.kind)) {
      warn(`--float_layers: layer '${n}' (${s.node.type}) is not computed in fixed point here; naming it changes nothing`, s.node.loc);
      continue;
    }
    out.add(s.node.name);
  }
  return out;
}

/** The float forward of a floated layer on its dequantized inputs, through the BN/Scale layers fused into it. */
export async function floatLayerForward(net: Net, node: LayerNode, absorbed: number[], bottoms: Tensor[], warn: WarnFn): Promise<Tensor[]> {
  let tops = await forward(node, bottoms, warn);
  for (const j of absorbed) tops = await forward(net.layers[j], [tops[0]], warn);
  return tops;
}

async function forward(node: LayerNode, bottoms: Tensor[], warn: WarnFn): Promise<Tensor[]> {
  const fwd = node.def?.forward;
  if (!fwd) throw new ChaiqError(`layer '${node.name}': type ${node.type} has no float forward`, node.loc ?? {});
  return await fwd(node, bottoms, { warn });
}
