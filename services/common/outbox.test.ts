import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "nats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { until } from "../../test/support/until.js";
import { connectEventBus, type BusMessage, type EventBus } from "./bus.js";
import { sharedDatabase, type Database } from "./database.js";
import { createLogger } from "./logger.js";
import { migrate } from "./migrate.js";
import { OutboxRelay, appendEvent, withEvent } from "./outbox.js";
import { currentTraceId, runWithTrace } from "./trace.js";

const logger = createLogger("outbox-test", "error");
const natsUrl = process.env.NATS_URL;
const tag = randomBytes(4).toString("hex");
const streamName = `T_OUTBOX_${tag}`;
const prefix = `tob${tag}`;
const encoder = new TextEncoder();

describe(`outbox (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"}, ${natsUrl ? "NATS" : "in-process bus"})`, () => {
  let t: TestDatabase;
  let bus: EventBus;
  const received: Array<BusMessage & { traceId: string | undefined }> = [];

  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: "ob", logger });
    bus = await connectEventBus({ url: natsUrl, streams: [{ name: streamName, subjects: [`${prefix}.>`] }], name: "outbox-test", logger });
    await bus.subscribe({
      durable: "outbox-test",
      subjects: [`${prefix}.>`],
      handler: async (m) => void received.push({ ...m, traceId: currentTraceId() }),
    });
  });

  afterAll(async () => {
    await bus?.close();
    if (natsUrl) {
      const nc = await connect({ servers: natsUrl, timeout: 2_000 });
      await (await nc.jetstreamManager({ timeout: 2_000 })).streams.delete(streamName).catch(() => false);
      await nc.close();
    }
    await t?.drop();
  });

  it("publishes nothing for a rolled-back transaction", async () => {
    await expect(
      t.db.transaction(async (tx) => {
        await appendEvent(tx, "ob", { subject: `${prefix}.rolled`, data: encoder.encode("never") });
        throw new Error("rollback");
      }),
    ).rejects.toThrow("rollback");
    const relay = new OutboxRelay({ db: t.db, schema: "ob", bus, logger, intervalMs: 20 });
    expect(await relay.lag()).toBe(0);
    relay.start();
    await sleep(100);
    await relay.stop();
    expect(received.filter((m) => m.subject === `${prefix}.rolled`)).toHaveLength(0);
  });

  it("publishes committed events once, in order, with their traceId, and marks them", async () => {
    const ids = await runWithTrace("outboxtrace1", () =>
      t.db.transaction(async (tx) => [
        await appendEvent(tx, "ob", { subject: `${prefix}.a`, data: encoder.encode("1") }),
        await appendEvent(tx, "ob", { subject: `${prefix}.a`, data: encoder.encode("2") }),
        await appendEvent(tx, "ob", { subject: `${prefix}.b`, data: encoder.encode("3") }),
      ]),
    );
    const relay = new OutboxRelay({ db: t.db, schema: "ob", bus, logger, intervalMs: 5_000 });
    expect(await relay.lag()).toBe(3);
    relay.start();
    relay.kick();
    await until(() => ids.every((id) => received.some((m) => m.id === id)));
    await relay.stop();
    const mine = received.filter((m) => ids.includes(m.id));
    expect(mine.map((m) => m.id)).toEqual(ids);
    expect(mine.map((m) => new TextDecoder().decode(m.data))).toEqual(["1", "2", "3"]);
    expect(mine.every((m) => m.traceId === "outboxtrace1")).toBe(true);
    expect(await relay.lag()).toBe(0);
    const { rows } = await t.db.query<{ n: number }>("SELECT count(*) AS n FROM ob.outbox WHERE published_at IS NOT NULL AND id = ANY($1::uuid[])", [ids]);
    expect(rows[0]?.n).toBe(3);
  });

  it("publishes again at start the events published within republishWithinMs, in order, and none older (a bus that kept nothing across a restart)", async () => {
    const ids = await t.db.transaction(async (tx) => [
      await appendEvent(tx, "ob", { subject: `${prefix}.again`, data: encoder.encode("old") }),
      await appendEvent(tx, "ob", { subject: `${prefix}.again`, data: encoder.encode("recent 1") }),
      await appendEvent(tx, "ob", { subject: `${prefix}.again`, data: encoder.encode("recent 2") }),
    ]);
    const first = new OutboxRelay({ db: t.db, schema: "ob", bus, logger, intervalMs: 20 });
    first.start();
    await until(() => ids.every((id) => received.some((m) => m.id === id)));
    await first.stop();
    await t.db.query(`UPDATE ob.outbox SET published_at = now() - interval '3 hours' WHERE id = $1`, [ids[0]]);

    const published: string[] = [];
    const recording: EventBus = { ...bus, publish: async (_subject, id) => void published.push(id) };
    const restarted = new OutboxRelay({ db: t.db, schema: "ob", bus: recording, logger, intervalMs: 20, republishWithinMs: 2 * 3_600_000 });
    restarted.start();
    await until(() => published.includes(ids[2]!));
    await restarted.stop();
    expect(published.filter((id) => ids.includes(id))).toEqual(ids.slice(1));
    expect(await restarted.lag()).toBe(0);
  });

  it("keeps a row whose publish failed and publishes it on a later round", async () => {
    let failNext = true;
    const flaky: EventBus = {
      ...bus,
      publish: async (subject, id, data) => {
        if (failNext) {
          failNext = false;
          throw new Error("bus down");
        }
        await bus.publish(subject, id, data);
      },
    };
    const id = await t.db.transaction((tx) => appendEvent(tx, "ob", { subject: `${prefix}.flaky`, data: encoder.encode("x") }));
    const relay = new OutboxRelay({ db: t.db, schema: "ob", bus: flaky, logger, intervalMs: 20 });
    relay.start();
    await until(() => received.some((m) => m.id === id));
    await relay.stop();
    expect(failNext).toBe(false);
    expect(await relay.lag()).toBe(0);
  });

  it("two relays publish every row exactly once", async () => {
    const counts = new Map<string, number>();
    const counting: EventBus = {
      ...bus,
      publish: async (subject, id, data) => {
        counts.set(id, (counts.get(id) ?? 0) + 1);
        await sleep(1);
        await bus.publish(subject, id, data);
      },
    };
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      ids.push(
        ...(await t.db.transaction(async (tx) => {
          const batch: string[] = [];
          for (let j = 0; j < 10; j++) batch.push(await appendEvent(tx, "ob", { subject: `${prefix}.many`, data: encoder.encode(`${i}.${j}`) }));
          return batch;
        })),
      );
    }
    const relays = [1, 2].map(() => new OutboxRelay({ db: t.db, schema: "ob", bus: counting, logger, intervalMs: 10, batchSize: 7 }));
    for (const relay of relays) relay.start();
    await until(async () => (await relays[0]!.lag()) === 0);
    await Promise.all(relays.map((relay) => relay.stop()));
    expect(ids.every((id) => counts.get(id) === 1)).toBe(true);
    await until(() => ids.every((id) => received.some((m) => m.id === id)));
  });

  it("a relay whose claim lapsed mid-batch does not unmark the rows another relay published meanwhile", async () => {
    const ids = await t.db.transaction(async (tx) => [
      await appendEvent(tx, "ob", { subject: `${prefix}.lapsed`, data: encoder.encode("1") }),
      await appendEvent(tx, "ob", { subject: `${prefix}.lapsed`, data: encoder.encode("2") }),
    ]);
    const published = async () =>
      (await t.db.query<{ id: string }>("SELECT id FROM ob.outbox WHERE published_at IS NOT NULL AND id = ANY($1::uuid[])", [ids])).rows.map((row) => row.id).sort();
    // The slow relay publishes the first row, then hangs on the second until told to fail it.
    let failSecond: (() => void) | undefined;
    const slow: EventBus = {
      ...bus,
      publish: async (subject, id, data) => {
        if (id === ids[1]) {
          await new Promise<void>((resolve) => (failSecond = resolve));
          throw new Error("bus down");
        }
        await bus.publish(subject, id, data);
      },
    };
    const stalled = new OutboxRelay({ db: t.db, schema: "ob", bus: slow, logger, intervalMs: 60_000 });
    stalled.start();
    await until(() => failSecond !== undefined);
    // Its claim lapses (as after CLAIM_SECONDS): another relay takes both rows, publishes and marks them.
    await t.db.query("UPDATE ob.outbox SET claimed_until = now() - interval '1 second' WHERE id = ANY($1::uuid[])", [ids]);
    const other = new OutboxRelay({ db: t.db, schema: "ob", bus, logger, intervalMs: 60_000 });
    other.start();
    await until(async () => (await published()).length === 2);
    await other.stop();
    // The slow relay's publish fails now: its mark must leave the other relay's marks as they are.
    failSecond?.();
    await stalled.stop();
    expect(await published()).toEqual([...ids].sort());
  });

  it("marks a batch in the next claim's statement while events keep coming, and every batch before it sleeps or stops", async () => {
    // What the relay asks of the database: a claim (which may carry the last batch's mark) or a mark of its own.
    const statements: string[] = [];
    const counted: Database = {
      ...sharedDatabase(t.db),
      query: (text, params) => {
        if (text.includes("claimed AS")) statements.push("claim");
        else if (text.includes("published_at = CASE")) statements.push("mark");
        return t.db.query(text, params);
      },
    };
    const appendMany = (n: number, name: string) =>
      t.db.transaction(async (tx) => {
        const ids: string[] = [];
        for (let i = 0; i < n; i++) ids.push(await appendEvent(tx, "ob", { subject: `${prefix}.${name}`, data: encoder.encode(String(i)) }));
        return ids;
      });
    const published = async (ids: string[]) => {
      const { rows } = await t.db.query<{ n: number }>("SELECT count(*)::int AS n FROM ob.outbox WHERE published_at IS NOT NULL AND id = ANY($1::uuid[])", [ids]);
      return rows[0]?.n;
    };

    // 25 waiting, batches of 10: two full batches marked by the claims after them, the last one at once.
    const first = await appendMany(25, "merged");
    let relay = new OutboxRelay({ db: counted, schema: "ob", bus, logger, intervalMs: 60_000, batchSize: 10 });
    relay.start();
    await until(async () => (await published(first)) === 25);
    expect(statements).toEqual(["claim", "claim", "claim", "mark"]);
    await relay.stop();
    expect(statements).toHaveLength(4);

    // A commit during the last round (the bus kicks) defers its mark; stopping then still marks it.
    const second = await appendMany(3, "stopping");
    statements.length = 0;
    const kicking: EventBus = {
      ...bus,
      publish: async (subject, id, data) => {
        await bus.publish(subject, id, data);
        relay.kick();
        if (id === second.at(-1)) void relay.stop();
      },
    };
    relay = new OutboxRelay({ db: counted, schema: "ob", bus: kicking, logger, intervalMs: 60_000, batchSize: 10 });
    relay.start();
    await until(() => second.every((id) => received.some((m) => m.id === id)));
    await relay.stop();
    expect(await published(second)).toBe(3);
    expect(statements).toEqual(["claim", "mark"]);
    expect(await relay.lag()).toBe(0);
  });

  it("writes the event in the same statement as the change, and none when nothing changed", async () => {
    await t.db.execScript("CREATE TABLE ob.thing (id text PRIMARY KEY, n integer NOT NULL); INSERT INTO ob.thing VALUES ('a', 0);");
    const change = "UPDATE ob.thing SET n = n + 1 WHERE id = $1 RETURNING id, n";
    const subject = `${prefix}.statement`;
    const changed = await runWithTrace("statementtrace", () => {
      const statement = withEvent("ob", change, ["a"], { subject, data: encoder.encode("hit") });
      return t.db.query(statement.text, statement.params);
    });
    expect(changed.rows).toEqual([{ id: "a", n: 1 }]);
    const miss = withEvent("ob", change, ["no-such-row"], { subject, data: encoder.encode("miss") });
    expect((await t.db.query(miss.text, miss.params)).rows).toEqual([]);
    const { rows } = await t.db.query<{ payload: Uint8Array; trace_id: string }>(
      "SELECT payload, trace_id FROM ob.outbox WHERE subject = $1",
      [subject],
    );
    expect(rows.map((row) => [Buffer.from(row.payload).toString(), row.trace_id])).toEqual([["hit", "statementtrace"]]);
  });

  it("refuses a schema name that is not a plain identifier", async () => {
    await expect(appendEvent(t.db, "ob.outbox; --", { subject: "x", data: new Uint8Array() })).rejects.toThrow(/invalid schema/);
  });
});
