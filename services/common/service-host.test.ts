import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { until } from "../../test/support/until.js";
import { connectEventBus, type EventBus } from "./bus.js";
import { LIVENESS, ServingStatus } from "./health.js";
import { createLogger } from "./logger.js";
import { Metrics } from "./metrics.js";
import { migrate } from "./migrate.js";
import { appendEvent } from "./outbox.js";
import { rpcTransport } from "./rpc-client.js";
import { hostService, type HostOptions } from "./service-host.js";

const logger = createLogger("host-test", "silent");

/** A stand-in service: GetVoucher takes `order_no` milliseconds, so a test can hold a call in flight. */
function options(t: TestDatabase, bus: EventBus, dir: string, overrides: Partial<HostOptions> = {}): HostOptions {
  return {
    name: "stand-in",
    schema: "hosted",
    migrationsDir: dir,
    db: t.db,
    bus,
    logger,
    host: "127.0.0.1",
    port: 0,
    runtime: { metrics: new Metrics({ processMetrics: false }), migrations: "await", shutdownDelayMs: 0, shutdownGraceMs: 2_000, dependencyCheckMs: 50 },
    start: () => ({
      routes: (router) =>
        router.service(VoucherService, {
          async getVoucher(req) {
            await sleep(Number(req.orderNo));
            return { voucher: { orderNo: req.orderNo } };
          },
        }),
    }),
    ...overrides,
  };
}

describe(`a hosted service (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  let bus: EventBus;
  let dir: string;
  beforeAll(async () => {
    t = await testDatabase();
    bus = await connectEventBus({ streams: [], name: "host-test", logger });
    dir = await mkdtemp(path.join(tmpdir(), "hosted-"));
    await writeFile(path.join(dir, "001.do.init.sql"), "CREATE TABLE hosted.stand_in (id integer PRIMARY KEY);\n");
  });
  afterAll(async () => {
    await bus?.close();
    await t?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("is not ready and refuses calls until the migration command has run, but is alive all along", async () => {
    const service = await hostService(options(t, bus, dir));
    try {
      const transport = rpcTransport(`http://127.0.0.1:${service.port}`);
      const health = createClient(Health, transport);
      expect((await health.check({ service: "" })).status).toBe(ServingStatus.NOT_SERVING);
      expect((await health.check({ service: LIVENESS })).status).toBe(ServingStatus.SERVING);
      const refused = await createClient(VoucherService, transport).getVoucher({ orderNo: "0" }).catch((e: unknown) => e);
      expect(ConnectError.from(refused).code).toBe(Code.Unavailable);

      await migrate(t.db, { schema: "hosted", migrationsDir: dir, logger });
      await service.ready;
      await until(async () => (await health.check({ service: "" })).status === ServingStatus.SERVING);
      expect((await createClient(VoucherService, transport).getVoucher({ orderNo: "0" })).voucher?.orderNo).toBe("0");
    } finally {
      await service.close();
    }
  });

  it("turns NOT_SERVING while a dependency is down, and SERVING again when it is back", async () => {
    let redisUp = true;
    const base = options(t, bus, dir);
    const service = await hostService({
      ...base,
      start: (context) => ({
        ...base.start(context),
        dependencies: [{ name: "redis", ping: async () => { if (!redisUp) throw new Error("ECONNREFUSED"); } }],
      }),
    });
    try {
      await service.ready;
      await until(async () => service.health.get("") === ServingStatus.SERVING);
      redisUp = false;
      await until(async () => service.health.get("") === ServingStatus.NOT_SERVING);
      expect(service.health.get("rights.voucher.v1.VoucherService")).toBe(ServingStatus.NOT_SERVING);
      expect(service.health.get(LIVENESS)).toBe(ServingStatus.SERVING);
      redisUp = true;
      await until(async () => service.health.get("") === ServingStatus.SERVING);
    } finally {
      await service.close();
    }
  });

  it("on close: NOT_SERVING at once, still serving through the delay, the call in flight completes", async () => {
    const base = options(t, bus, dir);
    const service = await hostService({ ...base, runtime: { ...base.runtime, shutdownDelayMs: 300 } });
    await service.ready;
    const vouchers = createClient(VoucherService, rpcTransport(`http://127.0.0.1:${service.port}`));
    const inFlight = vouchers.getVoucher({ orderNo: "600" });
    await sleep(100);
    const closing = service.close();
    expect(service.health.get("")).toBe(ServingStatus.NOT_SERVING);
    // Load balancers have not noticed yet: a call arriving now is still answered.
    expect((await vouchers.getVoucher({ orderNo: "10" })).voucher?.orderNo).toBe("10");
    expect((await inFlight).voucher?.orderNo).toBe("600");
    await closing;
  });

  it("on a bus that keeps nothing across a restart (the in-process one), publishes again what it published in the last two hours, so no consumer misses it", async () => {
    await migrate(t.db, { schema: "hosted", migrationsDir: dir, logger });
    const local = await connectEventBus({ streams: [{ name: "HOSTED", subjects: ["hosted.>"] }], name: "host-test-restart", logger });
    const received: string[] = [];
    await local.subscribe({ durable: "hosted-consumer", subjects: ["hosted.>"], handler: async (m) => void received.push(m.id) });
    // Published before the restart, by the process that stopped: one an hour ago, one three hours ago.
    const ids = await t.db.transaction(async (tx) => [
      await appendEvent(tx, "hosted", { subject: "hosted.recent", data: new Uint8Array([1]) }),
      await appendEvent(tx, "hosted", { subject: "hosted.old", data: new Uint8Array([2]) }),
    ]);
    await t.db.query(`UPDATE hosted.outbox SET published_at = now() - interval '1 hour' WHERE id = $1`, [ids[0]]);
    await t.db.query(`UPDATE hosted.outbox SET published_at = now() - interval '3 hours' WHERE id = $1`, [ids[1]]);
    expect(local.durable).toBe(false);
    const service = await hostService(options(t, local, dir));
    try {
      await service.ready;
      await until(() => received.includes(ids[0]!));
      await sleep(100);
      expect(received).toEqual([ids[0]]);
    } finally {
      await service.close();
      await local.close();
    }
  });

  it("keeps its messaging tables bounded: processed events past two weeks are gone once it has started", async () => {
    await migrate(t.db, { schema: "hosted", migrationsDir: dir, logger });
    await t.db.query(
      `INSERT INTO hosted.processed_event (consumer, event_id, handled_at) VALUES ('c', 'old', now() - interval '15 days'), ('c', 'recent', now())`,
    );
    const service = await hostService(options(t, bus, dir));
    try {
      await service.ready;
      await until(async () => (await t.db.query(`SELECT 1 FROM hosted.processed_event WHERE event_id = 'old'`)).rows.length === 0);
      expect((await t.db.query(`SELECT event_id FROM hosted.processed_event`)).rows).toEqual([{ event_id: "recent" }]);
    } finally {
      await service.close();
    }
  });
});
