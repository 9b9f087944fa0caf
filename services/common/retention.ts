// The messaging tables of a service's schema kept bounded: the outbox's published events and the consumers'
// processed-event records, past the time either can still matter, deleted in small batches (one statement each,
// so neither a long lock nor a transaction the size of an outage's backlog).
import { checkedSchema, type Queryable } from "./database.js";
import type { PeriodicJob } from "./periodic-job.js";

/** A published event is kept a week (an operator may still look for it); the stream keeps its copy as long. */
const OUTBOX_RETENTION = "7 days";
/**
 * A processed event's record only has to outlive every redelivery of that event: JetStream drops a message at
 * its stream's max age (7 days after it was published, always before it was handled + 7 days). Twice that.
 */
const PROCESSED_EVENT_RETENTION = "14 days";
const ROUND_INTERVAL_MS = 10 * 60_000;
const DEFAULT_BATCH = 5_000;

/**
 * One round deletes up to `batch` rows of each table; a full batch has the next round follow at once. Replicas
 * running it at once skip each other's rows (SKIP LOCKED) instead of waiting on them.
 */
export function messagingRetentionJob(db: Queryable, schema: string, batch = DEFAULT_BATCH): PeriodicJob {
  const s = checkedSchema(schema);
  const prune = (table: string, expired: string) =>
    `DELETE FROM ${s}.${table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${s}.${table} WHERE ${expired} LIMIT $1 FOR UPDATE SKIP LOCKED))`;
  const outbox = prune("outbox", `published_at < now() - interval '${OUTBOX_RETENTION}'`);
  const processed = prune("processed_event", `handled_at < now() - interval '${PROCESSED_EVENT_RETENTION}'`);
  return {
    name: `${s} messaging retention`,
    intervalMs: ROUND_INTERVAL_MS,
    async run() {
      const counts = [(await db.query(outbox, [batch])).rowCount, (await db.query(processed, [batch])).rowCount];
      return counts.some((count) => count >= batch);
    },
  };
}
