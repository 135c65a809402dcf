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
import { decodeStringLiteral, lineColAt } from './strings';
import { escapeForMessage } from '../src/io/sniff';

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
  if (t.tokenType === StringLit) return `string ${escapeForMessage(t.image.length > 30 ? t.image.slice(0, 27) + '...' : t.image)}`;
  if (t.tokenType === NumberLit || t.tokenType === NegIdent) return `number '${t.image}'`;
  return `'${escapeForMessage(t.image.length > 30 ? t.image.slice(0, 27) + '...' : t.image)}'`;
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
 *
 * Speed: the alternatives of each OR are built once (not per call) and semantic code runs under
 * `if (!this.RECORDING_PHASE)` instead of ACTION closures, so a field costs few allocations.
 * Per-rule state lives in locals; alternatives return their result instead of assigning a closure
 * variable.
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

  private gapsAround(fields: FieldNode[], start: number, end: number): string[] {
    const text = this.text;
    const gaps: string[] = new Array(fields.length + 1);
    let prev = start;
    for (let i = 0; i < fields.length; i++) {
      gaps[i] = text.slice(prev, fields[i].span.start);
      prev = fields[i].span.end;
    }
    gaps[fields.length] = text.slice(prev, end);
    return gaps;
  }

  // ---- alternatives, built once ----
  private readonly closerAlts = [{ ALT: () => this.CONSUME(RCurly) }, { ALT: () => this.CONSUME(RAngle) }];
  private readonly openerAlts = [{ ALT: () => this.CONSUME(LCurly) }, { ALT: () => this.CONSUME(LAngle) }];
  private readonly sepAlts = [{ ALT: () => this.CONSUME(Comma) }, { ALT: () => this.CONSUME(Semi) }];
  private readonly junkAlts = [
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
  ];
  /** one item of a message body: a field (returned), a separator or junk (undefined) */
  private readonly bodyAlts = [
    { ALT: (): FieldNode | undefined => this.SUBRULE(this.field) },
    { ALT: (): undefined => void this.SUBRULE(this.sep) },
    { ALT: (): undefined => void this.SUBRULE(this.junk) },
  ];
  private readonly rootAlts = [
    ...this.bodyAlts,
    {
      ALT: (): undefined => {
        const t = this.OR2(this.closerAlts);
        if (!this.RECORDING_PHASE) this.diagAt(t, `unmatched '${t.image}'`);
        return undefined;
      },
    },
  ];
  private readonly colonOpt = () => this.CONSUME(Colon);
  private readonly valueAlts = [
    { ALT: (): Item | ListResult => this.SUBRULE(this.message) },
    { ALT: (): Item | ListResult => this.SUBRULE(this.list) },
    { ALT: (): Item | ListResult => this.SUBRULE(this.scalar) },
  ];
  private readonly itemAlts = [{ ALT: (): Item => this.SUBRULE2(this.message) }, { ALT: (): Item => this.SUBRULE2(this.scalar) }];
  private readonly numberAlts = [{ ALT: () => this.CONSUME(NumberLit) }, { ALT: () => this.CONSUME(NegIdent) }];
  private readonly scalarAlts = [
    {
      ALT: (): ScalarNode | undefined => {
        const first = this.CONSUME(StringLit);
        let last = first;
        this.MANY(() => {
          last = this.CONSUME2(StringLit);
        });
        return this.RECORDING_PHASE ? undefined : this.stringNode(first, last);
      },
    },
    {
      ALT: (): ScalarNode | undefined => {
        const t = this.CONSUME(BadString);
        if (this.RECORDING_PHASE) return undefined;
        this.diagAt(t, `missing terminating ${t.image[0]} character`);
        return { kind: 'string', raw: t.image, value: t.image.slice(1), span: spanOf(t) };
      },
    },
    {
      ALT: (): ScalarNode | undefined => {
        const t = this.CONSUME(BadNumber);
        if (this.RECORDING_PHASE) return undefined;
        this.diagAt(t, `malformed number '${t.image}'`);
        return { kind: 'number', raw: t.image, value: NaN, span: spanOf(t) };
      },
    },
    {
      ALT: (): ScalarNode | undefined => {
        const t = this.OR2(this.numberAlts);
        return this.RECORDING_PHASE ? undefined : { kind: 'number', raw: t.image, value: decodeNumber(t.image), span: spanOf(t) };
      },
    },
    {
      ALT: (): ScalarNode | undefined => {
        const t = this.CONSUME(Ident);
        if (this.RECORDING_PHASE) return undefined;
        // inf / infinity / nan are numbers in protobuf text format (for float fields)
        return NUMBER_WORD.test(t.image)
          ? { kind: 'number', raw: t.image, value: decodeNumber(t.image), span: spanOf(t) }
          : { kind: 'ident', raw: t.image, value: t.image, span: spanOf(t) };
      },
    },
  ];

  /** adjacent string literals from `first` to `last` (the tokens between are all strings) */
  private stringNode(first: IToken, last: IToken): ScalarNode {
    const start = first.startOffset;
    const end = last.endOffset! + 1;
    const raw = this.text.slice(start, end);
    let value = '';
    if (first === last) value = this.decodeInto(first, raw);
    else {
      // re-lex the run: literals separated by trivia (whitespace, comments)
      const re = /"(?:[^"\\\n\r]|\\[^\n\r])*"|'(?:[^'\\\n\r]|\\[^\n\r])*'|#[^\n\r]*/g;
      let m: RegExpExecArray | null;
      while ((m = re.exec(raw))) {
        if (m[0][0] === '#') continue;
        value += this.decodeLit(m[0], start + m.index);
      }
    }
    return { kind: 'string', raw, value, span: { start, end, line: first.startLine!, col: first.startColumn! } };
  }

  private decodeInto(t: IToken, lit: string): string {
    const d = decodeStringLiteral(lit);
    if ('error' in d) {
      this.diags.push({ offset: t.startOffset + d.error.offset, line: t.startLine!, col: t.startColumn! + d.error.offset, message: d.error.message });
      return '';
    }
    return d.value;
  }

  private decodeLit(lit: string, offset: number): string {
    const d = decodeStringLiteral(lit);
    if ('error' in d) {
      const at = offset + d.error.offset;
      const lc = lineColAt(this.text, at);
      this.diags.push({ offset: at, line: lc.line, col: lc.col, message: d.error.message });
      return '';
    }
    return d.value;
  }

  /** the whole file: fields, separators, and stray tokens reported as errors */
  public root = this.RULE('root', (): MessageNode => {
    const fields: FieldNode[] = [];
    this.MANY(() => {
      const f = this.OR(this.rootAlts);
      if (f) fields.push(f);
    });
    if (this.RECORDING_PHASE) return undefined as unknown as MessageNode;
    const end = this.text.length;
    return { span: { start: 0, end, line: 1, col: 1 }, fields, gaps: this.gapsAround(fields, 0, end) };
  });

  private sep = this.RULE('sep', () => {
    this.OR(this.sepAlts);
  });

  /** tokens that cannot start a field: reported, skipped, parsing goes on */
  private junk = this.RULE('junk', () => {
    const t = this.OR(this.junkAlts);
    if (!this.RECORDING_PHASE) this.diagAt(t, `expected a field name, found ${describeToken(t)}`);
  });

  private field = this.RULE(
    'field',
    (): FieldNode => {
      const nameTok = this.CONSUME(Ident);
      if (!this.RECORDING_PHASE) this.lastFieldName = nameTok.image;
      const colon = this.OPTION(this.colonOpt);
      const v = this.OR(this.valueAlts);
      if (this.RECORDING_PHASE || v === undefined) return undefined as unknown as FieldNode;
      const text = this.text;
      const nameSpan = spanOf(nameTok);
      let value: Item | Item[];
      let end: number;
      let gaps: string[];
      if ('items' in v) {
        value = v.items;
        end = v.end;
        gaps = value.length ? [text.slice(nameSpan.end, value[0].span.start), ...v.gaps] : [text.slice(nameSpan.end, end)];
      } else {
        value = v;
        end = v.span.end;
        gaps = [text.slice(nameSpan.end, v.span.start)];
        if (!colon && 'kind' in v) this.diags.push({ ...posOf(v), message: `expected ':' between '${nameTok.image}' and its value` });
      }
      return { name: nameTok.image, nameSpan, span: { start: nameSpan.start, end, line: nameSpan.line, col: nameSpan.col }, value, gaps };
    },
    { recoveryValueFunc: () => undefined as any },
  );

  private message = this.RULE(
    'message',
    (): MessageNode => {
      const open = this.OR(this.openerAlts);
      if (!this.RECORDING_PHASE) this.openStack.push(open);
      const fields: FieldNode[] = [];
      this.MANY(() => {
        const f = this.OR2(this.bodyAlts);
        if (f) fields.push(f);
      });
      const close = this.OR3(this.closerAlts);
      if (this.RECORDING_PHASE) return undefined as unknown as MessageNode;
      this.openStack.pop();
      const start = open.startOffset;
      let end: number;
      if (isReal(close)) {
        end = close.endOffset! + 1;
        const want = open.image === '{' ? '}' : '>';
        if (close.image !== want) this.diagAt(close, `'${close.image}' does not match the '${open.image}' at ${open.startLine}:${open.startColumn}`);
      } else {
        const last = fields[fields.length - 1];
        end = last ? last.span.end : open.endOffset! + 1;
      }
      return { span: { start, end, line: open.startLine!, col: open.startColumn! }, fields, gaps: this.gapsAround(fields, start, end) };
    },
    { recoveryValueFunc: () => undefined as any },
  );

  /** `[a, b, c]` or `[{...}, {...}]` */
  private list = this.RULE(
    'list',
    (): ListResult => {
      this.CONSUME(LBracket);
      const items: Item[] = [];
      this.MANY_SEP({
        SEP: Comma,
        DEF: () => {
          const it = this.SUBRULE(this.listItem);
          if (it) items.push(it);
        },
      });
      const close = this.CONSUME(RBracket);
      if (this.RECORDING_PHASE) return undefined as unknown as ListResult;
      const text = this.text;
      const end = isReal(close) ? close.endOffset! + 1 : items.length ? items[items.length - 1].span.end : 0;
      const gaps: string[] = [];
      for (let i = 1; i < items.length; i++) gaps.push(text.slice(items[i - 1].span.end, items[i].span.start));
      if (items.length) gaps.push(text.slice(items[items.length - 1].span.end, end));
      return { items, gaps, end };
    },
    { recoveryValueFunc: () => undefined as any },
  );

  private listItem = this.RULE('listItem', (): Item => this.OR(this.itemAlts), { recoveryValueFunc: () => undefined as any });

  private scalar = this.RULE('scalar', (): ScalarNode => this.OR(this.scalarAlts) as ScalarNode, {
    recoveryValueFunc: () => undefined as any,
  });
}

interface ListResult {
  items: Item[];
  gaps: string[];
  end: number;
}

function posOf(n: { span: Span }) {
  return { offset: n.span.start, line: n.span.line, col: n.span.col };
}
