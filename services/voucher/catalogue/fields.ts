// The rules of the back-office fields, in one place: the gateway's JSON schemas (gateway/whale-erp) are built
// from them, and the catalogue checks them again, since its RPCs can be called without the gateway.
import { parseBusinessTime } from "../../common/clock.js";
import { VoucherError, voucherError } from "../errors.js";

/**
 * No control character (C0, DEL, C1) and no lone surrogate: PostgreSQL refuses a NUL outright, a lone surrogate
 * would be stored as U+FFFD (silently another value), and none belongs in a name shown in a back office.
 * ECMAScript `u` syntax, as ajv compiles schema patterns.
 */
export const PRINTABLE = "[^\\p{Cc}\\p{Cs}]";

/** Maximum lengths: the seed's "小于N个字符" (fewer than N), or WHALE's own bound where the seed gives none. */
export const MAX_LENGTH = {
  /** 小于100个字符 */
  name: 99,
  /** ebuyActivityId: 小于40个字符 */
  ebuyActivityId: 39,
  /** createUser, creatorName (not bounded by the seed) */
  user: 64,
  /** remark (not bounded by the seed) */
  remark: 255,
  /** URLs (not bounded by the seed) */
  url: 512,
  /** thirdChannelNo, channelMid, channelTid (not bounded by the seed) */
  channelCode: 64,
  /** A public or private key, PEM or Base64 DER (RSA up to 4096 bits fits) */
  key: 4096,
} as const;

/** An id as the tables hold it: 1–18 digits, no leading zero (anything else names no record). */
export const RECORD_ID_PATTERN = "^[1-9][0-9]{0,17}$";
export const RECORD_ID = new RegExp(RECORD_ID_PATTERN);

/** Ids in the ERP's JSON: decimal digits, no leading zero, at most 2^53-1 when sent as a JSON number. */
export const ID_PATTERN = "^[1-9][0-9]{0,15}$";
export const MAX_JSON_ID = Number.MAX_SAFE_INTEGER;
/** faceValue: 12 digits, in fen. */
export const FACE_VALUE_PATTERN = "^[0-9]{12}$";
/** The ERP's times. */
export const ERP_TIME_PATTERN = "^[0-9]{14}$";
export const URL_PATTERN = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\p{Cc}\\p{Cs}\\p{Z}]+$";

const printable = new RegExp(`^${PRINTABLE}*$`, "u");
const url = new RegExp(URL_PATTERN, "u");

const invalid = (field: string, rule: string) => voucherError(VoucherError.PARAMETER_INVALID, `${field}: ${rule}`);

/** A required text field: 1..max printable characters (the value is never quoted in the error). */
export function requireText(field: string, value: string, max: number): string {
  if (value.length === 0) throw invalid(field, "is required");
  return optionalText(field, value, max) as string;
}

/** An optional text field: absent or empty is null. */
export function optionalText(field: string, value: string | undefined, max: number): string | null {
  if (value === undefined || value === "") return null;
  if (value.length > max) throw invalid(field, `must be fewer than ${max + 1} characters`);
  if (!printable.test(value)) throw invalid(field, "must not hold control characters or lone surrogates");
  return value;
}

/** An optional http(s) URL. */
export function optionalUrl(field: string, value: string | undefined): string | null {
  const text = optionalText(field, value, MAX_LENGTH.url);
  if (text !== null && !url.test(text)) throw invalid(field, "must be an http(s) URL without spaces");
  return text;
}

/** An ERP time: yyyyMMddHHmmss, a real date and time (Asia/Shanghai). */
export function requireErpTime(field: string, value: string): { text: string; at: Date } {
  if (value.length === 0) throw invalid(field, "is required");
  const at = parseBusinessTime(value);
  if (!at) throw invalid(field, "must be a date and time yyyyMMddHHmmss");
  return { text: value, at };
}

/** A record id as the ERP gives it. */
export function requireId(field: string, value: string): string {
  if (!new RegExp(ID_PATTERN).test(value) || Number(value) > MAX_JSON_ID) throw invalid(field, "must be a record id (decimal digits)");
  return value;
}

/** faceValue: 12 digits of fen, to a number of fen. */
export function requireFaceValue(value: string): number {
  if (!new RegExp(FACE_VALUE_PATTERN).test(value)) throw invalid("faceValue", "must be 12 digits, in fen (e.g. 000000003000)");
  return Number(value);
}
