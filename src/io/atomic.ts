import * as fs from 'fs';
import * as path from 'path';
import { ChaiqError } from '../errors';

/**
 * Writes next to the target and renames, so an error or a crash never leaves a half-written output file.
 * A failure is a ChaiqError naming the file (exit code 2: the user's path is unusable).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.chaiq-${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw new ChaiqError(`cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { file }, 2);
  }
}
