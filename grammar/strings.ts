/**
 * C-style string escapes of protobuf text format. Octal/hex escapes denote bytes of the UTF-8
 * encoding (protobuf strings are UTF-8), so a literal with them is decoded through a byte buffer.
 */

export interface EscapeError {
  /** offset of the backslash inside the literal (0 = the opening quote) */
  offset: number;
  message: string;
}

const SIMPLE: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '\\': '\\',
  "'": "'",
  '"': '"',
  '?': '?',
};

const utf8 = new TextDecoder('utf-8');

/** Decodes one quoted literal (quotes included). Returns the value, or an error at an offset. */
export function decodeStringLiteral(lit: string): { value: string } | { error: EscapeError } {
  const body = lit.slice(1, -1);
  if (body.indexOf('\\') < 0) return { value: body };
  let out = '';
  let bytes: number[] | undefined; // pending raw bytes from \NNN / \xHH escapes
  const flush = () => {
    if (bytes) {
      out += utf8.decode(new Uint8Array(bytes));
      bytes = undefined;
    }
  };
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      flush();
      out += c;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) return { error: { offset: i + 1, message: 'string ends with a lone backslash' } };
    if (SIMPLE[e] !== undefined) {
      flush();
      out += SIMPLE[e];
      i++;
    } else if (e >= '0' && e <= '7') {
      let j = i + 1;
      let v = 0;
      while (j < body.length && j < i + 4 && body[j] >= '0' && body[j] <= '7') v = v * 8 + (body.charCodeAt(j++) - 48);
      if (v > 255) return { error: { offset: i + 1, message: `octal escape '\\${body.slice(i + 1, j)}' is larger than a byte` } };
      (bytes ??= []).push(v);
      i = j - 1;
    } else if (e === 'x' || e === 'X') {
      let j = i + 2;
      while (j < body.length && j < i + 4 && /[0-9a-fA-F]/.test(body[j])) j++;
      if (j === i + 2) return { error: { offset: i + 1, message: "'\\x' escape needs hex digits" } };
      (bytes ??= []).push(parseInt(body.slice(i + 2, j), 16));
      i = j - 1;
    } else if (e === 'u' || e === 'U') {
      const n = e === 'u' ? 4 : 8;
      const hex = body.slice(i + 2, i + 2 + n);
      if (hex.length !== n || !/^[0-9a-fA-F]+$/.test(hex))
        return { error: { offset: i + 1, message: `'\\${e}' escape needs ${n} hex digits` } };
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) return { error: { offset: i + 1, message: `'\\${e}${hex}' is not a Unicode code point` } };
      flush();
      out += String.fromCodePoint(cp);
      i += 1 + n;
    } else {
      return { error: { offset: i + 1, message: `invalid escape sequence '\\${e}' in string` } };
    }
  }
  flush();
  return { value: out };
}

/**
 * Quotes a string for protobuf text format with double quotes: `"`, `\`, and control characters
 * escaped; other Unicode kept as is (files are UTF-8). Lone surrogates, which have no UTF-8 form,
 * become \u escapes.
 */
export function quoteString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    const code = s.charCodeAt(i);
    if (c === '"') out += '\\"';
    else if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += '\\' + code.toString(8).padStart(3, '0');
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += c + s[i + 1];
      i++;
    } else if (code >= 0xd800 && code <= 0xdfff) out += '\\u' + code.toString(16).padStart(4, '0');
    else out += c;
  }
  return out + '"';
}

/** 1-based line and column of an offset (CRLF, LF and lone CR end a line, as the lexer counts them). */
export function lineColAt(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: end - lineStart + 1 };
}
