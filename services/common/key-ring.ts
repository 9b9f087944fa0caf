// Secrets at rest (a service type's AES key, say) are sealed with AES-256-GCM under a key-encryption key (KEK)
// that lives in the environment (a Kubernetes Secret), never in the database: a dump of the table alone opens
// nothing.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/** What is stored for one sealed secret. */
export interface SealedSecret {
  ciphertext: Buffer;
  nonce: Buffer;
  tag: Buffer;
  /** Which KEK sealed it (a digest of the key, never the key). */
  kekId: string;
}

const KEK_BYTES = 32;
const NONCE_BYTES = 12;

/** A KEK's id: the first 16 hex digits of a SHA-256 over it; it reveals nothing of the key. */
export function kekIdOf(kek: Buffer): string {
  return createHash("sha256").update("rights-platform kek id\0").update(kek).digest("hex").slice(0, 16);
}

/** Decodes a KEK given as Base64 of 32 random bytes; throws naming the problem otherwise. */
export function decodeKek(base64: string): Buffer {
  const kek = Buffer.from(base64, "base64");
  if (kek.length !== KEK_BYTES || kek.toString("base64") !== base64.trim()) {
    throw new Error(`must be the Base64 of ${KEK_BYTES} bytes (e.g. \`openssl rand -base64 32\`)`);
  }
  return kek;
}

/**
 * The current KEK seals; the current or the previous one opens, so a rotation needs no downtime: rows sealed
 * under the previous KEK stay readable until `isCurrent` says they have been re-sealed.
 */
export class KeyRing {
  readonly currentId: string;
  private readonly keys = new Map<string, Buffer>();

  /** `variable` names the KEK's environment variable in errors (its rotation partner is `<variable>_PREVIOUS`). */
  constructor(current: Buffer, previous?: Buffer, private readonly variable = "SERVICE_TYPE_KEK") {
    this.currentId = kekIdOf(current);
    this.keys.set(this.currentId, current);
    if (previous) this.keys.set(kekIdOf(previous), previous);
  }

  /** `context` (the row's identity) is bound as associated data: a sealed secret moved to another row will not open. */
  seal(plaintext: Buffer, context: string): SealedSecret {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key(this.currentId), nonce);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return { ciphertext, nonce, tag: cipher.getAuthTag(), kekId: this.currentId };
  }

  /** Throws when the KEK is unknown to this ring or the secret was altered. */
  open(sealed: SealedSecret, context: string): Buffer {
    const decipher = createDecipheriv("aes-256-gcm", this.key(sealed.kekId), sealed.nonce);
    decipher.setAAD(Buffer.from(context, "utf8"));
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]);
  }

  isCurrent(sealed: Pick<SealedSecret, "kekId">): boolean {
    return sealed.kekId === this.currentId;
  }

  private key(kekId: string): Buffer {
    const key = this.keys.get(kekId);
    if (!key) throw new Error(`secret sealed under KEK ${kekId}, which is neither ${this.variable} nor ${this.variable}_PREVIOUS`);
    return key;
  }
}
