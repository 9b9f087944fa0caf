// The cluster's processes as Kubernetes runs them: `main.js migrate` as the Job, then one process per role,
// probed over gRPC health and HTTP, scraped on their metrics ports, and stopped with a real SIGTERM while a
// booking is in flight. Runs against the real PostgreSQL, Redis and NATS (skipped without their URLs).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../proto/gen/grpc/health/v1/health_pb.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { startBlueBrothersSandbox, type BlueBrothersSandbox } from "../services/sandbox/blue-brothers-sandbox.js";
import { startPsbcSandbox, type PsbcSandbox } from "../services/sandbox/psbc-sandbox.js";
import { DEVELOPMENT_SERVICE_TYPE_KEK, DEVELOPMENT_WHALE_KEK } from "../services/platform/development-kek.js";
import { SANDBOX_BLUE_BROTHERS, SANDBOX_PSBC } from "../services/sandbox/credentials.js";
import { testDatabase, type TestDatabase } from "./support/databases.js";
import { freePort } from "./support/free-port.js";
import { until } from "./support/until.js";
import { services } from "../services/platform/services.js";
import { freshCode, PATHS, postPsbc, SANDBOX_AES } from "./support/platform.js";
import { cluster } from "./support/cluster.js";

const MAIN = "dist/services/platform/main.js";
const DELAY_MS = 600;

