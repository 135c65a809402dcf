/** The library's option names as the CLI's flags, for the messages of OptionError (src/errors.ts). */
import { withOptionNames } from '../errors';

/** Options whose flag is not their snake_case spelling. */
const FLAG_OF: Record<string, string> = {
  deploy: 'deploy_model',
  allowNonfinite: 'allow_nonfinite',
  quantizedDeployModel: 'quantized_deploy_model',
  forBoard: 'optimized_weights',
};

/** `inputShape` → `--input_shape`. */
export function cliFlag(option: string): string {
  return '--' + (FLAG_OF[option] ?? option.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()));
}

/** Runs a library call; its OptionErrors name the CLI's flags. */
export function withFlags<T>(f: () => T): T {
  return withOptionNames(cliFlag, f);
}
