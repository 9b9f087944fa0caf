import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { upstreamError } from "../../../../test/support/upstream-errors.js";
import { issueVoucher, voidVoucher } from "../../../../test/support/blue-brothers.js";
import { startBlueBrothersSandbox, type BlueBrothersSandbox } from "../../../sandbox/blue-brothers-sandbox.js";
import { createBlueBrothersChannel } from "./channel.js";
import { VOUCHER_URL_MAX_LENGTH, VoucherAlreadyRedeemed, type SendChannel } from "../send-channel.js";

const credentials = { appId: "bb-test", appSecret: "bb-test-secret" };
let sequence = 0;
const freshOrder = () => `ORD${process.pid}${Date.now().toString(36)}${(sequence += 1)}`;
const issueInput = (outOrderNo: string) => ({ outOrderNo, templateId: "TPL-1", rightsCode: `R-${outOrderNo}`, customerRef: "customer-1" });

describe("Blue Brothers adapter against the Blue Brothers sandbox", () => {
  let sandbox: BlueBrothersSandbox;
  let channel: SendChannel;
  beforeAll(async () => {
    sandbox = await startBlueBrothersSandbox(credentials);
    channel = createBlueBrothersChannel({ baseUrl: sandbox.url, ...credentials, timeoutMs: 300 });
  });
  afterEach(() => sandbox.faults.clear());
  afterAll(async () => {
    await sandbox.close();
  });

  it("issues one voucher per outOrderNo, with a short redemption URL", async () => {
    const outOrderNo = freshOrder();
    const before = sandbox.calls.issue;
    const first = await issueVoucher(channel, issueInput(outOrderNo));
    expect(first.url).toBe(`${sandbox.url}/redeem/${first.voucherNo}`);
    expect(first.url.length).toBeLessThanOrEqual(VOUCHER_URL_MAX_LENGTH);
    expect(await issueVoucher(channel, issueInput(outOrderNo))).toEqual(first);
    expect(sandbox.calls.issue - before).toBe(2);
    expect(await sandbox.voucher(outOrderNo)).toMatchObject({ ...issueInput(outOrderNo), ...first, status: "NORMAL" });

    const other = await issueVoucher(channel, issueInput(freshOrder()));
    expect(other.voucherNo).not.toBe(first.voucherNo);
  });

  it("makes an order of n codes as n vouchers under <id>.1..<id>.n, each voidable by its own reference; a repeat answers the same", async () => {
    const id = freshOrder();
    const now = new Date();
    const order = {
      sendChannelOrderId: id, whaleTradeNo: `T${id}`, saleChannelId: "10002401", sendChannelId: "BB", saleChannelItemId: "item-1",
      productRef: "TPL-1", codeNum: 3, useTimes: 1, validStart: now, validEnd: now, createdAt: now,
    };
    const made = await channel.makeCodes(order);
    expect(made.map((code) => code.channelRef)).toEqual([`${id}.1`, `${id}.2`, `${id}.3`]);
    expect(new Set(made.map((code) => code.code)).size).toBe(3);
    expect(await channel.makeCodes(order)).toEqual(made);
    expect(await sandbox.voucher(`${id}.2`)).toMatchObject({ rightsCode: `T${id}`, customerRef: "10002401", status: "NORMAL" });
    const [, second] = made;
    if (!second) throw new Error("three codes expected");
    await channel.voidCode(second);
    expect((await sandbox.voucher(`${id}.2`))?.status).toBe("VOIDED");
    expect((await sandbox.voucher(`${id}.1`))?.status).toBe("NORMAL");
    await expect(channel.makeCodes({ ...order, sendChannelOrderId: "x".repeat(62), codeNum: 10 })).rejects.toMatchObject({ code: "INVALID_RESPONSE" });
  });

  it("refuses an outOrderNo reused for another template", async () => {
    const outOrderNo = freshOrder();
    await issueVoucher(channel, issueInput(outOrderNo));
    expect(await upstreamError(issueVoucher(channel, { ...issueInput(outOrderNo), templateId: "TPL-2" }))).toEqual({
      kind: "rejected",
      code: "40901",
      platform: "blue-brothers",
      operation: "issue",
    });
  });

  it("voids idempotently; a voided order cannot be issued again", async () => {
    const outOrderNo = freshOrder();
    const { voucherNo } = await issueVoucher(channel, issueInput(outOrderNo));
    const before = sandbox.calls.void;
    await voidVoucher(channel, { outOrderNo, voucherNo });
    await voidVoucher(channel, { outOrderNo, voucherNo });
    expect(sandbox.calls.void - before).toBe(2);
    expect(await sandbox.voucher(outOrderNo)).toMatchObject({ status: "VOIDED", voidedAt: expect.any(String) as string });
    expect(await upstreamError(issueVoucher(channel, issueInput(outOrderNo)))).toMatchObject({ kind: "rejected", code: "42202" });
    expect(await upstreamError(voidVoucher(channel, { outOrderNo, voucherNo: "BB0000" }))).toMatchObject({
      kind: "rejected",
      code: "40401",
    });
  });

  it("voids by order when the voucher number is unknown, and the late issue is refused", async () => {
    const outOrderNo = freshOrder();
    await voidVoucher(channel, { outOrderNo, voucherNo: "" });
    expect(await upstreamError(issueVoucher(channel, issueInput(outOrderNo)))).toMatchObject({ kind: "rejected", code: "42202" });
    expect(await sandbox.voucher(outOrderNo)).toBeUndefined();
  });

  it("a redeemed voucher cannot be voided: VoucherAlreadyRedeemed", async () => {
    const outOrderNo = freshOrder();
    const { voucherNo } = await issueVoucher(channel, issueInput(outOrderNo));
    expect(await sandbox.redeem(voucherNo)).toMatchObject({ status: "REDEEMED", redeemedAt: expect.any(String) as string });
    expect((await sandbox.redeem(voucherNo)).status).toBe("REDEEMED");
    const err = await voidVoucher(channel, { outOrderNo, voucherNo }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VoucherAlreadyRedeemed);
    expect((await sandbox.voucher(outOrderNo))?.status).toBe("REDEEMED");
    // Issue stays idempotent after redemption.
    expect((await issueVoucher(channel, issueInput(outOrderNo))).voucherNo).toBe(voucherNo);
    await expect(sandbox.redeem("BBUNKNOWN")).rejects.toThrow();
  });

  it("serves the redemption page; posting it redeems the voucher", async () => {
    const outOrderNo = freshOrder();
    const { url } = await issueVoucher(channel, issueInput(outOrderNo));
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("NORMAL");
    const redeemed = await fetch(url, { method: "POST", body: "" });
    expect(await redeemed.text()).toContain("REDEEMED");
    expect((await sandbox.voucher(outOrderNo))?.status).toBe("REDEEMED");
    expect((await fetch(`${sandbox.url}/redeem/BBNOSUCH`)).status).toBe(404);
  });

  it("fault fail: unavailable (HTTP 503), for `times` calls only", async () => {
    const outOrderNo = freshOrder();
    sandbox.faults.set("issue", { mode: "fail", times: 1 });
    expect(await upstreamError(issueVoucher(channel, issueInput(outOrderNo)))).toEqual({
      kind: "unavailable",
      code: "50301",
      platform: "blue-brothers",
      operation: "issue",
    });
    expect(await sandbox.voucher(outOrderNo)).toBeUndefined();
    await issueVoucher(channel, issueInput(outOrderNo));
  });

  it("fault delay: answers after the delay, or times out past the adapter's timeout", async () => {
    sandbox.faults.set("issue", { mode: "delay", delayMs: 100, times: 1 });
    const started = Date.now();
    await issueVoucher(channel, issueInput(freshOrder()));
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    sandbox.faults.set("void", { mode: "delay", delayMs: 2000, times: 1 });
    expect(await upstreamError(voidVoucher(channel, { outOrderNo: freshOrder(), voucherNo: "" }))).toMatchObject({ kind: "timeout" });
  });

  it("fault timeout: the adapter's timeout fires; the retry gets the voucher the lost call made", async () => {
    const outOrderNo = freshOrder();
    sandbox.faults.set("issue", { mode: "timeout", times: 1 });
    const started = Date.now();
    expect(await upstreamError(issueVoucher(channel, issueInput(outOrderNo)))).toMatchObject({ kind: "timeout", code: "TIMEOUT" });
    expect(Date.now() - started).toBeLessThan(2000);
    const made = await sandbox.voucher(outOrderNo);
    expect(made).toBeDefined();
    expect((await issueVoucher(channel, issueInput(outOrderNo))).voucherNo).toBe(made?.voucherNo);
  });

  it("a wrong secret is rejected (HTTP 401)", async () => {
    const forged = createBlueBrothersChannel({ baseUrl: sandbox.url, appId: credentials.appId, appSecret: "wrong", timeoutMs: 300 });
    expect(await upstreamError(issueVoucher(forged, issueInput(freshOrder())))).toMatchObject({ kind: "rejected", code: "40101" });
  });

  it("is driven over HTTP by the control endpoints", async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${sandbox.url}${path}`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(2000) });
    expect((await post("/_sandbox/faults", { op: "*", mode: "fail", times: 2 })).status).toBe(200);
    expect(await upstreamError(issueVoucher(channel, issueInput(freshOrder())))).toMatchObject({ kind: "unavailable" });
    expect(await upstreamError(voidVoucher(channel, { outOrderNo: freshOrder(), voucherNo: "" }))).toMatchObject({ kind: "unavailable" });

    expect((await post("/_sandbox/faults", { op: "issue", mode: "fail" })).status).toBe(200);
    expect((await fetch(`${sandbox.url}/_sandbox/faults`, { method: "DELETE" })).status).toBe(200);
    const outOrderNo = freshOrder();
    const { voucherNo } = await issueVoucher(channel, issueInput(outOrderNo));

    const redeemed = await post("/_sandbox/redeem", { voucherNo });
    expect(redeemed.status).toBe(200);
    expect(await redeemed.json()).toMatchObject({ voucherNo, status: "REDEEMED" });
    expect((await post("/_sandbox/redeem", { voucherNo: "BBNOSUCH" })).status).toBe(400);
    expect((await post("/_sandbox/redeem", {})).status).toBe(400);
  });
});

describe("Blue Brothers sandbox URLs", () => {
  it("builds voucher URLs on the public URL; the adapter refuses one above the contract's 125 characters", async () => {
    const longBase = `http://sandbox.example.com/${"x".repeat(100)}`;
    const sandbox = await startBlueBrothersSandbox({ ...credentials, publicUrl: longBase });
    try {
      const channel = createBlueBrothersChannel({ baseUrl: sandbox.url, ...credentials, timeoutMs: 300 });
      expect(await upstreamError(issueVoucher(channel, issueInput(freshOrder())))).toMatchObject({
        kind: "rejected",
        code: "INVALID_RESPONSE",
      });
    } finally {
      await sandbox.close();
    }
  });
});
