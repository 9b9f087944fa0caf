import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { request } from "node:http";
import { beforeEach, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../proto/gen/grpc/health/v1/health_pb.js";
import { OrderService } from "../proto/gen/rights/order/v1/order_pb.js";
import { ReconciliationService } from "../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ConfigError, gatewaySpec, readConfig } from "../services/common/config.js";
import { buildTestGateway, fakeOrderService, fakeReconciliationService, logs, useTestGateway, validBody } from "../test/support/gateway.js";
import { PATHS } from "../test/support/platform.js";
import { grpcHealthCheck } from "./app.js";

/** What each readiness check answers; reset to "ready" before each test. */
const checks: Record<"order" | "other", () => Promise<boolean>> = { order: async () => true, other: async () => true };
const gateway = useTestGateway({
  readiness: [
    { name: "order", check: () => checks.order() },
    { name: "other", check: () => checks.other() },
  ],
});

beforeEach(() => {
  checks.order = async () => true;
  checks.other = async () => true;
});

describe("outside every contract", () => {
  it.each([
    ["the root", "GET", "/"],
    ["an unknown path", "POST", "/no/such/route"],
    ["a path beside a contract's prefix", "POST", "/api/v1x/service/detail"],
    ["an unknown docs page", "GET", "/docs/whale"],
    ["the wrong method on a probe", "POST", "/healthz"],
  ] as const)("%s (%s %s) is a plain JSON 404 with the traceId, not a contract's envelope", async (_name, method, url) => {
    const res = await gateway.app.inject({ method, url, payload: method === "GET" ? undefined : validBody });
    expect(res.statusCode).toBe(404);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ error: "Not Found", traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(fakeOrderService.calls).toEqual([]);
    expect(logs().find((line) => line.level === 40)).toMatchObject({ traceId: res.json<{ traceId: string }>().traceId, httpStatus: 404 });
  });

  it("a malformed URL is a plain 400", async () => {
    const res = await gateway.app.inject({ method: "GET", url: "/docs/%c0" });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: "Bad Request", traceId: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });
});

describe("probes", () => {
  it("/healthz answers ok", async () => {
    const res = await gateway.app.inject({ method: "GET", url: "/healthz" });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: "ok" });
  });

  it("/readyz is 200 when every check passes", async () => {
    const res = await gateway.app.inject({ method: "GET", url: "/readyz" });
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
    const res = await gateway.app.inject({ method: "GET", url: "/readyz" });
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: "unavailable", failed: ["order"] });
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
    const draining = await buildTestGateway({ orderService: createClient(OrderService, slow), shutdownDelayMs: 300 });
    await draining.listen({ host: "127.0.0.1", port: 0 });
    const address = draining.server.address();
    const base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
    const detail = () =>
      fetch(`${base}${PATHS.detail}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(validBody) });
    const inFlight = detail();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = draining.close();
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

  it("closes a keep-alive connection whose response was still being sent when closing began, without waiting for its timeout", async () => {
    const content = Buffer.from("\uFEFFa,b\r\n");
    let endStream = () => {};
    const streamEnded = new Promise<void>((resolve) => (endStream = resolve));
    // The whole file is sent, then the stream's end comes later: the response is in flight when close begins.
    const lingering = createRouterTransport((router) => {
      router.service(ReconciliationService, {
        async *downloadFile() {
          const file = { fileId: "FILE202512A101001", fileName: "RIGHTS_SERVICE_CHK_A101_202512.csv", fileSize: BigInt(content.length), createTime: timestampFromDate(new Date()) };
          yield { part: { case: "file", value: file } };
          yield { part: { case: "chunk", value: content } };
          await streamEnded;
        },
      });
    });
    const draining = await buildTestGateway({ reconciliationService: createClient(ReconciliationService, lingering), http: { keepAliveTimeoutMs: 60_000 } });
    await draining.listen({ host: "127.0.0.1", port: 0 });
    const address = draining.server.address();
    const res = await fetch(`http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/api/v1/reconciliation/download`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fileId: "FILE202512A101001", fileIntfcName: "RIGHTS_SERVICE_CHK_A101", password: "secret" }),
    });
    expect(Buffer.from(await res.arrayBuffer()).equals(content)).toBe(true);
    expect(res.headers.get("connection")).toBe("keep-alive");
    const closing = draining.close();
    // The stream ends once the server is closing (its idle connections closed already).
    setTimeout(endStream, 300);
    const outcome = await Promise.race([closing.then(() => "closed"), new Promise((resolve) => setTimeout(resolve, 10_000, "still open"))]);
    expect(outcome).toBe("closed");
  });
});

describe("a reconciliation download", () => {
  it("the client abandons ends its reconciliation call at once, not at the call's deadline", async () => {
    let callEnded: (reason: unknown) => void = () => {};
    const ended = new Promise((resolve) => (callEnded = resolve));
    // A file far longer than the client reads: the stream goes on until its call is cancelled.
    const endless = createRouterTransport((router) => {
      router.service(ReconciliationService, {
        async *downloadFile(_req, context) {
          context.signal.addEventListener("abort", () => callEnded(context.signal.reason), { once: true });
          const file = { fileId: "FILE202512A101001", fileName: "RIGHTS_SERVICE_CHK_A101_202512.csv", fileSize: 1n << 40n, createTime: timestampFromDate(new Date()) };
          yield { part: { case: "file", value: file } };
          while (!context.signal.aborted) {
            yield { part: { case: "chunk", value: new Uint8Array(64 * 1024).fill(0x61) } };
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        },
      });
    });
    const downloads = await buildTestGateway({ reconciliationService: createClient(ReconciliationService, endless) });
    await downloads.listen({ host: "127.0.0.1", port: 0 });
    const address = downloads.server.address();
    // The client reads the first bytes, then closes its connection.
    const firstBytes = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: typeof address === "object" && address ? address.port : 0, method: "POST", path: "/api/v1/reconciliation/download", headers: { "content-type": "application/json" } },
        (res) => res.once("data", (chunk: Buffer) => (req.destroy(), resolve(res.statusCode === 200 ? chunk.length : -1))),
      );
      req.once("error", reject);
      req.end(JSON.stringify({ fileId: "FILE202512A101001", fileIntfcName: "RIGHTS_SERVICE_CHK_A101", password: "secret" }));
    });
    expect(firstBytes).toBeGreaterThan(0);
    const outcome = await Promise.race([ended.then(() => "cancelled"), new Promise((resolve) => setTimeout(resolve, 5_000, "still streaming"))]);
    expect(outcome).toBe("cancelled");
    await downloads.close();
  });
});

// Behind an Ingress every request arrives from the ingress controller's address: the download's wrong-password
// throttle (per client) must see the caller's address from X-Forwarded-For, but only when a trusted proxy set it.
describe("the client address behind a proxy (GATEWAY_TRUSTED_PROXIES)", () => {
  const download = { fileId: "FILE202512A101001", fileIntfcName: "RIGHTS_SERVICE_CHK_A101", password: "wrong" };
  async function clientsSeen(trustedProxies: string[] | undefined, requests: Array<{ from: string; forwardedFor?: string }>): Promise<string[]> {
    fakeReconciliationService.reset();
    const app = await buildTestGateway(trustedProxies ? { trustedProxies } : {});
    try {
      for (const { from, forwardedFor } of requests) {
        const res = await app.inject({
          method: "POST",
          url: "/api/v1/reconciliation/download",
          payload: download,
          remoteAddress: from,
          headers: forwardedFor ? { "x-forwarded-for": forwardedFor } : {},
        });
        expect(res.statusCode).toBe(200);
      }
      return fakeReconciliationService.downloads.map((d) => d.client);
    } finally {
      await app.close();
    }
  }

  it("from a trusted proxy, each caller is counted by its own address (X-Forwarded-For)", async () => {
    const seen = await clientsSeen(["10.0.0.0/8"], [
      { from: "10.1.2.3", forwardedFor: "203.0.113.7" },
      { from: "10.1.2.3", forwardedFor: "198.51.100.20" },
      // A caller's own X-Forwarded-For before the proxy's entry is not believed: the proxy's last hop is.
      { from: "10.1.2.3", forwardedFor: "192.0.2.99, 203.0.113.8" },
    ]);
    expect(seen).toEqual(["203.0.113.7", "198.51.100.20", "203.0.113.8"]);
  });

  it("from an untrusted address, or with no trusted proxy (the default), X-Forwarded-For is ignored", async () => {
    expect(await clientsSeen(["10.0.0.0/8"], [{ from: "198.51.100.9", forwardedFor: "203.0.113.7" }])).toEqual(["198.51.100.9"]);
    expect(await clientsSeen(undefined, [{ from: "10.1.2.3", forwardedFor: "203.0.113.7" }])).toEqual(["10.1.2.3"]);
  });

  it("GATEWAY_TRUSTED_PROXIES is a comma-separated list of addresses or CIDRs, default none; anything else is refused", () => {
    expect(readConfig(gatewaySpec, {}).GATEWAY_TRUSTED_PROXIES).toEqual([]);
    expect(readConfig(gatewaySpec, { GATEWAY_TRUSTED_PROXIES: "10.0.0.0/8, 192.168.1.1,fd00::/8" }).GATEWAY_TRUSTED_PROXIES).toEqual([
      "10.0.0.0/8",
      "192.168.1.1",
      "fd00::/8",
    ]);
    for (const bad of ["10.0.0.0/33", "ingress", "10.0.0.0/8;1.2.3.4", "*"]) {
      expect(() => readConfig(gatewaySpec, { GATEWAY_TRUSTED_PROXIES: bad }), bad).toThrow(ConfigError);
    }
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
