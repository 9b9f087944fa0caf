import { create, toBinary } from "@bufbuild/protobuf";
import { fileDesc, serviceDesc, type GenService } from "@bufbuild/protobuf/codegenv2";
import { FileDescriptorProtoSchema, StringValueSchema, file_google_protobuf_wrappers } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { ServingStatus, HealthStatus } from "./health.js";
import { createLogger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { rpcTransport as anyRpcTransport, type RpcTransportOptions } from "./rpc-client.js";
import { RPC_TRANSPORTS } from "./rpc-transport-kind.js";
import { domainErrors, errorDetailOf } from "./errors.js";
import { OrderError, OrderErrorSchema } from "../../proto/gen/rights/order/v1/errors_pb.js";
import { startRpcServer, type RpcServer } from "./rpc-server.js";
import { TRACE_HEADER, currentTraceId, runWithTrace } from "./trace.js";

/** A service of the test's own (test.v1.EchoService/Echo), so the test does not lean on any service's protos. */
const file = fileDesc(
  Buffer.from(
    toBinary(
      FileDescriptorProtoSchema,
      create(FileDescriptorProtoSchema, {
        name: "test/v1/echo.proto",
        package: "test.v1",
        dependency: ["google/protobuf/wrappers.proto"],
        syntax: "proto3",
        service: [
          {
            name: "EchoService",
            method: [{ name: "Echo", inputType: ".google.protobuf.StringValue", outputType: ".google.protobuf.StringValue" }],
          },
        ],
      }),
    ),
  ).toString("base64"),
  [file_google_protobuf_wrappers],
);
const EchoService: GenService<{ echo: { methodKind: "unary"; input: typeof StringValueSchema; output: typeof StringValueSchema } }> = serviceDesc(file, 0);

const logger = createLogger("rpc-test", "silent");

/** Any domain's failure will do: the order domain's, as a caller would map it. */
const failure = domainErrors(OrderErrorSchema, { ...Object.fromEntries(OrderErrorSchema.values.map((v) => [v.number, Code.Internal])), [OrderError.PARAMETER_INVALID]: Code.InvalidArgument } as Record<OrderError, Code>);

describe.each(RPC_TRANSPORTS)("rpc server and client over %s", (transport) => {
  let server: RpcServer;
  const health = new HealthStatus();
  const metrics = new Metrics({ processMetrics: false });

  const rpcTransport = (url: string, options: RpcTransportOptions = {}) => anyRpcTransport(url, { ...options, transport });
  beforeAll(async () => {
    server = await startRpcServer({
      transport,
      name: "test",
      host: "127.0.0.1",
      port: 0,
      health,
      logger,
      metrics,
      routes: (router) =>
        router.service(EchoService, {
          async echo(req) {
            if (req.value === "fail") throw new Error("secret internals: password=hunter2");
            if (req.value === "not-found") throw new ConnectError("no such thing", Code.NotFound);
            if (req.value === "detailed") throw failure(OrderError.PARAMETER_INVALID, "a detailed failure");
            if (req.value === "slow") await sleep(500);
            return { value: currentTraceId() ?? "" };
          },
        }),
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const echo = () => createClient(EchoService, rpcTransport(`http://127.0.0.1:${server.port}`));

  it("binds a free port when asked for port 0", () => {
    expect(server.port).toBeGreaterThan(0);
  });

  it("carries the caller's traceId into the handler and back", async () => {
    let header: string | null = null;
    const res = await runWithTrace("trace-abc-123", () => echo().echo({ value: "hi" }, { onHeader: (h) => (header = h.get(TRACE_HEADER)) }));
    expect(res.value).toBe("trace-abc-123");
    expect(header).toBe("trace-abc-123");
  });

  it("makes a traceId when the caller has none", async () => {
    const res = await echo().echo({ value: "hi" });
    expect(res.value).toMatch(/^[0-9a-f]{32}$/);
  });

  it("turns a plain thrown Error into Internal without leaking its message", async () => {
    const err = ConnectError.from(await echo().echo({ value: "fail" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.Internal);
    expect(err.rawMessage).toBe("internal error");
    expect(err.message).not.toContain("hunter2");
  });

  it("passes a ConnectError through as it is", async () => {
    const err = ConnectError.from(await echo().echo({ value: "not-found" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toBe("no such thing");
  });

  it("carries an error's code, message and ErrorDetail to the caller", async () => {
    const err = ConnectError.from(await echo().echo({ value: "detailed" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toBe("a detailed failure");
    expect(errorDetailOf(err)).toEqual({ domain: OrderErrorSchema.typeName, reason: "ORDER_ERROR_PARAMETER_INVALID" });
  });

  it("gives up at the client's deadline", async () => {
    const client = createClient(EchoService, rpcTransport(`http://127.0.0.1:${server.port}`, { timeoutMs: 100 }));
    const err = ConnectError.from(await client.echo({ value: "slow" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.DeadlineExceeded);
  });

  it("fails Canceled when the caller's signal aborts the call in flight, and at once when it already has", async () => {
    const inFlight = new AbortController();
    setTimeout(() => inFlight.abort(), 50);
    const err = ConnectError.from(await echo().echo({ value: "slow" }, { signal: inFlight.signal }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.Canceled);
    const early = ConnectError.from(await echo().echo({ value: "hi" }, { signal: AbortSignal.abort() }).catch((e: unknown) => e));
    expect(early.code).toBe(Code.Canceled);
  });

  it("sends the caller's headers however they are given (a record, entries or Headers, in any letter case)", async () => {
    const upper = TRACE_HEADER.toUpperCase();
    for (const headers of [{ [TRACE_HEADER]: "trace-rec" }, { [upper]: "trace-rec" }, [[upper, "trace-rec"]] as [string, string][], new Headers({ [TRACE_HEADER]: "trace-rec" })]) {
      const res = await echo().echo({ value: "hi" }, { headers });
      expect(res.value).toBe("trace-rec");
    }
  });

  it("reaches a peer again after it restarted on the same port (a new connection, no call lost)", async () => {
    const start = (port: number) =>
      startRpcServer({ transport, name: "restarting", host: "127.0.0.1", port, health: new HealthStatus(), logger, metrics: new Metrics({ processMetrics: false }), routes: (router) => router.service(EchoService, { echo: (req) => ({ value: req.value }) }) });
    const first = await start(0);
    const client = createClient(EchoService, rpcTransport(`http://127.0.0.1:${first.port}`));
    expect((await client.echo({ value: "before" })).value).toBe("before");
    await first.close();
    const second = await start(first.port);
    try {
      expect((await client.echo({ value: "after" })).value).toBe("after");
    } finally {
      await second.close();
    }
  });

  it("fails Unavailable when nothing listens at the peer's address", async () => {
    const client = createClient(EchoService, rpcTransport("http://127.0.0.1:1", { timeoutMs: 2_000 }));
    const err = ConnectError.from(await client.echo({ value: "hi" }).catch((e: unknown) => e));
    expect(err.code).toBe(Code.Unavailable);
  });

  it("counts each call by code and times it (the grpc_server_* series)", async () => {
    await echo().echo({ value: "hi" });
    await echo().echo({ value: "not-found" }).catch(() => undefined);
    const echoCall = { grpc_service: "test.v1.EchoService", grpc_method: "Echo", grpc_type: "unary" };
    const count = async (metric: { get(): Promise<{ values: Array<{ labels: object; value: number; metricName?: string }> }> }, labels: object, name?: string) =>
      (await metric.get()).values.find((v) => expect.objectContaining(labels).asymmetricMatch(v.labels) && (!name || v.metricName === name))?.value ?? 0;
    expect(await count(metrics.rpcHandled, { ...echoCall, grpc_code: "OK" })).toBeGreaterThan(0);
    expect(await count(metrics.rpcHandled, { ...echoCall, grpc_code: "NotFound" })).toBeGreaterThan(0);
    expect(await count(metrics.rpcStarted, echoCall)).toBeGreaterThan(0);
    expect(await count(metrics.rpcSeconds, echoCall, "grpc_server_handling_seconds_count")).toBeGreaterThan(0);
  });

  it("serves health for the whole server and each of its services", async () => {
    const client = createClient(Health, rpcTransport(`http://127.0.0.1:${server.port}`));
    expect((await client.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    expect((await client.check({ service: "test.v1.EchoService" })).status).toBe(ServingStatus.SERVING);
    health.setServing("test.v1.EchoService", false);
    expect((await client.check({ service: "test.v1.EchoService" })).status).toBe(ServingStatus.NOT_SERVING);
    health.setServing("test.v1.EchoService", true);
  });

  it("closes gracefully, cutting a long stream at the end of the grace period", async () => {
    const other = await startRpcServer({
      transport,
      name: "closing",
      host: "127.0.0.1",
      port: 0,
      health: new HealthStatus(),
      logger,
      metrics: new Metrics({ processMetrics: false }),
      routes: () => {},
      shutdownTimeoutMs: 200,
    });
    const client = createClient(Health, rpcTransport(`http://127.0.0.1:${other.port}`));
    const statuses: ServingStatus[] = [];
    const watching = (async () => {
      for await (const res of client.watch({ service: "" })) statuses.push(res.status);
    })().catch((err: unknown) => err);
    while (statuses.length === 0) await sleep(10);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    await watching;
    expect(statuses[0]).toBe(ServingStatus.SERVING);
  });
});
