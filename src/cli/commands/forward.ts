import * as fs from 'fs';
import * as path from 'path';
import type { CommandModule } from 'yargs';
import { ChaiqError, warnToStderr } from '../../errors';
import { runNet } from '../../exec/executor';
import type { Net } from '../../graph/types';
import { loadImageBatch } from '../../io/images';
import { readNpy, writeNpy } from '../../io/npy';
import { checkFlagPaths, ensureOutputDir, writeAllOrNone } from '../../io/outputs';
import { shutdownKernels } from '../../kernels';
import type { Tensor } from '../../tensor';
import { parseDims } from './info';
import { checkFiniteWeights } from '../../graph/finite';
import { buildPreprocess, loadModelWithDims, netInputDims, preprocessOptions } from '../preprocess';
import type { PreprocessArgs } from '../preprocess';
import { applyInputHeader, readInputHeader, warnImageFlagsIgnored } from '../inputs';

interface ForwardArgs extends PreprocessArgs {
  deploy_model: string;
  weights?: string;
  input: string[];
  output_dir?: string;
  blobs?: string;
  top: number;
}

/** The net input: one .npy (N,C,H,W), or image files preprocessed as XportDNN does (src/io/images.ts). */
async function readInput(args: ForwardArgs, net: Net, dims: [number, number, number] | undefined): Promise<{ x: Tensor; names: string[] }> {
  const files = args.input.flatMap((s) => s.split(',')).filter(Boolean);
  if (files.length === 0) throw new ChaiqError('--input: give a .npy file or image files', {}, 2);
  if (files.length === 1 && files[0].toLowerCase().endsWith('.npy')) {
    warnImageFlagsIgnored(args, warnToStderr, files[0]);
    const x = readNpy(files[0]);
    const n = x.shape[0] ?? 1;
    return { x, names: Array.from({ length: n }, (_, i) => `${path.basename(files[0])}[${i}]`) };
  }
  if (files.some((f) => f.toLowerCase().endsWith('.npy'))) throw new ChaiqError('--input: give one .npy, or only image files', {}, 2);
  if (net.inputs.length !== 1) throw new ChaiqError(`images need a net with one input; this one has ${net.inputs.length}`, { file: args.deploy_model });
  const d = dims ?? netInputDims(net);
  if (!d) throw new ChaiqError(`images need a 4-D input of known size; '${net.inputs[0].name}' is (${net.inputs[0].shape}): give --dims C,H,W`, { file: args.deploy_model }, 2);
  // a prototxt from quantize --optimized_weights says what it takes
  const pre = buildPreprocess(applyInputHeader(args, readInputHeader(args.deploy_model, warnToStderr), args.deploy_model, warnToStderr), d);
  return { x: await loadImageBatch(files, pre), names: files.map((f) => path.basename(f)) };
}

/** "#1 7 (0.9999)  #2 3 (0.0000) ..." for each image of an output blob */
export function topK(t: Tensor, k: number): { index: number; value: number }[][] {
  const n = t.shape[0] ?? 1;
  const per = t.data.length / n;
  const res: { index: number; value: number }[][] = [];
  for (let i = 0; i < n; i++) {
    const idx = Array.from({ length: per }, (_, j) => j);
    const d = t.data.subarray(i * per, (i + 1) * per);
    idx.sort((a, b) => d[b] - d[a] || a - b);
    res.push(idx.slice(0, k).map((j) => ({ index: j, value: d[j] })));
  }
  return res;
}

function fmtVal(v: number): string {
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-4) ? v.toExponential(4) : v.toFixed(4);
}

