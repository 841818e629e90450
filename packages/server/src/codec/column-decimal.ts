/**
 * Exact-decimal range checks done before PostgreSQL sees an uploaded `numeric` value, so an
 * overflow is a 400 naming the field instead of a failed statement (protocol-latest §2.3).
 */

/** PostgreSQL's numeric input limits: digits before the point and the display scale. */
const MAX_INTEGER_DIGITS = 131072;
const MAX_DISPLAY_SCALE = 16383;
/** Exponents beyond this many digits cannot fit any numeric; refusing them keeps the arithmetic small. */
const MAX_EXPONENT_DIGITS = 9;

const DECIMAL_PARTS = /^-?(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

/** The declared precision and scale of a `numeric(p,s)` column; absent for plain `numeric`. */
export interface NumericTypmod {
  readonly precision: number;
  readonly scale: number;
}

/**
 * Returns why grammar-checked decimal `text` cannot be stored in a numeric column of `typmod`
 * (plain `numeric` when undefined), or undefined when it fits. PostgreSQL rounds half away from
 * zero to the column scale first, then requires the absolute value below 10^(precision − scale).
 */
export function decimalOverflowReason(text: string, typmod: NumericTypmod | undefined): string | undefined {
  const match = DECIMAL_PARTS.exec(text);
  if (!match) return `decimal ${JSON.stringify(text)} is not decimal text`;
  const whole = match[1]!;
  const fraction = match[2] ?? "";
  const exponentText = (match[3] ?? "0").replace(/^[+-]?0*/, "");
  if (exponentText.length > MAX_EXPONENT_DIGITS) {
    return `decimal ${JSON.stringify(text)} has an exponent beyond PostgreSQL's numeric range`;
  }
  const exponent = Number(match[3] ?? "0");
  // value = digits × 10^shift, where digits is the integer formed by all mantissa digits.
  const shift = exponent - fraction.length;
  const displayScale = Math.max(0, -shift);
  if (displayScale > MAX_DISPLAY_SCALE) {
    return `decimal ${JSON.stringify(text)} has ${displayScale} digits after the decimal point; PostgreSQL numeric holds at most ${MAX_DISPLAY_SCALE}`;
  }
  const digits = `${whole}${fraction}`.replace(/^0+/, "");
  if (digits === "") return undefined;
  const integerDigits = digits.length + shift;
  if (integerDigits > MAX_INTEGER_DIGITS) {
    return `decimal ${JSON.stringify(text)} has ${integerDigits} digits before the decimal point; PostgreSQL numeric holds at most ${MAX_INTEGER_DIGITS}`;
  }
  if (typmod === undefined) return undefined;
  if (roundedDigitCount(digits, shift + typmod.scale) <= typmod.precision) return undefined;
  return `decimal ${JSON.stringify(text)} overflows numeric(${typmod.precision},${typmod.scale}): rounded to ${typmod.scale} decimal places its absolute value must be below 10^${typmod.precision - typmod.scale}`;
}

/** Digit count of round_half_away(digits × 10^power); 0 when it rounds to zero. */
function roundedDigitCount(digits: string, power: number): number {
  if (power >= 0) return digits.length + power;
  const dropped = -power;
  if (dropped > digits.length) return 0;
  const divisor = 10n ** BigInt(dropped);
  const value = BigInt(digits);
  let quotient = value / divisor;
  if ((value % divisor) * 2n >= divisor) quotient += 1n;
  return quotient === 0n ? 0 : quotient.toString().length;
}
