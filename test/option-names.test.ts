// Library messages name options ({inputShape}); the CLI shows its flags (--input_shape) in the same message.
import { OptionError, withOptionNames } from '../src/errors';
import { cliFlag, withFlags } from '../src/cli/flags';

test('an OptionError names the API option; withOptionNames renames it, sync and async', async () => {
  const e = new OptionError('{dims} 3,32,32 disagrees with {inputShape} 1,3,28,28');
  expect(e.message).toBe('option dims 3,32,32 disagrees with option inputShape 1,3,28,28');
  expect(e.exitCode).toBe(2);
  expect(() => withFlags(() => { throw e; })).toThrow('--dims 3,32,32 disagrees with --input_shape 1,3,28,28');
  const later = withOptionNames((o) => `<${o}>`, async () => { throw new OptionError('{calibrationSize} too big', {}, 1); });
  await expect(later).rejects.toThrow('<calibrationSize> too big');
  expect(withFlags(() => 7)).toBe(7);
});

test('cliFlag: snake_case flags, and the few that are spelt otherwise', () => {
  expect(cliFlag('calibrationIndices')).toBe('--calibration_indices');
  expect(cliFlag('deploy')).toBe('--deploy_model');
  expect(cliFlag('allowNonfinite')).toBe('--allow_nonfinite');
  expect(cliFlag('optimizedWeights')).toBe('--optimized_weights');
});
