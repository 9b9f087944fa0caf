// The order service's operator reads, through its RPC: one order by code, and the redeemed orders PSBC has not
// acknowledged (what batch re-push works on).
import { createClient, type Client } from "@connectrpc/connect";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reasonOf } from "../services/common/errors.js";
import { OrderError, OrderErrorSchema } from "../services/order/errors.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { OrderService } from "../proto/gen/rights/order/v1/order_pb.js";
import { freshCode, modes, PATHS, startTestPlatform, type TestPlatform } from "./support/platform.js";

describe.each(modes)("operator reads of orders (%s)", (mode) => {
  let platform: TestPlatform;
  let orders: Client<typeof OrderService>;
  beforeAll(async () => {
    platform = await startTestPlatform(mode);
    orders = createClient(OrderService, rpcTransport(platform.serviceUrl("order")));
  });
  afterAll(async () => {
    await platform?.close();
  });

  async function book(): Promise<string> {
    const code = freshCode();
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
    return code;
  }

  /** As the redemption chain will leave it: voucher redeemed at `usage`, PSBC not told yet. */
  async function markRedeemed(code: string, usage: Date): Promise<void> {
    await platform.db.query("UPDATE orders.rights_order SET key_status = 2, key_usage_time = $2 WHERE code = $1", [code, usage]);
  }

  it("shows an order by its rights code, without its secrets", async () => {
    const code = await book();
    const { order } = await orders.getOrder({ code });
    expect(order).toMatchObject({ code, type: "310001", status: 200, keyStatus: 1 });
    expect(order?.orderNo).toMatch(/^\d{27}$/);
    expect(order?.bookedAt && timestampDate(order.bookedAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(Object.values(order ?? {}).filter((value) => typeof value === "string").join(" ")).not.toMatch(/http/);
    const missing = await orders.getOrder({ code: freshCode() }).catch((err: unknown) => err);
    expect(reasonOf(missing, OrderErrorSchema)).toBe(OrderError.ORDER_NOT_FOUND);
  });

  it("finds redeemed, unacknowledged orders by codes or by usage time, at most the limit", async () => {
    const [a, b, notRedeemed] = [await book(), await book(), await book()];
    const base = new Date("2031-03-10T02:00:00Z");
    await markRedeemed(a, base);
    await markRedeemed(b, new Date(base.getTime() + 60_000));

    const byCodes = await orders.findRedeemedUncompleted({ codes: [a, b, notRedeemed], limit: 10 });
    expect(byCodes.orders.map((o) => o.code)).toEqual([a, b]);
    expect(byCodes.orders[0]?.keyStatus).toBe(2);

    const range = { usageStart: timestampFromDate(base), usageEnd: timestampFromDate(new Date(base.getTime() + 60_000)) };
    expect((await orders.findRedeemedUncompleted({ ...range, limit: 10 })).orders.map((o) => o.code)).toEqual([a, b]);
    expect((await orders.findRedeemedUncompleted({ ...range, limit: 1 })).orders.map((o) => o.code)).toEqual([a]);
  });

  it.each([
    ["neither codes nor a range", { limit: 5 }],
    ["both", { codes: ["X"], usageStart: timestampFromDate(new Date()), usageEnd: timestampFromDate(new Date()), limit: 5 }],
    ["no limit", { codes: ["X"] }],
  ])("refuses a query with %s", async (_, query) => {
    expect(reasonOf(await orders.findRedeemedUncompleted(query).catch((err: unknown) => err), OrderErrorSchema)).toBe(OrderError.PARAMETER_INVALID);
  });
});
