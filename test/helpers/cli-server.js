'use strict';
// One plain node process on dist/ that runs CLI commands sent over IPC, one at a time, through main(): what runCli
// gives without a node start and a load of dist/ per command (about 1 s of CPU each), and without jest's sandbox,
// which slows the simulator's loops. Reply: { id, code, stdout, stderr }.
const path = require('path');
const ROOT = path.resolve(__dirname, '../..');
process.chdir(ROOT);
const { main } = require(path.join(ROOT, 'dist/src/cli/main.js'));

let out = '';
let err = '';
const cap = (add) => (chunk, ...rest) => {
  add(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
  const cb = rest.find((x) => typeof x === 'function');
  if (cb) cb();
  return true;
};
const ow = process.stdout.write;
const ew = process.stderr.write;

let queue = Promise.resolve();
process.on('message', (m) => {
  queue = queue.then(async () => {
    out = '';
    err = '';
    process.stdout.write = cap((s) => (out += s));
    process.stderr.write = cap((s) => (err += s));
    process.exitCode = undefined;
    let code;
    try {
      code = await main(m.args);
    } catch (e) {
      err += `cli-server: main threw: ${e && e.stack ? e.stack : e}\n`;
      code = -1;
    } finally {
      process.stdout.write = ow;
      process.stderr.write = ew;
      process.exitCode = undefined;
    }
    process.send({ id: m.id, code, stdout: out, stderr: err });
  });
});
process.on('disconnect', () => {
  // for measuring the suite: jest's timing and `time` do not see this process's CPU
  if (process.env.CHAIQ_CLI_SERVER_CPU_LOG) {
    const u = process.cpuUsage();
    require('fs').appendFileSync(process.env.CHAIQ_CLI_SERVER_CPU_LOG, `${((u.user + u.system) / 1e6).toFixed(2)}\n`);
    // outlive jest, so that jest does not reap this process and add its CPU to its own children's
    setTimeout(() => process.exit(0), 3000);
    return;
  }
  process.exit(0);
});
