// A service added the way the README says (a descriptor, one entry in a list) runs in both modes: embedded,
// beside the platform's services, and as its own cluster role on the real servers after `migrate`. Its consumer
// gets the order service's order.booked once, even though the first delivery fails and is redelivered, and a
// re-publish of the same event (after the bus's duplicate window) changes nothing.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { toBinary } from "@bufbuild/protobuf";
import { url } from "envalid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health } from "../proto/gen/grpc/health/v1/health_pb.js";
import { OrderBookedSchema, type OrderBooked } from "../proto/gen/rights/events/v1/events_pb.js";
import { Redis } from "ioredis";
import { listenPort } from "../services/common/config.js";
import { REDIS_DEPLOYMENT_KEY } from "../services/common/deployment.js";
import { handleOnce, on, type Consumer } from "../services/common/consumer.js";
import type { Database } from "../services/common/database.js";
import { createLogger } from "../services/common/logger.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { defineService } from "../services/common/service-descriptor.js";
import { migrateServices, startServiceRole, streamsOf, type Running } from "../services/platform/cluster.js";
import { startPlatform, type RunningPlatform } from "../services/platform/platform.js";
import { services } from "../services/platform/services.js";
import { testDatabase, type TestDatabase } from "./support/databases.js";
import { startTestNatsServer, type TestNatsServer } from "./support/nats-server.js";
import { freePort } from "./support/free-port.js";
import { freshCode, PATHS, postPsbc, SANDBOX_AES } from "./support/platform.js";
import { until } from "./support/until.js";
import { cluster } from "./support/cluster.js";

const logger = createLogger("test", process.env.TEST_LOG_LEVEL ?? "silent");

/**
 * "tally": counts bookings. It owns schema `tally`, calls the order service (its peer: checked at prepare) and
 * consumes order.booked; the first delivery of every event fails after writing, to prove the write is undone.
 */
async function tallyService(durable: string) {
  const migrationsDir = await mkdtemp(path.join(tmpdir(), "tally-"));
  await writeFile(
    path.join(migrationsDir, "001.do.tally.sql"),
    "CREATE TABLE tally.booking (order_no text PRIMARY KEY, handled integer NOT NULL, delivery integer NOT NULL);\n",
  );
  const deliveries = new Map<string, { id: string; event: OrderBooked }>();
  const consumer: Consumer = {
    durable,
    handlers: [
      on(OrderBookedSchema, async (event, tx, delivery) => {
        await tx.query(
          `INSERT INTO tally.booking (order_no, handled, delivery) VALUES ($1, 1, $2)
           ON CONFLICT (order_no) DO UPDATE SET handled = tally.booking.handled + 1`,
          [event.orderNo, delivery.deliveryCount],
        );
        deliveries.set(event.orderNo, { id: delivery.id, event });
        if (delivery.deliveryCount === 1) throw new Error("first delivery fails after its write");
      }),
    ],
  };
  const descriptor = defineService({
    name: "tally",
    schema: { name: "tally", migrationsDir },
    streams: [],
    config: { TALLY_PORT: listenPort({ default: 0 }), ORDER_SERVICE_URL: url() },
    needs: {},
    peers: ["order"],
    start: ({ env }) => ({
      routes() {},
      consumers: [consumer],
      async prepare() {
        await createClient(Health, rpcTransport(env.ORDER_SERVICE_URL)).check({ service: "" });
      },
    }),
  });
  return { descriptor, consumer, deliveries, remove: () => rm(migrationsDir, { recursive: true, force: true }) };
}

type Tally = Awaited<ReturnType<typeof tallyService>>;

/** Books a fresh code through the gateway; the order number of the booking. */
async function book(gatewayUrl: string, db: Database): Promise<string> {
  const code = freshCode();
  const booked = await postPsbc(gatewayUrl, PATHS.appointment, { code });
  expect(booked.body.code).toBe(0);
  const { rows } = await db.query<{ order_no: string }>("SELECT order_no FROM orders.rights_order WHERE code = $1", [code]);
  const orderNo = rows[0]?.order_no;
  if (!orderNo) throw new Error(`no order for ${code}`);
  return orderNo;
}

