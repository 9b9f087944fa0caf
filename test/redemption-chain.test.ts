// The redemption chain through the API, in both run modes: a customer redeems at the Blue Brothers sandbox, its
// signed notice reaches our gateway, the voucher and then the order record it (voucher.redeemed,
// order.voucher_redeemed), the notify service delivers the service-complete notice to the PSBC sandbox, and its
// notify.delivered completes the order once, whatever the sandbox sends again and whatever is re-published.
// Forged, unknown, replayed and duplicate notices; the status poll; expiry with two order-service instances.
import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Ajv, type ValidateFunction } from "ajv";
import { beforeAll, describe, expect, it } from "vitest";
import {
  NotificationDeliveredSchema,
  OrderCompletedSchema,
  OrderExpiredSchema,
  OrderVoucherRedeemedSchema,
  VoucherExpiredSchema,
  VoucherRedeemedSchema,
} from "../proto/gen/rights/events/v1/events_pb.js";
import { subjectOf } from "../services/common/events.js";
import { signatureHeaders } from "../services/common/signing.js";
import { SANDBOX_BLUE_BROTHERS } from "../services/sandbox/credentials.js";
import {
  BLUE_BROTHERS_CALLBACK_PREFIX,
  REDEMPTION_NOTICE_PATH,
  signedRedemptionNotice,
  type RedemptionNotice,
} from "../services/voucher/channels/blue-brothers/callback-wire.js";
import { freshCode, modes, PATHS, useTestPlatform, type TestPlatform } from "./support/platform.js";
import { until } from "./support/until.js";

// Every voucher's status is asked of the sandbox this often, and due orders are looked for this often, two at a time.
process.env.VOUCHER_STATUS_POLL_INTERVAL_MS = "300";
process.env.ORDER_EXPIRY_INTERVAL_MS = "300";
process.env.ORDER_EXPIRY_BATCH = "2";

const NOTICE_PATH = `${BLUE_BROTHERS_CALLBACK_PREFIX}${REDEMPTION_NOTICE_PATH}`;
const IN_EFFECT = { status: 400, code: 4, msg: "服务已生效无法取消" };

