'use strict';
// The net-level check of test/sim-winograd.test.ts, run on dist/ in a plain node process (faster than jest's
// sandbox): which accumulator path each conv of a `--metrics layers` run took (fixed chain and local runs), and
// the same per-layer stats and kept blobs with the integer kernels off (the float32 / int16 paths), and how many
// convs the int8 GEMM took. Prints JSON.
const { D, simCase, main } = require('./sim-net-run');
const A = D('src/chaidnn/arith');
const { kernelStats, setSimWinograd } = D('src/kernels');
const { simGemmI8Stats } = D('src/kernels/sim-winograd');

async function one(file, mode, size) {
  const { prog, run } = await simCase(file, mode, size, [6]);
  const before = { ...A.intConvPaths };
  const q0 = simGemmI8Stats.convs;
  const fast = await run();
  const int8 = simGemmI8Stats.convs - q0;
  const paths = Object.fromEntries(Object.entries(A.intConvPaths).map(([k, v]) => [k, v - before[k]]));
  const prev = setSimWinograd('off');
  const f0 = A.intConvPaths.float;
  const slow = await run();
  setSimWinograd(prev);
  const convs = prog.steps.filter((s) => s.kind === 'conv').length;
  return { convs, paths, floatOff: A.intConvPaths.float - f0, sameStats: fast.stats === slow.stats, sameBlobs: fast.blobs === slow.blobs, variant: kernelStats().variant, int8 };
}

main([['bvlc_googlenet.prototxt', 'Xilinx', 32], ['resnet50.prototxt', 'DynamicFixed', 32]], one);
