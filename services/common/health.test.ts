import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { Health } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { HealthStatus, LIVENESS, ServingStatus, registerHealth } from "./health.js";

function client(status: HealthStatus) {
  return createClient(Health, createRouterTransport((router) => registerHealth(router, status)));
}

describe("health", () => {
  it("checks the overall status and each registered service", async () => {
    const status = new HealthStatus();
    status.register("rights.order.v1.OrderService");
    const health = client(status);
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    status.setServing("rights.order.v1.OrderService", false);
    expect((await health.check({ service: "rights.order.v1.OrderService" })).status).toBe(ServingStatus.NOT_SERVING);
    status.setAll(true);
    expect((await health.check({ service: "rights.order.v1.OrderService" })).status).toBe(ServingStatus.SERVING);
  });

  it("keeps liveness SERVING while the service is not ready or draining", async () => {
    const status = new HealthStatus();
    status.setAll(false);
    const health = client(status);
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
    expect((await health.check({ service: LIVENESS })).status).toBe(ServingStatus.SERVING);
  });

  it("answers NotFound for an unknown service name", async () => {
    const err = await client(new HealthStatus()).check({ service: "no.such.Service" }).catch((e: unknown) => e);
    expect(ConnectError.from(err).code).toBe(Code.NotFound);
  });

  it("registers a new service with the overall status", () => {
    const status = new HealthStatus();
    status.setAll(false);
    status.register("a.B");
    expect(status.get("a.B")).toBe(ServingStatus.NOT_SERVING);
  });

  it("streams the current status and every change until the client aborts", async () => {
    const status = new HealthStatus();
    const abort = new AbortController();
    const seen: ServingStatus[] = [];
    const watching = (async () => {
      for await (const res of client(status).watch({ service: "" }, { signal: abort.signal })) {
        seen.push(res.status);
        if (seen.length === 1) {
          status.setAll(false);
          status.setAll(false); // no change, no message
          status.setServing("other", true); // another name, no message
          status.setAll(true);
        }
        if (seen.length === 3) abort.abort();
      }
    })().catch((err: unknown) => {
      if (ConnectError.from(err).code !== Code.Canceled) throw err;
    });
    await watching;
    expect(seen).toEqual([ServingStatus.SERVING, ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
  });

  it("watching an unknown name reports SERVICE_UNKNOWN, then its status once it appears", async () => {
    const status = new HealthStatus();
    const abort = new AbortController();
    const seen: ServingStatus[] = [];
    await (async () => {
      for await (const res of client(status).watch({ service: "late.Service" }, { signal: abort.signal })) {
        seen.push(res.status);
        if (seen.length === 1) status.register("late.Service");
        else abort.abort();
      }
    })().catch(() => undefined);
    expect(seen).toEqual([ServingStatus.SERVICE_UNKNOWN, ServingStatus.SERVING]);
  });
});
