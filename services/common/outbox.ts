// The transactional outbox: events are rows written in the same transaction as the change they describe, and a
// relay publishes them to the bus afterwards, so an event is never lost nor published for a rolled-back change.
import { randomUUID } from "node:crypto";
import type { EventBus } from "./bus.js";
import { checkedSchema, type Database, type Queryable } from "./database.js";
import type { OutboxEvent } from "./events.js";
import type { Logger } from "./logger.js";
import { currentTraceId, runWithTrace } from "./trace.js";

/**
 * One statement for a change and the event it announces: `changeSql` (an UPDATE or INSERT … RETURNING, its
 * parameters `params`) becomes a CTE whose rows, if any, also insert the event. Atomic like a transaction (no
 * row changed, no event), at one round trip instead of four (BEGIN, change, insert, COMMIT).
 */
export function withEvent(schema: string, changeSql: string, params: readonly unknown[], event: OutboxEvent): { text: string; params: unknown[] } {
  const n = params.length;
  return {
    text: `WITH changed AS (${changeSql}),
      event AS (INSERT INTO ${checkedSchema(schema)}.outbox (id, subject, payload, trace_id)
                SELECT $${n + 1}::uuid, $${n + 2}::text, $${n + 3}::bytea, $${n + 4}::text FROM changed LIMIT 1)
      SELECT * FROM changed`,
    params: [...params, randomUUID(), event.subject, event.data, currentTraceId() ?? null],
  };
}

/** Writes an event inside the caller's transaction and returns its id (the Nats-Msg-Id consumers dedupe on). */
export async function appendEvent(tx: Queryable, schema: string, event: OutboxEvent): Promise<string> {
  const id = randomUUID();
  await tx.query(`INSERT INTO ${checkedSchema(schema)}.outbox (id, subject, payload, trace_id) VALUES ($1, $2, $3, $4)`, [
    id,
    event.subject,
    event.data,
    currentTraceId() ?? null,
  ]);
  return id;
}

export interface OutboxRelayOptions {
  db: Database;
  schema: string;
  bus: EventBus;
  logger: Logger;
  /** How often to look for rows nobody kicked us about (another replica's, or left by a failure). Default 1 s. */
  intervalMs?: number;
  batchSize?: number;
  /** After failing to publish for this long the relay reports a stall (error log, `stalled()`). Default 30 s. */
  stallAfterMs?: number;
  /**
   * At start, publish again the events published within this many ms: set on a bus that keeps nothing across a
   * restart (`EventBus.durable` false), whose consumers may not have handled them. A consumer handles an event
   * once (its processed_event), so those it had handled change nothing. Only for one relay per schema (embedded).
   */
  republishWithinMs?: number;
}

/**
 * How long a relay's claim on a batch lasts: far beyond a batch's publishing (it stops at the first failed
 * publish), and short enough that a relay that died mid-batch delays its rows by no more than this.
 */
const CLAIM_SECONDS = 60;
const MAX_BACKOFF_MS = 30_000;

interface OutboxRow {
  id: string;
  subject: string;
  payload: Uint8Array;
  trace_id: string | null;
}

/**
 * Publishes unpublished outbox rows in creation order. Each batch claims its rows for CLAIM_SECONDS in one
 * statement (FOR UPDATE SKIP LOCKED while it claims), so two replicas' relays never publish the same row at the
 * same time and no transaction stays open while the bus is called; a row is marked published only after the bus
 * accepted it (the unpublished rest of the batch is released by the same statement), and a row published but
 * not marked (crash) is published again with the same id once its claim lapses, which the bus's duplicate window
 * drops. Across replicas, order is per batch, not global: consumers must not rely on it. While events keep coming
 * (a full batch, or a commit during the round), a batch's mark rides in the next claim's statement: one round
 * trip per batch under load instead of two; before the relay sleeps, backs off or stops, it marks at once.
 */
export class OutboxRelay {
  private readonly schema: string;
  private readonly intervalMs: number;
  private readonly batchSize: number;
  private readonly claimSql: string;
  private readonly markSql: string;
  /** The last batch, published but not marked yet: the next claim marks it. */
  private unmarked: { published: string[]; claimed: string[] } | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private kicked = false;
  private wakeUp: (() => void) | undefined;
  private failures = 0;
  /** Since when every round failed to publish anything; undefined while the relay publishes (or has nothing to). */
  private failingSince: number | undefined;
  private stallReported = false;
  private readonly stallAfterMs: number;

  constructor(private readonly options: OutboxRelayOptions) {
    this.schema = checkedSchema(options.schema);
    this.intervalMs = options.intervalMs ?? 1_000;
    this.batchSize = options.batchSize ?? 100;
    this.stallAfterMs = options.stallAfterMs ?? 30_000;
    // RETURNING has no order of its own; created_at has microseconds, which a JS Date would lose.
    // The previous batch ($3, of which $2 published) is marked by the same statement and never claimed by it (a
    // row changed twice in one statement would keep either change). A row it did not publish keeps its
    // published_at: another relay may have taken it over (our claim lapsed) and marked it meanwhile.
    const mark = (published: string, claimed: string) =>
      `UPDATE ${this.schema}.outbox SET published_at = CASE WHEN id = ANY(${published}::uuid[]) THEN now() ELSE published_at END, claimed_until = NULL
        WHERE id = ANY(${claimed}::uuid[])`;
    this.claimSql = `WITH marked AS (${mark("$2", "$3")}), claimed AS (
        UPDATE ${this.schema}.outbox SET claimed_until = now() + make_interval(secs => ${CLAIM_SECONDS})
         WHERE id IN (SELECT id FROM ${this.schema}.outbox
                       WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until < now()) AND NOT id = ANY($3::uuid[])
                       ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, subject, payload, trace_id, created_at)
      SELECT id, subject, payload, trace_id FROM claimed ORDER BY created_at`;
    this.markSql = mark("$1", "$2");
  }

