/**
 * Output paths: checked before any work (a missing directory must not cost a calibration), and written
 * all or none (a command with several outputs stages each to a temporary file next to its target and
 * renames them together at the end; on failure the temporaries go).
 */
import * as fs from 'fs';
import * as path from 'path';
import { threadId } from 'worker_threads';
import { ChaiqError } from '../errors';
import { fsErrorWords, writeErrorWords } from './fserr';

/** One output of a command: the flag that names it, its path, and whether it is a directory to create. */
export interface OutputPath {
  flag: string;
  path: string | undefined;
  dir?: boolean;
}

const usage = (msg: string, file?: string) => new ChaiqError(msg, file ? { file } : {}, 2);
/** `out/` as the user typed the directory */
const shownDir = (d: string) => (d.endsWith(path.sep) ? d : d + path.sep);

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function writable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The same file whether named through a link, `./` or an absolute path (files that do not exist yet too). */
function identity(p: string): string {
  const abs = path.resolve(p);
  try {
    return fs.realpathSync(abs);
  } catch {
    try {
      return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
    } catch {
      return abs;
    }
  }
}

/**
 * Every output path is usable: its directory exists and is writable, a file output is not a directory,
 * no two outputs are the same file and no output is one of the inputs. `-` (stdout) is skipped.
 * Errors are usage errors (exit 2) in words: "cannot write out/x.prototxt: directory out/ does not exist".
 */
export function checkOutputPaths(outputs: OutputPath[], inputs: { flag: string; path: string | undefined }[] = []): void {
  const seen = new Map<string, string>();
  const ins = new Map<string, string>();
  for (const i of inputs) if (i.path && i.path !== '-') ins.set(identity(i.path), i.flag);
  for (const o of outputs) {
    const p = o.path;
    if (p === undefined || p === '-') continue;
    givenOnce(o.flag, p);
    if (p === '') throw usage(`${o.flag}: give a file name`);
    const st = statOrUndefined(p);
    if (o.dir) {
      if (st && !st.isDirectory()) throw usage(`cannot write into it: it exists and is not a directory`, p);
      // the nearest existing ancestor is where the directory gets created
      let up = path.resolve(p);
      while (!statOrUndefined(up)) up = path.dirname(up);
      if (!statOrUndefined(up)!.isDirectory()) throw usage(`cannot create the directory: ${up} is not a directory`, p);
      if (!writable(up)) throw usage(`cannot ${st ? 'write into the directory' : 'create the directory'}: ${up === path.resolve(p) ? 'it' : `directory ${shownDir(up)}`} is not writable`, p);
    } else {
      if (st && st.isDirectory()) throw usage(`cannot write: it is a directory`, p);
      const dir = path.dirname(p);
      const dst = statOrUndefined(dir);
      if (!dst) throw usage(`cannot write: directory ${shownDir(dir)} does not exist`, p);
      if (!dst.isDirectory()) throw usage(`cannot write: ${dir} is not a directory`, p);
      if (!writable(dir)) throw usage(`cannot write: directory ${shownDir(dir)} is not writable`, p);
      if (st && !writable(p)) throw usage(`cannot write: the file is not writable`, p);
    }
    const id = identity(p);
    const other = seen.get(id);
    if (other) throw usage(`${other} and ${o.flag} name the same file`, p);
    const input = ins.get(id);
    if (input) throw usage(`${o.flag} would overwrite the input ${input}`, p);
    seen.set(id, o.flag);
  }
}

/** A path flag given several times arrives as a list (yargs): say so, rather than look for a file named "a,b". */
function givenOnce(flag: string, p: unknown): void {
  if (Array.isArray(p)) throw usage(`${flag} is given ${p.length} times (${p.join(', ')}); give it once`);
}

/**
 * Inputs named by flags exist (a path that does not is a usage error, exit 2), checked with the
 * other flags so that no work or warning comes first. A directory flag must name a directory.
 */