describe.each(modes)("the redemption chain (%s)", (mode) => {
  // A NATS of this file's own in the cluster mode: the chain's durables then see no other platform's events.
  const chain = useTestPlatform(mode);
  let platform: TestPlatform;
  let answerSchemas: Record<string, ValidateFunction>;
  beforeAll(async () => {
    platform = chain.platform;
    // Every answer to Blue Brothers is checked against the document the gateway serves for its contract.
    const document = (await (await fetch(`${platform.gatewayUrl}/docs/blue-brothers/openapi.json`)).json()) as {
      paths: Record<string, { post: { responses: Record<string, { content: Record<string, { schema: object }> }> } }>;
    };
    const ajv = new Ajv({ strict: false });
    const responses = document.paths[NOTICE_PATH]?.post.responses ?? {};
    answerSchemas = Object.fromEntries(
      Object.entries(responses).map(([status, response]) => [status, ajv.compile(response.content["application/json"]?.schema ?? {})]),
    );
  });

  async function book(code: string): Promise<{ orderNo: string; voucherNo: string; url: string }> {
    const { body } = await platform.call(PATHS.appointment, { code });
    expect(body.code).toBe(0);
    const row = await platform.orderRow(code);
    return { orderNo: String(row?.order_no), voucherNo: String(row?.voucher_no), url: String(body.data?.url) };
  }

  /** The events of `schema` an outbox holds about one order. */
  async function events<Desc extends DescMessage>(schema: Desc, outbox: string, orderNo: string): Promise<Array<MessageShape<Desc>>> {
    const { rows } = await platform.db.query<{ payload: Uint8Array }>(`SELECT payload FROM ${outbox} WHERE subject = $1 ORDER BY created_at`, [
      subjectOf(schema),
    ]);
    return rows.map((row) => fromBinary(schema, row.payload)).filter((event) => (event as { orderNo?: string }).orderNo === orderNo);
  }

  async function answerOf(response: Response): Promise<{ status: number; code: string; msg: string }> {
    return checkedAnswer(response.status, await response.json());
  }

  /** An answer to Blue Brothers, checked against the served document. */
  function checkedAnswer(status: number, answer: unknown): { status: number; code: string; msg: string } {
    const body = answer as { code: string; msg: string; traceId: string };
    const validate = answerSchemas[String(status)] ?? answerSchemas[`${String(status)[0]}XX`];
    expect(validate, `status ${status} is in the served document`).toBeDefined();
    expect(validate?.(body), JSON.stringify(validate?.errors)).toBe(true);
    expect(body.traceId.length).toBeGreaterThan(0);
    return { status, code: body.code, msg: body.msg };
  }

  function postNotice(signed: { body: string; headers: Record<string, string> }): Promise<Response> {
    return fetch(`${platform.gatewayUrl}${NOTICE_PATH}`, { method: "POST", ...signed, signal: AbortSignal.timeout(10_000) });
  }

  /** Any body (an object as JSON, a string as it is), signed with the sandbox's credentials. */
  function signedBody(body: object | string): { body: string; headers: Record<string, string> } {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return { body: text, headers: { "content-type": "application/json", ...signatureHeaders(SANDBOX_BLUE_BROTHERS, text, Date.now()) } };
  }

  function notice(voucher: { orderNo: string; voucherNo: string }, redeemedAt = "2026-10-20T10:15:30+08:00"): RedemptionNotice {
    return { noticeId: `N-${randomUUID()}`, voucherNo: voucher.voucherNo, outOrderNo: voucher.orderNo, status: "REDEEMED", redeemedAt };
  }

  async function publishDelivered(orderNo: string, code: string, deliveredAt: Date): Promise<string> {
    const id = randomUUID();
    const event = create(NotificationDeliveredSchema, { taskId: randomUUID(), taskType: 1, orderNo, code, deliveredAt: timestampFromDate(deliveredAt) });
    await platform.bus.publish(subjectOf(NotificationDeliveredSchema), id, toBinary(NotificationDeliveredSchema, event));
    return id;
  }

  /**
   * Publishes an outbox's event about an order again under a new id, as a re-published event; answers whether
   * `consumer` has handled it (recorded in its processed events).
   */
  async function republish(outbox: string, schema: DescMessage, orderNo: string, consumer: string, processed: string): Promise<() => Promise<boolean>> {
    const [event] = await events(schema, outbox, orderNo);
    expect(event).toBeDefined();
    const id = randomUUID();
    await platform.bus.publish(subjectOf(schema), id, toBinary(schema, event as MessageShape<DescMessage>));
    return async () => (await platform.db.query(`SELECT 1 FROM ${processed} WHERE consumer = $1 AND event_id = $2`, [consumer, id])).rowCount === 1;
  }

  it("a customer's redemption at the sandbox completes the order once: voucher, order, the notify service's delivery to PSBC", async () => {
    const code = freshCode();
    const voucher = await book(code);
    // As a customer would: the redemption page's button.
    expect((await fetch(voucher.url, { method: "POST", body: "" })).status).toBe(200);
    const redeemedAt = new Date(String((await platform.blueBrothersSandbox.voucherByNo(voucher.voucherNo))?.redeemedAt));

    await until(async () => (await platform.orderRow(code))?.status === 300, 10_000, "the order completed");
    const [task, ...moreTasks] = (
      await platform.db.query<{ delivered_at: Date }>("SELECT delivered_at FROM notify.task WHERE code = $1 AND state = 2", [code])
    ).rows;
    expect(moreTasks).toHaveLength(0);
    const deliveredAt = task?.delivered_at;
    expect(deliveredAt).toBeInstanceOf(Date);
    expect(await platform.orderRow(code)).toMatchObject({ status: 300, key_status: 2, key_usage_time: redeemedAt, completed_at: deliveredAt });
    const [voucherRedeemed, ...moreVoucherRedeemed] = await events(VoucherRedeemedSchema, "vouchers.outbox", voucher.orderNo);
    expect(moreVoucherRedeemed).toHaveLength(0);
    expect(voucherRedeemed?.redeemedAt && timestampDate(voucherRedeemed.redeemedAt)).toEqual(redeemedAt);
    const redeemedEvents = await events(OrderVoucherRedeemedSchema, "orders.outbox", voucher.orderNo);
    expect(redeemedEvents).toHaveLength(1);
    expect(redeemedEvents[0]).toMatchObject({ code, type: "310001" });
    expect(redeemedEvents[0]?.psbcOrderNo).not.toBe("");
    // The sandbox's notice was answered success (whether it or the status poll recorded the redemption first).
    await until(() => platform.blueBrothersSandbox.notices.delivered > 0, 10_000, "the sandbox's notice answered 0000");

    // The notify service's very event again (dropped by the duplicate window or the processed-event record), and
    // the delivery re-published under a new id with another time: neither completes the order a second time.
    const { rows: delivered } = await platform.db.query<{ id: string; payload: Uint8Array }>(
      "SELECT id, payload FROM notify.outbox WHERE subject = $1",
      [subjectOf(NotificationDeliveredSchema)],
    );
    const notifyEvent = delivered.find((row) => fromBinary(NotificationDeliveredSchema, row.payload).code === code);
    expect(notifyEvent).toBeDefined();
    if (notifyEvent) await platform.bus.publish(subjectOf(NotificationDeliveredSchema), notifyEvent.id, notifyEvent.payload);
    const secondId = await publishDelivered(voucher.orderNo, code, new Date("2026-10-21T00:00:00Z"));
    await until(
      async () =>
        (await platform.db.query("SELECT 1 FROM orders.processed_event WHERE consumer = 'order-notification-delivered' AND event_id = $1", [secondId]))
          .rowCount === 1,
      10_000,
      "the re-published delivery handled",
    );
    const completed = await events(OrderCompletedSchema, "orders.outbox", voucher.orderNo);
    expect(completed).toHaveLength(1);
    expect(completed[0]).toMatchObject({
      code,
      type: "310001",
      serviceName: "sandbox rights service",
      providerCode: "A101",
      provinceInstNo: "100000",
      instType: "01",
      keyStatus: 2,
    });
    expect(completed[0]?.completedAt && timestampDate(completed[0].completedAt)).toEqual(deliveredAt);
    expect(completed[0]?.bookedAt).toBeDefined();
    expect(await platform.orderRow(code)).toMatchObject({ completed_at: deliveredAt });

    // The sandbox sends its notice again: the very request (a replay: refused) and signed anew (Blue Brothers'
    // retry: success). The voucher's redemption and then the order's, re-published under new ids. None of it
    // changes the voucher, the order, or tells PSBC again.
    const psbcCalls = platform.psbcSandbox.calls.complete;
    const resent = async (how: "replay" | "retry") => {
      const { status, body } = await platform.blueBrothersSandbox.resendNotice(voucher.voucherNo, how);
      return checkedAnswer(status, body);
    };
    expect(await resent("replay")).toEqual({ status: 409, code: "4090", msg: "notice replayed" });
    expect(await resent("retry")).toEqual({ status: 200, code: "0000", msg: "success" });
    const republished = await Promise.all([
      republish("vouchers.outbox", VoucherRedeemedSchema, voucher.orderNo, "order-voucher-redeemed", "orders.processed_event"),
      republish("orders.outbox", OrderVoucherRedeemedSchema, voucher.orderNo, "notify-order-voucher-redeemed", "notify.processed_event"),
    ]);
    await until(async () => (await Promise.all(republished.map((handled) => handled()))).every(Boolean), 10_000, "the re-published events handled");
    expect(await events(VoucherRedeemedSchema, "vouchers.outbox", voucher.orderNo)).toHaveLength(1);
    expect(await events(OrderVoucherRedeemedSchema, "orders.outbox", voucher.orderNo)).toHaveLength(1);
    expect((await platform.db.query("SELECT 1 FROM notify.task WHERE code = $1", [code])).rowCount).toBe(1);
    expect(platform.psbcSandbox.calls.complete).toBe(psbcCalls);
    expect(await platform.orderRow(code)).toMatchObject({ status: 300, key_status: 2, key_usage_time: redeemedAt, completed_at: deliveredAt });

    // A completed order still answers its URL, and cannot be cancelled.
    const detail = await platform.call(PATHS.detail, { code });
    expect(detail.body).toMatchObject({ code: 0, data: { url: voucher.url } });
    expect(await platform.call(PATHS.cancel, { code }).then(({ status, body }) => ({ status, code: body.code, msg: body.msg }))).toEqual(IN_EFFECT);
  });

  it("forged, malformed, unknown, replayed and duplicate notices each get their answer and change nothing", async () => {
    const code = freshCode();
    const voucher = await book(code);
    const first = notice(voucher);
    const liveVoucher = { status: 200, key_status: 1 };

    const forged = signedRedemptionNotice({ appId: SANDBOX_BLUE_BROTHERS.appId, appSecret: "not-the-secret" }, first);
    expect(await answerOf(await postNotice(forged))).toEqual({ status: 401, code: "4010", msg: "signature invalid" });
    const unsigned = { body: JSON.stringify(first), headers: { "content-type": "application/json" } };
    expect(await answerOf(await postNotice(unsigned))).toEqual({ status: 401, code: "4010", msg: "signature invalid" });
    const stale = signedRedemptionNotice(SANDBOX_BLUE_BROTHERS, first, Date.now() - 10 * 60_000);
    expect(await answerOf(await postNotice(stale))).toEqual({ status: 401, code: "4010", msg: "signature invalid" });
    const tampered = signedRedemptionNotice(SANDBOX_BLUE_BROTHERS, first);
    expect(await answerOf(await postNotice({ ...tampered, body: tampered.body.replace(first.noticeId, "N-other") }))).toMatchObject({ code: "4010" });

    const malformed = signedRedemptionNotice(SANDBOX_BLUE_BROTHERS, { ...first, redeemedAt: "yesterday" });
    expect(await answerOf(await postNotice(malformed))).toEqual({ status: 400, code: "4000", msg: "parameter invalid" });
    // Signed but not what the contract says: no type coerced (a status in an array), no prototype key taken.
    const coerced = signedBody({ ...first, status: [first.status] });
    expect(await answerOf(await postNotice(coerced))).toEqual({ status: 400, code: "4000", msg: "parameter invalid" });
    const poisoned = signedBody(`{"__proto__":{"status":"REDEEMED"},${JSON.stringify(first).slice(1)}`);
    expect(await answerOf(await postNotice(poisoned))).toEqual({ status: 400, code: "4000", msg: "parameter invalid" });
    const unknown = signedRedemptionNotice(SANDBOX_BLUE_BROTHERS, { ...first, voucherNo: "BBNOSUCHVOUCHER" });
    expect(await answerOf(await postNotice(unknown))).toEqual({ status: 404, code: "4040", msg: "voucher not found" });
    // Refused notices leave no nonce behind: the refusal changed nothing.
    const nonces = await platform.db.query("SELECT 1 FROM vouchers.notice_nonce WHERE nonce = $1", [unknown.headers["x-nonce"]]);
    expect(nonces.rowCount).toBe(0);
    expect(await platform.orderRow(code)).toMatchObject(liveVoucher);
    expect(await events(VoucherRedeemedSchema, "vouchers.outbox", voucher.orderNo)).toHaveLength(0);

    const accepted = signedRedemptionNotice(SANDBOX_BLUE_BROTHERS, first);
    expect(await answerOf(await postNotice(accepted))).toEqual({ status: 200, code: "0000", msg: "success" });
    await until(async () => (await platform.orderRow(code))?.key_status === 2, 10_000, "the order's key status 2");
    expect(await platform.orderRow(code)).toMatchObject({ key_usage_time: new Date(first.redeemedAt) });

    // The very same request again is a replay; Blue Brothers' retry (new nonce, same notice) or another notice
    // of the redeemed voucher succeeds and changes nothing.
    expect(await answerOf(await postNotice(accepted))).toEqual({ status: 409, code: "4090", msg: "notice replayed" });
    expect(await answerOf(await postNotice(signedRedemptionNotice(SANDBOX_BLUE_BROTHERS, first)))).toMatchObject({ code: "0000" });
    const later = notice(voucher, "2026-10-21T09:00:00+08:00");
    expect(await answerOf(await postNotice(signedRedemptionNotice(SANDBOX_BLUE_BROTHERS, later)))).toMatchObject({ code: "0000" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await events(VoucherRedeemedSchema, "vouchers.outbox", voucher.orderNo)).toHaveLength(1);
    expect(await events(OrderVoucherRedeemedSchema, "orders.outbox", voucher.orderNo)).toHaveLength(1);
    expect(await platform.orderRow(code)).toMatchObject({ key_usage_time: new Date(first.redeemedAt) });

    const wrongPath = await fetch(`${platform.gatewayUrl}${BLUE_BROTHERS_CALLBACK_PREFIX}/nothing`, { method: "POST" });
    expect(await answerOf(wrongPath)).toMatchObject({ status: 404, code: "4000" });
  });

  it("the status poll finds a redemption whose notice never came", async () => {
    const code = freshCode();
    const voucher = await book(code);
    platform.blueBrothersSandbox.callbacks.enabled = false;
    try {
      const { redeemedAt } = await platform.blueBrothersSandbox.redeem(voucher.voucherNo);
      await until(async () => (await platform.orderRow(code))?.key_status === 2, 10_000, "the redemption found by the poll");
      const order = await platform.orderRow(code);
      expect(order).toMatchObject({ key_usage_time: new Date(String(redeemedAt)) });
      // Booked, or already completed: the chain goes on from the redemption at once (PSBC's notice, status 300).
      expect([200, 300]).toContain(order?.status);
      expect(await events(OrderVoucherRedeemedSchema, "orders.outbox", voucher.orderNo)).toHaveLength(1);
    } finally {
      platform.blueBrothersSandbox.callbacks.enabled = true;
    }
  });

  it("expires due orders once with two whole order-service instances running the job at once; a completed order stays completed", async () => {
    const codes = Array.from({ length: 6 }, () => freshCode());
    // One after another: bookings all at once on a loaded machine would outlast the sandboxes' 1 s deadline.
    const vouchers: Array<Awaited<ReturnType<typeof book>>> = [];
    for (const code of codes) vouchers.push(await book(code));
    const redeemedCode = freshCode();
    const redeemed = await book(redeemedCode);
    await platform.blueBrothersSandbox.redeem(redeemed.voucherNo);
    await until(async () => (await platform.orderRow(redeemedCode))?.status === 300, 30_000, "the redeemed order completed");

    // A second order service on the same database, bus and lock, as a second replica: both jobs take two due
    // orders per round, so they work through the six side by side.
    const second = await platform.startReplica("order");
    try {
      const voids = platform.blueBrothersSandbox.calls.void;
      await platform.db.query("UPDATE orders.rights_order SET expire_at = now() - interval '1 minute' WHERE code = ANY($1)", [[...codes, redeemedCode]]);
      for (const code of codes) await until(async () => (await platform.orderRow(code))?.status === 500, 20_000, `order ${code} expired`);
      // Each voucher voided at Blue Brothers once, and key status 4 at the voucher service.
      expect(platform.blueBrothersSandbox.calls.void - voids).toBe(codes.length);
      const { rows } = await platform.db.query<{ key_status: number }>("SELECT key_status FROM vouchers.voucher WHERE order_no = ANY($1)", [
        vouchers.map((voucher) => voucher.orderNo),
      ]);
      expect(rows.map((row) => row.key_status)).toEqual(codes.map(() => 4));
    } finally {
      await second.close();
    }

    for (const [i, voucher] of vouchers.entries()) {
      expect(await platform.orderRow(codes[i] ?? "")).toMatchObject({ status: 500, key_status: 4 });
      expect(await events(OrderExpiredSchema, "orders.outbox", voucher.orderNo)).toHaveLength(1);
      expect(await events(VoucherExpiredSchema, "vouchers.outbox", voucher.orderNo)).toHaveLength(1);
      expect((await platform.blueBrothersSandbox.voucherByNo(voucher.voucherNo))?.status).toBe("VOIDED");
    }
    const detail = await platform.call(PATHS.detail, { code: codes[0] });
    expect({ status: detail.status, code: detail.body.code, msg: detail.body.msg }).toEqual({ status: 400, code: 4, msg: "服务已过期" });
    expect(await platform.orderRow(redeemedCode)).toMatchObject({ status: 300, key_status: 2 });
  }, 90_000);
});
