/**
 * The rules of the contract's BaseRequest fields, in one place: the gateway's JSON schema is built from them,
 * and the order service checks them again because its RPC can be called without the gateway.
 */
import type { RightsEnvelope } from "../../../proto/gen/rights/order/v1/order_pb.js";

export const CHANNELS = ["12", "17", "41"] as const;
export const INST_TYPES = ["01", "02"] as const;

/**
 * No control character (C0, DEL, C1) and no lone surrogate: PostgreSQL refuses a NUL outright, and none of them
 * belongs in a field that is stored, sent upstream or echoed back to PSBC's app. ECMAScript `u` syntax, as ajv
 * compiles schema patterns.
 */
const PRINTABLE = "[^\\p{Cc}\\p{Cs}]";

/** Per free-text field: its pattern (lengths included) and the contract's maxLength. */
export const ENVELOPE_TEXT_RULES = {
  /** A service type as the order service registers it. */
  type: { pattern: "^[0-9A-Za-z]{1,6}$", maxLength: 6 },
  provinceInstNo: { pattern: `^${PRINTABLE}{1,20}$`, maxLength: 20 },
  /** Empty ("可为空"), or an http(s) URL: it is handed back to PSBC's app, so no `javascript:` and the like. */
  backUrl: { pattern: "^(?:[Hh][Tt][Tt][Pp][Ss]?://[^\\p{Cc}\\p{Cs}\\p{Z}]+)?$", maxLength: 256 },
} as const;

type TextField = keyof typeof ENVELOPE_TEXT_RULES;

const TEXT_REGEXPS = Object.fromEntries(
  Object.entries(ENVELOPE_TEXT_RULES).map(([name, rule]) => [name, new RegExp(rule.pattern, "u")]),
) as Record<TextField, RegExp>;

function keepsRule(field: TextField, value: string): boolean {
  return value.length <= ENVELOPE_TEXT_RULES[field].maxLength && TEXT_REGEXPS[field].test(value);
}

/** The envelope fields the order service stores or forwards (`request` is checked by its decryption). */
export type EnvelopeFields = Omit<RightsEnvelope, "$typeName" | "$unknown" | "request">;

/** Whether every field keeps the contract's rules; the same rules the gateway's schema applies. */
export function isWellFormedEnvelope(envelope: EnvelopeFields): boolean {
  return (
    keepsRule("type", envelope.type) &&
    keepsRule("provinceInstNo", envelope.provinceInstNo) &&
    keepsRule("backUrl", envelope.backUrl) &&
    (CHANNELS as readonly string[]).includes(envelope.channel) &&
    (CHANNELS as readonly string[]).includes(envelope.tranChnl) &&
    (INST_TYPES as readonly string[]).includes(envelope.instType)
  );
}
