import { createToken, Lexer, TokenType } from 'chevrotain';

/**
 * Tokens of protobuf text format as Caffe files are written. Whitespace and `#` comments are
 * SKIPPED by the lexer: the parser recovers them losslessly as the text between significant
 * tokens (the `gaps` of the CST), which costs nothing per trivia token.
 */
export const WhiteSpace = createToken({
  name: 'WhiteSpace',
  pattern: /[ \t\r\n\f\v\uFEFF\u00A0]+/,
  group: Lexer.SKIPPED,
  line_breaks: true,
});
export const Comment = createToken({ name: 'Comment', pattern: /#[^\n\r]*/, group: Lexer.SKIPPED });

/** A complete string literal in double or single quotes; escapes are checked when decoded. */
export const StringLit = createToken({
  name: 'StringLit',
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"|'(?:[^'\\\n\r]|\\[^\n\r])*'/,
});
/** A string whose closing quote is missing on its line: lexed so the parser can report it well. */
export const BadString = createToken({
  name: 'BadString',
  pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*\\?|'(?:[^'\\\n\r]|\\[^\n\r])*\\?/,
});

/** decimal, hex, octal-looking, float (`1e-5`, `.5`, `5.`, `1.0f`), optionally negative. */
export const NumberLit = createToken({
  name: 'NumberLit',
  pattern: /(?:-[ \t]*)?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fF]?)(?![A-Za-z0-9_.])/,
});
/** Something that starts like a number but is not one (`1.5.3`, `12abc`): reported by the parser. */
export const BadNumber = createToken({ name: 'BadNumber', pattern: /(?:-[ \t]*)?\.?\d(?:[eE][+-]|[A-Za-z0-9_.])*/ });
/** `-inf`, `-infinity`, `-nan` (possibly `-` and the identifier spaced apart). */
export const NegIdent = createToken({ name: 'NegIdent', pattern: /-[ \t]*(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?|[nN][aA][nN])(?![A-Za-z0-9_])/ });
export const Ident = createToken({ name: 'Ident', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

export const LCurly = createToken({ name: 'LCurly', pattern: '{', label: "'{'" });
export const RCurly = createToken({ name: 'RCurly', pattern: '}', label: "'}'" });
export const LAngle = createToken({ name: 'LAngle', pattern: '<', label: "'<'" });
export const RAngle = createToken({ name: 'RAngle', pattern: '>', label: "'>'" });
export const LBracket = createToken({ name: 'LBracket', pattern: '[', label: "'['" });
export const RBracket = createToken({ name: 'RBracket', pattern: ']', label: "']'" });
export const Colon = createToken({ name: 'Colon', pattern: ':', label: "':'" });
export const Comma = createToken({ name: 'Comma', pattern: ',', label: "','" });
export const Semi = createToken({ name: 'Semi', pattern: ';', label: "';'" });

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  StringLit,
  BadString,
  NegIdent,
  NumberLit,
  BadNumber,
  Ident,
  LCurly,
  RCurly,
  LAngle,
  RAngle,
  LBracket,
  RBracket,
  Colon,
  Comma,
  Semi,
];

let lexer: Lexer | undefined;
/** The one lexer instance (building it validates the token set, so do it once). */
export function prototxtLexer(): Lexer {
  if (!lexer) lexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
  return lexer;
}
