import { EOF, IToken } from 'chevrotain';
import { escapeForMessage } from '../src/io/sniff';
import { ChaiqError } from '../src/errors';
import type { PrototxtDoc } from './cst';
import { LAngle, LCurly, prototxtLexer, RAngle, RCurly } from './lexer';
import { PrototxtParser, RawDiag } from './parser';
import { lineColAt } from './strings';

export type { PrototxtDoc, MessageNode, FieldNode, ScalarNode, Span } from './cst';
export { quoteString, decodeStringLiteral, lineColAt } from './strings';

let parser: PrototxtParser | undefined;
/** The parser is built once (grammar analysis is the expensive part) and reused. */
function theParser(): PrototxtParser {
  if (!parser) parser = new PrototxtParser();
  return parser;
}

/**
 * Parses protobuf text format into the lossless CST, collecting every syntax error the parser can
 * recover from. `doc` is absent only when nothing useful could be built.
 */
export function parsePrototxtAll(text: string, file: string): { doc?: PrototxtDoc; errors: ChaiqError[] } {
  if (text.includes('\0')) {
    const lc = lineColAt(text, text.indexOf('\0'));
    return { errors: [new ChaiqError('this looks like a binary file, not a prototxt (it holds a NUL byte)', { file, ...lc })] };
  }
  const lexed = prototxtLexer().tokenize(text);
  const diags: RawDiag[] = [];
  for (const e of lexed.errors) {
    const ch = text.slice(e.offset, e.offset + e.length);
    const shown = escapeForMessage(ch.length > 20 ? ch.slice(0, 20) + '...' : ch);
    diags.push({ offset: e.offset, line: e.line!, col: e.column!, message: `unexpected character${ch.length > 1 ? 's' : ''} '${shown}'` });
  }
  const deep = tooDeep(lexed.tokens);
  if (deep) {
    // refused before parsing, as Google's parser does: every walk over the tree recurses per level
    return { errors: [new ChaiqError(`message nested deeper than ${MAX_NESTING} levels`, { file, line: deep.startLine, col: deep.startColumn })] };
  }
  const p = theParser();
  p.begin(text, lexed.tokens);
  const root = p.root();
  const perrors = p.errors;
  const mine = p.diags;
  p.input = []; // keep no reference to the tokens beyond this call
  for (const e of perrors) {
    const t = e.token;
    if (!t || t.tokenType === EOF || isNaN(t.startOffset)) {
      const lc = lineColAt(text, text.length);
      diags.push({ offset: text.length, ...lc, message: e.message });
    } else diags.push({ offset: t.startOffset, line: t.startLine!, col: t.startColumn!, message: e.message });
  }
  diags.push(...mine);
  p.text = '';
  // stable: at one offset the lexer's, then the grammar's message wins
  diags.sort((a, b) => a.offset - b.offset);
  const errors: ChaiqError[] = [];
  let last = -1;
  for (const d of diags) {
    if (d.offset === last) continue;
    last = d.offset;
    errors.push(new ChaiqError(d.message, { file, line: d.line, col: d.col }));
  }
  return { doc: root ? { file, text, root } : undefined, errors };
}

/** Deepest message nesting accepted (Google's text-format parser: 100 by default); real nets use under 10. */
export const MAX_NESTING = 100;

/** The opening token that goes past MAX_NESTING, if any. */
function tooDeep(tokens: IToken[]): IToken | undefined {
  let depth = 0;
  for (const t of tokens) {
    const tt = t.tokenType;
    if (tt === LCurly || tt === LAngle) {
      if (++depth > MAX_NESTING) return t;
    } else if ((tt === RCurly || tt === RAngle) && depth > 0) depth--;
  }
  return undefined;
}

/** Parses a prototxt; throws the first syntax error as ChaiqError (`file:line:col: error: ...`). */
export function parsePrototxt(text: string, file: string): PrototxtDoc {
  const r = parsePrototxtAll(text, file);
  if (r.errors.length) throw r.errors[0];
  if (!r.doc) throw new ChaiqError('could not parse the file', { file, line: 1, col: 1 });
  return r.doc;
}
