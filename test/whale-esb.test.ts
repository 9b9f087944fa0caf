// An ESB send channel set up through the back office with RSA encryption, making codes end to end: the ERP
// registers WHALE's private key for the channel as its sealed orderEncryptKey; WHALE sends the ESB (its sandbox
// here) the public half, the seed's "public key string"; the ESB encrypts each code with it; WHALE decrypts them
// and answers the sale channel the codes in clear. On both run modes (cluster: real PostgreSQL and Redis, a NATS
// of its own).
import { createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEsbSandbox, type EsbSandbox } from "../services/sandbox/esb-sandbox.js";
import { modes, useTestPlatform, type TestPlatform } from "./support/platform.js";
import { assertChannelContract, seedMakeCodeBody } from "./support/whale-codes.js";
import { erpOk, erpPost, setUpMakeCodeOffer, unique } from "./support/whale-erp.js";

const ESB = { appId: "whale-at-esb", appSecret: "whale-at-esb-secret" };
const channelKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });
/** WHALE's pair for the send channel: the ERP registers the private half; the ESB gets the public half. */
const orderKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });

describe.each(modes)("an RSA-encrypted ESB send channel set up through the back office (%s)", (mode) => {
  const chain = useTestPlatform(mode, { env: { ESB_APP_ID: ESB.appId, ESB_APP_SECRET: ESB.appSecret } });
  let platform: TestPlatform;
  let esb: EsbSandbox;
  beforeAll(async () => {
    platform = chain.platform;
    esb = await startEsbSandbox(ESB);
  });
  afterAll(async () => {
    await esb?.close();
  });

  const ok = (action: string, body: unknown) => erpOk(platform.gatewayUrl, action, body);

  it("makes codes: the ESB is sent WHALE's public key, encrypts the codes to it, and the channel gets them in clear", async () => {
    const { sale, send, template } = await setUpMakeCodeOffer(platform.gatewayUrl, {
      channelPublicKey: channelKeys.publicKey,
      sendChannelName: "资和信",
      sendChannelConfig: {
        sendChannelType: "ESB", thirdChannelNo: "M000001545", makeCodeURL: esb.url, channelMid: "M000001545", channelTid: "T0001",
        encryptType: "RSA", orderEncryptKey: orderKeys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      },
    });
    expect(await ok("sendChannelQuery", { sendChannelId: send.sendChannelId })).toMatchObject({
      sendChannelConfig: { sendChannelType: "ESB", encryptType: "RSA", hasOrderEncryptKey: "Y" },
    });

    const body = seedMakeCodeBody(String(template.templateId), { codeNum: 2 });
    const raw = JSON.stringify(body);
    const response = await fetch(`${platform.gatewayUrl}/whale/channel/makeCode`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-sale-channel-id": String(sale.saleChannelId),
        "x-signature": sign("sha256", Buffer.from(raw), channelKeys.privateKey).toString("base64"),
      },
      body: raw,
      signal: AbortSignal.timeout(20_000),
    });
    const answer = (await response.json()) as { returnCode: string; returnMsg: string; data?: { items: Array<{ codeDetail: Array<{ code: string }> }> } };
    assertChannelContract(response.status, answer);
    expect(answer, answer.returnMsg).toMatchObject({ returnCode: "00", data: { codeNum: 2 } });

    // The ESB was sent the public half of the registered key (Base64 SPKI DER), never the private key.
    const sent = esb.lastMakeCode();
    expect(sent?.orderEncryptKey).toBe(createPublicKey(orderKeys.privateKey).export({ type: "spki", format: "der" }).toString("base64"));
    expect(JSON.stringify(sent)).not.toContain("PRIVATE KEY");
    expect(sent).toMatchObject({ saleChannelId: String(sale.saleChannelId), sendChannelId: String(send.sendChannelId), channelMid: "M000001545", channelTid: "T0001" });

    // The codes the channel got are the ones the ESB made, decrypted.
    const made = await esb.codes(String(sent?.sendChannelOrderId));
    const answered = answer.data?.items.flatMap((item) => item.codeDetail.map((detail) => detail.code)) ?? [];
    expect(answered).toHaveLength(2);
    expect(answered.sort()).toEqual((made ?? []).map((code) => code.code).sort());
  });

  it("refuses an RSA orderEncryptKey that is not a private key (a public key, the ESB's or any) with 01, naming the field", async () => {
    const publicPem = orderKeys.publicKey.export({ type: "spki", format: "pem" }).toString();
    for (const orderEncryptKey of [publicPem, "not a key"]) {
      const answer = await erpPost(platform.gatewayUrl, "sendChanneInsert", {
        sendChannelName: unique("资和信"),
        sendChannelConfig: { sendChannelType: "ESB", makeCodeURL: esb.url, channelMid: "M1", channelTid: "T1", encryptType: "RSA", orderEncryptKey },
      });
      expect(answer).toMatchObject({ returnCode: "01", returnMsg: expect.stringContaining("sendChannelConfig.orderEncryptKey") as string });
    }
  });
});
