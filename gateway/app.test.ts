import { Code, ConnectError, createClient, createRouterTransport, type Client, type HandlerContext } from "@connectrpc/connect";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../proto/gen/grpc/health/v1/health_pb.js";
import { OrderService, type RightsEnvelope } from "../proto/gen/rights/order/v1/order_pb.js";
import { ErrorReason, domainError } from "../services/common/errors.js";
import { Metrics } from "../services/common/metrics.js";
import { currentTraceId, TRACE_HEADER } from "../services/common/trace.js";
import { assertContractErrorEnvelope, assertContractResponse } from "../test/support/psbc-contract.js";
import { buildGateway, grpcHealthCheck } from "./app.js";

const APPOINTMENT = "/api/v1/service/appointment";
const CANCEL = "/api/v1/service/cancel";
const EXPIRED_POINTS = "/api/v1/order/expired-points";
const DETAIL = "/api/v1/service/detail";
const ROUTES = [APPOINTMENT, CANCEL, EXPIRED_POINTS, DETAIL];

const CIPHERTEXT = "c2VjcmV0LWNpcGhlcnRleHQtbmV2ZXItbG9nZ2Vk";
const validBody = {
  type: "310001",
  request: CIPHERTEXT,
  channel: "12",
  tranChnl: "17",
  backUrl: "https://mobile.psbc.com/back",
  instType: "02",
  provinceInstNo: "100000",
};

/** What the fake order service saw of each call. */
interface SeenCall {
  method: string;
  envelope: RightsEnvelope | undefined;
  headerTraceId: string | null;
  contextTraceId: string | undefined;
}

/** The fake order service: answers `answer`, or throws `failure`, after `delayMs`. */
const fake = {
  calls: [] as SeenCall[],
  failure: undefined as unknown,
  delayMs: 0,
  answer: { url: "https://lsb.example.com/redeem/abc123", backUrl: "https://order.example/back" },
  reset() {
    this.calls = [];
    this.failure = undefined;
    this.delayMs = 0;
    this.answer = { url: "https://lsb.example.com/redeem/abc123", backUrl: "https://order.example/back" };
  },
};

async function serve(method: string, envelope: RightsEnvelope | undefined, ctx: HandlerContext): Promise<void> {
  fake.calls.push({
    method,
    envelope,
    headerTraceId: ctx.requestHeader.get(TRACE_HEADER),
    contextTraceId: currentTraceId(),
  });
  if (fake.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.delayMs));
  if (fake.failure !== undefined) throw fake.failure;
}

const transport = createRouterTransport((router) => {
  router.service(OrderService, {
    async bookService(req, ctx) {
      await serve("bookService", req.envelope, ctx);
      return { orderNo: "O1", ...fake.answer };
    },
    async cancelService(req, ctx) {
      await serve("cancelService", req.envelope, ctx);
      return { orderNo: "O1", status: 400 };
    },
    async queryExpiredPoints(req, ctx) {
      await serve("queryExpiredPoints", req.envelope, ctx);
      return { tranIntglNum: 1000n, ovdueIntglNum: 200n, noticeMsg: "您有200幸福点已过期取消后将无法退回" };
    },
    async getServiceDetail(req, ctx) {
      await serve("getServiceDetail", req.envelope, ctx);
      return { orderNo: "O1", ...fake.answer, status: 200, keyStatus: 1 };
    },
  });
});

/** Log lines, as JSON objects, written by a logger shaped like `createLogger`'s (traceId mixin). */
const logLines: string[] = [];
const logger = pino(
  {
    level: "debug",
    mixin() {
      const traceId = currentTraceId();
      return traceId ? { traceId } : {};
    },
  },
  { write: (line: string) => void logLines.push(line) },
);
const logs = () => logLines.map((line) => JSON.parse(line) as Record<string, unknown>);

/** What each readiness check answers; reset to "ready" before each test. */
const checks: Record<"order" | "other", () => Promise<boolean>> = { order: async () => true, other: async () => true };

