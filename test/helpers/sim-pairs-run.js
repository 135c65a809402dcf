'use strict';
// The net-level checks of test/sim-conv-pairs.test.ts, run on dist/ in a plain node process (faster than jest's
// sandbox): `--metrics layers` runs (per-layer stats, every blob kept, the reference of every blob) with each
// conv's fixed and local runs in one kernel call and one after the other. Prints {name: result} as JSON.
const path = require('path');
const crypto = require('crypto');
const ROOT = path.resolve(__dirname, '../..');
const D = (m) => require(path.join(ROOT, 'dist', m));
const { annotateXilinx, applyPlan } = D('src/sim/annotate');
const { compileSim, newSimStats, runSim } = D('src/sim/simulate');
const { buildDynamicFixedPlan } = D('src/quant/dynamicfixed');
const { ristrettoFl } = D('src/calib/fl');
const { runNet } = D('src/exec/executor');
const { setConvPairs } = D('src/chaidnn/arith');
const { initKernels, shutdownKernels, simPairStats } = D('src/kernels');
const { benchNet, randomInput } = D('test/bench/netutil');

const bits = (x) => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x));

async function annotateDynamicFixed(net, x) {
  const maxAbs = new Map();
  await runNet(net, x, {
    warn: () => {},
    onLayer: (node, tops) => tops.forEach((t, ti) => {
      let m = 0;
      for (let i = 0; i < t.data.length; i++) m = Math.max(m, Math.abs(t.data[i]));
      maxAbs.set(`${node.index}/${ti}`, m);
    }),
  });
  const { plan } = buildDynamicFixedPlan(net, {
    bitwidths: { in: 8, params: 8, out: 8 }, fl: 'auto', warn: () => {},
    actFl: (li, ti) => Math.max(0, ristrettoFl(maxAbs.get(`${li}/${ti}`) ?? 0, 8, 'activations')),
  });
  applyPlan(net, plan);
}

async function one(file, mode, size) {
  const b = benchNet(file, 1, 1, size);
  const xs = [randomInput(b.inputShape, 5), randomInput(b.inputShape, 6)];
  if (mode === 'Xilinx') await annotateXilinx(b.net, xs.slice(0, 1), 8, 'max');
  else await annotateDynamicFixed(b.net, xs[0]);
  const prog = compileSim(b.net, { mode });
  const run = async () => {
    const stats = newSimStats();
    const h = crypto.createHash('sha1');
    for (const x of xs) {
      const r = await runSim(prog, x, { stats, keep: 'all' });
      for (const [k, q] of [...r.fixed].sort((a, c) => (a[0] < c[0] ? -1 : 1))) h.update(k).update(Buffer.from(q.buffer, q.byteOffset, q.byteLength));
    }
    return { stats: JSON.stringify([...stats.layers.values()], (_k, v) => (typeof v === 'number' ? bits(v) : v)), blobs: h.digest('hex') };
  };
  const c0 = simPairStats.calls;
  setConvPairs(true);
  const paired = await run();
  const pairs = simPairStats.calls - c0;
  setConvPairs(false);
  const c1 = simPairStats.calls;
  const apart = await run();
  const pairsOff = simPairStats.calls - c1;
  setConvPairs(true);
  return { pairs, pairsOff, sameStats: paired.stats === apart.stats, sameBlobs: paired.blobs === apart.blobs };
}

(async () => {
  await initKernels();
  const out = {};
  for (const [file, mode, size] of [['bvlc_googlenet.prototxt', 'Xilinx', 64], ['resnet50.prototxt', 'DynamicFixed', 32]]) {
    out[`${file} ${mode}`] = await one(file, mode, size);
  }
  process.stdout.write(JSON.stringify(out));
  await shutdownKernels();
})().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(1);
});
