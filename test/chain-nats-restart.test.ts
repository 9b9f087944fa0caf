// NATS stopped mid-chain and started again (cluster only: a NATS server of this file's own, its JetStream store
// kept across the stop), on the real PostgreSQL and Redis: whatever was written while the bus was down waits in
// the outboxes and goes on once it is back. The order completes once, the ledger has one row, and PSBC is told
// once.
import { beforeAll, describe, expect, it } from "vitest";
import { NotificationDeliveredSchema, OrderBookedSchema, OrderCompletedSchema, OrderVoucherRedeemedSchema } from "../proto/gen/rights/events/v1/events_pb.js";
import { outboxEventsOf } from "./support/outbox-events.js";
import { freshCode, modes, PATHS, useTestPlatform, type TestPlatform } from "./support/platform.js";
import { until } from "./support/until.js";

/** Deadline of the chain once NATS is back: consumers reconnect and outbox relays retry with backoff (≤ 30 s). */
const AFTER_RESTART_MS = 60_000;
/** PSBC's acknowledgement is held this long in the second test, while NATS is stopped. */
const PSBC_DELAY_MS = 1_500;

describe.runIf(modes.includes("cluster"))("the redemption chain across a NATS restart (cluster)", () => {
  // PSBC's deadline well above the held acknowledgement: one notice, never a timed-out one and its retry.
  const chain = useTestPlatform("cluster", {
    upstreamTimeoutMs: PSBC_DELAY_MS * 4,
    env: { NOTIFY_POLL_MS: "50", NOTIFY_BACKOFF_BASE_MS: "50", NOTIFY_BACKOFF_MAX_MS: "500" },
  });
  let platform: TestPlatform;
  beforeAll(() => {
    platform = chain.platform;
  });

  async function book(): Promise<{ code: string; orderNo: string; url: string }> {
    const code = freshCode();
    const { body } = await platform.call(PATHS.appointment, { code });
    expect(body.code).toBe(0);
    return { code, orderNo: String((await platform.orderRow(code))?.order_no), url: String(body.data?.url) };
  }

  const redeem = async (url: string) => expect((await fetch(url, { method: "POST", body: "", signal: AbortSignal.timeout(10_000) })).status).toBe(200);

  const tasksOf = async (code: string) =>
    (await platform.db.query<{ state: number; attempts: number }>("SELECT state, attempts FROM notify.task WHERE code = $1", [code])).rows;

  /** Completed once: one delivered task, one PSBC notice, one order.completed, one ledger row. */
  async function expectCompletedOnce(order: { code: string; orderNo: string }, psbcCallsBefore: number): Promise<void> {
    await until(async () => (await platform.orderRow(order.code))?.status === 300, AFTER_RESTART_MS, `order ${order.code} completed`);
    await until(
      async () => (await platform.db.query("SELECT 1 FROM reconciliation.ledger WHERE order_no = $1", [order.orderNo])).rowCount === 1,
      AFTER_RESTART_MS,
      "the ledger row",
    );
    expect(await tasksOf(order.code)).toEqual([{ state: 2, attempts: 1 }]);
    expect((await platform.psbcSandbox.completions()).filter((completion) => completion.code === order.code)).toHaveLength(1);
    expect(platform.psbcSandbox.calls.complete - psbcCallsBefore).toBe(1);
    const orderEvents = await outboxEventsOf(platform.db, "orders", order.orderNo, [OrderBookedSchema, OrderVoucherRedeemedSchema, OrderCompletedSchema]);
    expect(orderEvents.map((entry) => entry.subject)).toEqual(["order.booked", "order.voucher_redeemed", "order.completed"]);
    expect((await outboxEventsOf(platform.db, "notify", order.orderNo, [NotificationDeliveredSchema])).map((entry) => entry.subject)).toEqual([
      "notify.delivered",
    ]);
    // Every outbox has published what it held, under the ids the consumers saw.
    const { rows } = await platform.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM vouchers.outbox WHERE published_at IS NULL) + (SELECT count(*) FROM orders.outbox WHERE published_at IS NULL)
            + (SELECT count(*) FROM notify.outbox WHERE published_at IS NULL) AS n`,
    );
    expect(Number(rows[0]?.n)).toBe(0);
  }

  it("a redemption while NATS is down is recorded, and completes the order once NATS is back", async () => {
    const order = await book();
    const psbcCalls = platform.psbcSandbox.calls.complete;
    const noticesBefore = platform.blueBrothersSandbox.notices.delivered;
    await chain.nats?.halt();
    await redeem(order.url);
    // The voucher service takes the notice without the bus: its voucher.redeemed waits in the outbox.
    await until(() => platform.blueBrothersSandbox.notices.delivered === noticesBefore + 1, 10_000, "the notice answered 0000");
    const { rows } = await platform.db.query<{ key_status: number }>("SELECT key_status FROM vouchers.voucher WHERE order_no = $1", [order.orderNo]);
    expect(rows).toEqual([{ key_status: 2 }]);
    expect(await platform.orderRow(order.code)).toMatchObject({ status: 200, key_status: 1 });

    await chain.nats?.resume();
    await expectCompletedOnce(order, psbcCalls);
  });

  it("NATS stopped while PSBC acknowledges: the delivery is recorded, and the order completes once NATS is back", async () => {
    const order = await book();
    const psbcCalls = platform.psbcSandbox.calls.complete;
    platform.psbcSandbox.faults.set("complete", { mode: "delay", delayMs: PSBC_DELAY_MS, times: 1 });
    try {
      await redeem(order.url);
      // The task is claimed and its notice is at PSBC, held there: now the bus goes.
      await until(async () => (await tasksOf(order.code)).some((task) => task.attempts === 1), 20_000, "the task claimed");
      await chain.nats?.halt();
      await until(async () => (await tasksOf(order.code))[0]?.state === 2, 20_000, "the delivery recorded");
      expect(await platform.orderRow(order.code)).toMatchObject({ status: 200, key_status: 2 });
    } finally {
      platform.psbcSandbox.faults.clear();
    }
    await chain.nats?.resume();
    await expectCompletedOnce(order, psbcCalls);
  });
});
