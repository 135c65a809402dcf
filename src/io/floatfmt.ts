/**
 * Float formatting as Python 2 `str(float)` does it, which is how XportDNN (python protobuf
 * text_format) wrote thresholds (chaidnn-semantics §1): C `%.12g` of the value, plus `.0` when the
 * result looks like an integer. Callers pass the float32 value (Math.fround) widened to double.
 */

/** Exact decimal expansion of a finite positive double: value = 0.DIGITS × 10^exp10 style via (digits, pointPos). */
function exactDecimal(x: number): { digits: string; exp: number } {
  // x = mant · 2^e2 exactly
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e2: number;
  if (bexp === 0) {
    e2 = -1074;
  } else {
    mant |= 1n << 52n;
    e2 = bexp - 1075;
  }
  // value = D × 10^-k with D an integer
  let D: bigint;
  let k: number;
  if (e2 >= 0) {
    D = mant << BigInt(e2);
    k = 0;
  } else {
    D = mant * 5n ** BigInt(-e2);
    k = -e2;
  }
  const s = D.toString();
  // scientific exponent of the leading digit
  return { digits: s, exp: s.length - 1 - k };
}

/**
 * C printf `%.{prec}g` for a finite or non-finite double, with glibc's exact (round-half-even on
 * the exact binary value) rounding.
 */
export function formatG(x: number, prec = 12): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  const neg = x < 0 || Object.is(x, -0);
  const ax = Math.abs(x);
  if (ax === 0) return neg ? '-0' : '0';
  const P = prec === 0 ? 1 : prec;
  const { digits, exp } = exactDecimal(ax);
  // round the exact digits to P significant digits, half to even
  let kept: string;
  let X = exp;
  if (digits.length <= P) {
    kept = digits.padEnd(P, '0');
  } else {
    kept = digits.slice(0, P);
    const rest = digits.slice(P);
    const first = rest.charCodeAt(0) - 48;
    const tail = /[1-9]/.test(rest.slice(1));
    let up = false;
    if (first > 5 || (first === 5 && tail)) up = true;
    else if (first === 5 && !tail) up = (kept.charCodeAt(P - 1) - 48) % 2 === 1;
    if (up) {
      const inc = (BigInt(kept) + 1n).toString();
      if (inc.length > P) {
        kept = inc.slice(0, P);
        X += 1;
      } else {
        kept = inc;
      }
    }
  }
  let out: string;
  if (X < -4 || X >= P) {
    let mant = kept[0];
    const frac = kept.slice(1).replace(/0+$/, '');
    if (frac) mant += '.' + frac;
    const ae = Math.abs(X);
    out = `${mant}e${X < 0 ? '-' : '+'}${ae < 10 ? '0' + ae : String(ae)}`;
  } else if (X >= 0) {
    const intPart = kept.slice(0, X + 1);
    const frac = kept.slice(X + 1).replace(/0+$/, '');
    out = frac ? `${intPart}.${frac}` : intPart;
  } else {
    const frac = ('0'.repeat(-X - 1) + kept).replace(/0+$/, '');
    out = `0.${frac}`;
  }
  return neg ? '-' + out : out;
}

/**
 * Python 2 `str(x)` for a float: `%.12g`, and `.0` appended when the text has no `.`, exponent,
 * `inf` or `nan` (`254.0`, `151.077041626`, `1e-05`, `1.5e+20`).
 */
export function formatPy2Float(x: number): string {
  const s = formatG(x, 12);
  if (/^-?\d+$/.test(s)) return s + '.0';
  return s;
}

/** A float32 field value as XportDNN printed it: the float32 rounding of `x`, widened, Python 2 str(). */
export function formatFloat32(x: number): string {
  return formatPy2Float(Math.fround(x));
}
