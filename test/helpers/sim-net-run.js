'use strict';
// What the plain-node net-level checks (sim-layers-run.js, sim-pairs-run.js) share: dist/ modules, an 8-bit
// annotation of a bench net, and `--metrics layers` runs digested as per-layer stats (bit for bit) and kept blobs.
const path = require('path');
const crypto = require('crypto');
const ROOT = path.resolve(__dirname, '../..');
const D = (m) => require(path.join(ROOT, 'dist', m));
const { annotateXilinx } = D('src/sim/annotate');
const { compileSim, newSimStats, runSim } = D('src/sim/simulate');
const { initKernels, shutdownKernels } = D('src/kernels');
const { annotateDynamicFixed, benchNet, randomInput } = D('test/bench/netutil');

const bits = (x) => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x));

/** A bench net at `size`, two seeded inputs, annotated 8-bit in `mode`, compiled; `run()` digests a layers run. */
async function simCase(file, mode, size, seeds) {
  const b = benchNet(file, 1, 1, size);
  const xs = seeds.map((s) => randomInput(b.inputShape, s));
  if (mode === 'Xilinx') await annotateXilinx(b.net, xs.slice(0, 1), 8, 'max');
  else await annotateDynamicFixed(b.net, xs.slice(0, 1));
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
  return { prog, xs, run };
}

/** Runs one(...case) for each case and prints {`file mode`: result} as JSON; exit 1 with the stack on failure. */
function main(cases, one) {
  (async () => {
    await initKernels();
    const out = {};
    for (const c of cases) out[`${c[0]} ${c[1]}`] = await one(...c);
    process.stdout.write(JSON.stringify(out));
    await shutdownKernels();
  })().catch((e) => {
    process.stderr.write(String((e && e.stack) || e));
    process.exit(1);
  });
}

module.exports = { D, simCase, main };
