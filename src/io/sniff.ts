/**
 * What a file that should have been an image looks like, for error messages: a known format by its
 * magic number, text (quoted, escaped), or its first bytes in hex. Never raw bytes.
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
