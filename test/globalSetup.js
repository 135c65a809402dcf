// CLI tests spawn `node bin/chaiq.js`, which runs the compiled dist/: build it once per jest run.
const { execFileSync } = require('child_process');
const path = require('path');
module.exports = async () => {
  const root = path.resolve(__dirname, '..');
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
};