/** The order's booking was tallied once, on its redelivery; a re-publish of the same event changes nothing. */
async function expectTalliedOnce(db: Database, tally: Tally, orderNo: string): Promise<void> {
  const row = async () =>
    (await db.query<{ handled: number; delivery: number }>("SELECT handled, delivery FROM tally.booking WHERE order_no = $1", [orderNo])).rows[0];
  await until(async () => (await row()) !== undefined, 15_000, "the booking tallied");
  expect(await row()).toEqual({ handled: 1, delivery: 2 });

  const delivered = tally.deliveries.get(orderNo);
  if (!delivered) throw new Error("the consumer never saw the event");
  const republish = handleOnce(tally.consumer, { db, schema: "tally", logger, eventsWritten() {} });
  await republish({ id: delivered.id, subject: "order.booked", data: toBinary(OrderBookedSchema, delivered.event), deliveryCount: 1 });
  expect(await row()).toEqual({ handled: 1, delivery: 2 });
  const processed = await db.query("SELECT 1 FROM tally.processed_event WHERE consumer = $1 AND event_id = $2", [tally.consumer.durable, delivered.id]);
  expect(processed.rowCount).toBe(1);
}

/**
 * Each test starts a platform (five schemas migrated; on PGlite in one process when embedded) and a booking
 * tallied within 15 s: the hook timeout (60 s) for the start plus that wait, not the default 30 s.
 */
const PLATFORM_TEST_TIMEOUT_MS = 90_000;

