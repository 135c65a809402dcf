import * as fs from 'fs';
import * as path from 'path';
import { threadId } from 'worker_threads';
import { ChaiqError } from '../errors';
import { writeErrorWords } from './fserr';
import { activeOutputs } from './outputs';

/**
 * Writes next to the target and renames, so an error or a crash never leaves a half-written output file.
 * Inside writeAllOrNone (src/io/outputs.ts) the rename waits for the command to succeed.
 * A failure is a ChaiqError naming the file in words (exit code 2: the user's path is unusable).
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const staged = activeOutputs();
  if (staged) return staged.stage(file, data);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.chaiq-${process.pid}-${threadId}.tmp`);
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw new ChaiqError(writeErrorWords(e, file), { file }, 2);
  }
}
