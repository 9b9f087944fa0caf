// WHALE make-code end to end, as an ERP and a sale channel do it: the catalogue set up through /whale/erp, then
// signed POST /whale/channel/makeCode through the gateway to the voucher service, on both run modes (cluster:
// real PostgreSQL and Redis, a NATS of its own). Every answer is checked against the served contract and WHALE's
// signature of it with the whalePublicKey the ERP was answered.
import { createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { isWellFormedCode } from "../services/voucher/channels/internal/code-generator.js";
import { MAX_NOTICE_RETRIES } from "../services/voucher/codes/make-code-notices.js";
import { modes, type TestPlatform, useTestPlatform } from "./support/platform.js";
import { until } from "./support/until.js";
import { assertChannelContract, seedMakeCodeBody } from "./support/whale-codes.js";
import { erpOk, erpPost, setUpMakeCodeOffer } from "./support/whale-erp.js";

const channelKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PATH = "/whale/channel/makeCode";

describe.each(modes)("WHALE make-code through the gateway (%s)", (mode) => {
  const running = useTestPlatform(mode);
  let platform: TestPlatform;
  
  beforeAll(() => {
    platform = running.platform;
  });

  const ok = (action: string, body: unknown) => erpOk(platform.gatewayUrl, action, body);

  /** What the ERP sets up: a sale channel with the channel's key, a send channel of `type`, a template, an activity offering it. */
  async function setUp(type: "INTERNAL" | "BLUE_BROTHERS") {
    const { sale, template, activity } = await setUpMakeCodeOffer(platform.gatewayUrl, {
      channelPublicKey: channelKeys.publicKey,
      sendChannelConfig: { sendChannelType: type, thirdChannelNo: "M000001545" },
    });
    return {
      saleChannelId: sale.saleChannelId as string,
      whalePublicKey: createPublicKey({ key: Buffer.from(sale.whalePublicKey as string, "base64"), format: "der", type: "spki" }),
      templateId: String(template.templateId),
      activityId: activity.activityId as string,
    };
  }

  async function makeCode(saleChannelId: string, body: object, signer = channelKeys.privateKey) {
    const raw = JSON.stringify(body);
    const response = await fetch(`${platform.gatewayUrl}${PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-sale-channel-id": saleChannelId, "x-signature": sign("sha256", Buffer.from(raw), signer).toString("base64") },
      body: raw,
      signal: AbortSignal.timeout(20_000),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const answer = JSON.parse(text) as { returnCode: string; returnMsg: string; data?: { tradeNo: string; items: Array<{ codeDetail: Array<{ code: string; codeURL: string }> } & Record<string, unknown>> } };
    assertChannelContract(response.status, answer);
    return { answer, text, signature: response.headers.get("x-signature") };
  }

  it("makes the first codes of a catalogue the ERP set up, WHALE's own codes, signed for the channel; a repeat answers them again", async () => {
    const offer = await setUp("INTERNAL");
    const body = seedMakeCodeBody(offer.templateId, { codeNum: 3 });
    const first = await makeCode(offer.saleChannelId, body);
    expect(first.answer).toMatchObject({ returnCode: "00", returnMsg: "SUCCESS", data: { saleChannelOrderId: body.saleChannelOrderId, isNotify: "1", codeNum: 3 } });
    expect(first.signature && verify("sha256", Buffer.from(first.text), offer.whalePublicKey, Buffer.from(first.signature, "base64"))).toBe(true);
    const [item] = first.answer.data?.items ?? [];
    expect(item).toMatchObject({ ticketId: Number(offer.templateId), activityId: offer.activityId, ticketName: "COSTA30元代金券" });
    for (const detail of item?.codeDetail ?? []) expect(isWellFormedCode(detail.code)).toBe(true);
    const again = await makeCode(offer.saleChannelId, body);
    expect(again.answer).toEqual(first.answer);
    const { rows } = await platform.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.internal_code WHERE send_channel_order_id = $1`, [first.answer.data?.tradeNo]);
    expect(rows[0]?.n).toBe(3);
    // The SMS notice reaches the SMS gateway through the notify service, once, to the order's number, with the codes.
    const sentFor = async () => (await platform.smsSandbox.messages()).find((message) => message.outId === first.answer.data?.tradeNo);
    await until(async () => (await sentFor()) !== undefined, 10_000, "the SMS notice");
    const sent = await sentFor();
    expect(sent).toMatchObject({ mobile: "13524161800" });
    for (const detail of item?.codeDetail ?? []) expect(sent?.content).toContain(detail.code);

    // The ERP's view of the notice: delivered; sent again on request (a new notice id, the same number); no
    // verify notice before redemption; an unknown order is 04.
    const tradeNo = first.answer.data?.tradeNo ?? "";
    await until(async () => (await erpPost(platform.gatewayUrl, "makeNotifyQuery", { saleChannelOrderId: body.saleChannelOrderId })).isNotify === "已通知", 10_000, "已通知");
    expect(await ok("makeNotifyQuery", { saleChannelOrderId: body.saleChannelOrderId })).toMatchObject({
      notifyId: tradeNo, orderId: tradeNo, saleChannelId: Number(offer.saleChannelId), saleChannelOrderId: body.saleChannelOrderId,
      orderMobile: "13524161800", codeNum: 3, isNotify: "已通知", isCanVoid: "可撤销", orderReturnCode: "00", status: "制码成功",
    });
    expect(await ok("makeNotifyRetry", { saleChannelOrderId: body.saleChannelOrderId })).toMatchObject({ notifyId: `${tradeNo}.1` });
    await until(async () => (await platform.smsSandbox.messages()).some((message) => message.outId === `${tradeNo}.1` && message.mobile === "13524161800"), 10_000, "the re-sent notice");
    expect(await ok("verifyNotifyQuery", { saleChannelOrderId: body.saleChannelOrderId })).toMatchObject({ notifyId: "", isNotify: "未通知", orderId: tradeNo });
    expect((await erpPost(platform.gatewayUrl, "makeNotifyQuery", { saleChannelOrderId: "NO-SUCH-ORDER" })).returnCode).toBe("04");
  });

  it("answers the notice of an order sent again more times than notify lists in one call (1000)", async () => {
    const offer = await setUp("INTERNAL");
    const body = seedMakeCodeBody(offer.templateId);
    const tradeNo = (await makeCode(offer.saleChannelId, body)).answer.data?.tradeNo ?? "";
    await until(async () => (await erpPost(platform.gatewayUrl, "makeNotifyQuery", { saleChannelOrderId: body.saleChannelOrderId })).isNotify === "已通知", 10_000, "已通知");
    // As if the ERP had asked makeNotifyRetry a thousand times.
    await platform.db.query(`UPDATE vouchers.code_order SET notice_retries = 1000 WHERE trade_no = $1`, [tradeNo]);
    expect(await erpPost(platform.gatewayUrl, "makeNotifyQuery", { saleChannelOrderId: body.saleChannelOrderId })).toMatchObject({ returnCode: "00", notifyId: `${tradeNo}.1000`, isNotify: "已通知" });
    // Past the most re-sends allowed (an order of before the limit): refused, the count unchanged.
    expect(await erpPost(platform.gatewayUrl, "makeNotifyRetry", { saleChannelOrderId: body.saleChannelOrderId })).toMatchObject({ returnCode: "01" });
    expect(await erpPost(platform.gatewayUrl, "makeNotifyQuery", { saleChannelOrderId: body.saleChannelOrderId })).toMatchObject({ notifyId: `${tradeNo}.1000` });
  });

  it(`sends an order's notice again at most ${MAX_NOTICE_RETRIES} times, asks at once included; then 01 and no SMS`, async () => {
    const offer = await setUp("INTERNAL");
    const body = seedMakeCodeBody(offer.templateId);
    const tradeNo = (await makeCode(offer.saleChannelId, body)).answer.data?.tradeNo ?? "";
    const answers = await Promise.all(
      Array.from({ length: MAX_NOTICE_RETRIES + 5 }, () => erpPost(platform.gatewayUrl, "makeNotifyRetry", { saleChannelOrderId: body.saleChannelOrderId })),
    );
    const sent = answers.filter((answer) => answer.returnCode === "00").map((answer) => answer.notifyId);
    expect(new Set(sent)).toEqual(new Set(Array.from({ length: MAX_NOTICE_RETRIES }, (_, n) => `${tradeNo}.${n + 1}`)));
    const refused = answers.filter((answer) => answer.returnCode !== "00");
    expect(refused).toHaveLength(5);
    for (const answer of refused) {
      expect(answer).toMatchObject({ returnCode: "01", returnMsg: `saleChannelOrderId ${body.saleChannelOrderId}: its notice was sent again ${MAX_NOTICE_RETRIES} times already, the most allowed` });
    }
    const { rows } = await platform.db.query<{ notice_retries: number }>(`SELECT notice_retries FROM vouchers.code_order WHERE trade_no = $1`, [tradeNo]);
    expect(rows[0]?.notice_retries).toBe(MAX_NOTICE_RETRIES);
    const resent = async () => (await platform.smsSandbox.messages()).filter((message) => message.outId.startsWith(`${tradeNo}.`)).length;
    await until(async () => (await resent()) === MAX_NOTICE_RETRIES, 10_000, "the re-sent notices");
  });

  it("makes a Blue Brothers template's codes at the Blue Brothers sandbox: its voucher numbers and redemption URLs", async () => {
    const offer = await setUp("BLUE_BROTHERS");
    const { answer } = await makeCode(offer.saleChannelId, seedMakeCodeBody(offer.templateId, { codeNum: 2 }));
    expect(answer.returnCode).toBe("00");
    const details = answer.data?.items[0]?.codeDetail ?? [];
    expect(details).toHaveLength(2);
    for (const detail of details) expect(detail.codeURL).toBe(`${platform.blueBrothersSandbox.url}/redeem/${detail.code}`);
    expect(await platform.blueBrothersSandbox.voucher(`${answer.data?.tradeNo}.2`)).toMatchObject({ voucherNo: details[1]?.code, status: "NORMAL" });
  });

  it("finds a notice by its sale channel when two sale channels used one order id: without saleChannelId 01, never the other's order", async () => {
    const [first, second] = [await setUp("INTERNAL"), await setUp("INTERNAL")];
    const saleChannelOrderId = `SHARED${Date.now()}`;
    const made = [
      await makeCode(first.saleChannelId, seedMakeCodeBody(first.templateId, { saleChannelOrderId })),
      await makeCode(second.saleChannelId, seedMakeCodeBody(second.templateId, { saleChannelOrderId })),
    ];
    for (const action of ["makeNotifyQuery", "makeNotifyRetry", "verifyNotifyQuery"]) {
      const refused = await erpPost(platform.gatewayUrl, action, { saleChannelOrderId });
      expect(refused.returnCode, action).toBe("01");
      expect(refused.returnMsg, action).toContain("saleChannelId");
    }
    for (const [i, offer] of [first, second].entries()) {
      expect(await ok("makeNotifyQuery", { saleChannelOrderId, saleChannelId: offer.saleChannelId })).toMatchObject({
        orderId: made[i]?.answer.data?.tradeNo, saleChannelId: Number(offer.saleChannelId),
      });
    }
    const third = await setUp("INTERNAL");
    expect((await erpPost(platform.gatewayUrl, "makeNotifyQuery", { saleChannelOrderId, saleChannelId: third.saleChannelId })).returnCode).toBe("04");
  });

  it("refuses a request signed with another key (02, unsigned) and another channel's template (04)", async () => {
    const offer = await setUp("INTERNAL");
    const other = await setUp("INTERNAL");
    const forged = await makeCode(offer.saleChannelId, seedMakeCodeBody(offer.templateId), generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey);
    expect(forged.answer).toEqual({ returnCode: "02", returnMsg: "signature invalid: does not verify with the sale channel's key" });
    expect(forged.signature).toBeNull();
    expect((await makeCode(offer.saleChannelId, seedMakeCodeBody(other.templateId))).answer.returnCode).toBe("04");
  });
});
