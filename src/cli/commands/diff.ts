import { readTextFile } from '../../graph/load';
import type { CommandModule } from 'yargs';
import { ChaiqError } from '../../errors';
import { parsePrototxt } from '../../../grammar';
import { bindMessage, locOf } from '../../proto/bind';
import { upgradeNet } from '../../proto/upgrade';
import { diffNets, formatDiffText } from '../../lint/diff';
import type { LayerParam } from '../../proto/message';

interface DiffArgs {
  a: string;
  b: string;
  rtol: number;
  all: boolean;
  format: 'text' | 'json';
}

function loadLayers(file: string): { layers: LayerParam[]; text: string } {
  let text: string;
  try {
    text = readTextFile(file);
    const net = upgradeNet(bindMessage(parsePrototxt(text, file), 'caffe.NetParameter'), { file, locOf }).net;
    return { layers: (net.layer ?? []) as LayerParam[], text };
  } catch (e) {
    if (e instanceof ChaiqError) throw new ChaiqError(e.message, e.loc, 2);
    throw e;
  }
}

/** `chaiq diff A B`: exit 0 same, 1 different, 2 error. For CI regression checks of generated blocks. */
export const diffCommand: CommandModule<{}, DiffArgs> = {
  command: 'diff <a> <b>',
  describe: 'compare the precision blocks of two prototxts layer by layer',
  builder: (y) =>
    y
      .positional('a', { type: 'string', demandOption: true })
      .positional('b', { type: 'string', demandOption: true })
      .option('rtol', { type: 'number', default: 1e-6, describe: 'numbers closer than this (relative) count as equal' })
      .option('all', { type: 'boolean', default: false, describe: 'also report changes outside precision blocks' })
      .option('format', { choices: ['text', 'json'] as const, default: 'text' as const }),
  handler: (args) => {
    const a = loadLayers(args.a);
    const b = loadLayers(args.b);
    const entries = diffNets(a.layers, b.layers, { rtol: args.rtol, all: args.all });
    if (args.all && entries.length === 0 && a.text !== b.text) {
      entries.push({ layer: '(file)', kind: 'param-changed', field: 'formatting' });
    }
    if (args.format === 'json') process.stdout.write(JSON.stringify(entries, null, 2) + '\n');
    else if (entries.length > 0) process.stdout.write(formatDiffText(entries) + '\n');
    process.exitCode = entries.length > 0 ? 1 : 0;
  },
};
