'use strict';
// The checks of test/sim-dw.test.ts on dist/ in a plain node process (faster than jest's sandbox; the test runs it
// with each wasm build): the integer depthwise kernel (kernels/sim-dw.ts) against the path it replaces (the float32
// twin and sim.c's requantization, or the staged integer / JS paths past the 2^24 bound) on random shapes, alone and
// paired, 1 and 2 threads, both modes; and MobileNet v1 `--metrics layers` with the kernel on and off. Prints JSON.
// argument 'plain': the SIMD128 build (CHAIQ_FMA=0, read when the runtime starts), the random shapes only
if (process.argv[2] === 'plain') process.env.CHAIQ_FMA = '0';
const { D, simCase, main } = require('./sim-net-run');
const A = D('src/chaidnn/arith');
const K = D('src/kernels');
const { mulberry32 } = D('src/io/calibset');

function ints(n, lo, hi, r) {
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo + 1)));
}

/** One conv of geometry g in every mode and pairing, as int arrays joined (the digest the two settings compare). */
function runConv(g, x0, x1, w, L, relu, bw) {
  const out = [];
  const Lx = { mode: 'Xilinx', w, bq: L.bq, S: L.S };
  const Ld = { mode: 'DynamicFixed', w, biasInt: L.bias, shift: L.shift };
  out.push(A.convXilinx(x0, w, L.bq, L.S, g, bw, relu), A.convDynamicFixed(x0, w, L.bias, L.shift, g, bw, relu));
  out.push(...A.convPair(x0, x1, Lx, g, bw, relu), ...A.convPair(x0, x1, Ld, g, bw, relu));
  return out.map((q) => Array.from(q).join(',')).join(';');
}

/** Random depthwise shapes (kernel 1-5, stride 1-3, pad 0-2, dilation 1-2) and requantizations, kernel on vs off. */
function shapes(T, seed, count, big) {
  K.setThreads(T);
  const r = mulberry32(seed);
  const pick = (a, b) => a + Math.floor(r() * (b - a + 1));
  const res = { cases: 0, bad: [], dw: 0, pairs: 0, jobs: 0 };
  const jobs0 = K.kernelStats().workerJobs;
  for (let k = 0; k < count; k++) {
    const C = big ? pick(48, 96) : pick(1, 24);
    const H = big ? pick(40, 60) : pick(1, 20), W = big ? pick(40, 60) : pick(1, 20);
    const kH = big ? 3 : pick(1, 5), kW = big ? 3 : pick(1, 5), sH = pick(1, big ? 2 : 3), sW = big ? sH : pick(1, 3);
    const pH = pick(0, 2), pW = pick(0, 2), dH = big ? 1 : pick(1, 2), dW = big ? 1 : pick(1, 2);
    const outH = Math.floor((H + 2 * pH - (dH * (kH - 1) + 1)) / sH) + 1, outW = Math.floor((W + 2 * pW - (dW * (kW - 1) + 1)) / sW) + 1;
    if (outH < 1 || outW < 1) continue;
    const g = { inC: C, inH: H, inW: W, outC: C, outH, outW, kH, kW, strideH: sH, strideW: sW, padH: pH, padW: pW, dilH: dH, dilW: dW, group: C };
    // 8-bit activations after a ReLU, signed ones, and wider ones (past the float32 twin's 2^24 bound: the int paths)
    const xr = [[0, 127], [-128, 127], [-2000, 2000], [-32767, 32767]][k % 4];
    const wr = k % 4 === 3 ? 255 : 127;
    const x0 = ints(C * H * W, xr[0], xr[1], r);
    const x1 = ints(C * H * W, xr[0], xr[1], r);
    const w = ints(C * kH * kW, -wr, wr, r);
    const bw = k % 5 === 4 ? 6 : 8;
    // multipliers up to 2^31 - 1 (the f64 and int64 requantization), small ones, zeros; biases up to ±2^30
    // (rounding ties: S = 2^21 or 3·2^20 with odd sums)
    const Ss = [pick(0, 1 << 22), pick(0, 1 << 12), 1 << 21, 3 << 20, 0, pick(1, 2 ** 31 - 1), 2 ** 31 - 1];
    const S = Array.from({ length: C }, () => Ss[pick(0, k % 3 === 0 ? 6 : 3)]);
    const bq = ints(C, k % 7 === 0 ? -(2 ** 30) : -60, k % 7 === 0 ? 2 ** 30 : 60, r);
    const bias = ints(C, k % 7 === 0 ? -(2 ** 30) : -5000, k % 7 === 0 ? 2 ** 30 : 5000, r);
    const shift = [7, 12, 0, -3, 31, 40][k % 6];
    const L = { S, bq, bias, shift };
    const relu = k % 2 === 0;
    const d0 = K.simDwStats.convs, p0 = K.simDwStats.pairs;
    const on = runConv(g, x0, x1, w, L, relu, bw);
    res.dw += K.simDwStats.convs - d0;
    res.pairs += K.simDwStats.pairs - p0;
    const prev = K.setSimDepthwise('off');
    const d1 = K.simDwStats.convs;
    const off = runConv(g, x0, x1, w, L, relu, bw);
    if (K.simDwStats.convs !== d1) throw new Error('setSimDepthwise(off) still ran the kernel');
    K.setSimDepthwise(prev);
    res.cases++;
    if (on !== off) res.bad.push(JSON.stringify(g));
  }
  res.jobs = K.kernelStats().workerJobs - jobs0;
  return res;
}

async function net(file, mode, size) {
  const { run } = await simCase(file, mode, size, [6, 7]);
  const before = { ...A.intConvPaths };
  const p0 = K.simDwStats.pairs;
  const fast = await run();
  const paths = Object.fromEntries(Object.entries(A.intConvPaths).map(([k, v]) => [k, v - before[k]]));
  const pairs = K.simDwStats.pairs - p0;
  const prev = K.setSimDepthwise('off');
  const slow = await run();
  K.setSimDepthwise(prev);
  return { paths, pairs, sameStats: fast.stats === slow.stats, sameBlobs: fast.blobs === slow.blobs };
}

const cases = [['shapes', 1], ['shapes', 2], ['mobilenet_v1.prototxt', 'Xilinx'], ['mobilenet_v1.prototxt', 'DynamicFixed']];
main(process.argv[2] === 'plain' ? cases.slice(0, 2) : cases, async (what, arg) => {
  if (what === 'shapes') {
    const T = arg;
    const small = shapes(T, 100 + T, 120, false);
    const big = shapes(T, 200 + T, 6, true);
    return { small, big, variant: K.kernelStats().variant, threads: K.kernelStats().threads };
  }
  K.setThreads(2);
  return net(what, arg, 64);
});
