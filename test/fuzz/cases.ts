/** The seeds (real files from ../shared/corpus and models/) and how a seeded case is built from them. */
import * as fs from 'fs';
import * as path from 'path';
import { encodeNpy } from '../../src/io/npy';
import { int, mutateImage, mutateNpy, mutateText, mutateWire, pick, Rng } from './mutate';

export interface FuzzCase {
  id: number;
  /** what was mutated and how, for the report */
  what: string;
  /** files of the case, relative to its directory */
  files: [string, Uint8Array][];
  /** argv, with `@/` standing for the case directory */
  argv: string[];
}

interface SmallNet {
  name: string;
  prototxt: Uint8Array;
  caffemodel?: Uint8Array;
  /** input C,H,W */
  dims: [number, number, number];
  images: [string, Uint8Array][];
  pre: string[];
}

export interface Seeds {
  texts: { name: string; data: Uint8Array }[];
  nets: SmallNet[];
}

const ROOT = path.resolve(__dirname, '../..').replace(/[\\/]dist$/, '');
export const REPO = fs.existsSync(path.join(ROOT, 'package.json')) ? ROOT : path.resolve(__dirname, '../../..');
const CORPUS = path.resolve(REPO, '../shared/corpus');

function listPrototxts(dir: string, depth = 1): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && depth > 0) out.push(...listPrototxts(p, depth - 1));
    else if (e.isFile() && e.name.endsWith('.prototxt')) out.push(p);
  }
  return out;
}

export function loadSeeds(): Seeds {
  const files = [...listPrototxts(path.join(CORPUS, 'prototxt'), 0), ...listPrototxts(path.join(CORPUS, 'chaidnn'), 0), ...listPrototxts(path.join(CORPUS, 'models')), ...listPrototxts(path.join(REPO, 'models'))];
  // very large files make a case slow without finding more
  const texts = files.map((f) => ({ name: path.relative(path.dirname(CORPUS), f), data: fs.readFileSync(f) })).filter((t) => t.data.length < 400_000);
  const read = (...p: string[]) => fs.readFileSync(path.join(...p));
  const digits = path.join(REPO, 'models/lenet/digits/test');
  const digitImgs: [string, Uint8Array][] = ['0', '7'].map((d) => {
    const f = fs.readdirSync(path.join(digits, d)).sort()[0];
    return [`img${d}.png`, read(digits, d, f)];
  });
  const cif = path.join(CORPUS, 'data/cifar10_test_jpg_subset');
  const cifImgs: [string, Uint8Array][] = ['cat', 'ship'].map((c) => {
    const f = fs.readdirSync(path.join(cif, c)).sort()[0];
    return [`img_${c}.jpg`, read(cif, c, f)];
  });
  const M = path.join(CORPUS, 'models');
  const nets: SmallNet[] = [
    { name: 'lenet', prototxt: read(REPO, 'models/lenet/lenet.prototxt'), caffemodel: read(REPO, 'models/lenet/lenet_iter_10000.caffemodel'), dims: [1, 28, 28], images: digitImgs, pre: ['--channel_swap', '0', '--mean_value', '0', '--raw_scale', '1'] },
    { name: 'lenet-ahmdtaha', prototxt: read(M, 'lenet_mnist_ahmdtaha/mnist_deploy.prototxt'), caffemodel: read(M, 'lenet_mnist_ahmdtaha/lenet_iter_10000.caffemodel'), dims: [1, 28, 28], images: digitImgs, pre: ['--channel_swap', '0', '--mean_value', '0'] },
    { name: 'cifar10_quick', prototxt: read(M, 'cifar10_quick_v1_everpeace/cifar10_quick.prototxt'), caffemodel: read(M, 'cifar10_quick_v1_everpeace/cifar10_quick_iter_5000.caffemodel'), dims: [3, 32, 32], images: cifImgs, pre: ['--dims', '3,32,32'] },
    { name: 'mtcnn-det1', prototxt: read(M, 'mtcnn_kpzhang93/det1.prototxt'), caffemodel: read(M, 'mtcnn_kpzhang93/det1.caffemodel'), dims: [3, 12, 12], images: cifImgs, pre: ['--dims', '3,12,12'] },
    { name: 'fcn5', prototxt: read(CORPUS, 'chaidnn/xportdnn_fcn5_deploy_fp32.prototxt'), dims: [3, 32, 32], images: cifImgs, pre: [] },
  ];
  return { texts, nets };
}

