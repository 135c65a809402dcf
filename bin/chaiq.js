#!/usr/bin/env node
'use strict';
// Even a failure to load the program is one line, never a stack trace (CHAIQ_DEBUG=1 shows it).
let main;
try {
  ({ main } = require('../dist/src/cli/main.js'));
} catch (e) {
  if (process.env.CHAIQ_DEBUG) console.error(e);
  const hint = e && e.code === 'MODULE_NOT_FOUND' && /dist/.test(e.message) ? ' (run `npm ci` or `npm run build` first)' : '';
  process.stderr.write(`error: internal error: cannot load chaiq: ${e && e.message ? e.message.split('\n')[0] : e}${hint}\n`);
  process.exit(70);
}
// `chaiq info ... | head`: a closed pipe ends the program quietly
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
