// The order's consumers as entry points: an event's bytes in, the store's change out (a fake store records it).
import { describe, expect, it } from "vitest";
import { createLogger } from "../common/logger.js";
import { eventOf } from "../common/events.js";
import type { Transaction } from "../common/database.js";
import type { EventDelivery } from "../common/consumer.js";
import { NotificationDeliveredSchema, VoucherRedeemedSchema } from "../../proto/gen/rights/events/v1/events_pb.js";
import { SERVICE_COMPLETE_TASK, orderConsumers } from "./consumers.js";
import type { OrderStore } from "./order-store.js";

// 2026-11-30 23:59:59.9995 in Asia/Shanghai, the last half-millisecond of November.
const LAST_SECOND = BigInt(Date.UTC(2026, 10, 30, 15, 59, 59) / 1000);

function consumersRecording() {
  const seen: { redeemedAt?: Date; completedAt?: Date } = {};
  const store = {
    recordVoucherRedeemed: async (_orderNo: string, usageTime: Date) => ((seen.redeemedAt = usageTime), "recorded" as const),
    complete: async (_orderNo: string, completedAt: Date) => ((seen.completedAt = completedAt), true),
  } as unknown as OrderStore;
  const consumers = orderConsumers(store, createLogger("test", "silent"));
  const deliver = async (durable: string, data: Uint8Array) => {
    const handler = consumers.find((c) => c.durable === durable)!.handlers[0]!;
    await handler.decode(data)({} as Transaction, {} as EventDelivery);
  };
  return { seen, deliver };
}

describe("order consumers", () => {
  it("keep an event's time within its millisecond: 23:59:59.9995 on a month's last day stays in that month", async () => {
    const { seen, deliver } = consumersRecording();
    const at = { seconds: LAST_SECOND, nanos: 999_500_000 };
    await deliver("order-voucher-redeemed", eventOf(VoucherRedeemedSchema, { orderNo: "O1", redeemedAt: at }).data);
    await deliver("order-notification-delivered", eventOf(NotificationDeliveredSchema, { orderNo: "O1", taskType: SERVICE_COMPLETE_TASK, deliveredAt: at }).data);
    const expected = "2026-11-30T15:59:59.999Z";
    expect(seen.redeemedAt?.toISOString()).toBe(expected);
    expect(seen.completedAt?.toISOString()).toBe(expected);
  });
});