let app: FastifyInstance;
const metrics = new Metrics({ processMetrics: false });

beforeAll(async () => {
  app = await buildGateway({
    metrics,
    orderService: createClient(OrderService, transport),
    readiness: [
      { name: "order", check: () => checks.order() },
      { name: "other", check: () => checks.other() },
    ],
    logger,
    callTimeoutMs: 200,
  });
});

afterAll(async () => {
  await app.close();
});

beforeEach(() => {
  fake.reset();
  logLines.length = 0;
  checks.order = async () => true;
  checks.other = async () => true;
});

function post(url: string, payload: unknown): Promise<LightMyRequestResponse> {
  return app.inject({ method: "POST", url, payload: payload as object });
}

interface Envelope {
  code: number;
  msg: string;
  traceId: string;
  data?: Record<string, unknown>;
}

/** The response body, after checking it against the contract for its path and status. */
function contractBody(url: string, res: LightMyRequestResponse): Envelope {
  expect(res.headers["content-type"]).toMatch(/^application\/json/);
  const body = res.json<Envelope>();
  if (ROUTES.includes(url)) assertContractResponse(url, res.statusCode, body);
  else assertContractErrorEnvelope(res.statusCode, body);
  return body;
}

function expectAnswer(url: string, res: LightMyRequestResponse, httpStatus: number, code: number, msg: string): Envelope {
  const body = contractBody(url, res);
  expect({ httpStatus: res.statusCode, code: body.code, msg: body.msg }).toEqual({ httpStatus, code, msg });
  return body;
}

describe("PSBC routes: success", () => {
  it("books a service: url from the order service, tranChnl and instType echoed, backUrl from the order", async () => {
    const body = expectAnswer(APPOINTMENT, await post(APPOINTMENT, validBody), 200, 0, "成功");
    expect(body.data).toEqual({
      url: "https://lsb.example.com/redeem/abc123",
      tranChnl: "17",
      instType: "02",
      backUrl: "https://order.example/back",
    });
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]?.method).toBe("bookService");
    // The envelope passes through untouched, `request` still encrypted.
    expect(fake.calls[0]?.envelope).toMatchObject(validBody);
  });

  it("books a service: backUrl falls back to the request's, and is absent when neither has one", async () => {
    fake.answer.backUrl = "";
    expect(contractBody(APPOINTMENT, await post(APPOINTMENT, validBody)).data?.backUrl).toBe(validBody.backUrl);
    const { backUrl: _omitted, ...withoutBackUrl } = validBody;
    const data = contractBody(APPOINTMENT, await post(APPOINTMENT, withoutBackUrl)).data;
    expect(data).toEqual({ url: fake.answer.url, tranChnl: "17", instType: "02" });
    expect(fake.calls[1]?.envelope?.backUrl).toBe("");
  });

  it("cancels a service", async () => {
    const body = expectAnswer(CANCEL, await post(CANCEL, validBody), 200, 0, "成功");
    expect(body.data).toEqual({ tranChnl: "17", instType: "02", backUrl: validBody.backUrl });
    expect(fake.calls.map((c) => c.method)).toEqual(["cancelService"]);
  });

  it("queries expired points as JSON numbers", async () => {
    const body = expectAnswer(EXPIRED_POINTS, await post(EXPIRED_POINTS, validBody), 200, 0, "成功");
    expect(body.data).toEqual({ tranIntglNum: 1000, ovdueIntglNum: 200, noticeMsg: "您有200幸福点已过期取消后将无法退回" });
    expect(fake.calls.map((c) => c.method)).toEqual(["queryExpiredPoints"]);
  });

  it("shows a service's detail, backUrl from the order, else the request's, else empty", async () => {
    expect(expectAnswer(DETAIL, await post(DETAIL, validBody), 200, 0, "成功").data).toEqual({
      url: fake.answer.url,
      backUrl: "https://order.example/back",
    });
    fake.answer.backUrl = "";
    expect(contractBody(DETAIL, await post(DETAIL, validBody)).data?.backUrl).toBe(validBody.backUrl);
    const { backUrl: _omitted, ...withoutBackUrl } = validBody;
    expect(contractBody(DETAIL, await post(DETAIL, withoutBackUrl)).data).toEqual({ url: fake.answer.url, backUrl: "" });
    expect(fake.calls.map((c) => c.method)).toEqual(["getServiceDetail", "getServiceDetail", "getServiceDetail"]);
  });

  it("accepts an empty backUrl, extra fields, and a JSON content type with a charset", async () => {
    expectAnswer(DETAIL, await post(DETAIL, { ...validBody, backUrl: "", extra: 1 }), 200, 0, "成功");
    const res = await app.inject({
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
    const responses = await Promise.all(Array.from({ length: 50 }, () => post(DETAIL, validBody)));
    const traceIds = responses.map((res) => contractBody(DETAIL, res).traceId);
    expect(new Set(traceIds).size).toBe(50);
    for (const traceId of traceIds) expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fake.calls.map((c) => c.headerTraceId).sort()).toEqual([...traceIds].sort());
    // The async context carries it too, so the client transport's interceptor and log lines see it.
    for (const call of fake.calls) expect(call.contextTraceId).toBe(call.headerTraceId);
  });

  it("ignores a traceId the caller sends", async () => {
    const res = await app.inject({ method: "POST", url: DETAIL, headers: { [TRACE_HEADER]: "caller-chosen" }, payload: validBody });
    const { traceId } = contractBody(DETAIL, res);
    expect(traceId).not.toBe("caller-chosen");
    expect(fake.calls[0]?.headerTraceId).toBe(traceId);
  });
});

