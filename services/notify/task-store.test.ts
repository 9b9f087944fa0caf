// The task store's outcomes on the real database (PostgreSQL when DATABASE_URL is set, else PGlite): a failure's
// text quotes PSBC's or the SMS gateway's message, and whatever that holds, the batch's outcomes are recorded.
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { createLogger } from "../common/logger.js";
import { migrate } from "../common/migrate.js";
import { TaskState, TaskType } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { NOTIFY_SCHEMA, TaskStore } from "./task-store.js";

describe(`notify task store (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  let store: TaskStore;

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: NOTIFY_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)), logger: createLogger("task-store-test", "silent") });
    store = new TaskStore(t.db);
  });

  afterAll(async () => {
    await t?.drop();
  });

  it("records a batch's failures and deaths though an upstream's message holds a NUL (PostgreSQL refuses one in text), keeping its text", async () => {
    const now = new Date("2026-10-20T02:00:00Z");
    for (const code of ["NUL-FAILED", "NUL-DEAD"]) {
      await store.create({ type: TaskType.SERVICE_COMPLETE, orderNo: `O${code}`, code, payload: { code } }, now);
    }
    const claimed = await store.claim(now, 10, 30_000);
    const failed = claimed.find((task) => task.code === "NUL-FAILED");
    const dead = claimed.find((task) => task.code === "NUL-DEAD");
    if (!failed || !dead) throw new Error("both tasks claimed");

    await store.failed([{ task: failed, error: "psbc complete unavailable (999999): sys\u0000tem busy", retryAt: new Date(now.getTime() + 1_000) }]);
    expect(await store.dead([{ task: dead, error: `psbc complete rejected (200001): ${"never\u0000booked ".repeat(100)}` }])).toEqual(new Set([dead.task_id]));

    expect(await store.byId(failed.task_id)).toMatchObject({ state: TaskState.PENDING, last_error: "psbc complete unavailable (999999): system busy", claim_id: null });
    const deadRow = await store.byId(dead.task_id);
    expect(deadRow).toMatchObject({ state: TaskState.DEAD, last_error: expect.stringMatching(/^psbc complete rejected \(200001\): neverbooked /) });
    expect(deadRow?.last_error?.length).toBe(500);
    const { rows } = await t.db.query(`SELECT 1 FROM ${NOTIFY_SCHEMA}.outbox WHERE subject = 'notify.dead'`);
    expect(rows).toHaveLength(1);
  });

  it("tells a claim whose previous one ended without an outcome (its worker died) from one after a recorded attempt", async () => {
    const start = new Date("2026-10-22T02:00:00Z");
    const later = (ms: number) => new Date(start.getTime() + ms);
    const task = { type: TaskType.SERVICE_COMPLETE, orderNo: "OLAPSE", code: "LAPSED-CLAIM", payload: { code: "LAPSED-CLAIM" } };
    await store.create(task, start);
    const claimOf = async (at: Date) => (await store.claim(at, 10, 1_000)).find((row) => row.code === task.code);
    const first = await claimOf(start);
    expect(first).toMatchObject({ attempts: 1, lapsed: false });
    // Its lease ran out with no outcome recorded: the next claim says so.
    const second = await claimOf(later(1_000));
    expect(second).toMatchObject({ attempts: 2, lapsed: true });
    if (!second) throw new Error("claimed again");
    await store.failed([{ task: second, error: "busy", retryAt: later(2_000) }]);
    expect(await claimOf(later(2_000))).toMatchObject({ attempts: 3, lapsed: false });
  });

  // Two connections at once: the real server only.
  it.runIf(process.env.DATABASE_URL)("creates no second task for a code whose task is being delivered at that moment (its redemption re-published)", async () => {
    const now = new Date("2026-10-21T02:00:00Z");
    const task = { type: TaskType.SERVICE_COMPLETE, orderNo: "ORACE", code: "RACE-DELIVERING", payload: { code: "RACE-DELIVERING" } };
    await store.create(task, now);
    const claimed = (await store.claim(now, 10, 30_000)).find((row) => row.code === task.code);
    if (!claimed) throw new Error("task claimed");
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let recorded!: () => void;
    const deliveryRecorded = new Promise<void>((resolve) => (recorded = resolve));
    // The worker's delivery recorded but not committed yet, when the consumer's event arrives.
    const delivering = t.db.transaction(async (tx) => {
      expect(await new TaskStore(tx).delivered([claimed], now)).toEqual(new Set([claimed.task_id]));
      recorded();
      await held;
    });
    await deliveryRecorded;
    const creating = t.db.transaction((tx) => store.createUnlessDelivered(task, now, tx));
    await new Promise((resolve) => setTimeout(resolve, 200));
    release();
    await delivering;
    expect(await creating).toBeUndefined();
    const { rows } = await t.db.query<{ state: number }>(`SELECT state FROM ${NOTIFY_SCHEMA}.task WHERE code = $1`, [task.code]);
    expect(rows).toEqual([{ state: TaskState.DELIVERED }]);
  });
});
