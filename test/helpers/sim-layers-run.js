'use strict';
// The net-level checks of test/sim-layers-cost.test.ts, run on dist/ in a plain node process (the simulator's
// loops run several times slower inside jest's sandbox): `--metrics layers` runs (per-layer stats, every blob
// kept) with the resident chain and with the staged path. Prints {name: result} as JSON.
const { D, simCase, main } = require('./sim-net-run');
const { residentStats, setResidentChain } = D('src/kernels');
const { localShortcutStats, setLocalShortcuts } = D('src/sim/local');

async function one(file, mode) {
  const { prog, xs, run } = await simCase(file, mode, 32, [3, 4]);
  const before = { ...residentStats };
  setResidentChain(true);
  const taken = { ...localShortcutStats };
  const fast = await run();
  const shortcuts = localShortcutStats.pool + localShortcutStats.concat - taken.pool - taken.concat;
  const resident = { convs: residentStats.convs - before.convs, noRoom: residentStats.noRoom - before.noRoom, eltwise: residentStats.eltwise - before.eltwise };
  setResidentChain(false);
  const slow = await run();
  setResidentChain(true);
  // the local MAX pools and Concats run on the integers instead of taken from the quantized reference
  setLocalShortcuts(false);
  const kernels = await run();
  setLocalShortcuts(true);
  return {
    shortcuts, sameWithoutShortcuts: fast.stats === kernels.stats && fast.blobs === kernels.blobs,
    convs: xs.length * prog.steps.filter((s) => s.kind === 'conv').length, eltwise: xs.length * prog.steps.filter((s) => s.kind === 'eltwise').length, resident,
    sameStats: fast.stats === slow.stats, sameBlobs: fast.blobs === slow.blobs,
  };
}

main([['mobilenet_v1.prototxt', 'Xilinx'], ['bvlc_googlenet.prototxt', 'DynamicFixed'], ['resnet50.prototxt', 'Xilinx']], one);