function npyFor(r: Rng, dims: number[]): Uint8Array {
  const n = dims.reduce((a, b) => a * b, 1);
  return encodeNpy({ shape: [1, ...dims], data: Float32Array.from({ length: n }, () => r() * 2 - 1) });
}

/** One case from the seed and the case number: which command, which file mutated, how. */
export function makeCase(seeds: Seeds, r: Rng, id: number): FuzzCase {
  const u = r();
  if (u < 0.55) {
    const t = pick(r, seeds.texts);
    // the likeliest slip: a binary file (a caffemodel, an image) where the prototxt goes
    const swapped = r() < 0.05 ? pick(r, seeds.nets.flatMap((n) => [...(n.caffemodel ? [n.caffemodel] : []), ...n.images.map(([, d]) => d)])) : undefined;
    const m = swapped ? { data: r() < 0.5 ? swapped : mutateWire(r, swapped).data, how: 'binary' } : mutateText(r, t.data);
    const files: [string, Uint8Array][] = [['net.prototxt', m.data]];
    const cmd = pick(r, ['info', 'fmt', 'fmt-check', 'lint', 'diff', 'info'] as const);
    const argv =
      cmd === 'info' ? ['info', '--deploy_model', '@/net.prototxt']
      : cmd === 'fmt' ? ['fmt', '@/net.prototxt']
      : cmd === 'fmt-check' ? ['fmt', '--check', '@/net.prototxt']
      : cmd === 'lint' ? ['lint', '@/net.prototxt']
      : ['diff', '@/orig.prototxt', '@/net.prototxt'];
    if (cmd === 'diff') files.push(['orig.prototxt', t.data]);
    return { id, what: `${cmd} ${t.name} (${m.how})`, files, argv };
  }
  const net = pick(r, seeds.nets.filter((n) => n.caffemodel || u >= 0.7));
  let proto = net.prototxt;
  let model = net.caffemodel;
  const images = net.images.slice();
  let npy = npyFor(r, net.dims);
  const target = net.caffemodel ? pick(r, ['prototxt', 'caffemodel', 'input', 'input']) : pick(r, ['prototxt', 'input']);
  let how = '';
  if (target === 'prototxt') ({ data: proto, how } = mutateText(r, proto));
  else if (target === 'caffemodel') ({ data: model, how } = mutateWire(r, model!));
  const useNpy = r() < 0.4;
  if (target === 'input') {
    if (useNpy) ({ data: npy, how } = mutateNpy(r, npy));
    else {
      const k = int(r, images.length);
      const m = mutateImage(r, images[k][1]);
      images[k] = [images[k][0], m.data];
      how = m.how;
    }
  }
  const files: [string, Uint8Array][] = [['net.prototxt', proto]];
  const w = model ? ['--weights', '@/net.caffemodel'] : [];
  if (model) files.push(['net.caffemodel', model]);
  let argv: string[];
  let cmd: string;
  if (u < 0.7) {
    cmd = 'info';
    argv = ['info', '--deploy_model', '@/net.prototxt', ...w];
  } else if (u < 0.85) {
    cmd = 'forward';
    if (useNpy) files.push(['in.npy', npy]);
    else for (const [n, d] of images) files.push([n, d]);
    const inputs = useNpy ? ['@/in.npy'] : images.map(([n]) => `@/${n}`);
    argv = ['forward', '--deploy_model', '@/net.prototxt', ...w, '--input', ...inputs, ...net.pre, ...(r() < 0.3 ? ['--output_dir', '@/out/blobs'] : [])];
  } else {
    cmd = 'quantize';
    for (const [n, d] of images) files.push([`calib/${n}`, d]);
    const xilinx = !!model && r() < 0.6;
    argv = ['quantize', '--deploy_model', '@/net.prototxt', ...w, '--quantized_deploy_model', '@/out/q.prototxt', '--bitwidths', '8,8,8', '-q', ...net.pre,
      ...(xilinx ? ['--calibration_directory', '@/calib', '--calibration_size', '1', '--th_method', pick(r, ['max', 'kl', 'percentile'])]
        : ['--quant_type', 'DynamicFixed', ...(model && r() < 0.5 ? ['--fl_bitwidths', 'auto', '--calibration_directory', '@/calib', '--calibration_size', '2'] : [])]),
      ...(r() < 0.3 ? ['--report', '@/out/q.html'] : [])];
  }
  return { id, what: `${cmd} ${net.name} ${target}${useNpy && target === 'input' ? '(npy)' : ''} (${how || 'none'})`, files, argv };
}
