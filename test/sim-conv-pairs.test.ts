/**
 * A conv's fixed and local runs in one kernel call (A.convPair: the integer Winograd / 1x1 GEMM on two images)
 * give the figures and blobs of the two calls one after the other, bit for bit; and the pairs do run.
 */
import { runNodeHelper } from './helpers/cli';

describe('--metrics layers with each conv\'s fixed and local runs paired', () => {
  // on dist/ in a plain node process (test/helpers/sim-pairs-run.js): the simulator is slower in jest's sandbox
  type Got = { pairs: number; pairsOff: number; sameStats: boolean; sameBlobs: boolean };
  let got: Record<string, Got>;
  beforeAll(() => {
    got = runNodeHelper('sim-pairs-run.js');
  }, 300_000);
  // 3x3 Winograd and 1x1 GEMM convs, inception branches reading one blob; residual nets with folded BN, DynamicFixed
  test.each(['bvlc_googlenet.prototxt Xilinx', 'resnet50.prototxt DynamicFixed'])('%s', (name) => {
    const g = got[name];
    expect(g.pairs).toBeGreaterThan(10);
    expect(g.pairsOff).toBe(0);
    expect(g.sameStats).toBe(true);
    expect(g.sameBlobs).toBe(true);
  });
});
