import { beforeAll, describe, expect, it } from "vitest";
import { createCipheriv } from "node:crypto";
import { SANDBOX_PSBC_OFFER } from "../services/sandbox/credentials.js";
import { SANDBOX_AES, freshCode, modes, PATHS, useTestPlatform, type TestPlatform } from "./support/platform.js";

const PARAM_ERROR = { code: 2, msg: "参数错误" };

function encryptRaw(plain: string, key = SANDBOX_AES.key): string {
  const cipher = createCipheriv("aes-128-cbc", Buffer.from(key, "latin1"), Buffer.from(SANDBOX_AES.iv, "latin1"));
  return Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]).toString("base64");
}

describe.each(modes)("PSBC rights flows through the gateway (%s)", (mode) => {
  // A NATS of this file's own in cluster mode: the outbox test reads the ORDER stream from its start through a
  // new durable, which on the shared server means every event other files (and benchmarks) ever published.
  const chain = useTestPlatform(mode);
  let platform: TestPlatform;
  beforeAll(() => {
    platform = chain.platform;
  });

  async function book(code: string) {
    const { status, body } = await platform.call(PATHS.appointment, { code });
    expect({ status, code: body.code, msg: body.msg }).toEqual({ status: 200, code: 0, msg: "成功" });
    return body.data as { url: string; tranChnl: string; instType: string; backUrl: string };
  }

  it("books a service, and a repeated appointment returns the same URL without booking again", async () => {
    const code = freshCode();
    const first = await book(code);
    expect(first).toMatchObject({ tranChnl: "12", instType: "01", backUrl: "https://mobile.psbc.com/back" });
    expect(first.url.length).toBeGreaterThan(0);
    expect(first.url.length).toBeLessThanOrEqual(125);
    const booked = platform.psbcSandbox.calls.book;
    const issued = platform.blueBrothersSandbox.calls.issue;

    const again = await book(code);
    expect(again.url).toBe(first.url);
    expect(platform.psbcSandbox.calls.book).toBe(booked);
    expect(platform.blueBrothersSandbox.calls.issue).toBe(issued);
    expect(await platform.psbcSandbox.statusOf(code)).toBe("BOOKED");
    expect(await platform.orderRow(code)).toMatchObject({ status: 200, key_status: 1, voucher_url: first.url });
  });

  /** The code orders of the sale channel PSBC under an order number, with their made codes. */
  async function codeOrdersOf(orderNo: string) {
    const { rows } = await platform.db.query<{ trade_no: string; status: string; template_id: string; codes: string[] | null }>(
      `SELECT o.trade_no, o.status, o.template_id::text,
              (SELECT array_agg(m.code ORDER BY m.seq) FROM vouchers.made_code m WHERE m.trade_no = o.trade_no) AS codes
         FROM vouchers.code_order o JOIN vouchers.sale_channel s ON s.sale_channel_id::text = o.sale_channel_id
        WHERE s.name = 'PSBC' AND o.sale_channel_order_id = $1`,
      [orderNo],
    );
    return rows;
  }

  it("makes a booking's voucher as a code order of the sale channel PSBC: its made code is the voucher, made at Blue Brothers under its tradeNo", async () => {
    const code = freshCode();
    // The first try fails at Blue Brothers; the retry is the same code order, asked under the same tradeNo.
    platform.blueBrothersSandbox.faults.set("issue", { mode: "fail", times: 1 });
    expect((await platform.call(PATHS.appointment, { code })).body).toMatchObject({ code: 1 });
    const { url } = await book(code);
    const row = await platform.orderRow(code);
    const orders = await codeOrdersOf(String(row?.order_no));
    expect(orders).toEqual([{ trade_no: expect.any(String) as string, status: "MADE", template_id: SANDBOX_PSBC_OFFER.templateId, codes: [row?.voucher_no] }]);
    const { rows: vouchers } = await platform.db.query(`SELECT trade_no, channel_ref, send_channel FROM vouchers.voucher WHERE order_no = $1`, [row?.order_no]);
    expect(vouchers).toEqual([{ trade_no: orders[0]?.trade_no, channel_ref: orders[0]?.trade_no, send_channel: "BLUE_BROTHERS" }]);
    expect(await platform.blueBrothersSandbox.voucherByNo(String(row?.voucher_no))).toMatchObject({
      outOrderNo: orders[0]?.trade_no,
      templateId: SANDBOX_PSBC_OFFER.productId,
      rightsCode: code,
      url,
      status: "NORMAL",
    });
  });

  it("shows the detail of a booked service and answers orderNotFound for an unknown code", async () => {
    const code = freshCode();
    const { url } = await book(code);
    const detail = await platform.call(PATHS.detail, { code });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ code: 0, msg: "成功", data: { url, backUrl: "https://mobile.psbc.com/back" } });

    const unknown = await platform.call(PATHS.detail, { code: freshCode() });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ code: 1, msg: "订单不存在" });
  });

  it("answers the expired points PSBC reports", async () => {
    const { status, body } = await platform.call(PATHS.expiredPoints, { code: freshCode() });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      code: 0,
      data: { tranIntglNum: 1000, ovdueIntglNum: 200, noticeMsg: "您有200幸福点已过期取消后将无法退回" },
    });
  });

  it("cancels a booked service: voucher voided, PSBC cancelled, status 400; a repeat and a re-booking are refused", async () => {
    const code = freshCode();
    await book(code);
    const cancel = await platform.call(PATHS.cancel, { code });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ code: 0, msg: "成功", data: { tranChnl: "12", instType: "01" } });
    const row = await platform.orderRow(code);
    expect(row).toMatchObject({ status: 400, key_status: 3 });
    expect(await platform.psbcSandbox.statusOf(code)).toBe("CANCELLED");
    expect(await platform.blueBrothersSandbox.voucherByNo(String(row?.voucher_no))).toMatchObject({ status: "VOIDED" });

    const again = await platform.call(PATHS.cancel, { code });
    expect(again.status).toBe(400);
    expect(again.body).toMatchObject({ code: 4, msg: "服务已取消" });
    const rebook = await platform.call(PATHS.appointment, { code });
    expect(rebook.status).toBe(400);
    expect(rebook.body).toMatchObject({ code: 4, msg: "服务已取消" });
  });

  it("refuses to cancel a service whose voucher was redeemed (服务已生效无法取消)", async () => {
    const code = freshCode();
    await book(code);
    const row = await platform.orderRow(code);
    await platform.blueBrothersSandbox.redeem(String(row?.voucher_no));
    const cancel = await platform.call(PATHS.cancel, { code });
    expect(cancel.status).toBe(400);
    expect(cancel.body).toMatchObject({ code: 4, msg: "服务已生效无法取消" });
    // Recorded redeemed and not cancelled; the redemption chain may already have completed it (300).
    const after = await platform.orderRow(code);
    expect(after).toMatchObject({ key_status: 2 });
    expect([200, 300]).toContain(after?.status);
  });

  it("refuses to cancel a service PSBC reports completed (服务已生效无法取消)", async () => {
    const code = freshCode();
    await book(code);
    await platform.psbcSandbox.setStatus(code, "COMPLETED");
    const cancel = await platform.call(PATHS.cancel, { code });
    expect(cancel.status).toBe(400);
    expect(cancel.body).toMatchObject({ code: 4, msg: "服务已生效无法取消" });
  });

  it("answers 服务已过期 for an expired rights code, on cancel and on appointment", async () => {
    const code = freshCode();
    await book(code);
    await platform.db.query("UPDATE orders.rights_order SET expire_at = now() - interval '1 day' WHERE code = $1", [code]);
    const cancel = await platform.call(PATHS.cancel, { code });
    expect(cancel.status).toBe(400);
    expect(cancel.body).toMatchObject({ code: 4, msg: "服务已过期" });
    expect(await platform.orderRow(code)).toMatchObject({ status: 500 });

    const unbooked = freshCode();
    platform.blueBrothersSandbox.faults.set("issue", { mode: "fail", times: 1 });
    expect((await platform.call(PATHS.appointment, { code: unbooked })).body.code).toBe(1);
    await platform.db.query("UPDATE orders.rights_order SET expire_at = now() - interval '1 second' WHERE code = $1", [unbooked]);
    const appointment = await platform.call(PATHS.appointment, { code: unbooked });
    expect(appointment.body).toMatchObject({ code: 4, msg: "服务已过期" });
  });

  it("answers PSBC's cancel of an unknown code as orderNotFound", async () => {
    const cancel = await platform.call(PATHS.cancel, { code: freshCode() });
    expect(cancel.status).toBe(400);
    expect(cancel.body).toMatchObject({ code: 1, msg: "订单不存在" });
  });

  it.each(Object.values(PATHS))("answers an unknown service type with 暂不支持此服务 on %s", async (path) => {
    const { status, body } = await platform.call(path, { code: freshCode(), type: "999999" });
    expect(status).toBe(400);
    expect(body).toMatchObject({ code: 4, msg: "暂不支持此服务" });
  });

  it("answers every malformed request with the same parameter error, on every route", async () => {
    const code = freshCode();
    await book(code);
    const valid = Buffer.from(encryptRaw(`type=310001&code=${code}&mac=M`), "base64");
    const badPadding = Buffer.from(valid);
    badPadding[badPadding.length - 1] = (badPadding[badPadding.length - 1] ?? 0) ^ 0x5a;
    const requests = [
      "@@not base64@@",
      encryptRaw(`type=310001&code=${code}&mac=M`, "wrong-key-000000"),
      badPadding.toString("base64"),
      encryptRaw("just some text"),
      encryptRaw("type=310001&mac=M"),
      encryptRaw(`type=310002&code=${code}&mac=M`),
    ];
    const answers = new Set<string>();
    for (const path of Object.values(PATHS)) {
      for (const request of requests) {
        const { status, body } = await platform.call(path, { request });
        answers.add(JSON.stringify({ status, code: body.code, msg: body.msg, data: body.data }));
      }
    }
    expect([...answers]).toEqual([JSON.stringify({ status: 400, ...PARAM_ERROR })]);
    // nothing changed for the booked code
    expect(await platform.orderRow(code)).toMatchObject({ status: 200 });
  });

  it("rejects envelopes that break the schema with the parameter error", async () => {
    const cases: Array<Record<string, unknown>> = [
      { channel: "99" },
      { tranChnl: 12 },
      { instType: "03" },
      { type: "3100011" },
      { provinceInstNo: "1".repeat(21) },
      { backUrl: "h".repeat(257) },
      { request: undefined },
    ];
    for (const body of cases) {
      const { status, body: answer } = await platform.call(PATHS.appointment, { code: freshCode(), body });
      expect({ body, status, code: answer.code, msg: answer.msg }).toEqual({ body, status: 400, ...PARAM_ERROR });
    }
  });

  it("books once when 50 appointments of one new code arrive at once", async () => {
    const code = freshCode();
    const booked = platform.psbcSandbox.calls.book;
    const issued = platform.blueBrothersSandbox.calls.issue;
    const answers = await Promise.all(Array.from({ length: 50 }, () => platform.call(PATHS.appointment, { code })));
    const codes = answers.map((a) => a.body.code);
    expect(codes.every((c) => c === 0 || c === 4)).toBe(true);
    const urls = new Set(answers.filter((a) => a.body.code === 0).map((a) => String(a.body.data?.url)));
    expect(urls.size).toBe(1);
    expect(platform.psbcSandbox.calls.book - booked).toBe(1);
    expect(platform.blueBrothersSandbox.calls.issue - issued).toBe(1);
    const { rows } = await platform.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM vouchers.voucher v JOIN orders.rights_order o ON o.order_no = v.order_no WHERE o.code = $1",
      [code],
    );
    expect(rows[0]?.n).toBe(1);
    expect((await codeOrdersOf(String((await platform.orderRow(code))?.order_no))).map((order) => order.codes?.length)).toEqual([1]);
    const traceIds = new Set(answers.map((a) => a.body.traceId));
    expect(traceIds.size).toBe(50);
  });

  it("publishes order.booked and order.cancelled through the outbox", async () => {
    const code = freshCode();
    const seen: string[] = [];
    const subscription = await platform.bus.subscribe({
      durable: `test-${code}`,
      subjects: ["order.>"],
      handler: async (message) => {
        if (Buffer.from(message.data).includes(Buffer.from(code))) seen.push(message.subject);
      },
    });
    try {
      await book(code);
      await platform.call(PATHS.cancel, { code });
      await expect.poll(() => seen, { timeout: 10_000 }).toEqual(["order.booked", "order.cancelled"]);
    } finally {
      await subscription.stop();
    }
  });
});
