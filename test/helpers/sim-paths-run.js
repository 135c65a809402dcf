'use strict';
// The net-level check of test/sim-winograd.test.ts, run on dist/ in a plain node process (faster than jest's
// sandbox): which accumulator path each conv of a `--metrics layers` run took (fixed chain and local runs), and
// the same per-layer stats and kept blobs with the integer kernels off (the float32 / int16 paths). Prints JSON.
const { D, simCase, main } = require('./sim-net-run');
const A = D('src/chaidnn/arith');
const { setSimWinograd } = D('src/kernels');

async function one(file, mode, size) {
  const { prog, run } = await simCase(file, mode, size, [6]);
  const before = { ...A.intConvPaths };
  const fast = await run();
  const paths = Object.fromEntries(Object.entries(A.intConvPaths).map(([k, v]) => [k, v - before[k]]));
  const prev = setSimWinograd('off');
  const f0 = A.intConvPaths.float;
  const slow = await run();
  setSimWinograd(prev);
  const convs = prog.steps.filter((s) => s.kind === 'conv').length;
  return { convs, paths, floatOff: A.intConvPaths.float - f0, sameStats: fast.stats === slow.stats, sameBlobs: fast.blobs === slow.blobs };
}

main([['bvlc_googlenet.prototxt', 'Xilinx', 32], ['resnet50.prototxt', 'DynamicFixed', 32]], one);
