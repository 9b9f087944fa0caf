import { createCipheriv, createDecipheriv } from "node:crypto";

/** The decrypted `request` of a PSBC rights call: `type=<type>&code=<rights code>&mac=<encrypted customer id>`. */
export interface RightsRequest {
  type: string;
  code: string;
  mac: string;
}

/** A service type's AES-128 key and IV, 16 ASCII characters each. */
export interface AesSecret {
  key: string;
  iv: string;
}

/**
 * Thrown for every way a `request` can be wrong; it carries no detail on purpose. The contract fixes AES/CBC
 * without a MAC, so a padding oracle is only closed if a garbled plaintext with valid padding is refused exactly
 * like bad padding: hence the strict field rules below.
 */
export class InvalidRightsRequest extends Error {
  constructor() {
    super("invalid rights request");
  }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * What a decrypted field may hold. Every upstream wire limit and stored column must take at least these
 * (each upstream's `wire.ts` states its own), so nothing accepted here can fail further on.
 */
export const RIGHTS_REQUEST_LIMITS = {
  codeMaxLength: 32,
  /** The mac is PSBC's encrypted customer id: Base64 or URL-safe Base64, or hex. */
  macMaxLength: 128,
} as const;

const RIGHTS_CODE = new RegExp(`^[A-Za-z0-9-]{1,${RIGHTS_REQUEST_LIMITS.codeMaxLength}}$`);
const MAC = new RegExp(`^[A-Za-z0-9+/=_-]{1,${RIGHTS_REQUEST_LIMITS.macMaxLength}}$`);
const FIELD_NAMES = new Set(["type", "code", "mac"]);

function keyBytes(secret: AesSecret): { key: Buffer; iv: Buffer } {
  const key = Buffer.from(secret.key, "latin1");
  const iv = Buffer.from(secret.iv, "latin1");
  if (key.length !== 16 || iv.length !== 16) throw new Error("AES key and IV must be 16 bytes each");
  return { key, iv };
}

/** AES/CBC/PKCS5Padding then Base64, as PSBC does it. Used by the CLI, the tests and the sandbox. */
export function encryptRightsRequest(request: RightsRequest, secret: AesSecret): string {
  const { key, iv } = keyBytes(secret);
  const plain = `type=${request.type}&code=${request.code}&mac=${request.mac}`;
  const cipher = createCipheriv("aes-128-cbc", key, iv);
  return Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]).toString("base64");
}

/**
 * Decrypts and parses a `request`. Any failure (bad Base64, wrong key, bad padding, a plaintext other than
 * exactly `type`, `code` and `mac` once each, a plaintext type unlike the envelope's, a code or mac outside its
 * characters and length) throws the same InvalidRightsRequest.
 */
export function decryptRightsRequest(ciphertext: string, secret: AesSecret, envelopeType: string): RightsRequest {
  if (ciphertext.length === 0 || ciphertext.length % 4 !== 0 || !BASE64.test(ciphertext)) throw new InvalidRightsRequest();
  const data = Buffer.from(ciphertext, "base64");
  if (data.length === 0 || data.length % 16 !== 0) throw new InvalidRightsRequest();
  let plain: string;
  try {
    const { key, iv } = keyBytes(secret);
    const decipher = createDecipheriv("aes-128-cbc", key, iv);
    plain = Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8");
  } catch {
    throw new InvalidRightsRequest();
  }
  const fields = new Map<string, string>();
  for (const pair of plain.split("&")) {
    const at = pair.indexOf("=");
    const name = pair.slice(0, at);
    // The mac is itself ciphertext and may contain '='; only the first '=' separates name from value.
    if (at <= 0 || !FIELD_NAMES.has(name) || fields.has(name)) throw new InvalidRightsRequest();
    fields.set(name, pair.slice(at + 1));
  }
  const type = fields.get("type");
  const code = fields.get("code");
  const mac = fields.get("mac");
  if (type !== envelopeType || code === undefined || mac === undefined) throw new InvalidRightsRequest();
  if (!RIGHTS_CODE.test(code) || !MAC.test(mac)) throw new InvalidRightsRequest();
  return { type, code, mac };
}
