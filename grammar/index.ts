import { EOF } from 'chevrotain';
import { ChaiqError } from '../src/errors';
import type { PrototxtDoc } from './cst';
import { prototxtLexer } from './lexer';
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
  const lexed = prototxtLexer().tokenize(text);
  const diags: RawDiag[] = [];
  for (const e of lexed.errors) {
    const ch = text.slice(e.offset, e.offset + e.length);
    const shown = ch.length > 20 ? ch.slice(0, 20) + '...' : ch;
    diags.push({ offset: e.offset, line: e.line!, col: e.column!, message: `unexpected character${ch.length > 1 ? 's' : ''} '${shown}'` });
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

/** Parses a prototxt; throws the first syntax error as ChaiqError (`file:line:col: error: ...`). */
export function parsePrototxt(text: string, file: string): PrototxtDoc {
  const r = parsePrototxtAll(text, file);
  if (r.errors.length) throw r.errors[0];
  if (!r.doc) throw new ChaiqError('could not parse the file', { file, line: 1, col: 1 });
  return r.doc;
}
