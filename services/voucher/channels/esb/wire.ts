/**
 * The wire format of the ESB (WHALE's enterprise service bus in front of third-party code makers), as the ESB
 * send channel (`channel.ts`) speaks it and the ESB sandbox (`services/sandbox/esb-sandbox.ts`) simulates it.
 *
 * From the seed (002, "ESB制码订单"): WHALE → ESB carries saleChannelId, sendChannelId, sendChannelOrderId (≤ 64),
 * whaleTradeNo (≤ 64), channelMid and channelTid (the merchant and terminal numbers the code maker gave us, kept
 * in the send channel's config), orderEncryptKey ("the code maker's message key: the key for 3DES, the public key
 * string for a key pair"), createDate (yyyyMMdd), createTime (yyyyMMddHHmmss) and items; the ESB answers the
 * make-code response (returnCode, returnMsg, data with items[].codeDetail[]).
 *
 * ASSUMPTIONS, CONFIRM WITH THE ESB TEAM. The seed gives no path, no item fields, no signing, no codes and no void:
 * - `POST <makeCodeURL>/esb/v1/makeCode` (and `/voidCode`, `/queryCode`), JSON, signed with the HMAC headers of
 *   `services/common/signing.ts` (appId: the channel's thirdChannelNo; secret: its ESB secret);
 * - an item is { saleChannelItemId, ticketId (the template's productId), codeNum, useTimes, validStart, validEnd }
 *   with the dates yyyyMMddHHmmss;
 * - `returnCode` "00" is success, "98" busy (retry later; also with HTTP 503), anything else a refusal for good;
 *   a bad signature is HTTP 401 / "02";
 * - idempotent by sendChannelOrderId: a repeat answers the codes made the first time;
 * - every `codeDetail.code` comes back encrypted with orderEncryptKey, Base64: 3DES is DESede/ECB/PKCS5Padding
 *   (Java's default for "DESede") with the 24-byte key Base64 in orderEncryptKey; a key pair is RSA-OAEP with
 *   SHA-256, orderEncryptKey the Base64 DER (SPKI) of WHALE's public key for the channel, WHALE decrypting with
 *   its private key (the send channel's sealed orderEncryptKey secret holds that private key, PKCS#8 PEM). The
 *   ESB tells the two apart by the key's length (24 bytes: 3DES).
 */
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, constants } from "node:crypto";
import { isRecord, type PlatformWire } from "../../../common/upstream-http.js";

export const ESB_CODES = { SUCCESS: "00", PARAMETER_INVALID: "01", SIGNATURE_INVALID: "02", NOT_FOUND: "04", REDEEMED: "05", BUSY: "98" } as const;

export interface EsbMakeOrderItem {
  saleChannelItemId: string;
  ticketId: string;
  codeNum: number;
  useTimes: number;
  validStart: string;
  validEnd: string;
}

export interface EsbCodeDetail {
  codeURL: string;
  /** Encrypted with orderEncryptKey, Base64. */
  code: string;
  useTimes: number;
  status: string;
  statusDesc: string;
}

export interface EsbApi {
  makeCode: {
    request: {
      saleChannelId: string;
      sendChannelId: string;
      sendChannelOrderId: string;
      whaleTradeNo: string;
      channelMid: string;
      channelTid: string;
      orderEncryptKey: string;
      createDate: string;
      createTime: string;
      items: EsbMakeOrderItem[];
    };
    response: {
      sendChannelOrderId?: string;
      codeNum?: number;
      items?: Array<{ saleChannelItemId?: string; itemResultCode?: string; itemResultMsg?: string; codeDetail?: EsbCodeDetail[] }>;
    };
  };
  voidCode: { request: { sendChannelOrderId: string; code: string; channelMid: string }; response: { status: "VOIDED" } };
  queryCode: {
    request: { sendChannelOrderId: string; code: string; channelMid: string };
    response: { status: "NORMAL" | "REDEEMED" | "VOIDED"; redeemTime?: string };
  };
}
export type EsbOperation = keyof EsbApi;

export const ESB_WIRE: PlatformWire<EsbApi> = {
  name: "esb",
  paths: { makeCode: "/esb/v1/makeCode", voidCode: "/esb/v1/voidCode", queryCode: "/esb/v1/queryCode" },
  outcome(body) {
    if (!isRecord(body) || typeof body.returnCode !== "string") return undefined;
    return { code: body.returnCode, message: String(body.returnMsg ?? ""), data: body.data };
  },
  isSuccess: (code) => code === ESB_CODES.SUCCESS,
  isRetryable: (code) => code === ESB_CODES.BUSY,
};

/** How the codes travel: a 3DES key shared with the code maker, or WHALE's key pair for the channel. */
export type EsbEncryption = { mode: "3DES"; key: Buffer } | { mode: "RSA"; privateKey: string };

/** The orderEncryptKey sent for an encryption: the Base64 3DES key, or the Base64 SPKI DER of the public key. */
export function orderEncryptKeyOf(encryption: EsbEncryption): string {
  if (encryption.mode === "3DES") return encryption.key.toString("base64");
  return createPublicKey(encryption.privateKey).export({ type: "spki", format: "der" }).toString("base64");
}

/** The code maker's side (the sandbox): encrypts a code with the orderEncryptKey it was sent. */
export function encryptCode(orderEncryptKey: string, code: string): string {
  const key = Buffer.from(orderEncryptKey, "base64");
  if (key.length === 24) {
    const cipher = createCipheriv("des-ede3-ecb", key, null);
    return Buffer.concat([cipher.update(code, "utf8"), cipher.final()]).toString("base64");
  }
  const publicKey = createPublicKey({ key, format: "der", type: "spki" });
  return publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, Buffer.from(code, "utf8")).toString("base64");
}

/** WHALE's side: the code in clear; throws on a value that does not decrypt. */
export function decryptCode(encryption: EsbEncryption, encrypted: string): string {
  const data = Buffer.from(encrypted, "base64");
  if (encryption.mode === "3DES") {
    const decipher = createDecipheriv("des-ede3-ecb", encryption.key, null);
    return Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8");
  }
  return privateDecrypt(
    { key: createPrivateKey(encryption.privateKey), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
    data,
  ).toString("utf8");
}
