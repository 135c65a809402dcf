/**
 * What the bytes of a file look like, for error messages, never showing raw bytes: a binary file given where
 * a text one belongs (the likeliest slip: a caffemodel as the prototxt, --deploy_model and --weights swapped),
 * and a file that should have been an image (a known format by its magic number, text, or its first bytes).
 */
const MAGICS: [string, (b: Buffer) => boolean][] = [
  ['GIF', (b) => b.toString('latin1', 0, 4) === 'GIF8'],
  ['BMP', (b) => b.toString('latin1', 0, 2) === 'BM' && b.length >= 14],
  ['TIFF', (b) => ['II*\0', 'MM\0*'].includes(b.toString('latin1', 0, 4))],
  ['WebP', (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP'],
  ['JPEG 2000', (b) => b.length >= 12 && b.readUInt32BE(0) === 0x0000000c && b.toString('latin1', 4, 8) === 'jP  '],
  ['HEIF/AVIF', (b) => b.toString('latin1', 4, 8) === 'ftyp' && /^(heic|heix|mif1|msf1|avif|avis)$/.test(b.toString('latin1', 8, 12))],
  ['ICO', (b) => b.length >= 6 && b.readUInt32BE(0) === 0x00000100],
  ['Photoshop PSD', (b) => b.toString('latin1', 0, 4) === '8BPS'],
  ['NumPy .npy', (b) => b.toString('latin1', 0, 6) === '\x93NUMPY'],
  ['gzip', (b) => b[0] === 0x1f && b[1] === 0x8b],
  ['zip', (b) => b.toString('latin1', 0, 4) === 'PK\x03\x04'],
  ['PDF', (b) => b.toString('latin1', 0, 5) === '%PDF-'],
  ['Git LFS pointer, not the file itself', (b) => b.toString('latin1', 0, 24) === 'version https://git-lfs.'],
];

/** True when the bytes read as text (UTF-8 without control characters other than tab/newline/CR). */
function looksLikeText(b: Buffer): boolean {
  const head = b.subarray(0, 512);
  const s = head.toString('utf8');
  // a multi-byte character cut at the end of the sample is fine
  const body = s.replace(/\uFFFD$/, '');
  return !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\uFFFD]/.test(body);
}

/** A short escaped excerpt of text: JSON string syntax, so control characters and quotes are visible. */
function excerpt(b: Buffer, max = 40): string {
  const s = b.subarray(0, max * 4).toString('utf8').replace(/\uFFFD$/, '');
  const cut = [...s].slice(0, max).join('');
  return JSON.stringify(cut).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) + (cut.length < s.length || b.length > max * 4 ? '…' : '');
}

/** The first bytes in hex ("47 49 46 38"). */
export function hexBytes(b: Buffer, n = 8): string {
  return Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** "the file is empty", "the file starts with bytes 47 49 46 38 39 61 (GIF)", "it looks like text: \"<html>…\"". */
export function describeBytes(b: Buffer): string {
  if (b.length === 0) return 'the file is empty';
  const known = MAGICS.find(([, test]) => test(b));
  if (known) return `the file starts with bytes ${hexBytes(b)} (${known[0]})`;
  if (looksLikeText(b)) return `it looks like text: ${excerpt(b)}`;
  return `the file starts with bytes ${hexBytes(b)} (no format known here)`;
}

/** What a binary file looks like ("a PNG image"), or undefined when it may be text. */
export function binaryKind(buf: Uint8Array): string | undefined {
  const n = buf.length;
  if (n >= 4 && buf[0] === 0x89 && buf[1] === 0x50 && buf[2] === 0x4e && buf[3] === 0x47) return 'a PNG image';
  if (n >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'a JPEG image';
  if (n >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'a gzip-compressed file';
  if (n >= 6 && buf[0] === 0x93 && String.fromCharCode(...buf.subarray(1, 6)) === 'NUMPY') return 'a .npy array';
  const head = buf.subarray(0, Math.min(n, 1 << 16));
  let control = 0;
  let nul = false;
  for (const b of head) {
    if (b === 0) nul = true;
    else if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x0b) control++;
  }
  // text files hold no NUL byte and few control characters; a protobuf message nearly always some
  const invalid = invalidUtf8(head);
  if (!nul && control * 50 <= head.length && invalid * 50 <= head.length) return undefined;
  const wire = protobufFields(buf);
  if (wire && wire.netFields) return 'a binary caffemodel';
  if (wire) return 'a binary protobuf file';
  return 'a binary file';
}

/** The message for a binary file given where a text file was expected. */
export function binaryMessage(kind: string, what: string): string {
  const hint = kind === 'a binary caffemodel' && what === 'prototxt' ? ' (are --deploy_model and --weights swapped?)' : '';
  return `this looks like ${kind}, not a ${what}${hint}`;
}

/** Count of bytes that do not belong to a valid UTF-8 sequence. */
function invalidUtf8(b: Uint8Array): number {
  let bad = 0;
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    const len = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (len === 0) {
      bad++;
      i++;
      continue;
    }
    let ok = i + len <= b.length;
    for (let k = 1; ok && k < len; k++) ok = (b[i + k] & 0xc0) === 0x80;
    if (!ok) {
      bad++;
      i++;
    } else i += len;
  }
  return bad;
}

/**
 * Walks the first top-level fields as protobuf wire format. Undefined when the bytes do not parse;
 * netFields when the field numbers are NetParameter's (name 1, layers 2, input 3, input_dim 4, layer 100...).
 */
function protobufFields(buf: Uint8Array): { netFields: boolean } | undefined {
  const NET = new Set([1, 2, 3, 4, 5, 6, 7, 8, 100]);
  let pos = 0;
  let fields = 0;
  let net = true;
  const varint = (): number | undefined => {
    let v = 0;
    let mul = 1;
    for (let k = 0; k < 10; k++) {
      if (pos >= buf.length) return undefined;
      const b = buf[pos++];
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (!(b & 0x80)) return v;
    }
    return undefined;
  };
  while (pos < buf.length && fields < 8) {
    const tag = varint();
    if (tag === undefined) return undefined;
    const field = Math.floor(tag / 8);
    const wt = tag % 8;
    if (field < 1) return undefined;
    if (wt === 0) {
      if (varint() === undefined) return undefined;
    } else if (wt === 1) pos += 8;
    else if (wt === 5) pos += 4;
    else if (wt === 2) {
      const len = varint();
      if (len === undefined) return undefined;
      pos += len;
    } else return undefined;
    if (!NET.has(field)) net = false;
    fields++;
    // a truncated file still counts: its last field runs past the end
    if (pos > buf.length) break;
  }
  return fields > 0 ? { netFields: net } : undefined;
}

/** A string safe to show in a one-line message: control and invisible characters escaped (`\x89`). */
export function escapeForMessage(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffd]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
