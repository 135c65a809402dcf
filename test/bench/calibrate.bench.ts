/**
 * Calibration of GoogLeNet (seeded random weights) on 32 random 224x224 images through the real path:
 * src/quant/calibrate.ts collectStats (two passes for KL: fine histograms, then the exact sqrt-rule
 * histograms), thresholds of every blob version, and merge-stats of 4 shard files of that size.
 * Baseline in the same run: the bare float forwards of the same images (what calibration cannot beat).
 * Standalone: `node dist/test/bench/calibrate.bench.js [quick]` (quick: 8 images).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runNet } from '../../src/exec/executor';
import { collectStats, thresholdsFromStats } from '../../src/quant/calibrate';
import { mergeStats, saveStats } from '../../src/calib/stats';
import { initKernels, shutdownKernels } from '../../src/kernels';
import type { Tensor } from '../../src/tensor';
import { benchNet, nowMs, randomInput } from './netutil';

const r3 = (v: number): number => +v.toPrecision(3);

export async function run(opts: { quick?: boolean } = {}): Promise<Record<string, number | string>> {
  const quick = !!opts.quick || process.env.CHAIQ_BENCH_QUICK === '1';
  const nImages = quick ? 8 : 32;
  const out: Record<string, number | string> = {};
  await initKernels();
  try {
    let t0 = nowMs();
    const b = benchNet('bvlc_googlenet.prototxt', 3, 1);
    out['build net + random weights s'] = r3((nowMs() - t0) / 1000);
    // mean-subtracted pixel range, like the CLI's preprocessing output
    const images: Tensor[] = Array.from({ length: nImages }, (_, i) => {
      const x = randomInput(b.inputShape, 100 + i);
      for (let k = 0; k < x.data.length; k++) x.data[k] *= 120;
      return x;
    });
    await runNet(b.net, images[0], { warn: () => {} }); // warm-up

    // baseline: the bare forwards of a few of the same images
    const nBase = Math.min(4, nImages);
    t0 = nowMs();
    for (let i = 0; i < nBase; i++) await runNet(b.net, images[i], { warn: () => {} });
    const fwdMs = (nowMs() - t0) / nBase;

    let pass1Ms = 0;
    t0 = nowMs();
    const stats = await collectStats(b.net, images, {
      method: 'kl',
      settings: { bw: 8 },
      warn: () => {},
      onProgress: (done) => {
        if (done === nImages) pass1Ms = nowMs() - t0;
      },
    });
    const calibMs = nowMs() - t0;
    const pass2Ms = calibMs - pass1Ms;

    t0 = nowMs();
    const { thOf } = thresholdsFromStats(b.net, stats, 'kl', 8);
    let nTh = 0;
    for (const l of b.net.layers) for (let ti = 0; ti < l.tops.length; ti++) if (Number.isFinite(thOf(l.index, ti))) nTh++;
    const thMs = nowMs() - t0;

    out['images'] = nImages;
    out['blob versions'] = stats.blobs.size;
    out['bare forward ms/image (baseline)'] = r3(fwdMs);
    out['pass 1 (forward + fine histograms) s'] = r3(pass1Ms / 1000);
    out['pass 2 (forward + exact histograms) s'] = r3(pass2Ms / 1000);
    out['calibration total s'] = r3(calibMs / 1000);
    out['calibration ms/image/pass'] = r3(calibMs / nImages / 2);
    out['statistics overhead over bare forward'] = r3(calibMs / nImages / 2 / fwdMs);
    out[`KL thresholds (${nTh}) s`] = r3(thMs / 1000);
    out['estimated 500 images (min)'] = r3(((calibMs / nImages) * 500) / 60000);

    // merge-stats: 4 pass-1 shard files (2 images each; the file size hardly depends on the image count)
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chaiq-calib-bench-'));
    try {
      const files = [0, 1, 2, 3].map((s) => path.join(tmp, `shard${s}.json`));
      let saveMs = 0;
      for (let s = 0; s < files.length; s++) {
        const shard = await collectStats(b.net, images.slice(2 * s, 2 * s + 2), { method: 'max', settings: { bw: 8 }, warn: () => {} });
        t0 = nowMs();
        saveStats(files[s], shard);
        saveMs += nowMs() - t0;
      }
      t0 = nowMs();
      const merged = mergeStats(files);
      const mergeMs = nowMs() - t0;
      out['shard file kB'] = Math.round(fs.statSync(files[0]).size / 1024);
      out['save one shard file s'] = r3(saveMs / files.length / 1000);
      out['merge 4 shard files s'] = r3(mergeMs / 1000);
      out['merged blobs'] = Object.keys(merged.blobs).length;
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  } finally {
    await shutdownKernels();
  }
  return out;
}

if (require.main === module) {
  run({ quick: process.argv.includes('quick') }).then(
    (r) => {
      for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(48)} ${v}`);
    },
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
