/**
 * A few hundred seeded fuzz cases (npm run fuzz runs many more): mutants of real prototxts, caffemodels,
 * .npy and images through info, fmt, lint, diff, forward and quantize. Every outcome must be exit 0/1/2
 * with one error line naming a file of the case, no stack trace, no hang, no output left on failure.
 */
import { runFuzz } from './fuzz/run';

test('200 seeded fuzz cases: no bad outcome', async () => {
  const s = await runFuzz({ cases: 200, seed: 12, workers: 2, timeoutMs: 30000, quiet: true });
  const bad = s.bad.map((b) => `case ${b.c.id} ${b.c.what}: ${b.why}: ${(b.outcome?.stderr ?? '').trim().split('\n').pop()}`);
  expect(bad).toEqual([]);
  expect(s.cases).toBe(200);
  // the harness reaches every command and both verdicts
  expect(Object.keys(s.byCommand).sort()).toEqual(['diff', 'fmt', 'forward', 'info', 'lint', 'quantize']);
  expect(s.byCode['0']).toBeGreaterThan(0);
  expect(s.byCode['1']).toBeGreaterThan(0);
}, 180000);
