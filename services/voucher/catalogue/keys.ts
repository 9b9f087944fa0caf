// The RSA keys of a sale channel: the channel's public key (verifying its make-code calls) and WHALE's key pair
// for it (signing our answers). The ERP may send PEM or bare Base64 DER (the Java world's usual form); we keep
// public keys as Base64 DER SubjectPublicKeyInfo (one line, what we answer) and private keys as PKCS#8 PEM.
import { createPrivateKey, createPublicKey, generateKeyPair, KeyObject, sign, verify } from "node:crypto";
import { promisify } from "node:util";
import { VoucherError, voucherError } from "../errors.js";

/** Below this an RSA key is refused: 2048 bits is the floor of every current guideline. */
const MIN_MODULUS_BITS = 2048;
const GENERATED_MODULUS_BITS = 2048;

const generateRsa = promisify(generateKeyPair);

const invalid = (field: string, rule: string) => voucherError(VoucherError.PARAMETER_INVALID, `${field}: ${rule}`);

const isPem = (text: string) => text.trimStart().startsWith("-----BEGIN");
const derOf = (text: string) => Buffer.from(text.replace(/\s+/g, ""), "base64");

function checkedRsa(field: string, key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== "rsa") throw invalid(field, "must be an RSA key");
  if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_MODULUS_BITS) throw invalid(field, `must be an RSA key of at least ${MIN_MODULUS_BITS} bits`);
  return key;
}

/** A public key as the ERP sent it → Base64 DER SPKI, or PARAMETER_INVALID naming the field. */
export function normalizePublicKey(field: string, text: string): string {
  let key: KeyObject;
  try {
    key = isPem(text) ? createPublicKey(text) : createPublicKey({ key: derOf(text), format: "der", type: "spki" });
  } catch {
    throw invalid(field, "must be an RSA public key, PEM or Base64 DER SubjectPublicKeyInfo");
  }
  return checkedRsa(field, key).export({ format: "der", type: "spki" }).toString("base64");
}

/** A private key as the ERP sent it → PKCS#8 PEM. */
export function normalizePrivateKey(field: string, text: string): string {
  let key: KeyObject;
  try {
    key = isPem(text) ? createPrivateKey(text) : createPrivateKey({ key: derOf(text), format: "der", type: "pkcs8" });
  } catch {
    throw invalid(field, "must be an RSA private key, PEM or Base64 DER PKCS#8");
  }
  return checkedRsa(field, key).export({ format: "pem", type: "pkcs8" }).toString();
}

export interface WhaleKeyPair {
  /** Base64 DER SPKI. */
  publicKey: string;
  /** PKCS#8 PEM. */
  privateKey: string;
}

/** A new pair for a channel (off the event loop: RSA generation takes tens of milliseconds). */
export async function generateWhaleKeyPair(): Promise<WhaleKeyPair> {
  const { publicKey, privateKey } = await generateRsa("rsa", { modulusLength: GENERATED_MODULUS_BITS });
  return {
    publicKey: publicKey.export({ format: "der", type: "spki" }).toString("base64"),
    privateKey: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
  };
}

/** Whether the two halves the ERP brought belong together (a test signature verifies). */
export function isKeyPair(pair: WhaleKeyPair): boolean {
  const probe = Buffer.from("whale key pair check");
  const signature = sign("sha256", probe, pair.privateKey);
  return verify("sha256", probe, createPublicKey({ key: Buffer.from(pair.publicKey, "base64"), format: "der", type: "spki" }), signature);
}