/** `chaiq forward`: run the float net on an input, print top-k per image, optionally save blobs as .npy. */
export const forwardCommand: CommandModule<{}, ForwardArgs> = {
  command: 'forward',
  describe: 'run the float net on a .npy or images; print top-k, save blobs as .npy',
  builder: (y) =>
    preprocessOptions(y)
      .option('deploy_model', { type: 'string', demandOption: true, describe: 'deploy prototxt' })
      .option('weights', { type: 'string', describe: 'caffemodel' })
      .option('input', { type: 'string', array: true, demandOption: true, describe: '.npy (N,C,H,W float32/float64) or image files (PNG/JPEG)' })
      .option('output_dir', { type: 'string', describe: 'write each blob as <encodeURIComponent(name)>.npy here' })
      .option('blobs', { type: 'string', describe: "blobs to save besides the outputs: 'all' or a comma list" })
      .option('top', { type: 'number', default: 5, describe: 'print the k largest values of each output per image' }),
  handler: async (args) => {
    checkForwardUsage(args);
    try {
      await writeAllOrNone(() => forward(args));
    } finally {
      await shutdownKernels();
    }
  },
};

/** Flags, input paths and the output directory, before any file is read. */
function checkForwardUsage(args: ForwardArgs): void {
  if (args.input_shape) parseDims(args.input_shape, '--input_shape');
  const files = args.input.flatMap((s) => String(s).split(',')).filter(Boolean);
  const inputs = [{ flag: '--deploy_model', path: args.deploy_model }, { flag: '--weights', path: args.weights }, { flag: '--mean_file', path: args.mean_file }, ...files.map((f) => ({ flag: '--input', path: f }))];
  checkFlagPaths(inputs, [{ flag: '--output_dir', path: args.output_dir, dir: true }]);
}

async function forward(args: ForwardArgs): Promise<void> {
  {
    {
      const inputShape = args.input_shape ? parseDims(args.input_shape, '--input_shape') : undefined;
      const { model, dims } = loadModelWithDims(args.deploy_model, args.weights, args.dims, { warn: warnToStderr, inputShape });
      const graph = model.graph;
      checkFiniteWeights(graph, args.weights, { allow: true, warn: warnToStderr });
      const { x, names } = await readInput(args, graph, dims);
      let keep: 'all' | string[] | undefined;
      if (args.blobs === 'all') keep = 'all';
      else if (args.blobs) {
        keep = args.blobs.split(',').map((s) => s.trim()).filter(Boolean);
        const known = new Set(graph.layers.flatMap((l) => l.tops));
        const bad = keep.filter((b) => !known.has(b));
        if (bad.length) throw new ChaiqError(`--blobs: no blob named ${bad.map((b) => `'${b}'`).join(', ')} in the net`, {}, 2);
      }
      if (args.output_dir) {
        ensureOutputDir(args.output_dir);
      }
      let blobs: Map<string, Tensor>;
      try {
        blobs = await runNet(graph, x, { keep, warn: warnToStderr });
      } catch (e) {
        if (e instanceof ChaiqError && /the net expects/.test(e.message) && !args.input_shape) e.message += '; --input_shape N,C,H,W runs a fully-convolutional net at another size';
        throw e;
      }
      const out: string[] = [];
      for (const name of graph.outputs) {
        const t = blobs.get(name);
        if (!t) continue;
        const producer = graph.layers.find((l) => l.tops.includes(name) && l.def?.detections);
        if (producer && t.shape[t.shape.length - 1] === 7) {
          out.push(`${name} (${t.shape.join('x')}): [image, label, score, xmin, ymin, xmax, ymax]`);
          for (let r = 0; r < t.data.length / 7 && r < Math.max(args.top, 1) * 10; r++) {
            out.push('  ' + Array.from(t.data.subarray(r * 7, r * 7 + 7), (v, j) => (j < 2 ? String(v) : fmtVal(v))).join(' '));
          }
          continue;
        }
        const k = Math.max(1, Math.floor(args.top));
        topK(t, k).forEach((row, i) => {
          const label = names[i] ?? `#${i}`;
          out.push(`${label} ${name}: ` + row.map((e, j) => `#${j + 1} ${e.index} (${fmtVal(e.value)})`).join('  '));
        });
      }
      process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
      if (args.output_dir) {
        for (const [name, t] of blobs) writeNpy(path.join(args.output_dir, encodeURIComponent(name) + '.npy'), t);
        process.stderr.write(`wrote ${blobs.size} blob(s) to ${args.output_dir}\n`);
      }
    }
  }
}