interface RoleProcess {
  child: ChildProcess;
  /** Every log line so far, parsed. */
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

function startRole(role: string, env: Record<string, string>): RoleProcess {
  const child = spawn(process.execPath, [MAIN, role], {
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Array<Record<string, unknown>> = [];
  let rest = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    const text = rest + chunk.toString("utf8");
    const parts = text.split("\n");
    rest = parts.pop() ?? "";
    for (const line of parts) if (line.startsWith("{")) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  child.stderr?.on("data", (chunk: Buffer) => lines.push({ stderr: chunk.toString("utf8") }));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return { child, lines, exited };
}

/** Polls `condition` until it holds; a throw (a process not listening yet, or any more) counts as not yet. */
function eventually(what: string, condition: () => Promise<boolean>, ms = 20_000): Promise<void> {
  return until(() => condition().catch(() => false), ms, what);
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return res.text();
}

/** The value of the first sample of `name` whose labels include every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const pairs = match[2] ?? "";
    if (Object.entries(labels).every(([key, value]) => pairs.includes(`${key}="${value}"`))) return Number(match[3]);
  }
  return undefined;
}

describe.skipIf(!cluster)("the cluster's processes (real PostgreSQL, Redis, NATS; SIGTERM)", () => {
  let database: TestDatabase;
  let psbc: PsbcSandbox;
  let blueBrothers: BlueBrothersSandbox;
  const ports: Record<"gateway" | "order" | "voucher" | "gatewayMetrics" | "orderMetrics" | "voucherMetrics", number> = {
    gateway: 0, order: 0, voucher: 0, gatewayMetrics: 0, orderMetrics: 0, voucherMetrics: 0,
  };
  const processes: RoleProcess[] = [];
  let orderEnv: Record<string, string>;
  let gateway: RoleProcess;
  let order: RoleProcess;
  const gatewayUrl = () => `http://127.0.0.1:${ports.gateway}`;
  const orderHealth = () => createClient(Health, rpcTransport(`http://127.0.0.1:${ports.order}`, { timeoutMs: 1_000 }));
  const ready = async () => (await fetch(`${gatewayUrl()}/readyz`)).status === 200;
  const role = (name: string, env: Record<string, string>) => {
    const started = startRole(name, env);
    processes.push(started);
    return started;
  };

  beforeAll(async () => {
    // The processes run the compiled code, as the image does.
    await promisify(execFile)("npm", ["run", "--silent", "build"], { timeout: 120_000 });
    database = await testDatabase();
    psbc = await startPsbcSandbox(SANDBOX_PSBC);
    blueBrothers = await startBlueBrothersSandbox(SANDBOX_BLUE_BROTHERS);
    for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort();
    const shared = { DATABASE_URL: database.url ?? "", NATS_URL: process.env.NATS_URL ?? "", SHUTDOWN_DELAY_MS: String(DELAY_MS) };

    const migrate = startRole("migrate", { DATABASE_URL: shared.DATABASE_URL });
    expect(await migrate.exited).toBe(0);
    // Schemas are independent: `migrate` goes down the list of services, whatever its order.
    expect(migrate.lines.filter((line) => line.msg === "schema migrated").map((line) => String(line.schema)).sort()).toEqual(
      services.map((service) => service.schema.name).sort(),
    );

    role("voucher", {
      ...shared,
      REDIS_URL: process.env.REDIS_URL ?? "",
      VOUCHER_PORT: String(ports.voucher),
      METRICS_PORT: String(ports.voucherMetrics),
      ...blueBrothers.upstreamEnv(),
      ADMIN_TOKEN: "process-lifecycle-admin-token-0123456789",
      WHALE_KEK: DEVELOPMENT_WHALE_KEK,
      // The PSBC offer the sandbox type 310001's vouchers are made from.
      SANDBOX_PSBC_OFFER: "true",
    });
    orderEnv = {
      ...shared,
      REDIS_URL: process.env.REDIS_URL ?? "",
      ORDER_PORT: String(ports.order),
      METRICS_PORT: String(ports.orderMetrics),
      VOUCHER_SERVICE_URL: `http://127.0.0.1:${ports.voucher}`,
      ...psbc.upstreamEnv(),
      ADMIN_TOKEN: "process-lifecycle-admin-token-0123456789",
      SERVICE_TYPE_KEK: DEVELOPMENT_SERVICE_TYPE_KEK,
      SANDBOX_AES_KEY: SANDBOX_AES.key,
      SANDBOX_AES_IV: SANDBOX_AES.iv,
    };
    order = role("order", orderEnv);
    gateway = role("gateway", {
      PORT: String(ports.gateway),
      METRICS_PORT: String(ports.gatewayMetrics),
      ORDER_SERVICE_URL: `http://127.0.0.1:${ports.order}`,
      SHUTDOWN_DELAY_MS: String(DELAY_MS),
    });
    await eventually("the gateway reports ready", ready, 30_000);
    // The gateway's readiness follows the order service's, not the voucher's, which seeds the PSBC offer (an RSA
    // key pair) before it serves: a first booking must not race it.
    const voucherHealth = createClient(Health, rpcTransport(`http://127.0.0.1:${ports.voucher}`, { timeoutMs: 1_000 }));
    await eventually("the voucher service serves", async () => (await voucherHealth.check({ service: "" })).status === ServingStatus.SERVING, 30_000);
  }, 180_000);

  afterAll(async () => {
    for (const { child } of processes) if (child.exitCode === null) child.kill("SIGKILL");
    await psbc?.close();
    await blueBrothers?.close();
    await database?.drop();
  });

  it("exposes the request, RPC, outbox and process series after traffic", async () => {
    const code = freshCode();
    expect((await postPsbc(gatewayUrl(), PATHS.appointment, { code })).body.code).toBe(0);
    expect((await postPsbc(gatewayUrl(), PATHS.detail, { code })).body.code).toBe(0);

    const gatewayText = await scrape(ports.gatewayMetrics);
    expect(sample(gatewayText, "http_server_requests_total", { route: PATHS.appointment, status_code: "200", code: "0" })).toBeGreaterThan(0);
    expect(sample(gatewayText, "http_server_request_duration_seconds_count", { route: PATHS.detail })).toBeGreaterThan(0);

    const orderText = await scrape(ports.orderMetrics);
    const booked = { grpc_service: "rights.order.v1.OrderService", grpc_method: "BookService" };
    expect(sample(orderText, "grpc_server_handled_total", { ...booked, grpc_code: "OK" })).toBeGreaterThan(0);
    expect(sample(orderText, "grpc_server_handling_seconds_bucket", { ...booked, le: "+Inf" })).toBeGreaterThan(0);
    expect(sample(orderText, "outbox_pending_events", { schema: "orders" })).toBeGreaterThanOrEqual(0);
    expect(sample(orderText, "upstream_requests_total", { upstream: "psbc", operation: "book", outcome: "ok" })).toBeGreaterThan(0);
    expect(sample(orderText, "process_resident_memory_bytes", {})).toBeGreaterThan(0);

    const voucherText = await scrape(ports.voucherMetrics);
    expect(sample(voucherText, "grpc_server_handled_total", { grpc_method: "IssueVoucher", grpc_code: "OK" })).toBeGreaterThan(0);
    expect(sample(voucherText, "outbox_pending_events", { schema: "vouchers" })).toBeGreaterThanOrEqual(0);
    expect(sample(voucherText, "upstream_request_duration_seconds_count", { upstream: "blue-brothers", operation: "issue" })).toBeGreaterThan(0);
  });

  it("SIGTERM to the order service: NOT_SERVING during the drain, the booking in flight completes, exit 0", async () => {
    psbc.faults.set("book", { mode: "delay", delayMs: 1_500, times: 1 });
    const booking = postPsbc(gatewayUrl(), PATHS.appointment, { code: freshCode() });
    await eventually("the booking reaches PSBC", async () => psbc.calls.book > 0);
    order.child.kill("SIGTERM");
    await eventually("order health turns NOT_SERVING", async () => (await orderHealth().check({ service: "" })).status === ServingStatus.NOT_SERVING, 1_000);
    // Liveness stays up through the drain: a probe must not restart a pod that is finishing its work.
    expect((await orderHealth().check({ service: "liveness" })).status).toBe(ServingStatus.SERVING);
    const { status, body } = await booking;
    expect({ status, code: body.code }).toEqual({ status: 200, code: 0 });
    expect(await order.exited).toBe(0);
    expect(order.lines.some((line) => line.msg === "stopped")).toBe(true);
    await eventually("the gateway reports not ready without the order service", async () => !(await ready()));

    // A new replica takes over (the rolling update's next pod).
    order = role("order", orderEnv);
    await eventually("the new order replica is ready", ready, 30_000);
  });

  it("SIGTERM to the gateway: /readyz 503 at once, the request in flight completes, exit 0", async () => {
    psbc.faults.set("book", { mode: "delay", delayMs: 1_500, times: 1 });
    const calls = psbc.calls.book;
    const booking = postPsbc(gatewayUrl(), PATHS.appointment, { code: freshCode() });
    await eventually("the booking reaches PSBC", async () => psbc.calls.book > calls);
    gateway.child.kill("SIGTERM");
    await eventually("/readyz answers 503", async () => (await fetch(`${gatewayUrl()}/readyz`)).status === 503, 1_000);
    const { status, body } = await booking;
    expect({ status, code: body.code }).toEqual({ status: 200, code: 0 });
    expect(await gateway.exited).toBe(0);
  });
});