export function checkInputPaths(inputs: { flag: string; path: string | undefined; dir?: boolean }[]): void {
  for (const i of inputs) {
    const p = i.path;
    if (p === undefined || p === '-') continue;
    givenOnce(i.flag, p);
    if (p === '') throw usage(`${i.flag}: give a ${i.dir ? 'directory' : 'file'} name`);
    const st = statOrUndefined(p);
    if (!st) throw usage(`${i.flag}: ${i.dir ? 'directory' : 'file'} not found`, p);
    if (i.dir && !st.isDirectory()) throw usage(`${i.flag}: not a directory`, p);
    if (!i.dir && st.isDirectory()) throw usage(`${i.flag}: is a directory, not a file`, p);
  }
}

/**
 * A command's paths, before any file is read: the inputs exist (checkInputPaths), the outputs can be written
 * and none of them is an input file (checkOutputPaths).
 */
export function checkFlagPaths(inputs: { flag: string; path: string | undefined; dir?: boolean }[], outputs: OutputPath[]): void {
  checkInputPaths(inputs);
  checkOutputPaths(outputs, inputs.filter((i) => !i.dir));
}

let seq = 0;
function tempFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.chaiq-${process.pid}-${threadId}-${++seq}.tmp`);
}

/** Outputs written so far in a staged run: temporaries to rename, directories created. */
class OutputSet {
  staged: { tmp: string; file: string }[] = [];
  createdDirs: string[] = [];

  stage(file: string, data: string | Uint8Array): void {
    const tmp = tempFor(file);
    try {
      fs.writeFileSync(tmp, data);
    } catch (e) {
      rmQuiet(tmp);
      throw new ChaiqError(writeErrorWords(e, file), { file }, 2);
    }
    // the last write of a file wins, as it would without staging
    const prev = this.staged.findIndex((s) => s.file === file);
    if (prev >= 0) rmQuiet(this.staged.splice(prev, 1)[0].tmp);
    this.staged.push({ tmp, file });
  }

  commit(): void {
    for (let i = 0; i < this.staged.length; i++) {
      const s = this.staged[i];
      try {
        fs.renameSync(s.tmp, s.file);
      } catch (e) {
        for (const r of this.staged.slice(i)) rmQuiet(r.tmp);
        this.staged = [];
        throw new ChaiqError(writeErrorWords(e, s.file), { file: s.file }, 2);
      }
    }
    this.staged = [];
  }

  abort(): void {
    for (const s of this.staged) rmQuiet(s.tmp);
    this.staged = [];
    // only what this run created, deepest first, and only when left empty
    for (const d of this.createdDirs.reverse()) {
      try {
        fs.rmdirSync(d);
      } catch {
        /* not empty or gone */
      }
    }
  }
}

function rmQuiet(f: string): void {
  try {
    fs.unlinkSync(f);
  } catch {
    /* nothing to clean */
  }
}

let active: OutputSet | undefined;

/**
 * Runs `work` with its file outputs staged: writeFileAtomic calls inside it write temporaries that are
 * renamed only when `work` succeeds, so a failure leaves none of its outputs (and no directory it made).
 */
export async function writeAllOrNone<T>(work: () => Promise<T> | T): Promise<T> {
  if (active) return await work();
  const set = new OutputSet();
  active = set;
  try {
    const r = await work();
    active = undefined;
    if (typeof process.exitCode === 'number' && process.exitCode !== 0) set.abort();
    else set.commit();
    return r;
  } catch (e) {
    active = undefined;
    set.abort();
    throw e;
  }
}

/** The staged run writeFileAtomic should add to, if any. */
export function activeOutputs(): { stage(file: string, data: string | Uint8Array): void } | undefined {
  return active;
}

/** Creates an output directory (and its parents); in a staged run, removed again on failure if left empty. */
export function ensureOutputDir(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); !statOrUndefined(d); d = path.dirname(d)) missing.push(d);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new ChaiqError(`cannot create the output directory: ${fsErrorWords(e)}`, { file: dir }, 2);
  }
  if (active) active.createdDirs.push(...missing.reverse());
}
