#!/usr/bin/env node
// Writes the first N MNIST t10k digits as PNG files under models/lenet/digits/<set>/<label>/<index>.png:
// indices 0-99 in calibration/, the rest in test/ (the demo calibrates on one set and evaluates on the other,
// so its figures are held-out accuracy). Usage: node scripts/make-demo-digits.js [N]
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { PNG } = require('pngjs');

const n = Number(process.argv[2] || 300);
const mnist = path.resolve(__dirname, '../../shared/corpus/data/mnist');
const images = zlib.gunzipSync(fs.readFileSync(path.join(mnist, 't10k-images-idx3-ubyte.gz')));
const labels = zlib.gunzipSync(fs.readFileSync(path.join(mnist, 't10k-labels-idx1-ubyte.gz')));
const out = path.resolve(__dirname, '../models/lenet/digits');
fs.rmSync(out, { recursive: true, force: true });
for (let i = 0; i < n; i++) {
  const label = labels[8 + i];
  const png = new PNG({ width: 28, height: 28, colorType: 0, inputColorType: 0, bitDepth: 8 });
  const px = images.subarray(16 + i * 784, 16 + (i + 1) * 784);
  for (let p = 0; p < 784; p++) {
    png.data[p * 4] = png.data[p * 4 + 1] = png.data[p * 4 + 2] = px[p];
    png.data[p * 4 + 3] = 255;
  }
  const dir = path.join(out, i < 100 ? 'calibration' : 'test', String(label));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${String(i).padStart(4, '0')}.png`), PNG.sync.write(png, { colorType: 0 }));
}
console.log(`wrote ${n} digits to ${out}`);
