import { EmbeddedActionsParser, EOF, IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import type { FieldNode, MessageNode, ScalarNode, Span } from './cst';
import {
  allTokens,
  BadNumber,
  BadString,
  Colon,
  Comma,
  Ident,
  LAngle,
  LBracket,
  LCurly,
  NegIdent,
  NumberLit,
  RAngle,
  RBracket,
  RCurly,
  Semi,
  StringLit,
} from './lexer';
import { decodeStringLiteral } from './strings';

/** A problem found while parsing, located by offset into the text. */
export interface RawDiag {
  offset: number;
  line: number;
  col: number;
  message: string;
}

/** How a token is named in messages. */
export function describeToken(t: IToken | undefined): string {
  if (!t || t.tokenType === EOF) return 'end of file';
  if (t.tokenType === StringLit) return `string ${t.image.length > 30 ? t.image.slice(0, 27) + '...' : t.image}`;
  if (t.tokenType === NumberLit || t.tokenType === NegIdent) return `number '${t.image}'`;
  if (t.tokenType === Ident) return `'${t.image}'`;
  return `'${t.image}'`;
}

function label(tt: TokenType): string {
  if (tt === Ident) return 'a field name';
  return tt.LABEL ?? tt.name;
}

let current: PrototxtParser | undefined;

const errorProvider: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual }) {
    if (expected === RCurly || expected === RAngle) {
      const open = current?.openStack[current.openStack.length - 1];
      const where = open ? ` to close the '${open.image}' at ${open.startLine}:${open.startColumn}` : '';
      return `expected a field name or '${expected === RCurly ? '}' : '>'}'${where}, found ${describeToken(actual)}`;
    }
    return `expected ${label(expected)}, found ${describeToken(actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `unexpected ${describeToken(firstRedundant)}`;
  },
  buildNoViableAltMessage({ actual, ruleName }) {
    if (ruleName === 'field' || ruleName === 'scalar') {
      const name = current?.lastFieldName;
      return `expected a value${name ? ` for '${name}'` : ''}, found ${describeToken(actual[0])}`;
    }
    if (ruleName === 'message') {
      const open = current?.openStack[current.openStack.length - 1];
      if (open) {
        const close = open.image === '{' ? '}' : '>';
        return `expected a field name or '${close}' to close the '${open.image}' at ${open.startLine}:${open.startColumn}, found ${describeToken(actual[0])}`;
      }
    }
    if (ruleName === 'listItem') return `expected a value in the list, found ${describeToken(actual[0])}`;
    return `unexpected ${describeToken(actual[0])}`;
  },
  buildEarlyExitMessage({ actual }) {
    return `unexpected ${describeToken(actual[0])}`;
  },
};

function spanOf(t: IToken): Span {
  return { start: t.startOffset, end: t.endOffset! + 1, line: t.startLine!, col: t.startColumn! };
}

const isReal = (t: IToken | undefined): t is IToken => !!t && !t.isInsertedInRecovery && !isNaN(t.startOffset) && t.tokenType !== EOF;

function decodeNumber(image: string): number {
  let s = image.replace(/[ \t]/g, '');
  let neg = false;
  if (s[0] === '-') {
    neg = true;
    s = s.slice(1);
  }
  let v: number;
  const low = s.toLowerCase();
  if (low.startsWith('inf')) v = Infinity;
  else if (low === 'nan') v = NaN;
  else if (low.startsWith('0x')) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]+$/.test(s)) v = parseInt(s, 8); // C-style octal, as protobuf text format reads it
  else v = Number(s.replace(/[fF]$/, ''));
  return neg ? -v : v;
}

type Item = ScalarNode | MessageNode;

const NUMBER_WORD = /^(?:inf|infinity|nan)$/i;

/**
 * The protobuf-text grammar as a Chevrotain parser with embedded actions that build the lossless
 * CST directly (no intermediate Chevrotain CST: cheaper). Trivia between significant tokens is kept
 * in `gaps`, so the tree reprints the file exactly.
 */
export class PrototxtParser extends EmbeddedActionsParser {
  text = '';
  diags: RawDiag[] = [];
  openStack: IToken[] = [];
  lastFieldName = '';

  constructor() {
    super(allTokens, { recoveryEnabled: true, errorMessageProvider: errorProvider, maxLookahead: 1 });
    this.performSelfAnalysis();
  }

  begin(text: string, tokens: IToken[]) {
    this.text = text;
    this.diags = [];
    this.openStack = [];
    this.lastFieldName = '';
    this.input = tokens;
    current = this;
  }

  private diagAt(t: IToken, message: string) {
    this.diags.push({ offset: t.startOffset, line: t.startLine!, col: t.startColumn!, message });
  }

  /** the whole file: fields, separators, and stray tokens reported as errors */
  public root = this.RULE('root', (): MessageNode => {
    const fields: FieldNode[] = [];
    this.MANY(() => {
      this.OR([
        {
          ALT: () => {
            const f = this.SUBRULE(this.field);
            this.ACTION(() => f && fields.push(f));
          },
        },
        { ALT: () => this.SUBRULE(this.sep) },
        { ALT: () => this.SUBRULE(this.junk) },
        {
          ALT: () => {
            const t = this.OR2([
              { ALT: () => this.CONSUME(RCurly) },
              { ALT: () => this.CONSUME(RAngle) },
            ]);
            this.ACTION(() => this.diagAt(t, `unmatched '${t.image}'`));
          },
        },
      ]);
    });
    return this.ACTION(() => {
      const text = this.text;
      const gaps: string[] = [];
      let prev = 0;
      for (const f of fields) {
        gaps.push(text.slice(prev, f.span.start));
        prev = f.span.end;
      }
      gaps.push(text.slice(prev));
      const root: MessageNode = { span: { start: 0, end: text.length, line: 1, col: 1 }, fields, gaps };
      return root;
    });
  });

  private sep = this.RULE('sep', () => {
    this.OR([{ ALT: () => this.CONSUME(Comma) }, { ALT: () => this.CONSUME(Semi) }]);
  });

  /** tokens that cannot start a field: reported, skipped, parsing goes on */
  private junk = this.RULE('junk', () => {
    const t = this.OR([
      { ALT: () => this.CONSUME(NumberLit) },
      { ALT: () => this.CONSUME(NegIdent) },
      { ALT: () => this.CONSUME(StringLit) },
      { ALT: () => this.CONSUME(BadString) },
      { ALT: () => this.CONSUME(BadNumber) },
      { ALT: () => this.CONSUME(Colon) },
      { ALT: () => this.CONSUME(LBracket) },
      { ALT: () => this.CONSUME(RBracket) },
      { ALT: () => this.CONSUME(LCurly) },
      { ALT: () => this.CONSUME(LAngle) },
    ]);
    this.ACTION(() => this.diagAt(t, `expected a field name, found ${describeToken(t)}`));
  });

  private field = this.RULE(
    'field',
    (): FieldNode => {
      const nameTok = this.CONSUME(Ident);
      this.ACTION(() => (this.lastFieldName = nameTok.image));
      const colon = this.OPTION(() => this.CONSUME(Colon));
      let value: Item | Item[] | undefined;
      let listGaps: string[] | undefined;
      let listEnd = 0;
      this.OR([
        { ALT: () => (value = this.SUBRULE(this.message)) },
        {
          ALT: () => {
            const l = this.SUBRULE(this.list);
            this.ACTION(() => {
              if (l) {
                value = l.items;
                listGaps = l.gaps;
                listEnd = l.end;
              }
            });
          },
        },
        {
          ALT: () => {
            value = this.SUBRULE(this.scalar);
            this.ACTION(() => {
              if (!colon && value) this.diags.push({ ...posOf(value as ScalarNode), message: `expected ':' between '${nameTok.image}' and its value` });
            });
          },
        },
      ]);
      return this.ACTION(() => {
        if (value === undefined) return undefined as unknown as FieldNode;
        const text = this.text;
        const nameSpan = spanOf(nameTok);
        let end: number;
        let gaps: string[];
        if (Array.isArray(value)) {
          end = listEnd;
          gaps = value.length ? [text.slice(nameSpan.end, value[0].span.start), ...listGaps!] : [text.slice(nameSpan.end, listEnd)];
        } else {
          end = value.span.end;
          gaps = [text.slice(nameSpan.end, value.span.start)];
        }
        const f: FieldNode = { name: nameTok.image, nameSpan, span: { start: nameSpan.start, end, line: nameSpan.line, col: nameSpan.col }, value, gaps };
        return f;
      });
    },
    { recoveryValueFunc: () => undefined as any },
  );

  private message = this.RULE(
    'message',
    (): MessageNode => {
      const open = this.OR([{ ALT: () => this.CONSUME(LCurly) }, { ALT: () => this.CONSUME(LAngle) }]);
      this.ACTION(() => this.openStack.push(open));
      const fields: FieldNode[] = [];
      this.MANY(() => {
        this.OR2([
          {
            ALT: () => {
              const f = this.SUBRULE(this.field);
              this.ACTION(() => f && fields.push(f));
            },
          },
          { ALT: () => this.SUBRULE(this.sep) },
          { ALT: () => this.SUBRULE(this.junk) },
        ]);
      });
      const close = this.OR3([{ ALT: () => this.CONSUME(RCurly) }, { ALT: () => this.CONSUME(RAngle) }]);
      return this.ACTION(() => {
        this.openStack.pop();
        const text = this.text;
        const start = open.startOffset;
        let end: number;
        if (isReal(close)) {
          end = close.endOffset! + 1;
          const want = open.image === '{' ? '}' : '>';
          if (close.image !== want)
            this.diagAt(close, `'${close.image}' does not match the '${open.image}' at ${open.startLine}:${open.startColumn}`);
        } else {
          const last = fields[fields.length - 1];
          end = last ? last.span.end : open.endOffset! + 1;
        }
        const gaps: string[] = [];
        let prev = start;
        for (const f of fields) {
          gaps.push(text.slice(prev, f.span.start));
          prev = f.span.end;
        }
        gaps.push(text.slice(prev, end));
        const m: MessageNode = { span: { start, end, line: open.startLine!, col: open.startColumn! }, fields, gaps };
        return m;
      });
    },
    { recoveryValueFunc: () => undefined as any },
  );

  /** `[a, b, c]` or `[{...}, {...}]` */
  private list = this.RULE(
    'list',
    (): { items: Item[]; gaps: string[]; end: number } => {
      this.CONSUME(LBracket);
      const items: Item[] = [];
      this.MANY_SEP({
        SEP: Comma,
        DEF: () => {
          const it = this.SUBRULE(this.listItem);
          this.ACTION(() => it && items.push(it));
        },
      });
      const close = this.CONSUME(RBracket);
      return this.ACTION(() => {
        const text = this.text;
        const end = isReal(close) ? close.endOffset! + 1 : items.length ? items[items.length - 1].span.end : 0;
        const gaps: string[] = [];
        for (let i = 1; i < items.length; i++) gaps.push(text.slice(items[i - 1].span.end, items[i].span.start));
        if (items.length) gaps.push(text.slice(items[items.length - 1].span.end, end));
        return { items, gaps, end };
      });
    },
    { recoveryValueFunc: () => undefined as any },
  );

  private listItem = this.RULE(
    'listItem',
    (): Item => this.OR([{ ALT: () => this.SUBRULE(this.message) }, { ALT: () => this.SUBRULE(this.scalar) }]),
    { recoveryValueFunc: () => undefined as any },
  );

  private scalar = this.RULE(
    'scalar',
    (): ScalarNode => {
      let node: ScalarNode | undefined;
      this.OR([
        {
          ALT: () => {
            const toks: IToken[] = [];
            this.AT_LEAST_ONE(() => {
              toks.push(this.CONSUME(StringLit));
            });
            this.ACTION(() => {
              let value = '';
              for (const t of toks) {
                const d = decodeStringLiteral(t.image);
                if ('error' in d) {
                  this.diags.push({
                    offset: t.startOffset + d.error.offset,
                    line: t.startLine!,
                    col: t.startColumn! + d.error.offset,
                    message: d.error.message,
                  });
                } else value += d.value;
              }
              const first = toks[0];
              const last = toks[toks.length - 1];
              const start = first.startOffset;
              const end = last.endOffset! + 1;
              node = { kind: 'string', raw: this.text.slice(start, end), value, span: { start, end, line: first.startLine!, col: first.startColumn! } };
            });
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(BadString);
            this.ACTION(() => {
              this.diagAt(t, `missing terminating ${t.image[0]} character`);
              node = { kind: 'string', raw: t.image, value: t.image.slice(1), span: spanOf(t) };
            });
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(BadNumber);
            this.ACTION(() => {
              this.diagAt(t, `malformed number '${t.image}'`);
              node = { kind: 'number', raw: t.image, value: NaN, span: spanOf(t) };
            });
          },
        },
        {
          ALT: () => {
            const t = this.OR2([{ ALT: () => this.CONSUME(NumberLit) }, { ALT: () => this.CONSUME(NegIdent) }]);
            this.ACTION(() => (node = { kind: 'number', raw: t.image, value: decodeNumber(t.image), span: spanOf(t) }));
          },
        },
        {
          ALT: () => {
            const t = this.CONSUME(Ident);
            this.ACTION(() => {
              // inf / infinity / nan are numbers in protobuf text format (for float fields)
              node = NUMBER_WORD.test(t.image)
                ? { kind: 'number', raw: t.image, value: decodeNumber(t.image), span: spanOf(t) }
                : { kind: 'ident', raw: t.image, value: t.image, span: spanOf(t) };
            });
          },
        },
      ]);
      return node as ScalarNode;
    },
    { recoveryValueFunc: () => undefined as any },
  );
}

function posOf(n: { span: Span }) {
  return { offset: n.span.start, line: n.span.line, col: n.span.col };
}
