import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { RightsEnvelopeSchema, OrderService, type RightsEnvelope } from "../../proto/gen/rights/order/v1/order_pb.js";
import { errorDetailOf } from "../common/errors.js";
import { currentTraceId } from "../common/trace.js";
import type { Bookings } from "./bookings.js";
import { OrderError, orderError } from "./errors.js";
import type { OrderViews } from "./order-views.js";
import { orderServiceImpl } from "./routes.js";
import type { ServiceTypes } from "./service-types.js";

/** Details by the envelope's `request`: "ok-…" found, "gone-…" not found, "bug-…" a bug (a plain Error). */
const bookings = {
  async detail(envelope: RightsEnvelope) {
    const [kind, n] = envelope.request.split("-");
    if (kind === "gone") throw orderError(OrderError.ORDER_NOT_FOUND, "order not found");
    if (kind === "bug") throw new Error("secret internals");
    return { orderNo: `O${n}`, voucherUrl: `https://redeem.example/${n}`, backUrl: "", status: 200, keyStatus: 1 };
  },
} as unknown as Bookings;

function orderService() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ mixin: () => ({ traceId: currentTraceId() }) }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const impl = orderServiceImpl(bookings, {} as ServiceTypes, {} as OrderViews, logger);
  return { client: createClient(OrderService, createRouterTransport((router) => router.service(OrderService, impl))), lines };
}

const call = (request: string, traceId: string) => ({ envelope: create(RightsEnvelopeSchema, { type: "310001", request }), traceId });

describe("GetServiceDetails", () => {
  it("answers each call in order as GetServiceDetail would: a detail, or its code, message and ErrorDetail", async () => {
    const { client } = orderService();
    const { outcomes } = await client.getServiceDetails({ calls: [call("ok-1", "t1"), call("gone-2", "t2"), call("ok-3", "t3")] });
    expect(outcomes.map((o) => o.outcome.case)).toEqual(["detail", "failure", "detail"]);
    expect(outcomes[0]?.outcome.value).toMatchObject({ orderNo: "O1", url: "https://redeem.example/1", status: 200 });
    const alone = await client.getServiceDetail({ envelope: call("gone-2", "t").envelope }).catch((err: unknown) => ConnectError.from(err));
    expect(outcomes[1]?.outcome.value).toMatchObject({
      code: (alone as ConnectError).code,
      message: (alone as ConnectError).rawMessage,
      detail: { domain: errorDetailOf(alone)?.domain, reason: errorDetailOf(alone)?.reason },
    });
  });

  it("logs each call as GetServiceDetail's line under the call's traceId, a bug with its stack and no internals in the answer", async () => {
    const { client, lines } = orderService();
    const { outcomes } = await client.getServiceDetails({ calls: [call("ok-1", "trace-a"), call("bug-2", "trace-b"), call("gone-3", "bad trace!")] });
    expect(outcomes[1]?.outcome.value).toMatchObject({ code: Code.Internal, message: "internal error" });
    const rpcLines = lines.filter((line) => line.msg === "rpc");
    expect(rpcLines.map((line) => [line.rpc, line.code])).toEqual([
      ["rights.order.v1.OrderService/GetServiceDetail", "OK"],
      ["rights.order.v1.OrderService/GetServiceDetail", "Internal"],
      ["rights.order.v1.OrderService/GetServiceDetail", "NotFound"],
    ]);
    expect(rpcLines.slice(0, 2).map((line) => line.traceId)).toEqual(["trace-a", "trace-b"]);
    // A traceId no caller may hand us is replaced by a new one.
    expect(rpcLines[2]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    const bug = lines.find((line) => line.msg === "unhandled error in rpc handler");
    expect(bug).toMatchObject({ traceId: "trace-b", err: { message: "secret internals" } });
  });

  it("refuses no calls and more than 100 as a parameter error", async () => {
    const { client } = orderService();
    for (const count of [0, 101]) {
      const err = await client.getServiceDetails({ calls: Array.from({ length: count }, (_, n) => call(`ok-${n}`, "t")) }).catch((e: unknown) => ConnectError.from(e));
      expect(err).toBeInstanceOf(ConnectError);
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      expect(errorDetailOf(err)?.reason).toBe("ORDER_ERROR_PARAMETER_INVALID");
    }
    expect((await client.getServiceDetails({ calls: Array.from({ length: 100 }, (_, n) => call(`ok-${n}`, "t")) })).outcomes).toHaveLength(100);
  });
});
