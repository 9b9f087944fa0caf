import type { SendChannel as SendChannelRecord } from "../catalogue/catalogue-store.js";
import type { Metrics } from "../../common/metrics.js";
import { createEsbChannel } from "../channels/esb/channel.js";
import type { EsbEncryption } from "../channels/esb/wire.js";
import type { SendChannel } from "../channels/send-channel.js";

/** WHALE's credentials at the ESB (one ESB in front of many code makers) and its call deadline. */
export interface EsbAccess {
  appId: string;
  appSecret: string;
  timeoutMs: number;
  metrics?: Metrics;
}

/**
 * The adapter that makes a send channel's codes, by the channel's type (catalogue): WHALE's own generator, Blue
 * Brothers (one platform, configured by the service's variables), or the ESB at the channel's makeCodeURL with its
 * merchant/terminal numbers and its orderEncryptKey (`secret`: a 3DES key as Base64 of 24 bytes or 48 hex
 * digits, or WHALE's RSA private key PEM). Throws a plain Error naming what the channel's registration lacks.
 */
export function sendChannelFor(
  record: SendChannelRecord,
  secret: string | null,
  adapters: { internal: SendChannel; blueBrothers: SendChannel; esb: EsbAccess },
): SendChannel {
  switch (record.channelType) {
    case "INTERNAL":
      return adapters.internal;
    case "BLUE_BROTHERS":
      return adapters.blueBrothers;
    case "ESB": {
      const { makeCodeURL, channelMid, channelTid, encryptType } = record.config;
      if (!makeCodeURL || !channelMid || !channelTid) throw new Error(`send channel ${record.sendChannelId}: makeCodeURL, channelMid and channelTid are required for the ESB`);
      if (!secret) throw new Error(`send channel ${record.sendChannelId}: no orderEncryptKey registered`);
      return createEsbChannel({ baseUrl: makeCodeURL, ...adapters.esb, channelMid, channelTid, encryption: encryptionOf(encryptType ?? "3DES", secret) });
    }
  }
}

function encryptionOf(encryptType: "3DES" | "RSA", secret: string): EsbEncryption {
  if (encryptType === "RSA") return { mode: "RSA", privateKey: secret };
  const key = /^[0-9a-fA-F]{48}$/.test(secret) ? Buffer.from(secret, "hex") : Buffer.from(secret, "base64");
  if (key.length !== 24) throw new Error("a 3DES orderEncryptKey is 24 bytes (Base64 or 48 hex digits)");
  return { mode: "3DES", key };
}
