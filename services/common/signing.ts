/**
 * How we sign the calls we make to an upstream platform and check the calls it makes to us (ASSUMED for both
 * PSBC and Blue Brothers until they publish their specs): HMAC-SHA256, hex, keyed with the app secret, in the
 * four headers below.
 */
import { createHmac, randomUUID, timingSafeEqual } from "node:crypto";

/** The signing headers (assumed; lower case, as Node presents incoming headers). */
export const SIGNATURE_HEADERS = {
  appId: "x-app-id",
  /** Milliseconds since the epoch, decimal. */
  timestamp: "x-timestamp",
  /** Random per call, so two identical bodies in one millisecond still sign differently. */
  nonce: "x-nonce",
  /** Hex HMAC-SHA256 with the app secret over `appId \n timestamp \n nonce \n body`. */
  signature: "x-signature",
} as const;

/** How far a request's timestamp may be from the receiver's clock (assumed: 5 minutes, either way). */
export const SIGNATURE_MAX_SKEW_MS = 5 * 60_000;

export interface SignedParts {
  appId: string;
  timestamp: string;
  nonce: string;
  /** The exact bytes sent: a signature over re-serialised JSON would not survive key order or spacing. */
  body: string | Buffer;
}

/** The hex HMAC-SHA256 of `appId + "\n" + timestamp + "\n" + nonce + "\n" + body`, keyed with `appSecret`. */
export function sign(appSecret: string, parts: SignedParts): string {
  return createHmac("sha256", appSecret)
    .update(`${parts.appId}\n${parts.timestamp}\n${parts.nonce}\n`)
    .update(parts.body)
    .digest("hex");
}

/** The four signing headers of one call. */
export function signatureHeaders(
  credentials: { appId: string; appSecret: string },
  body: string,
  now = Date.now(),
): Record<string, string> {
  // 32 hex digits (122 random bits) from randomUUID, which draws on a cached pool: randomBytes per call costs a
  // call into OpenSSL each time, several percent of a notify worker's CPU.
  const parts = { appId: credentials.appId, timestamp: String(now), nonce: randomUUID().replaceAll("-", ""), body };
  return {
    [SIGNATURE_HEADERS.appId]: parts.appId,
    [SIGNATURE_HEADERS.timestamp]: parts.timestamp,
    [SIGNATURE_HEADERS.nonce]: parts.nonce,
    [SIGNATURE_HEADERS.signature]: sign(credentials.appSecret, parts),
  };
}

/**
 * Whether a received call is signed by the holder of `appSecret` for `appId`, within the allowed clock skew.
 * Constant-time on the signature. Replayed nonces are not tracked (assumed the platforms do not either).
 */
export function verifySignature(
  received: { appId?: string; timestamp?: string; nonce?: string; signature?: string; body: string | Buffer },
  credentials: { appId: string; appSecret: string },
  now = Date.now(),
): boolean {
  const { appId, timestamp, nonce, signature, body } = received;
  if (appId !== credentials.appId || !timestamp || !nonce || !signature) return false;
  if (!/^\d{1,15}$/.test(timestamp) || Math.abs(now - Number(timestamp)) > SIGNATURE_MAX_SKEW_MS) return false;
  if (!/^[0-9a-f]{64}$/i.test(signature)) return false;
  const expected = Buffer.from(sign(credentials.appSecret, { appId, timestamp, nonce, body }), "hex");
  return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}
