/**
 * `chaiq simulate` refuses an annotated net whose precision blocks name a bitwidth CHaiDNN does not run (6 and 8
 * only): simulating a 7-bit net would report figures for a net the board cannot load. `chaiq lint` lists them all.
 */
import { ChaiqError } from '../errors';
import type { Net } from '../graph/types';
import { precisionBlock } from '../chaidnn/mode';
import { fieldLocOf, locOf } from '../proto/bind';

const BITWIDTH_FIELDS = ['bw_layer_in', 'bw_layer_out', 'bw_params'];
const RUNTIME_BITWIDTHS = [6, 8];

/** The first bitwidth field (in net order) that is not 6 or 8: bad input, at its line and column. */
export function checkRuntimeBitwidths(net: Net, file: string | undefined): void {
  for (const l of net.layers) {
    const b = precisionBlock(l.param);
    if (!b) continue;
    for (const f of BITWIDTH_FIELDS) {
      const v = b[f];
      if (v === undefined || v === null) continue;
      const bw = Number(Array.isArray(v) ? v[0] : v);
      if (RUNTIME_BITWIDTHS.includes(bw)) continue;
      const loc = fieldLocOf(b, f) ?? locOf(b) ?? l.loc ?? {};
      throw new ChaiqError(`layer '${l.name}': ${f}: ${String(v)}; CHaiDNN runs 6 or 8 bits only (chaiq lint lists every such field)`, { file, ...loc });
    }
  }
}
