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

/** Thrown for every way a `request` can be wrong; it carries no detail on purpose (no padding oracle). */
export class InvalidRightsRequest extends Error {
  constructor() {
    super("invalid rights request");
  }
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const CODE_MAX_LENGTH = 32;

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
 * Decrypts and parses a `request`. Any failure (bad Base64, wrong key, bad padding, malformed plaintext,
 * missing field, or a plaintext type unlike the envelope's) throws the same InvalidRightsRequest.
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
    if (at <= 0) throw new InvalidRightsRequest();
    const name = pair.slice(0, at);
    // The mac is itself ciphertext and may contain '='; only the first '=' separates name from value.
    if (fields.has(name)) throw new InvalidRightsRequest();
    fields.set(name, pair.slice(at + 1));
  }
  const type = fields.get("type");
  const code = fields.get("code");
  const mac = fields.get("mac");
  if (!type || !code || !mac || type !== envelopeType) throw new InvalidRightsRequest();
  if (code.length > CODE_MAX_LENGTH || !/^[\x21-\x7e]+$/.test(code)) throw new InvalidRightsRequest();
  return { type, code, mac };
}
