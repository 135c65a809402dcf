'use strict';
// The net-level checks of test/sim-conv-pairs.test.ts, run on dist/ in a plain node process (faster than jest's
// sandbox): `--metrics layers` runs (per-layer stats, every blob kept, the reference of every blob) with each
// conv's fixed and local runs in one kernel call and one after the other. Prints {name: result} as JSON.
const { D, simCase, main } = require('./sim-net-run');
const { setConvPairs } = D('src/chaidnn/arith');
const { simPairStats } = D('src/kernels');

async function one(file, mode, size) {
  const { run } = await simCase(file, mode, size, [5, 6]);
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

main([['bvlc_googlenet.prototxt', 'Xilinx', 64], ['resnet50.prototxt', 'DynamicFixed', 32]], one);
