import * as path from 'path';
/** File-system error codes in words, for one-line messages ("directory does not exist", not ENOENT). */

const WORDS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ENOSPC: 'no space left on the device',
  EROFS: 'the file system is read-only',
  EEXIST: 'already exists',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files',
  ENAMETOOLONG: 'the file name is too long',
  ELOOP: 'too many symbolic links',
  EXDEV: 'cannot move across file systems',
  EBUSY: 'the file is busy',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'the file is too large',
  EIO: 'input/output error',
  ENXIO: 'no such device',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  ETXTBSY: 'the file is busy',
  EAGAIN: 'resource temporarily unavailable',
};

/** The error of an fs call in words; unknown codes keep the system's message. */
export function fsErrorWords(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && err.code && WORDS[err.code]) return WORDS[err.code];
  if (err && err.code) return `${err.code.toLowerCase()} (${(err.message || '').replace(/^[A-Z]+: /, '').split(',')[0]})`;
  return err && err.message ? err.message : String(e);
}

/** The code of an fs error, if any. */
export const fsCode = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

/** Why a file could not be written, in words ("cannot write: directory out/ does not exist"). */
export function writeErrorWords(e: unknown, file: string): string {
  const code = fsCode(e);
  const dir = path.dirname(file);
  if (code === 'ENOENT') return `cannot write: directory ${dir.endsWith(path.sep) ? dir : dir + path.sep} does not exist`;
  if (code === 'ENOTDIR') return `cannot write: ${dir} is not a directory`;
  if (code === 'EISDIR') return 'cannot write: it is a directory';
  return `cannot write: ${fsErrorWords(e)}`;
}
