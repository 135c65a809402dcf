/**
 * test/helpers/cli-server.js, which many CLI tests use instead of a node start per command: the exit code, stdout
 * and stderr of bin/chaiq.js for the same commands (ok, bad input, usage error, a warning), and commands sent
 * together answered one by one, each with its own output.
 */
import * as path from 'path';
import { cliServer, runCli, ROOT } from './helpers/cli';

const LENET = path.join(ROOT, 'models/lenet');
const COMMANDS: [string, string[]][] = [
  ['ok (stdout)', ['info', '--deploy_model', path.join(LENET, 'lenet.prototxt')]],
  ['bad input (exit 1)', ['fmt', path.join(ROOT, 'test/fixtures/malformed/bad_bool.prototxt')]],
  ['usage error (exit 2)', ['simulate', '--deploy_model', path.join(LENET, 'lenet.prototxt'), '--threads', '0']],
  ['a path that does not exist (exit 2)', ['lint', path.join(ROOT, 'no/such.prototxt')]],
  ['a warning on stderr, exit 0', ['info', '--format', 'json', '--deploy_model', path.join(LENET, 'lenet.prototxt'), '--dims', '1,1,28,28']],
];

describe('cliServer answers as bin/chaiq.js does', () => {
  const cli = cliServer();
  afterAll(() => cli.close());
  test.each(COMMANDS)('%s', async (_label, args) => {
    const spawned = runCli(args);
    const served = await cli.run(args);
    expect(served).toEqual(spawned);
  });
  test('commands in a row keep their own output and exit code', async () => {
    const [a, b, c] = await Promise.all([cli.run(COMMANDS[0][1]), cli.run(COMMANDS[2][1]), cli.run(COMMANDS[0][1])]);
    expect([a.code, b.code, c.code]).toEqual([0, 2, 0]);
    expect(a.stdout).toBe(c.stdout);
    expect(b.stdout).toBe('');
    expect(a.stderr + c.stderr).toBe('');
  });
});
