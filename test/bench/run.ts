/**
 * `npm run bench`: runs every test/bench/*.bench.ts (compiled to dist/) and prints its figures.
 * Each bench module exports `run(): Promise<Record<string, number | string>>` and measures its own
 * baseline in the same run, so ratios are comparable across machines.
 * `npm run bench -- kernels parse` runs only the named benches.
 */
import * as fs from 'fs';
import * as path from 'path';

async function main() {
  const only = process.argv.slice(2);
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.bench.js'))
    .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
    .sort();
  const results: Record<string, Record<string, number | string>> = {};
  for (const f of files) {
    const name = f.replace(/\.bench\.js$/, '');
    process.stdout.write(`\n== ${name}\n`);
    const mod = require(path.join(__dirname, f));
    const t0 = Date.now();
    try {
      const r = await mod.run();
      results[name] = r;
      for (const [k, v] of Object.entries(r)) {
        process.stdout.write(`  ${k.padEnd(48)} ${typeof v === 'number' ? fmt(v) : v}\n`);
      }
    } catch (e) {
      process.stdout.write(`  FAILED: ${(e as Error).message}\n`);
      process.exitCode = 1;
    }
    process.stdout.write(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
  const out = process.env.CHAIQ_BENCH_JSON;
  if (out) fs.writeFileSync(out, JSON.stringify(results, null, 2));
  try {
    require('../../src/kernels').shutdownKernels?.();
  } catch {
    /* kernels not built */
  }
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

main();
