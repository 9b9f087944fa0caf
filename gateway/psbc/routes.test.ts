import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TRACE_HEADER } from "../../services/common/trace.js";
import { OrderError, orderError } from "../../services/order/errors.js";
import { CIPHERTEXT, contractBody, expectAnswer, fakeOrderService, useTestGateway, validBody } from "../../test/support/gateway.js";
import { PATHS } from "../../test/support/platform.js";

const [APPOINTMENT, CANCEL, EXPIRED_POINTS, DETAIL] = [PATHS.appointment, PATHS.cancel, PATHS.expiredPoints, PATHS.detail];
const gateway = useTestGateway();

describe("PSBC routes: success", () => {
  it("books a service: url from the order service, tranChnl and instType echoed, backUrl from the order", async () => {
    const body = expectAnswer(APPOINTMENT, await gateway.post(APPOINTMENT, validBody), 200, 0, "成功");
    expect(body.data).toEqual({
      url: "https://lsb.example.com/redeem/abc123",
      tranChnl: "17",
      instType: "02",
      backUrl: "https://order.example/back",
    });
    expect(fakeOrderService.calls).toHaveLength(1);
    expect(fakeOrderService.calls[0]?.method).toBe("bookService");
    // The envelope passes through untouched, `request` still encrypted.
    expect(fakeOrderService.calls[0]?.envelope).toMatchObject(validBody);
  });

  it("books a service: backUrl falls back to the request's, and is absent when neither has one", async () => {
    fakeOrderService.answer.backUrl = "";
    expect(contractBody(APPOINTMENT, await gateway.post(APPOINTMENT, validBody)).data?.backUrl).toBe(validBody.backUrl);
    const { backUrl: _omitted, ...withoutBackUrl } = validBody;
    const data = contractBody(APPOINTMENT, await gateway.post(APPOINTMENT, withoutBackUrl)).data;
    expect(data).toEqual({ url: fakeOrderService.answer.url, tranChnl: "17", instType: "02" });
    expect(fakeOrderService.calls[1]?.envelope?.backUrl).toBe("");
  });

  it("cancels a service", async () => {
    const body = expectAnswer(CANCEL, await gateway.post(CANCEL, validBody), 200, 0, "成功");
    expect(body.data).toEqual({ tranChnl: "17", instType: "02", backUrl: validBody.backUrl });
    expect(fakeOrderService.calls.map((c) => c.method)).toEqual(["cancelService"]);
  });

  it("queries expired points as JSON numbers", async () => {
    const body = expectAnswer(EXPIRED_POINTS, await gateway.post(EXPIRED_POINTS, validBody), 200, 0, "成功");
    expect(body.data).toEqual({ tranIntglNum: 1000, ovdueIntglNum: 200, noticeMsg: "您有200幸福点已过期取消后将无法退回" });
    expect(fakeOrderService.calls.map((c) => c.method)).toEqual(["queryExpiredPoints"]);
  });

  it("shows a service's detail, backUrl from the order, else the request's, else empty", async () => {
    expect(expectAnswer(DETAIL, await gateway.post(DETAIL, validBody), 200, 0, "成功").data).toEqual({
      url: fakeOrderService.answer.url,
      backUrl: "https://order.example/back",
    });
    fakeOrderService.answer.backUrl = "";
    expect(contractBody(DETAIL, await gateway.post(DETAIL, validBody)).data?.backUrl).toBe(validBody.backUrl);
    const { backUrl: _omitted, ...withoutBackUrl } = validBody;
    expect(contractBody(DETAIL, await gateway.post(DETAIL, withoutBackUrl)).data).toEqual({ url: fakeOrderService.answer.url, backUrl: "" });
    expect(fakeOrderService.calls.map((c) => c.method)).toEqual(["getServiceDetail", "getServiceDetail", "getServiceDetail"]);
  });

  it("accepts an empty backUrl, extra fields, and a JSON content type with a charset", async () => {
    expectAnswer(DETAIL, await gateway.post(DETAIL, { ...validBody, backUrl: "", extra: 1 }), 200, 0, "成功");
    const res = await gateway.app.inject({
      method: "POST",
      url: DETAIL,
      headers: { "content-type": "application/json; charset=utf-8" },
      payload: JSON.stringify(validBody),
    });
    expectAnswer(DETAIL, res, 200, 0, "成功");
  });
});

describe("PSBC routes: traceId", () => {
  it("issues a unique traceId of at most 32 characters per request, and it reaches the service call", async () => {
    const responses = await Promise.all(Array.from({ length: 50 }, () => gateway.post(DETAIL, validBody)));
    const traceIds = responses.map((res) => contractBody(DETAIL, res).traceId);
    expect(new Set(traceIds).size).toBe(50);
    for (const traceId of traceIds) expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fakeOrderService.calls.map((c) => c.headerTraceId).sort()).toEqual([...traceIds].sort());
    // The async context carries it too, so the client transport's interceptor and log lines see it.
    for (const call of fakeOrderService.calls) expect(call.contextTraceId).toBe(call.headerTraceId);
  });

  it("ignores a traceId the caller sends", async () => {
    const res = await gateway.app.inject({ method: "POST", url: DETAIL, headers: { [TRACE_HEADER]: "caller-chosen" }, payload: validBody });
    const { traceId } = contractBody(DETAIL, res);
    expect(traceId).not.toBe("caller-chosen");
    expect(fakeOrderService.calls[0]?.headerTraceId).toBe(traceId);
  });
});

