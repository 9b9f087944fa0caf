/**
 * WHALE's own voucher codes: decimal, so a till can key them in and a barcode carries them, like the seed's
 * 20-digit codes, but long enough to be unguessable: 25 uniformly random digits (83 bits from the CSPRNG, above
 * the 80 asked for; 20 digits would hold only 66) and a Luhn check digit, 26 digits in all. The check digit
 * catches every mistyped digit and most swapped neighbours before a code reaches the database.
 */
import { randomBytes } from "node:crypto";

export const RANDOM_DIGITS = 25;
export const CODE_LENGTH = RANDOM_DIGITS + 1;

const SPACE = 10n ** BigInt(RANDOM_DIGITS);
const DRAW_BYTES = 11; // 88 bits per draw
const DRAW_SPACE = 1n << BigInt(DRAW_BYTES * 8);
/** Draws at or above this are refused, so every 25-digit value is equally likely (no modulo bias). */
const DRAW_LIMIT = DRAW_SPACE - (DRAW_SPACE % SPACE);

export type RandomSource = (size: number) => Buffer;

/** `count` fresh codes; `random` is the CSPRNG unless a test gives another. */
export function generateCodes(count: number, random: RandomSource = randomBytes): string[] {
  const codes: string[] = [];
  while (codes.length < count) {
    // One call for the whole batch (plus a little for refused draws): a million codes are not a million syscalls.
    const wanted = count - codes.length;
    const pool = random(DRAW_BYTES * (wanted + Math.ceil(wanted / 16) + 1));
    for (let at = 0; at + DRAW_BYTES <= pool.length && codes.length < count; at += DRAW_BYTES) {
      const draw = BigInt(`0x${pool.toString("hex", at, at + DRAW_BYTES)}`);
      if (draw >= DRAW_LIMIT) continue;
      const body = (draw % SPACE).toString().padStart(RANDOM_DIGITS, "0");
      codes.push(body + luhnDigit(body));
    }
  }
  return codes;
}

/** The Luhn check digit of a string of digits (ISO/IEC 7812-1). */
export function luhnDigit(digits: string): string {
  let sum = 0;
  for (let i = digits.length - 1, double = true; i >= 0; i -= 1, double = !double) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

/** Whether `code` has the shape of one of ours and its check digit holds: a till refuses a mistyped one without a lookup. */
export function isWellFormedCode(code: string): boolean {
  return code.length === CODE_LENGTH && /^\d+$/.test(code) && luhnDigit(code.slice(0, -1)) === code.slice(-1);
}
