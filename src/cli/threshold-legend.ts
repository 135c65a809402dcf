import { THRESHOLD_METHODS } from '../calib/threshold';

/**
 * What the `method` column of quantize's Xilinx table means. A row shows where its th_out came from; layers that
 * share one threshold (pass-through layers, an in-place ReLU and its producer, Concat/Eltwise inputs) show the
 * group's source.
 */
const SOURCES: [string, string][] = [
  ['relu', "the in-place ReLU's calibrated output, shared with its producer"],
  ['relu-max', 'ReLU after a Concat/Eltwise: the larger of its own and the group\'s threshold'],
  ['concat', "the Concat's calibrated output, shared by its inputs (CHaiDNN: one buffer)"],
  ['eltwise-max', "the largest input threshold, shared by inputs and output (CHaiDNN adds integers)"],
  ['fold', 'the output of the BatchNorm/Scale that CHaiDNN fuses into this convolution'],
  ['pass', 'taken over from the input'],
];
const SUFFIXES: [string, string][] = [
  ['→max', 'the method gave no threshold for this blob (see the warning): max |x| used'],
  ['+int', "rounded up to an integer, as CHaiDNN truncates a fused conv's threshold"],
  ['+pow2', 'snapped to a power-of-two scale (--pow2)'],
];

/** One line per term that occurs in `methods` (the table's column), for under the table. */
export function thresholdSourceLegend(methods: string[]): string {
  const used = new Set<string>();
  for (const m of methods) {
    let base = m;
    for (const [suf] of SUFFIXES) {
      const at = base.indexOf(suf);
      if (at >= 0) {
        used.add(suf);
        base = base.slice(0, at) + base.slice(at + suf.length);
      }
    }
    used.add(base);
  }
  const lines: string[] = [];
  for (const m of THRESHOLD_METHODS) if (used.has(m)) lines.push(`${m}: calibrated on this output with --th_method ${m}`);
  for (const [k, v] of [...SOURCES, ...SUFFIXES]) if (used.has(k)) lines.push(`${k}: ${v}`);
  return lines.length ? `method (where th_out comes from) — ${lines.join('; ')}\n` : '';
}

/** The full legend, for `chaiq quantize --help`. */
export function thresholdSourceHelp(): string {
  return [
    'The summary table\'s `method` column says where each th_out comes from (layers sharing one threshold show the group\'s source):',
    `  ${THRESHOLD_METHODS.join('|')}  calibrated on that output with --th_method`,
    ...SOURCES.map(([k, v]) => `  ${k.padEnd(12)} ${v}`),
    ...SUFFIXES.map(([k, v]) => `  …${k.padEnd(11)} ${v}`),
  ].join('\n');
}