describe("PSBC routes: bad input is a parameter error (HTTP 400, code 2) and never reaches the service", () => {
  const required = ["type", "request", "channel", "tranChnl", "instType", "provinceInstNo"] as const;
  const invalid: Array<[string, Record<string, unknown>]> = [
    ...required.map((field): [string, Record<string, unknown>] => {
      const { [field]: _omitted, ...rest } = validBody;
      return [`missing ${field}`, rest];
    }),
    ["channel outside its enum", { ...validBody, channel: "13" }],
    ["tranChnl outside its enum", { ...validBody, tranChnl: "99" }],
    ["instType outside its enum", { ...validBody, instType: "03" }],
    ["type over 6 characters", { ...validBody, type: "3100011" }],
    ["backUrl over 256 characters", { ...validBody, backUrl: `https://x/${"a".repeat(250)}` }],
    ["provinceInstNo over 20 characters", { ...validBody, provinceInstNo: "1".repeat(21) }],
    ["request over 4096 characters", { ...validBody, request: "A".repeat(4097) }],
    ["empty type", { ...validBody, type: "" }],
    ["empty request", { ...validBody, request: "" }],
    ["empty provinceInstNo", { ...validBody, provinceInstNo: "" }],
    ["a numeric type", { ...validBody, type: 310001 }],
    ["a numeric channel", { ...validBody, channel: 12 }],
    ["a null request", { ...validBody, request: null }],
    ["an object provinceInstNo", { ...validBody, provinceInstNo: { no: "1" } }],
    ["a boolean backUrl", { ...validBody, backUrl: true }],
  ];

  for (const url of ROUTES) {
    it.each(invalid)(`${url}: %s`, async (_name, body) => {
      expectAnswer(url, await post(url, body), 400, 2, "参数错误");
      expect(fake.calls).toEqual([]);
    });
  }

  it.each([
    ["bad JSON", { "content-type": "application/json" }, `{"type":"310001","request":"${CIPHERTEXT}"`],
    ["a JSON array", { "content-type": "application/json" }, JSON.stringify([validBody])],
    ["a JSON string", { "content-type": "application/json" }, JSON.stringify("x")],
    ["an empty JSON body", { "content-type": "application/json" }, ""],
    ["no body at all", {}, undefined],
    ["text/plain", { "content-type": "text/plain" }, JSON.stringify(validBody)],
    ["a form", { "content-type": "application/x-www-form-urlencoded" }, "type=310001"],
    ["no content type", {}, JSON.stringify(validBody)],
    ["a body over 16 KiB", { "content-type": "application/json" }, JSON.stringify({ ...validBody, pad: "x".repeat(17 * 1024) })],
    ["a prototype-poisoning body", { "content-type": "application/json" }, `{"__proto__":{"x":1},"type":"310001"}`],
  ])("%s", async (_name, headers, payload) => {
    const res = await app.inject({ method: "POST", url: APPOINTMENT, headers, ...(payload === undefined ? {} : { payload }) });
    expectAnswer(APPOINTMENT, res, 400, 2, "参数错误");
    expect(fake.calls).toEqual([]);
  });

  it("logs a rejection at warn with its traceId, without the body or the ciphertext", async () => {
    const bad = await app.inject({
      method: "POST",
      url: APPOINTMENT,
      headers: { "content-type": "application/json" },
      payload: `{"request":"${CIPHERTEXT}"`,
    });
    const invalidEnum = await post(APPOINTMENT, { ...validBody, channel: "13" });
    const warnings = logs().filter((line) => line.level === 40);
    expect(warnings.map((w) => w.traceId)).toEqual([bad.json<Envelope>().traceId, invalidEnum.json<Envelope>().traceId]);
    expect(warnings[1]).toMatchObject({ route: APPOINTMENT, httpStatus: 400, code: 2, validation: [{ instancePath: "/channel", keyword: "enum" }] });
    expect(logLines.join("")).not.toContain(CIPHERTEXT);
  });
});

