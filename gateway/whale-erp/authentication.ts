// The back-office call's authentication headers, as the gateway checks their form before the voucher service
// checks the app, the signature, the nonce and the grant (AuthenticateErpCall).
import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import { Type } from "typebox";
import { APP_ID_PATTERN } from "../../services/voucher/catalogue/erp-signature.js";
import { ErpAuthenticationFailed } from "./errors.js";

export const ERP_HEADERS = {
  appId: "x-app-id",
  /** Milliseconds since the epoch, decimal. */
  timestamp: "x-timestamp",
  /** 16–64 characters, never reused within 10 minutes. */
  nonce: "x-nonce",
  /** Lowercase hex HMAC-SHA256 with the app's secret over POST\n<path>\n<timestamp>\n<nonce>\n<sha256 hex of the body>. */
  signature: "x-signature",
} as const;

const TIMESTAMP = /^[0-9]{1,15}$/;
const NONCE = /^[\x21-\x7e]{16,64}$/;
const SIGNATURE = /^[0-9a-f]{64}$/;

/** The headers as documented (each is also checked by hand below, to answer 02 rather than 01). */
export const ErpHeaders = Type.Object({
  [ERP_HEADERS.appId]: Type.String({ description: "the app id the operator registered" }),
  [ERP_HEADERS.timestamp]: Type.String({ description: "milliseconds since the epoch; within ±5 minutes of WHALE's clock" }),
  [ERP_HEADERS.nonce]: Type.String({ description: "16–64 printable ASCII characters, never reused within 10 minutes" }),
  [ERP_HEADERS.signature]: Type.String({
    description: 'lowercase hex HMAC-SHA256 with the app secret over "POST\\n" + path + "\\n" + timestamp + "\\n" + nonce + "\\n" + lowercase hex SHA-256 of the raw body',
  }),
});

export interface ErpCredentials {
  appId: string;
  timestamp: string;
  nonce: string;
  signature: string;
  path: string;
  bodySha256: string;
}

function header(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? undefined : value;
}

/** The call's credentials, or ErpAuthenticationFailed naming the header that is missing or malformed. */
export function credentialsOf(request: FastifyRequest, rawBody: Buffer): ErpCredentials {
  const take = (name: string, form: RegExp, rule: string): string => {
    const value = header(request, name);
    if (value === undefined) throw new ErpAuthenticationFailed(`${name} is required (exactly once)`);
    if (!form.test(value)) throw new ErpAuthenticationFailed(`${name} must be ${rule}`);
    return value;
  };
  return {
    appId: take(ERP_HEADERS.appId, APP_ID_PATTERN, "1–64 letters, digits, '.', '_' or '-'"),
    timestamp: take(ERP_HEADERS.timestamp, TIMESTAMP, "milliseconds since the epoch"),
    nonce: take(ERP_HEADERS.nonce, NONCE, "16–64 printable ASCII characters"),
    signature: take(ERP_HEADERS.signature, SIGNATURE, "64 lowercase hex digits"),
    // The path as sent, without a query string: what the caller signed.
    path: request.url.split("?", 1)[0] ?? request.url,
    bodySha256: createHash("sha256").update(rawBody).digest("hex"),
  };
}
