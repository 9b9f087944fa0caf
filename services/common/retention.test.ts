import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { createLogger } from "./logger.js";
import { migrate } from "./migrate.js";
import { messagingRetentionJob } from "./retention.js";

const logger = createLogger("retention-test", "error");
const SCHEMA = "rt";

describe(`messaging retention (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: SCHEMA, logger });
  });
  afterAll(async () => {
    await t?.drop();
  });

  /** An outbox row created and published (or not) this many days ago. */
  const outboxRow = (createdDaysAgo: number, publishedDaysAgo: number | null) =>
    t.db.query(
      `INSERT INTO ${SCHEMA}.outbox (id, subject, payload, created_at, published_at)
       VALUES ($1, 'x.y', '\\x00', now() - make_interval(days => $2), now() - make_interval(days => $3))`,
      [randomUUID(), createdDaysAgo, publishedDaysAgo],
    );
  const processedRow = (consumer: string, handledDaysAgo: number) =>
    t.db.query(`INSERT INTO ${SCHEMA}.processed_event (consumer, event_id, handled_at) VALUES ($1, $2, now() - make_interval(days => $3))`, [
      consumer,
      randomUUID(),
      handledDaysAgo,
    ]);
  const count = async (sql: string) => Number((await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${SCHEMA}.${sql}`)).rows[0]?.n);

  it("deletes published events past a week and processed events past two, in batches, and keeps the rest", async () => {
    for (let i = 0; i < 7; i += 1) await outboxRow(9, 8);
    await outboxRow(9, null); // never published: the relay still owes it
    await outboxRow(3, 3);
    for (let i = 0; i < 4; i += 1) await processedRow("c-old", 15);
    await processedRow("c-recent", 10);
    const job = messagingRetentionJob(t.db, SCHEMA, 3);
    // Full batches have the next round follow at once; the last one does not.
    const rounds: Array<boolean | void> = [];
    for (let more: boolean | void = true; more && rounds.length < 10; ) rounds.push((more = await job.run()));
    expect(rounds).toEqual([true, true, false]);
    expect(await count("outbox WHERE published_at IS NULL")).toBe(1);
    expect(await count("outbox WHERE published_at IS NOT NULL")).toBe(1);
    expect(await count("processed_event WHERE consumer = 'c-old'")).toBe(0);
    expect(await count("processed_event WHERE consumer = 'c-recent'")).toBe(1);
  });

  it("has the processed events' age indexed, so a round does not read the whole table", async () => {
    const { rows } = await t.db.query<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'processed_event'`, [SCHEMA]);
    expect(rows.map((row) => row.indexdef).join("\n")).toMatch(/\(handled_at\)/);
  });
});