describe("a service added by its descriptor", () => {
  it("runs embedded beside the platform's services, after its peer, and consumes their events once", async () => {
    const tally = await tallyService("tally-order-booked");
    let platform: RunningPlatform | undefined;
    try {
      // Listed first, started after the order service it calls.
      platform = await startPlatform({ logger, sandboxAes: SANDBOX_AES, services: [tally.descriptor, ...services] });
      const names = platform.services.map((service) => service.name);
      expect(names.indexOf("tally")).toBeGreaterThan(names.indexOf("order"));
      expect(new Set(names)).toEqual(new Set(["tally", ...services.map((service) => service.name)]));
      const orderNo = await book(platform.gatewayUrl, platform.db);
      await expectTalliedOnce(platform.db, tally, orderNo);
    } finally {
      await platform?.close();
      await tally.remove();
    }
  }, PLATFORM_TEST_TIMEOUT_MS);

  describe.skipIf(!cluster)("as a cluster role on PostgreSQL, NATS and Redis", () => {
    const durable = `tally-${randomBytes(4).toString("hex")}`;
    let t: TestDatabase;
    let tally: Tally;
    let platform: RunningPlatform | undefined;
    let role: Running | undefined;
    // A NATS of its own: a new durable reads its stream from the start, and the shared ORDER stream holds every
    // earlier run's bookings, which this consumer would work through (each failing once) before the test's.
    let nats: TestNatsServer;
    beforeAll(async () => {
      nats = await startTestNatsServer();
      t = await testDatabase();
      tally = await tallyService(durable);
    });
    afterAll(async () => {
      for (const stop of role?.stops ?? []) await stop();
      await platform?.close();
      await nats?.stop();
      await tally?.remove();
      await t?.drop();
    });

    it("has its schema made by `migrate` and gets an event the order service published, once", async () => {
      const withTally = [...services, tally.descriptor];
      await migrateServices(withTally, logger, { DATABASE_URL: t.url });
      platform = await startPlatform({
        logger,
        sandboxAes: SANDBOX_AES,
        databaseUrl: t.url,
        redisUrl: process.env.REDIS_URL,
        natsUrl: nats.url,
      });
      role = await startServiceRole(tally.descriptor, {
        logger,
        streams: streamsOf(withTally),
        env: {
          DATABASE_URL: t.url,
          NATS_URL: nats.url,
          HOST: "127.0.0.1",
          METRICS_PORT: String(await freePort()),
          ORDER_SERVICE_URL: platform.serviceUrl("order"),
        },
      });
      await role.ready;
      const orderNo = await book(platform.gatewayUrl, t.db);
      await expectTalliedOnce(t.db, tally, orderNo);
    }, PLATFORM_TEST_TIMEOUT_MS);

    /** The tally role's variables as a deployment `instance` sets them, on this test's database and NATS unless told. */
    const roleEnv = async (instance: string, more: Record<string, string> = {}) => ({
      DATABASE_URL: t.url,
      NATS_URL: nats.url,
      HOST: "127.0.0.1",
      METRICS_PORT: String(await freePort()),
      ORDER_SERVICE_URL: platform?.serviceUrl("order") ?? "",
      PLATFORM_INSTANCE: instance,
      ...more,
    });

    /** The tally role of deployment `instance` started until ready, then stopped: its claims are made. */
    async function startedAndStopped(instance: string): Promise<void> {
      const role = await startServiceRole(tally.descriptor, { logger, streams: streamsOf([...services, tally.descriptor]), env: await roleEnv(instance) });
      try {
        await role.ready;
      } finally {
        for (const stop of role.stops) await stop();
      }
    }

    it("takes over the streams for its deployment (PLATFORM_INSTANCE), and a role of another deployment on the same NATS fails at start naming both", async () => {
      await startedAndStopped("staging/rights");
      await expect(
        startServiceRole(tally.descriptor, { logger, streams: streamsOf([...services, tally.descriptor]), env: await roleEnv("production/rights") }),
      ).rejects.toThrow(/belongs to staging\/rights, not production\/rights/);
    }, PLATFORM_TEST_TIMEOUT_MS);

    it("claims its schema for its deployment: another deployment's role on the same database (its own NATS) fails before touching a row, and its `migrate` changes no schema", async () => {
      await startedAndStopped("staging/rights");
      const versions = () => t.db.query("SELECT version FROM tally.infrastructure_version ORDER BY version");
      const before = (await versions()).rows;
      const otherNats = await startTestNatsServer();
      try {
        const production = await startServiceRole(tally.descriptor, {
          logger,
          streams: streamsOf([...services, tally.descriptor]),
          env: await roleEnv("production/rights", { NATS_URL: otherNats.url }),
        });
        try {
          await expect(production.ready).rejects.toThrow(/schema tally belongs to staging\/rights, not production\/rights/);
        } finally {
          for (const stop of production.stops) await stop();
        }
        await expect(migrateServices([...services, tally.descriptor], logger, { DATABASE_URL: t.url, PLATFORM_INSTANCE: "production/rights" })).rejects.toThrow(
          /schema tally belongs to staging\/rights/,
        );
        // Nothing was migrated or claimed for it: the platform's schemas, never claimed before, still are not.
        expect((await versions()).rows).toEqual(before);
        expect((await t.db.query("SELECT 1 FROM orders.deployment")).rowCount).toBe(0);
      } finally {
        await otherNats.stop();
      }
    }, PLATFORM_TEST_TIMEOUT_MS);

    it("claims the Redis database for its deployment: an order role of another deployment on it fails at start naming both", async () => {
      // A Redis database of this test's own, claimed by "staging/rights" in every run (parallel runs agree on it).
      const redisUrl = new URL(process.env.REDIS_URL ?? "");
      redisUrl.pathname = "/15";
      const redis = new Redis(redisUrl.toString());
      await redis.set(REDIS_DEPLOYMENT_KEY, "staging/rights");
      await redis.quit();
      const otherNats = await startTestNatsServer();
      const order = services.find((service) => service.name === "order");
      if (!order) throw new Error("no order service");
      try {
        await expect(
          startServiceRole(order, {
            logger,
            streams: streamsOf(services),
            env: await roleEnv("production/rights", {
              NATS_URL: otherNats.url,
              REDIS_URL: redisUrl.toString(),
              ORDER_PORT: "0",
              // The order service's own variables: it is refused before it would use any.
              PSBC_BASE_URL: "http://127.0.0.1:9",
              PSBC_APP_ID: "app",
              PSBC_APP_SECRET: "secret",
              ADMIN_TOKEN: "a".repeat(32),
              SERVICE_TYPE_KEK: Buffer.alloc(32, 1).toString("base64"),
            }),
          }),
        ).rejects.toThrow(/the Redis database belongs to staging\/rights, not production\/rights/);
      } finally {
        await otherNats.stop();
      }
    }, PLATFORM_TEST_TIMEOUT_MS);
  });
});
