import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sign, SIGNATURE_HEADERS, SIGNATURE_MAX_SKEW_MS, signatureHeaders, verifySignature } from "./signing.js";

const credentials = { appId: "app-1", appSecret: "secret-1" };

describe("sign / verifySignature", () => {
  const parts = { appId: "app-1", timestamp: "1700000000000", nonce: "n-1", body: '{"code":"C1"}' };

  it("is the hex HMAC-SHA256 of appId, timestamp, nonce and body joined by newlines", () => {
    const expected = createHmac("sha256", "secret-1").update('app-1\n1700000000000\nn-1\n{"code":"C1"}').digest("hex");
    expect(sign("secret-1", parts)).toBe(expected);
    expect(sign("secret-1", { ...parts, body: Buffer.from(parts.body) })).toBe(expected);
  });

  it("accepts a signature made with the secret, and refuses any change", () => {
    const now = Number(parts.timestamp);
    const signature = sign("secret-1", parts);
    expect(verifySignature({ ...parts, signature }, credentials, now)).toBe(true);
    expect(verifySignature({ ...parts, signature: signature.toUpperCase() }, credentials, now)).toBe(true);

    expect(verifySignature({ ...parts, signature }, { ...credentials, appSecret: "other" }, now)).toBe(false);
    expect(verifySignature({ ...parts, signature }, { ...credentials, appId: "app-2" }, now)).toBe(false);
    expect(verifySignature({ ...parts, body: '{"code":"C2"}', signature }, credentials, now)).toBe(false);
    expect(verifySignature({ ...parts, nonce: "n-2", signature }, credentials, now)).toBe(false);
    expect(verifySignature({ ...parts, signature: signature.slice(2) }, credentials, now)).toBe(false);
    expect(verifySignature({ ...parts, signature: "zz" + signature.slice(2) }, credentials, now)).toBe(false);
    expect(verifySignature({ ...parts, nonce: undefined, signature }, credentials, now)).toBe(false);
  });

  it("refuses a timestamp beyond the allowed skew, either way", () => {
    const signature = sign("secret-1", parts);
    const ts = Number(parts.timestamp);
    expect(verifySignature({ ...parts, signature }, credentials, ts + SIGNATURE_MAX_SKEW_MS)).toBe(true);
    expect(verifySignature({ ...parts, signature }, credentials, ts + SIGNATURE_MAX_SKEW_MS + 1)).toBe(false);
    expect(verifySignature({ ...parts, signature }, credentials, ts - SIGNATURE_MAX_SKEW_MS - 1)).toBe(false);
  });

  it("signatureHeaders produce headers the receiver verifies, with a fresh nonce each time", () => {
    const body = '{"a":1}';
    const first = signatureHeaders(credentials, body);
    const second = signatureHeaders(credentials, body);
    expect(first[SIGNATURE_HEADERS.nonce]).not.toBe(second[SIGNATURE_HEADERS.nonce]);
    const received = {
      appId: first[SIGNATURE_HEADERS.appId],
      timestamp: first[SIGNATURE_HEADERS.timestamp],
      nonce: first[SIGNATURE_HEADERS.nonce],
      signature: first[SIGNATURE_HEADERS.signature],
      body,
    };
    expect(verifySignature(received, credentials)).toBe(true);
  });
});
