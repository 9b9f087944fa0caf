// How an ERP app signs a back-office call (issue 10): lowercase hex HMAC-SHA256 with the app's secret over
// "POST\n" + path + "\n" + timestamp + "\n" + nonce + "\n" + lowercase hex SHA-256 of the raw body.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** An app id (X-App-Id), and so an audit row's actor (the reserved ones have the same form). */
export const APP_ID_PATTERN = /^[0-9A-Za-z._-]{1,64}$/;

/** How far X-Timestamp may be from our clock, either way. */
export const ERP_TIMESTAMP_SKEW_MS = 5 * 60_000;
/** How long a nonce is remembered: both sides of the skew window, so a replay inside it is always caught. */
export const ERP_NONCE_TTL_MS = 10 * 60_000;

/** The string signed, from the body's digest (the gateway hashes the raw bytes; the secret stays here). */
export function erpStringToSign(path: string, timestamp: string, nonce: string, bodySha256: string): string {
  return `POST\n${path}\n${timestamp}\n${nonce}\n${bodySha256}`;
}

export function erpSignature(secret: string, path: string, timestamp: string, nonce: string, bodySha256: string): string {
  return createHmac("sha256", secret).update(erpStringToSign(path, timestamp, nonce, bodySha256), "utf8").digest("hex");
}

/** Constant time over the 32 bytes; the caller has checked `signature` is 64 lowercase hex digits. */
export function erpSignatureMatches(secret: string, path: string, timestamp: string, nonce: string, bodySha256: string, signature: string): boolean {
  const expected = Buffer.from(erpSignature(secret, path, timestamp, nonce, bodySha256), "hex");
  const given = Buffer.from(signature, "hex");
  return given.length === expected.length && timingSafeEqual(expected, given);
}

/** The four headers of a call (the operator CLI's and the tests' client; an ERP does the same). */
export function erpCallHeaders(
  app: { appId: string; secret: string },
  path: string,
  rawBody: string | Buffer,
  now = Date.now(),
  nonce = randomBytes(16).toString("hex"),
): Record<string, string> {
  const timestamp = String(now);
  const bodySha256 = createHash("sha256").update(rawBody).digest("hex");
  return {
    "x-app-id": app.appId,
    "x-timestamp": timestamp,
    "x-nonce": nonce,
    "x-signature": erpSignature(app.secret, path, timestamp, nonce, bodySha256),
  };
}
