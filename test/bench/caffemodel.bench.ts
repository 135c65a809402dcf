/**
 * caffemodel loading at VGG16 size: writes a synthetic ~500 MB caffemodel (fc6/fc7-like InnerProduct and
 * conv layers, packed floats) to the temp dir, loads it in a child process (so peak RSS is the loader's
 * own), and reports MB/s and peak RSS against a baseline child that only does fs.readFileSync of the file.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

function varint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
const ld = (field: number, len: number) => Buffer.concat([varint(field * 8 + 2), varint(len)]);
const str = (field: number, s: string) => Buffer.concat([ld(field, Buffer.byteLength(s)), Buffer.from(s)]);

/** Writes one V2 layer with the given blob shapes; blob data is value = sin(i) streamed in 4 MB chunks. */
function writeLayer(fd: number, name: string, type: string, shapes: number[][]): number {
  const blobParts = shapes.map((s) => {
    const dims = Buffer.concat(s.map(varint));
    const shape = Buffer.concat([ld(7, dims.length + 1 + varint(dims.length).length), ld(1, dims.length), dims]);
    const n = s.reduce((a, b) => a * b, 1);
    const dataHead = ld(5, n * 4);
    return { shape, dataHead, n, len: shape.length + dataHead.length + n * 4 };
  });
  const head = Buffer.concat([str(1, name), str(2, type)]);
  const body = head.length + blobParts.reduce((a, b) => a + ld(7, b.len).length + b.len, 0);
  let written = fs.writeSync(fd, Buffer.concat([ld(100, body), head]));
  const chunk = new Float32Array(1 << 20);
  for (const b of blobParts) {
    written += fs.writeSync(fd, Buffer.concat([ld(7, b.len), b.shape, b.dataHead]));
    for (let i = 0; i < b.n; i += chunk.length) {
      const k = Math.min(chunk.length, b.n - i);
      for (let j = 0; j < k; j++) chunk[j] = Math.sin(i + j);
      written += fs.writeSync(fd, new Uint8Array(chunk.buffer, 0, k * 4));
    }
  }
  return written;
}

function child(script: string): Record<string, number> {
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

export async function run(): Promise<Record<string, number | string>> {
  const file = path.join(os.tmpdir(), `chaiq-bench-${process.pid}.caffemodel`);
  const fd = fs.openSync(file, 'w');
  let size = 0;
  try {
    size += fs.writeSync(fd, str(1, 'VGG_ILSVRC_16_layers_synthetic'));
    for (let i = 1; i <= 4; i++) size += writeLayer(fd, `conv5_${i}`, 'Convolution', [[512, 512, 3, 3], [512]]);
    size += writeLayer(fd, 'fc6', 'InnerProduct', [[4096, 25088], [4096]]);
    size += writeLayer(fd, 'fc7', 'InnerProduct', [[4096, 4096], [4096]]);
    size += writeLayer(fd, 'fc8', 'InnerProduct', [[1000, 4096], [1000]]);
  } finally {
    fs.closeSync(fd);
  }
  const mb = size / 2 ** 20;
  const reader = JSON.stringify(path.resolve(__dirname, '../../src/proto/caffemodel'));
  const f = JSON.stringify(file);
  try {
    const base = child(`
      const fs = require('fs');
      const rss0 = process.memoryUsage().rss;
      const t0 = process.hrtime.bigint();
      const b = fs.readFileSync(${f});
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(JSON.stringify({ s, len: b.length, rss0, peak: process.resourceUsage().maxRSS * 1024 }));`);
    const load = child(`
      const { readCaffemodel } = require(${reader});
      const rss0 = process.memoryUsage().rss;
      const t0 = process.hrtime.bigint();
      const c = readCaffemodel(${f});
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      const fc6 = c.weights.get('fc6')[0];
      let bad = 0;
      for (let i = 0; i < fc6.data.length; i += 9973) if (fc6.data[i] !== Math.fround(Math.sin(i))) bad++;
      let values = 0;
      for (const bs of c.weights.values()) for (const b of bs) values += b.data.length;
      console.log(JSON.stringify({ s, rss0, peak: process.resourceUsage().maxRSS * 1024, bad, values, layers: c.layers.length }));`);
    if (load.bad) throw new Error(`${load.bad} wrong values in fc6`);
    return {
      'file MB': Math.round(mb),
      'values loaded (M)': load.values / 1e6,
      'load s': load.s,
      'load MB/s': mb / load.s,
      'baseline readFileSync MB/s': mb / base.s,
      'load peak RSS MB': load.peak / 2 ** 20,
      'load peak RSS / file size': load.peak / size,
      'load (peak RSS - start RSS) / file size': (load.peak - load.rss0) / size,
      'baseline readFileSync peak RSS / file size': base.peak / size,
    };
  } finally {
    fs.rmSync(file, { force: true });
  }
}
