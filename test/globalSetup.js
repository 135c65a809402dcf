// CLI tests spawn `node bin/chaiq.js`, which runs the compiled dist/: build it once per jest run.
// tsc emits even when a file has type errors; the result is kept for test/typecheck.test.ts,
// so one bad file fails one test instead of hiding every other result.
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
module.exports = async () => {
  const root = path.resolve(__dirname, '..');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { encoding: 'utf8' });
  fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
  fs.writeFileSync(path.join(root, 'dist', 'tsc-result.json'), JSON.stringify({ status: r.status, output: (r.stdout || '') + (r.stderr || '') }));
  if (r.status !== 0) process.stderr.write('\n[globalSetup] tsc reported type errors; dist/ was emitted anyway (see test/typecheck.test.ts)\n');
};
