import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import type { CatalogueStore } from "../catalogue/catalogue-store.js";
import { LruCache } from "../../common/lru-cache.js";
import { CodeError, codeError } from "./errors.js";

/** A Base64 RSA signature of a 1024–8192-bit key is at most this long; anything longer is refused unread. */
const MAX_SIGNATURE_BASE64 = 1400;

/**
 * SHA256withRSA both ways with a sale channel: its calls verified with the channelPublicKey the ERP registered
 * (Base64 DER SPKI), our answers signed with WHALE's private key for it. Keys are read per call (an ERP update
 * or a disabled channel takes effect at once); parsed keys are cached by their text.
 */
export class SaleChannelSignatures {
  private readonly parsed = new LruCache<string, KeyObject>(256);

  constructor(private readonly catalogue: CatalogueStore) {}

  async verify(saleChannelId: string, body: Uint8Array, signature: string): Promise<void> {
    const refuse = (why: string): never => {
      throw codeError(CodeError.SIGNATURE_INVALID, `signature invalid: ${why}`);
    };
    if (signature.length === 0 || signature.length > MAX_SIGNATURE_BASE64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) {
      refuse("X-Signature must be the Base64 of a SHA256withRSA signature");
    }
    const channel = await this.catalogue.findSaleChannel(saleChannelId);
    // One answer for unknown, inactive or keyless: a caller learns nothing about which channels exist.
    if (!channel?.isActive || !channel.channelPublicKey) return refuse("does not verify with the sale channel's key");
    const key = this.key(`pub:${channel.channelPublicKey}`, () => createPublicKey({ key: Buffer.from(channel.channelPublicKey ?? "", "base64"), format: "der", type: "spki" }));
    if (!verify("sha256", body, key, Buffer.from(signature, "base64"))) refuse("does not verify with the sale channel's key");
  }

  async sign(saleChannelId: string, body: Uint8Array): Promise<string> {
    const keys = await this.catalogue.findSaleChannelKeys(saleChannelId);
    if (!keys) throw codeError(CodeError.NOT_AVAILABLE, `no sale channel ${saleChannelId}`);
    const key = this.key(`priv:${saleChannelId}:${keys.whalePublicKey}`, () => createPrivateKey(keys.whalePrivateKey));
    return sign("sha256", body, key).toString("base64");
  }

  private key(cacheKey: string, parse: () => KeyObject): KeyObject {
    let key = this.parsed.get(cacheKey);
    if (!key) {
      try {
        key = parse();
      } catch {
        throw codeError(CodeError.SIGNATURE_INVALID, "signature invalid: the registered key is not an RSA key");
      }
      this.parsed.set(cacheKey, key);
    }
    return key;
  }
}
