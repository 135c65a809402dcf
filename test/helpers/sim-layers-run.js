'use strict';
// The net-level checks of test/sim-layers-cost.test.ts, run on dist/ in a plain node process (the simulator's
// loops run several times slower inside jest's sandbox): `--metrics layers` runs (per-layer stats, every blob
// kept) with the resident chain and with the staged path. Prints {name: result} as JSON.
const path = require('path');
const crypto = require('crypto');
const ROOT = path.resolve(__dirname, '../..');
const D = (m) => require(path.join(ROOT, 'dist', m));
const { annotateXilinx, applyPlan } = D('src/sim/annotate');
const { compileSim, newSimStats, runSim } = D('src/sim/simulate');
const { buildDynamicFixedPlan } = D('src/quant/dynamicfixed');
const { ristrettoFl } = D('src/calib/fl');
const { runNet } = D('src/exec/executor');
const { initKernels, residentStats, setResidentChain, shutdownKernels } = D('src/kernels');
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

async function one(file, mode) {
  const b = benchNet(file, 1, 1, 32);
  const xs = [randomInput(b.inputShape, 3), randomInput(b.inputShape, 4)];
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
  const before = { ...residentStats };
  setResidentChain(true);
  const fast = await run();
  const resident = { convs: residentStats.convs - before.convs, noRoom: residentStats.noRoom - before.noRoom };
  setResidentChain(false);
  const slow = await run();
  setResidentChain(true);
  return {
    convs: xs.length * prog.steps.filter((s) => s.kind === 'conv').length, resident,
    sameStats: fast.stats === slow.stats, sameBlobs: fast.blobs === slow.blobs,
  };
}

(async () => {
  await initKernels();
  const out = {};
  for (const [file, mode] of [['mobilenet_v1.prototxt', 'Xilinx'], ['bvlc_googlenet.prototxt', 'DynamicFixed'], ['resnet50.prototxt', 'Xilinx']]) {
    out[`${file} ${mode}`] = await one(file, mode);
  }
  process.stdout.write(JSON.stringify(out));
  await shutdownKernels();
})().catch((e) => {
  process.stderr.write(String((e && e.stack) || e));
  process.exit(1);
});
