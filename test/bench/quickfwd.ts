/**
 * Quick iteration helper (not part of `npm run bench`): batch-1 forward of the three nets, median wall ms and
 * main-thread CPU ms per forward, plus the top layers of a profile. `node dist/test/bench/quickfwd.js [net...] [--prof]`
 */
import * as fs from 'fs';
import { runNet } from '../../src/exec/executor';
import { profileNet } from '../../src/exec/profile';
import { initKernels, shutdownKernels } from '../../src/kernels';
import { benchNet, median, nowMs, randomInput } from './netutil';

const FILES: Record<string, string> = { googlenet: 'bvlc_googlenet.prototxt', resnet50: 'resnet50.prototxt', mobilenet_v1: 'mobilenet_v1.prototxt' };
const quiet = { warn: () => {}, reuseBuffers: true };
const mainCpu = (): number => Number(fs.readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const prof = args.includes('--prof');
  const runs = Number(args.find((a) => a.startsWith('--runs='))?.slice(7) ?? 9);
  const nets = args.filter((a) => !a.startsWith('--'));
  await initKernels();
  for (const key of nets.length ? nets : Object.keys(FILES)) {
    const b = benchNet(FILES[key], 1, 1);
    const x = randomInput(b.inputShape);
    for (let i = 0; i < 2; i++) await runNet(b.net, x, quiet);
    const ts: number[] = [];
    const ms: number[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < runs; i++) {
      const t = nowMs();
      const m = mainCpu();
      await runNet(b.net, x, quiet);
      ts.push(nowMs() - t);
      ms.push(mainCpu() - m);
    }
    const w = median(ts);
    const cu = process.cpuUsage(cpu0);
    const allCpu = (cu.user + cu.system) / 1e3 / runs;
    console.log(`${key.padEnd(13)} wall ${w.toFixed(1)} ms (${((2 * b.macs) / w / 1e6).toFixed(1)} GFLOP/s) min ${Math.min(...ts).toFixed(1)}  main-CPU ${median(ms).toFixed(1)} ms  all-CPU ${allCpu.toFixed(1)} ms  load ${require('os').loadavg()[0].toFixed(2)}`);
    if (prof) {
      const agg = new Map<string, { ms: number; type: string }>();
      for (let i = 0; i < 3; i++) {
        const p = await profileNet(b.net, x, quiet);
        for (const l of p.layers) {
          const e = agg.get(l.name) ?? { ms: 0, type: l.type };
          e.ms += l.ms / 3;
          agg.set(l.name, e);
        }
      }
      const byType = new Map<string, number>();
      for (const e of agg.values()) byType.set(e.type, (byType.get(e.type) ?? 0) + e.ms);
      console.log('  by type: ' + [...byType].sort((a, b) => b[1] - a[1]).map(([t, v]) => `${t} ${v.toFixed(1)}`).join(', '));
      const top = [...agg].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15);
      for (const [n, e] of top) console.log(`  ${n.padEnd(28)} ${e.type.padEnd(12)} ${e.ms.toFixed(2)}`);
    }
  }
  await shutdownKernels();
}
main();