describe("PSBC routes: what reaches the order service", () => {
  const contractFields = Object.keys(validBody).sort();
  // Fields a caller may add beside the contract's, with any JSON value: all but the prototype-poisoning keys
  // (anywhere in the body), which Fastify refuses as a parameter error; `$typeName` would make a naive copy pass
  // for a ready-made message.
  const poisoning = /"(__proto__|constructor)"/;
  const extraFields = fc
    .dictionary(
      fc.oneof(fc.constant("$typeName"), fc.string()).filter((key) => !Object.hasOwn(validBody, key)),
      fc.jsonValue({ maxDepth: 3 }),
      { minKeys: 1 },
    )
    .filter((extra) => !poisoning.test(JSON.stringify(extra)));

  it("is the contract's envelope fields only, whatever else the body holds", async () => {
    await fc.assert(
      fc.asyncProperty(extraFields, async (extra) => {
        fakeOrderService.reset();
        const res = await gateway.post(PATHS.detail, { ...extra, ...validBody });
        expectAnswer(PATHS.detail, res, 200, 0, "成功");
        const envelope = fakeOrderService.calls[0]?.envelope;
        expect(Object.keys(envelope ?? {}).filter((key) => key !== "$typeName").sort()).toEqual(contractFields);
        expect(envelope).toMatchObject(validBody);
      }),
      { numRuns: 50 },
    );
  });

  it("is a fresh envelope even when the body names itself a RightsEnvelope message", async () => {
    const { backUrl: _omitted, ...withoutBackUrl } = validBody;
    const res = await gateway.post(PATHS.detail, { ...withoutBackUrl, $typeName: "rights.order.v1.RightsEnvelope", extra: 1 });
    expect(contractBody(PATHS.detail, res).data).toEqual({ url: fakeOrderService.answer.url, backUrl: fakeOrderService.answer.backUrl });
    expect(fakeOrderService.calls[0]?.envelope).toMatchObject({ ...withoutBackUrl, backUrl: "" });
    expect(fakeOrderService.calls[0]?.envelope).not.toHaveProperty("extra");
  });
});

describe("PSBC routes: detail calls asked together", () => {
  const detailOf = (n: number) => gateway.post(DETAIL, { ...validBody, request: `${CIPHERTEXT}${n}` });
  const numberOf = (envelope: { request: string } | undefined) => Number(envelope?.request.slice(CIPHERTEXT.length));

  it("go to the order service as one call, each answered on its own: a detail, or its own error", async () => {
    fakeOrderService.failWhen = (envelope) => (numberOf(envelope) % 3 === 0 ? orderError(OrderError.ORDER_NOT_FOUND, "order not found") : undefined);
    const responses = await Promise.all(Array.from({ length: 30 }, (_, n) => detailOf(n)));
    responses.forEach((res, n) => {
      if (n % 3 === 0) expectAnswer(DETAIL, res, 400, 1, "订单不存在");
      else expect(expectAnswer(DETAIL, res, 200, 0, "成功").data).toEqual({ url: fakeOrderService.answer.url, backUrl: fakeOrderService.answer.backUrl });
    });
    expect(fakeOrderService.batches.reduce((sum, size) => sum + size, 0)).toBe(30);
    expect(fakeOrderService.batches.length).toBeLessThan(30);
    // Each call under the traceId its answer names.
    const traceOf = new Map(fakeOrderService.calls.map((call) => [numberOf(call.envelope), call.headerTraceId]));
    responses.forEach((res, n) => expect(traceOf.get(n)).toBe(contractBody(DETAIL, res).traceId));
  });

  it("share one order service call a hundred at most", async () => {
    await Promise.all(Array.from({ length: 250 }, (_, n) => detailOf(n)));
    expect(Math.max(...fakeOrderService.batches)).toBeLessThanOrEqual(100);
    expect(fakeOrderService.batches.reduce((sum, size) => sum + size, 0)).toBe(250);
  });

  it("go one by one to an order service without GetServiceDetails (an older one, mid-rollout), each under its traceId", async () => {
    fakeOrderService.batchUnimplemented = true;
    fakeOrderService.failWhen = (envelope) => (numberOf(envelope) === 1 ? orderError(OrderError.SERVICE_CANCELLED, "service cancelled") : undefined);
    const responses = await Promise.all(Array.from({ length: 5 }, (_, n) => detailOf(n)));
    responses.forEach((res, n) => (n === 1 ? expectAnswer(DETAIL, res, 400, 4, "服务已取消") : expectAnswer(DETAIL, res, 200, 0, "成功")));
    expect(fakeOrderService.batches).toEqual([]);
    expect(fakeOrderService.calls).toHaveLength(5);
    for (const call of fakeOrderService.calls) expect(call.contextTraceId).toBe(call.headerTraceId);
    expect(fakeOrderService.calls.map((call) => call.headerTraceId).sort()).toEqual(responses.map((res) => contractBody(DETAIL, res).traceId).sort());
  });
});
