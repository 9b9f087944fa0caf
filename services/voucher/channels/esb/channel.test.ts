import { generateKeyPairSync, randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { upstreamError } from "../../../../test/support/upstream-errors.js";
import { startEsbSandbox, type EsbSandbox } from "../../../sandbox/esb-sandbox.js";
import { VoucherAlreadyRedeemed, type MakeCodesOrder } from "../send-channel.js";
import { createEsbChannel, type EsbChannelConfig } from "./channel.js";
import type { EsbEncryption } from "./wire.js";

const credentials = { appId: "esb-test", appSecret: "esb-test-secret" };
const pair = generateKeyPairSync("rsa", { modulusLength: 2048 });
const encryptions: Record<string, EsbEncryption> = {
  "3DES": { mode: "3DES", key: randomBytes(24) },
  RSA: { mode: "RSA", privateKey: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString() },
};
let sequence = 0;
function order(codeNum = 2): MakeCodesOrder {
  sequence += 1;
  return {
    sendChannelOrderId: `ESB-${process.pid}-${Date.now().toString(36)}-${sequence}`, whaleTradeNo: `T${sequence}`, saleChannelId: "10002401",
    sendChannelId: "20001", saleChannelItemId: "item-1", productRef: "12345", codeNum, useTimes: 10,
    validStart: new Date("2026-11-21T00:00:00+08:00"), validEnd: new Date("2026-12-01T00:00:00+08:00"), createdAt: new Date("2026-11-20T15:52:25+08:00"),
  };
}

describe("ESB adapter against the ESB sandbox", () => {
  let sandbox: EsbSandbox;
  const config = (encryption: EsbEncryption, overrides: Partial<EsbChannelConfig> = {}): EsbChannelConfig => ({
    baseUrl: sandbox.url, ...credentials, timeoutMs: 300, channelMid: "M000001545", channelTid: "T0001", encryption, ...overrides,
  });
  beforeAll(async () => {
    sandbox = await startEsbSandbox(credentials);
  });
  afterEach(() => sandbox.faults.clear());
  afterAll(async () => {
    await sandbox.close();
  });

  for (const [mode, encryption] of Object.entries(encryptions)) {
    it(`sends the seed's fields and decrypts the codes (${mode}); a repeat answers the same codes`, async () => {
      const channel = createEsbChannel(config(encryption));
      const o = order(3);
      const made = await channel.makeCodes(o);
      const clear = await sandbox.codes(o.sendChannelOrderId);
      expect(made.map((c) => c.code)).toEqual(clear?.map((c) => c.code));
      for (const c of made) expect(c.url).toBe(`${sandbox.url}/qr/${c.code}`);
      expect(sandbox.lastMakeCode()).toEqual({
        saleChannelId: "10002401", sendChannelId: "20001", sendChannelOrderId: o.sendChannelOrderId, whaleTradeNo: o.whaleTradeNo,
        channelMid: "M000001545", channelTid: "T0001", orderEncryptKey: expect.any(String) as string,
        createDate: "20261120", createTime: "20261120155225",
        items: [{ saleChannelItemId: "item-1", ticketId: "12345", codeNum: 3, useTimes: 10, validStart: "20261121000000", validEnd: "20261201000000" }],
      });
      expect(JSON.stringify(sandbox.lastMakeCode())).not.toContain(clear?.[0]?.code);
      expect(await channel.makeCodes(o)).toEqual(made);
    });
  }

  it("refuses codes encrypted with another key (a body we cannot read is not a code)", async () => {
    const o = order(1);
    await createEsbChannel(config(encryptions["3DES"] as EsbEncryption)).makeCodes(o);
    const wrongKey = createEsbChannel(config({ mode: "3DES", key: randomBytes(24) }));
    expect(await upstreamError(wrongKey.makeCodes(o))).toMatchObject({ kind: "rejected", code: "INVALID_RESPONSE" });
  });

  it("voids and queries a code; a redeemed one refuses the void", async () => {
    const channel = createEsbChannel(config(encryptions["3DES"] as EsbEncryption));
    const [a, b] = await channel.makeCodes(order(2));
    if (!a || !b) throw new Error("two codes expected");
    expect(await channel.queryCode(a)).toEqual({ status: "NORMAL", redeemedAt: undefined });
    await channel.voidCode(a);
    expect((await channel.queryCode(a)).status).toBe("VOIDED");
    await sandbox.redeem(b.code);
    await expect(channel.voidCode(b)).rejects.toBeInstanceOf(VoucherAlreadyRedeemed);
    expect(await channel.queryCode(b)).toMatchObject({ status: "REDEEMED", redeemedAt: expect.any(Date) as Date });
    expect(await upstreamError(channel.queryCode({ code: a.code, channelRef: "another-order" }))).toMatchObject({ kind: "rejected", code: "04" });
  });

  it("fault fail: unavailable, retryable; the retry makes the codes", async () => {
    const channel = createEsbChannel(config(encryptions["3DES"] as EsbEncryption));
    const o = order(1);
    sandbox.faults.set("makeCode", { mode: "fail", times: 1 });
    expect(await upstreamError(channel.makeCodes(o))).toEqual({ kind: "unavailable", code: "98", platform: "esb", operation: "makeCode" });
    expect(await channel.makeCodes(o)).toHaveLength(1);
  });

  it("fault timeout: the adapter gives up within its timeout; the retry answers the codes the lost call made", async () => {
    const channel = createEsbChannel(config(encryptions["3DES"] as EsbEncryption));
    const o = order(2);
    sandbox.faults.set("makeCode", { mode: "timeout", times: 1 });
    const started = Date.now();
    expect(await upstreamError(channel.makeCodes(o))).toMatchObject({ kind: "timeout" });
    expect(Date.now() - started).toBeLessThan(2000);
    const clear = await sandbox.codes(o.sendChannelOrderId);
    expect((await channel.makeCodes(o)).map((c) => c.code)).toEqual(clear?.map((c) => c.code));
  });

  it("fault reject, a wrong secret, and a reused order id with another body are refusals for good", async () => {
    const channel = createEsbChannel(config(encryptions["3DES"] as EsbEncryption));
    sandbox.faults.set("makeCode", { mode: "reject", times: 1 });
    expect(await upstreamError(channel.makeCodes(order(1)))).toMatchObject({ kind: "rejected", code: "01" });
    const forged = createEsbChannel(config(encryptions["3DES"] as EsbEncryption, { appSecret: "wrong" }));
    expect(await upstreamError(forged.makeCodes(order(1)))).toMatchObject({ kind: "rejected", code: "02" });
    const o = order(1);
    await channel.makeCodes(o);
    expect(await upstreamError(channel.makeCodes({ ...o, codeNum: 2 }))).toMatchObject({ kind: "rejected", code: "03" });
  });

  it("an unreachable ESB is unavailable", async () => {
    const channel = createEsbChannel(config(encryptions["3DES"] as EsbEncryption, { baseUrl: "http://127.0.0.1:9" }));
    expect(await upstreamError(channel.makeCodes(order(1)))).toMatchObject({ kind: "unavailable", code: "NETWORK" });
  });
});
