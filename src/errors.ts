/** Where something is in a user's file. line and col are 1-based. */
export interface SourceLoc {
  file?: string;
  line?: number;
  col?: number;
}

/**
 * The one error type every stage throws for bad input. The CLI prints it as a single line
 * `file:line:col: error: message` and exits with `exitCode`; it never shows a stack trace.
 */
export class ChaiqError extends Error {
  constructor(message: string, public loc: SourceLoc = {}, public exitCode = 1) {
    super(message);
    this.name = 'ChaiqError';
  }
}

export function formatLoc(loc: SourceLoc): string {
  if (!loc.file) return '';
  let s = loc.file;
  if (loc.line !== undefined) {
    s += `:${loc.line}`;
    if (loc.col !== undefined) s += `:${loc.col}`;
  }
  return s;
}

/** `file:line:col: error: message`, or `error: message` without a file. */
export function formatError(e: ChaiqError, severity: 'error' | 'warning' = 'error'): string {
  const where = formatLoc(e.loc);
  return `${where ? where + ': ' : ''}${severity}: ${clipMessage(e.message)}`;
}

/** A message quoting a huge token (a 100 000-character type name) is cut in the middle, to stay readable. */
export function clipMessage(m: string, max = 1000): string {
  return m.length <= max ? m : `${m.slice(0, max - 300)} ... (${m.length - max + 100} characters) ... ${m.slice(m.length - 200)}`;
}

/** Warnings go through one sink so the CLI decides where they land (stderr, a list, nowhere). */
export type WarnFn = (message: string, loc?: SourceLoc) => void;
export const warnToStderr: WarnFn = (message, loc = {}) => {
  const where = formatLoc(loc);
  process.stderr.write(`${where ? where + ': ' : ''}warning: ${clipMessage(message)}\n`);
};

/**
 * Bad input caused by an option of a library call. The message names options as `{name}` (the API's names), so
 * that a front end can name its own spelling of them instead (`{dims}` → `--dims` in the CLI): library code
 * names no CLI flag.
 */
export class OptionError extends ChaiqError {
  constructor(public readonly template: string, loc: SourceLoc = {}, exitCode = 2) {
    super(optionMessage(template, (o) => `option ${o}`), loc, exitCode);
    this.name = 'OptionError';
  }
}

/** `template` with each `{option}` named by `name`. */
export function optionMessage(template: string, name: (option: string) => string): string {
  return template.replace(/\{(\w+)\}/g, (_, o: string) => name(o));
}

/** Runs `f`; an OptionError from it gets its message rewritten with `name` (a front end's spelling of the options). */
export function withOptionNames<T>(name: (option: string) => string, f: () => T): T {
  const rename = (e: unknown) => {
    if (e instanceof OptionError) e.message = optionMessage(e.template, name);
    return e;
  };
  let r: T;
  try {
    r = f();
  } catch (e) {
    throw rename(e);
  }
  if (r instanceof Promise) return r.catch((e) => Promise.reject(rename(e))) as T;
  return r;
}
