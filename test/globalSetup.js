// CLI tests spawn `node bin/chaiq.js`, which runs the compiled dist/: build it once per jest run.
// tsc emits even when a file has type errors; those are reported by test/typecheck.test.ts instead,
// so one bad file does not hide every other test result.
const { spawnSync } = require('child_process');
const path = require('path');
module.exports = async () => {
  const root = path.resolve(__dirname, '..');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { encoding: 'utf8' });
  if (r.status !== 0) process.stderr.write('\n[globalSetup] tsc reported type errors; dist/ was emitted anyway (see test/typecheck.test.ts)\n');
};
