// The outbox when NATS loses its streams: a NATS server of the test's own is killed and restarted with an empty
// store (the stream is gone), then without JetStream (nothing can be published), while a hosted service keeps
// running. Its relay must declare the stream again and publish what waited; a relay that cannot publish past
// the threshold must say so in its log, its metric and its readiness.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { freePort } from "../../test/support/free-port.js";
import { until } from "../../test/support/until.js";
import { connectEventBus, type EventBus } from "./bus.js";
import { ServingStatus } from "./health.js";
import { Metrics } from "./metrics.js";
import { appendEvent } from "./outbox.js";
import { hostService, type HostedService } from "./service-host.js";

const NATS_SERVER = "/usr/sbin/nats-server";
const STREAM = "T_BUS_LOSS";
const SCHEMA = "busloss";
const STALL_MS = 500;

/** How many messages the stream holds now; undefined when the server or the stream is not there. */
async function streamMessages(url: string): Promise<number | undefined> {
  const nc = await connect({ servers: url, timeout: 1_000, maxReconnectAttempts: 0 }).catch(() => undefined);
  if (!nc) return undefined;
  try {
    const jsm = await nc.jetstreamManager({ timeout: 1_000 });
    return (await jsm.streams.info(STREAM)).state.messages;
  } catch {
    return undefined;
  } finally {
    await nc.close();
  }
}

describe(`the outbox after NATS lost its streams (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  let bus: EventBus;
  let service: HostedService;
  let nats: ChildProcess | undefined;
  let port: number;
  let url: string;
  let dir: string;
  const metrics = new Metrics({ processMetrics: false });
  const logLines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: "info" }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });

  /** A fresh NATS on the same port: an empty store, with or without JetStream. */
  async function startNats(options: { jetstream: boolean }): Promise<void> {
    const store = await mkdtemp(path.join(dir, "store-"));
    nats = spawn(NATS_SERVER, [...(options.jetstream ? ["-js"] : []), "-a", "127.0.0.1", "-p", String(port), "-sd", store], { stdio: "ignore" });
    await until(
      async () => {
        const nc = await connect({ servers: url, timeout: 500, maxReconnectAttempts: 0 }).catch(() => undefined);
        await nc?.close();
        return nc !== undefined;
      },
      10_000,
      "nats-server listening",
    );
  }

  async function killNats(): Promise<void> {
    const exited = nats ? once(nats, "exit") : undefined;
    nats?.kill("SIGKILL");
    await exited;
    nats = undefined;
  }

  async function writeEvents(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await appendEvent(t.db, SCHEMA, { subject: "busloss.happened", data: new TextEncoder().encode(String(i)) });
  }

  const pending = async () => Number((await t.db.query<{ n: number }>(`SELECT count(*) AS n FROM ${SCHEMA}.outbox WHERE published_at IS NULL`)).rows[0]?.n);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "bus-loss-"));
    port = await freePort();
    url = `nats://127.0.0.1:${port}`;
    await startNats({ jetstream: true });
    t = await testDatabase();
    bus = await connectEventBus({ url, streams: [{ name: STREAM, subjects: ["busloss.>"] }], name: "bus-loss-test", logger });
    service = await hostService({
      name: "stand-in",
      schema: SCHEMA,
      // No migrations of its own: the shared ones give it its outbox.
      db: t.db,
      bus,
      logger,
      host: "127.0.0.1",
      port: 0,
      runtime: { metrics, migrations: "apply", shutdownDelayMs: 0, shutdownGraceMs: 1_000, dependencyCheckMs: 100, outboxStallMs: STALL_MS },
      start: () => ({ routes: () => undefined }),
    });
    await service.ready;
  });

  afterAll(async () => {
    await service?.close();
    await bus?.close().catch(() => undefined);
    await killNats();
    await t?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("declares the lost stream again and publishes the waiting events, without a restart", async () => {
    await writeEvents(1);
    await until(async () => (await streamMessages(url)) === 1, 10_000, "first event published");

    await killNats();
    await writeEvents(20);
    await startNats({ jetstream: true });
    await until(async () => (await streamMessages(url)) === 20, 30_000, "waiting events published into a new stream");
    // The relay marks a batch published after NATS acknowledged it: the stream can show it a moment before the table.
    await until(async () => (await pending()) === 0, 5_000, "every event marked published");
    await until(() => service.health.get("") === ServingStatus.SERVING, 5_000, "service ready again");
  });

  it("reports a relay that cannot publish past the threshold: error log, metric, not ready; and its recovery", async () => {
    logLines.length = 0;
    await killNats();
    await startNats({ jetstream: false });
    await writeEvents(3);
    // The bus answers pings again (the server is up), so only the stalled outbox keeps the service not ready.
    await until(
      () => logLines.some((line) => line.msg === "outbox stalled: events cannot be published to the bus" && line.schema === SCHEMA),
      20_000,
      "stall logged",
    );
    await until(async () => (await bus.ping().then(() => true, () => false)), 5_000, "bus answering pings");
    await sleep(300);
    expect(service.health.get("")).toBe(ServingStatus.NOT_SERVING);
    const failing = (await metrics.registry.getSingleMetric("outbox_publish_failing_seconds")?.get())?.values.find((v) => v.labels.schema === SCHEMA);
    expect(failing?.value).toBeGreaterThanOrEqual(STALL_MS / 1000);
    expect(await pending()).toBe(3);

    await killNats();
    await startNats({ jetstream: true });
    await until(async () => (await pending()) === 0, 40_000, "events published after recovery");
    await until(() => service.health.get("") === ServingStatus.SERVING, 5_000, "service ready again");
    expect(logLines.some((line) => line.msg === "outbox publishing again")).toBe(true);
    const after = (await metrics.registry.getSingleMetric("outbox_publish_failing_seconds")?.get())?.values.find((v) => v.labels.schema === SCHEMA);
    expect(after?.value).toBe(0);
  });
});
