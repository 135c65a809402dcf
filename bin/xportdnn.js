#!/usr/bin/env node
'use strict';
// XportDNN-compatible entry: `xportdnn --quant_type Xilinx --deploy_model ... --weights ... --quantized_deploy_model ...`
const { main } = require('../dist/src/cli/main.js');
const { xportdnnCommand } = require('../dist/src/cli/commands/quantize.js');
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
main(process.argv.slice(2), 'xportdnn', xportdnnCommand).then((code) => { process.exitCode = code; });