describe("unrouted requests", () => {
  it.each([
    ["an unknown path", "POST", "/api/v1/service/unknown"],
    ["a contract path outside this gateway", "POST", "/api/v1/reconciliation/files"],
    ["the wrong method", "GET", APPOINTMENT],
    ["the wrong method", "PUT", DETAIL],
    ["the root", "GET", "/"],
  ] as const)("%s (%s %s) is HTTP 404, code 2", async (_name, method, url) => {
    const res = await app.inject({ method, url, payload: method === "GET" ? undefined : validBody });
    const body = res.json<Envelope>();
    assertContractErrorEnvelope(res.statusCode, body);
    expect({ httpStatus: res.statusCode, code: body.code, msg: body.msg }).toEqual({ httpStatus: 404, code: 2, msg: "参数错误" });
    expect(fake.calls).toEqual([]);
  });

  it("a malformed URL is a parameter error", async () => {
    const res = await app.inject({ method: "POST", url: "/api/v1/service/%c0", payload: validBody });
    expect(res.statusCode).toBe(400);
    expect(res.json<Envelope>()).toMatchObject({ code: 2, msg: "参数错误" });
    assertContractErrorEnvelope(res.statusCode, res.json());
  });
});

describe("PSBC routes: the order service's failures", () => {
  const business: Array<[string, ErrorReason, number, number, string]> = [
    ["PARAMETER_INVALID", ErrorReason.PARAMETER_INVALID, 400, 2, "参数错误"],
    ["SERVICE_NOT_SUPPORTED", ErrorReason.SERVICE_NOT_SUPPORTED, 400, 4, "暂不支持此服务"],
    ["SERVICE_EXPIRED", ErrorReason.SERVICE_EXPIRED, 400, 4, "服务已过期"],
    ["SERVICE_IN_EFFECT", ErrorReason.SERVICE_IN_EFFECT, 400, 4, "服务已生效无法取消"],
    ["SERVICE_CANCELLED", ErrorReason.SERVICE_CANCELLED, 400, 4, "服务已取消"],
    ["SERVICE_NOT_BOOKED", ErrorReason.SERVICE_NOT_BOOKED, 400, 4, "服务未预约"],
    ["REQUEST_IN_PROGRESS", ErrorReason.REQUEST_IN_PROGRESS, 400, 4, "请求处理中,请稍后重试"],
    ["ORDER_NOT_FOUND", ErrorReason.ORDER_NOT_FOUND, 400, 1, "订单不存在"],
  ];

  for (const url of ROUTES) {
    it.each(business)(`${url}: %s`, async (_name, reason, httpStatus, code, msg) => {
      fake.failure = domainError(reason, "from the order service");
      expectAnswer(url, await post(url, validBody), httpStatus, code, msg);
    });

    const systemMsg = url === EXPIRED_POINTS ? "查询失败,请重试" : "系统异常";
    it.each([
      ["UPSTREAM_FAILED", domainError(ErrorReason.UPSTREAM_FAILED, "upstream timed out")],
      ["no reason", new ConnectError("no detail", Code.FailedPrecondition)],
      ["Unavailable", new ConnectError("down", Code.Unavailable)],
      ["Internal", new ConnectError("bug", Code.Internal)],
      ["a plain Error in the service", new Error("bug")],
    ])(`${url}: %s is HTTP 500, code 1, ${systemMsg}`, async (_name, failure) => {
      fake.failure = failure;
      expectAnswer(url, await post(url, validBody), 500, 1, systemMsg);
    });
  }

  it("a call over its deadline is a system error", async () => {
    fake.delayMs = 1_000;
    const started = Date.now();
    expectAnswer(DETAIL, await post(DETAIL, validBody), 500, 1, "系统异常");
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
    const gateway = await buildGateway({ orderService: createClient(OrderService, slow), readiness: [], logger, metrics: new Metrics({ processMetrics: false }) });
    try {
      const started = Date.now();
      expectAnswer(DETAIL, await gateway.inject({ method: "POST", url: DETAIL, payload: validBody }), 500, 1, "系统异常");
      expect(Date.now() - started).toBeLessThan(900);
      expect(logs().find((l) => l.level === 50)).toMatchObject({ grpcCode: "DeadlineExceeded" });
    } finally {
      await gateway.close();
    }
  });

  it("logs a business rejection at warn and a system error at error, with traceId, gRPC code and reason", async () => {
    fake.failure = domainError(ErrorReason.SERVICE_EXPIRED, "rights code expired");
    const rejected = await post(CANCEL, validBody);
    fake.failure = domainError(ErrorReason.UPSTREAM_FAILED, "PSBC timed out");
    const failed = await post(CANCEL, validBody);
    const [warn, error] = logs().filter((line) => Number(line.level) >= 40);
    expect(warn).toMatchObject({
      level: 40,
      traceId: rejected.json<Envelope>().traceId,
      route: CANCEL,
      operation: "serviceCancel",
      httpStatus: 400,
      code: 4,
      grpcCode: "FailedPrecondition",
      reason: "SERVICE_EXPIRED",
    });
    expect(error).toMatchObject({
      level: 50,
      traceId: failed.json<Envelope>().traceId,
      httpStatus: 500,
      code: 1,
      grpcCode: "Unavailable",
      reason: "UPSTREAM_FAILED",
    });
    expect(logLines.join("")).not.toContain(CIPHERTEXT);
    // One traceId key per line: Fastify's binding and the async-context mixin never both apply.
    for (const line of logLines) expect(line.match(/"traceId"/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it("logs each request at debug with route, code, HTTP status and time", async () => {
    const res = await post(DETAIL, validBody);
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
    const gateway = await buildGateway({ orderService: broken, readiness: [], logger, metrics: new Metrics({ processMetrics: false }) });
    try {
      const res = await gateway.inject({ method: "POST", url: APPOINTMENT, payload: validBody });
      expectAnswer(APPOINTMENT, res, 500, 1, "系统异常");
      expect(logs().find((l) => l.level === 50)).toMatchObject({ err: { type: "TypeError", message: "not a ConnectError" } });
    } finally {
      await gateway.close();
    }
  });
});

describe("probes", () => {
  it("/healthz answers ok", async () => {
    const res = await app.inject({ method: "GET", url: "/healthz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
  });

  it("/readyz is 200 when every check passes", async () => {
    const res = await app.inject({ method: "GET", url: "/readyz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ready", failed: [] });
  });

  it.each([
    ["fails", () => Promise.resolve(false)],
    ["throws", () => Promise.reject(new Error("down"))],
    ["hangs", () => new Promise<boolean>(() => {})],
  ])("/readyz is 503 naming a check that %s", async (_name, result) => {
    checks.order = result;
    const started = Date.now();
    const res = await app.inject({ method: "GET", url: "/readyz" });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: "unavailable", failed: ["order"] });
  });
});

describe("metrics", () => {
  it("counts requests by route, HTTP status and contract code, and times them", async () => {
    fake.failure = domainError(ErrorReason.SERVICE_EXPIRED, "rights code expired");
    await post(CANCEL, validBody);
    await app.inject({ method: "GET", url: "/no/such/route" });
    const counted = (await metrics.httpRequests.get()).values.map((v) => v.labels);
    expect(counted).toContainEqual({ method: "POST", route: CANCEL, status_code: "400", code: "4" });
    expect(counted).toContainEqual({ method: "GET", route: "unmatched", status_code: "404", code: "2" });
    const timed = (await metrics.httpSeconds.get()).values.filter((v) => v.metricName === "http_server_request_duration_seconds_count");
    expect(timed.map((v) => v.labels)).toContainEqual({ method: "POST", route: CANCEL, status_code: "400" });
  });
});

describe("closing (SIGTERM)", () => {
  it("answers /readyz 503 at once, still serves during the delay, and lets a request in flight finish", async () => {
    const slow = createRouterTransport((router) => {
      router.service(OrderService, {
        async getServiceDetail() {
          await new Promise((resolve) => setTimeout(resolve, 400));
          return { url: "https://vouchers.example/v/1" };
        },
      });
    });
    const gateway = await buildGateway({
      orderService: createClient(OrderService, slow),
      readiness: [],
      logger,
      metrics: new Metrics({ processMetrics: false }),
      shutdownDelayMs: 300,
    });
    await gateway.listen({ host: "127.0.0.1", port: 0 });
    const address = gateway.server.address();
    const base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    const detail = () =>
      fetch(`${base}${DETAIL}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(validBody) });
    const inFlight = detail();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = gateway.close();
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "draining", failed: [] });
    expect(ready.headers.get("connection")).toBe("close");
    const during = await detail();
    expect(during.status).toBe(200);
    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect(await finished.json()).toMatchObject({ code: 0, data: { url: "https://vouchers.example/v/1" } });
    await closing;
  });
});

describe("grpcHealthCheck", () => {
  const healthTransport = (answer: () => Promise<HealthCheckResponse_ServingStatus>, seen: string[] = []) =>
    createRouterTransport((router) => {
      router.service(Health, {
        async check(req) {
          seen.push(req.service);
          return { status: await answer() };
        },
      });
    });

  it("is true only when the server answers SERVING for the service asked", async () => {
    const seen: string[] = [];
    expect(await grpcHealthCheck(healthTransport(async () => HealthCheckResponse_ServingStatus.SERVING, seen), "rights.order.v1.OrderService")()).toBe(true);
    expect(seen).toEqual(["rights.order.v1.OrderService"]);
    expect(await grpcHealthCheck(healthTransport(async () => HealthCheckResponse_ServingStatus.NOT_SERVING))()).toBe(false);
  });

  it("is false when the call fails or outlasts its 1 s deadline", async () => {
    expect(await grpcHealthCheck(healthTransport(() => Promise.reject(new ConnectError("down", Code.Unavailable))))()).toBe(false);
    const started = Date.now();
    const hanging = healthTransport(() => new Promise(() => {}));
    expect(await grpcHealthCheck(hanging)()).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_500);
  });
});