  start(): void {
    if (this.running) return;
    this.stopped = false;
    this.running = this.run();
  }

  /** Publish soon: called after a commit that wrote events. */
  kick(): void {
    this.kicked = true;
    this.wakeUp?.();
  }

  /** Finishes the batch in flight, then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.running;
    this.running = undefined;
  }

  /** How many rows wait to be published (a health and alerting signal). */
  async lag(): Promise<number> {
    const { rows } = await this.options.db.query<{ n: number }>(`SELECT count(*) AS n FROM ${this.schema}.outbox WHERE published_at IS NULL`);
    return Number(rows[0]?.n ?? 0);
  }

  /** How long the relay has been failing to publish, in ms; 0 while it publishes. */
  failingForMs(): number {
    return this.failingSince === undefined ? 0 : Date.now() - this.failingSince;
  }

  /** True once the relay has failed to publish for longer than `stallAfterMs`. */
  stalled(): boolean {
    return this.failingForMs() >= this.stallAfterMs;
  }

  private async run(): Promise<void> {
    const { republishWithinMs } = this.options;
    if (republishWithinMs !== undefined) await this.republishRecent(republishWithinMs);
    while (!this.stopped) {
      this.kicked = false;
      let full = false;
      const roundStartedAt = Date.now();
      try {
        const result = await this.publishBatch();
        full = result.count === this.batchSize && !result.failed;
        this.failures = result.failed ? this.failures + 1 : 0;
        this.track(result.failed && result.published === 0, roundStartedAt);
        // Another round follows at once only without a failure, for a full batch or a commit meanwhile.
        if (result.failed || !(full || this.kicked)) await this.markNow();
      } catch (err) {
        this.failures++;
        this.track(true, roundStartedAt);
        this.options.logger.warn({ schema: this.schema, error: err instanceof Error ? err.message : String(err) }, "outbox batch failed");
      }
      if (this.stopped) break;
      if (this.failures > 0) {
        // A mark that failed with its round is tried again before the back-off, so rows published do not wait on it.
        await this.markNow().catch(() => undefined);
        // The bus or the database is failing: back off, and let kicks not turn that into a busy loop.
        await this.sleep(Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** (this.failures - 1)), false);
      } else if (!full && !this.kicked) {
        await this.sleep(this.intervalMs, true);
      }
    }
    try {
      await this.markNow();
    } catch (err) {
      // Its rows are published again, under the same ids, once their claim lapses.
      this.options.logger.warn({ schema: this.schema, error: err instanceof Error ? err.message : String(err) }, "outbox mark failed at stop");
    }
  }

  /** Marks the events published within `withinMs` unpublished, so the rounds publish them again. */
  private async republishRecent(withinMs: number): Promise<void> {
    const { db, logger } = this.options;
    try {
      const { rowCount } = await db.query(
        `UPDATE ${this.schema}.outbox SET published_at = NULL, claimed_until = NULL WHERE published_at > now() - make_interval(secs => $1::double precision / 1000)`,
        [withinMs],
      );
      if (rowCount > 0) logger.info({ schema: this.schema, events: rowCount, withinMs }, "publishing recent events again: the bus kept none across the restart");
    } catch (err) {
      logger.warn({ schema: this.schema, error: err instanceof Error ? err.message : String(err) }, "recent events not published again");
    }
  }

  /**
   * Follows whether rounds publish (failing counts from the start of the first failed round: a publish that
   * hangs until its timeout is failing all along); logs once when failing turns into a stall, once when it ends.
   */
  private track(failed: boolean, roundStartedAt: number): void {
    const { logger } = this.options;
    if (!failed) {
      if (this.stallReported) logger.info({ schema: this.schema, stalledForMs: this.failingForMs() }, "outbox publishing again");
      this.failingSince = undefined;
      this.stallReported = false;
      return;
    }
    this.failingSince ??= roundStartedAt;
    if (!this.stallReported && this.stalled()) {
      this.stallReported = true;
      logger.error({ schema: this.schema, stalledForMs: this.failingForMs() }, "outbox stalled: events cannot be published to the bus");
    }
  }

  private sleep(ms: number, wakeOnKick: boolean): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        if (!wakeOnKick && !this.stopped) return;
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      this.wakeUp = undefined;
    });
  }

  private async publishBatch(): Promise<{ count: number; published: number; failed: boolean }> {
    const { db, bus, logger } = this.options;
    const previous = this.unmarked ?? { published: [], claimed: [] };
    const { rows } = await db.query<OutboxRow>(this.claimSql, [this.batchSize, previous.published, previous.claimed]);
    this.unmarked = undefined;
    const published: string[] = [];
    let failed = false;
    for (const row of rows) {
      try {
        const publish = () => bus.publish(row.subject, row.id, row.payload);
        await (row.trace_id ? runWithTrace(row.trace_id, publish) : publish());
        published.push(row.id);
      } catch (err) {
        // Stop here so later events do not overtake this one; the row stays for the next round.
        logger.warn({ schema: this.schema, eventId: row.id, subject: row.subject, error: err instanceof Error ? err.message : String(err) }, "outbox publish failed");
        failed = true;
        break;
      }
    }
    if (rows.length > 0) this.unmarked = { published, claimed: rows.map((row) => row.id) };
    return { count: rows.length, published: published.length, failed };
  }

  /** Marks the last batch now (its published rows, and releases the rest), unless the next claim already did. */
  private async markNow(): Promise<void> {
    const batch = this.unmarked;
    if (!batch) return;
    await this.options.db.query(this.markSql, [batch.published, batch.claimed]);
    this.unmarked = undefined;
  }
}
