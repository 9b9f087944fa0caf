// The notify service's alerting series on the real database (PostgreSQL when DATABASE_URL is set, else PGlite):
// a dead PSBC notice and a long-pending one show at the next scrape, and a database gone leaves them out
// rather than failing the scrape.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { createLogger } from "../common/logger.js";
import { Metrics } from "../common/metrics.js";
import { migrate } from "../common/migrate.js";
import { TaskType } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { registerTaskMetrics } from "./task-metrics.js";
import { NOTIFY_SCHEMA, TaskStore } from "./task-store.js";

describe(`notify task metrics (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  let store: TaskStore;
  const start = new Date("2026-11-03T01:00:00Z");
  let now = start;
  const clock = { now: () => now };

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: NOTIFY_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)), logger: createLogger("task-metrics-test", "silent") });
    store = new TaskStore(t.db);
  });

  afterAll(async () => {
    await t?.drop();
  });

  /** The scrape's lines of the two series. */
  async function scrape(metrics: Metrics): Promise<string[]> {
    return (await metrics.registry.metrics()).split("\n").filter((line) => /^notify_(tasks|oldest_pending_task_seconds)\{/.test(line));
  }

  it("counts pending and dead tasks by type and ages the oldest pending one, at each scrape", async () => {
    const metrics = new Metrics({ processMetrics: false });
    const unregister = registerTaskMetrics(metrics.registry, store, clock);
    expect(await scrape(metrics)).toEqual([
      'notify_tasks{type="service_complete",state="pending"} 0',
      'notify_tasks{type="service_complete",state="dead"} 0',
      'notify_tasks{type="sms",state="pending"} 0',
      'notify_tasks{type="sms",state="dead"} 0',
      'notify_oldest_pending_task_seconds{type="service_complete"} 0',
      'notify_oldest_pending_task_seconds{type="sms"} 0',
    ]);

    for (const code of ["M-DEAD", "M-PENDING-1", "M-PENDING-2"]) {
      await store.create({ type: TaskType.SERVICE_COMPLETE, orderNo: `O${code}`, code, payload: { code } }, start);
    }
    await store.create({ type: TaskType.SMS, orderNo: "OM-SMS", code: "M-SMS", payload: {} }, new Date(start.getTime() + 60_000));
    const claimed = await store.claim(start, 10, 30_000);
    const dead = claimed.find((task) => task.code === "M-DEAD");
    if (!dead) throw new Error("claimed");
    await store.dead([{ task: dead, error: "psbc complete rejected (200001)" }]);
    await store.failed(claimed.filter((task) => task !== dead && task.type === TaskType.SERVICE_COMPLETE).map((task) => ({ task, error: "busy", retryAt: start })));

    now = new Date(start.getTime() + 1_800_000);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past the one-read-per-scrape window
    expect(await scrape(metrics)).toEqual([
      'notify_tasks{type="service_complete",state="pending"} 2',
      'notify_tasks{type="service_complete",state="dead"} 1',
      'notify_tasks{type="sms",state="pending"} 1',
      'notify_tasks{type="sms",state="dead"} 0',
      'notify_oldest_pending_task_seconds{type="service_complete"} 1800',
      'notify_oldest_pending_task_seconds{type="sms"} 1740',
    ]);

    // A second notify in the same process: the first's series serve it, and its stop leaves them.
    registerTaskMetrics(metrics.registry, store, clock)();
    expect(await scrape(metrics)).toHaveLength(6);
    unregister();
    expect(await scrape(metrics)).toEqual([]);
    // Registering again (a restarted service in the same process) finds the names free.
    registerTaskMetrics(metrics.registry, store, clock)();
  });

  it("leaves the series out when the database does not answer, and the scrape still succeeds", async () => {
    const metrics = new Metrics({ processMetrics: false });
    registerTaskMetrics(metrics.registry, { backlog: () => Promise.reject(new Error("connection refused")) }, clock);
    const text = await metrics.registry.metrics();
    expect(text).toContain("# TYPE notify_tasks gauge");
    expect(await scrape(metrics)).toEqual([]);
  });
});
