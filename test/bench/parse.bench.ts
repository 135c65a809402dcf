import * as fs from 'fs';
import * as path from 'path';
import { parsePrototxt } from '../../grammar';
import { bindMessage } from '../../src/proto/bind';
import { formatCanonical } from '../../src/print/format';

const CORPUS = path.resolve(__dirname, '../../../shared/corpus');
// from dist/test/bench the corpus is one level further up
const corpusDir = () => (fs.existsSync(CORPUS) ? CORPUS : path.resolve(__dirname, '../../../../shared/corpus'));

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function time(fn: () => void, runs: number): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(t);
}

/** parse+bind of resnet152.prototxt (98 kB, 2,000+ fields): median of 15 runs after 5 warm-up runs */
export async function run(): Promise<Record<string, number | string>> {
  const file = path.join(corpusDir(), 'prototxt/resnet152.prototxt');
  const text = fs.readFileSync(file, 'utf8');
  const t0 = process.hrtime.bigint();
  bindMessage(parsePrototxt(text, file)); // first call builds the parser and loads caffe.proto
  const coldMs = Number(process.hrtime.bigint() - t0) / 1e6;
  for (let i = 0; i < 5; i++) bindMessage(parsePrototxt(text, file));
  const parseMs = time(() => parsePrototxt(text, file), 15);
  const doc = parsePrototxt(text, file);
  const bindMs = time(() => bindMessage(doc), 15);
  const parseBindMs = time(() => bindMessage(parsePrototxt(text, file)), 15);
  const fmtMs = time(() => formatCanonical(doc), 15);
  return {
    'resnet152 parse+bind, first call incl. setup (ms)': coldMs,
    'resnet152 parse (ms, median of 15)': parseMs,
    'resnet152 bind (ms, median of 15)': bindMs,
    'resnet152 parse+bind (ms, median of 15)': parseBindMs,
    'resnet152 formatCanonical (ms, median of 15)': fmtMs,
    'resnet152 size (kB)': Math.round(text.length / 1024),
  };
}

/** quick figure for callers that want one number */
export function benchParse(): { ms: number } {
  const file = path.join(corpusDir(), 'prototxt/resnet152.prototxt');
  const text = fs.readFileSync(file, 'utf8');
  for (let i = 0; i < 3; i++) bindMessage(parsePrototxt(text, file));
  return { ms: time(() => bindMessage(parsePrototxt(text, file)), 9) };
}
