'use strict';
// One plain node process on dist/ that runs CLI commands sent over IPC, one at a time, through main(): what runCli
// gives without a node start and a load of dist/ per command (about 1 s of CPU each), and without jest's sandbox,
// which slows the simulator's loops. Reply: { id, code, stdout, stderr }.
const path = require('path');
const ROOT = path.resolve(__dirname, '../..');
process.chdir(ROOT);
// runMain (helpers/cli.ts, compiled): main() with stdout and stderr captured and the exit code reset
const { runMain } = require(path.join(ROOT, 'dist/test/helpers/cli.js'));

let queue = Promise.resolve();
process.on('message', (m) => {
  queue = queue.then(async () => {
    let r;
    try {
      r = await runMain(m.args);
    } catch (e) {
      r = { code: -1, stdout: '', stderr: `cli-server: main threw: ${e && e.stack ? e.stack : e}\n` };
    }
    process.send({ id: m.id, code: r.code, stdout: r.stdout, stderr: r.stderr });
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
