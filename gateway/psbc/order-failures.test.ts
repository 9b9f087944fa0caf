import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { OrderError, orderError } from "../../services/order/errors.js";
import { VoucherError, voucherError } from "../../services/voucher/errors.js";
import {
  buildTestGateway,
  CIPHERTEXT,
  expectAnswer,
  fakeOrderService,
  logLines,
  logs,
  ROUTES,
  useTestGateway,
  validBody,
  type Envelope,
} from "../../test/support/gateway.js";
import { PATHS } from "../../test/support/platform.js";

const [APPOINTMENT, CANCEL, EXPIRED_POINTS, DETAIL] = [PATHS.appointment, PATHS.cancel, PATHS.expiredPoints, PATHS.detail];
const gateway = useTestGateway({ callTimeoutMs: 200 });

describe("PSBC routes: the order service's failures", () => {
  const business: Array<[string, OrderError, number, number, string]> = [
    ["PARAMETER_INVALID", OrderError.PARAMETER_INVALID, 400, 2, "参数错误"],
    ["SERVICE_NOT_SUPPORTED", OrderError.SERVICE_NOT_SUPPORTED, 400, 4, "暂不支持此服务"],
    ["SERVICE_EXPIRED", OrderError.SERVICE_EXPIRED, 400, 4, "服务已过期"],
    ["SERVICE_IN_EFFECT", OrderError.SERVICE_IN_EFFECT, 400, 4, "服务已生效无法取消"],
    ["SERVICE_CANCELLED", OrderError.SERVICE_CANCELLED, 400, 4, "服务已取消"],
    ["SERVICE_NOT_BOOKED", OrderError.SERVICE_NOT_BOOKED, 400, 4, "服务未预约"],
    ["REQUEST_IN_PROGRESS", OrderError.REQUEST_IN_PROGRESS, 400, 4, "请求处理中,请稍后重试"],
    ["ORDER_NOT_FOUND", OrderError.ORDER_NOT_FOUND, 400, 1, "订单不存在"],
  ];

  for (const url of ROUTES) {
    it.each(business)(`${url}: %s`, async (_name, reason, httpStatus, code, msg) => {
      fakeOrderService.failure = orderError(reason, "from the order service");
      expectAnswer(url, await gateway.post(url, validBody), httpStatus, code, msg);
    });

    const systemMsg = url === EXPIRED_POINTS ? "查询失败,请重试" : "系统异常";
    it.each([
      ["UPSTREAM_FAILED", orderError(OrderError.UPSTREAM_FAILED, "upstream timed out")],
      ["another domain's reason", voucherError(VoucherError.REDEEMED, "passed through")],
      ["no reason", new ConnectError("no detail", Code.FailedPrecondition)],
      ["Unavailable", new ConnectError("down", Code.Unavailable)],
      ["Internal", new ConnectError("bug", Code.Internal)],
      ["a plain Error in the service", new Error("bug")],
    ])(`${url}: %s is HTTP 500, code 1, ${systemMsg}`, async (_name, failure) => {
      fakeOrderService.failure = failure;
      expectAnswer(url, await gateway.post(url, validBody), 500, 1, systemMsg);
    });
  }

  it("a call over its deadline is a system error", async () => {
    fakeOrderService.delayMs = 1_000;
    const started = Date.now();
    expectAnswer(DETAIL, await gateway.post(DETAIL, validBody), 500, 1, "系统异常");
    expect(Date.now() - started).toBeLessThan(900);
  });

  it("without a deadline of its own, a call has the transport's default deadline", async () => {
    const slow = createRouterTransport(
      (router) => {
        router.service(OrderService, {
          async getServiceDetail() {
            await new Promise((resolve) => setTimeout(resolve, 1_000));
            return { url: "u" };
          },
        });
      },
      { transport: { defaultTimeoutMs: 100 } },
    );
    const withoutDeadline = await buildTestGateway({ orderService: createClient(OrderService, slow) });
    try {
      const started = Date.now();
      expectAnswer(DETAIL, await withoutDeadline.inject({ method: "POST", url: DETAIL, payload: validBody }), 500, 1, "系统异常");
      expect(Date.now() - started).toBeLessThan(900);
      expect(logs().find((l) => l.level === 50)).toMatchObject({ grpcCode: "DeadlineExceeded" });
    } finally {
      await withoutDeadline.close();
    }
  });

  it("logs a business rejection at warn and a system error at error, with traceId, gRPC code and reason", async () => {
    fakeOrderService.failure = orderError(OrderError.SERVICE_EXPIRED, "rights code expired");
    const rejected = await gateway.post(CANCEL, validBody);
    fakeOrderService.failure = orderError(OrderError.UPSTREAM_FAILED, "PSBC timed out");
    const failed = await gateway.post(CANCEL, validBody);
    const [warn, error] = logs().filter((line) => Number(line.level) >= 40);
    expect(warn).toMatchObject({
      level: 40,
      traceId: rejected.json<Envelope>().traceId,
      route: CANCEL,
      operation: "serviceCancel",
      httpStatus: 400,
      code: 4,
      grpcCode: "FailedPrecondition",
      domain: "rights.order.v1.OrderError",
      reason: "ORDER_ERROR_SERVICE_EXPIRED",
    });
    expect(error).toMatchObject({
      level: 50,
      traceId: failed.json<Envelope>().traceId,
      httpStatus: 500,
      code: 1,
      grpcCode: "Unavailable",
      reason: "ORDER_ERROR_UPSTREAM_FAILED",
    });
    expect(logLines.join("")).not.toContain(CIPHERTEXT);
    // One traceId key per line: Fastify's binding and the async-context mixin never both apply.
    for (const line of logLines) expect(line.match(/"traceId"/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it("logs each request at debug with route, code, HTTP status and time", async () => {
    const res = await gateway.post(DETAIL, validBody);
    const line = logs().find((l) => l.msg === "request");
    expect(line).toMatchObject({ level: 20, traceId: res.json<Envelope>().traceId, route: DETAIL, code: 0, httpStatus: 200 });
    expect(typeof line?.ms).toBe("number");
  });
});

describe("a client that throws something other than a ConnectError", () => {
  it("answers HTTP 500, code 1", async () => {
    const broken = new Proxy({} as Client<typeof OrderService>, {
      get: () => () => Promise.reject(new TypeError("not a ConnectError")),
    });
    const onBrokenClient = await buildTestGateway({ orderService: broken });
    try {
      const res = await onBrokenClient.inject({ method: "POST", url: APPOINTMENT, payload: validBody });
      expectAnswer(APPOINTMENT, res, 500, 1, "系统异常");
      expect(logs().find((l) => l.level === 50)).toMatchObject({ err: { type: "TypeError", message: "not a ConnectError" } });
    } finally {
      await onBrokenClient.close();
    }
  });
});
