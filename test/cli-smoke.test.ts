import { runCli } from './helpers/cli';

test('chaiq with no command prints a one-line usage error and exits 2', () => {
  const r = runCli([]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^error: /m);
  expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
});
