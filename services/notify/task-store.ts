// The tasks table (migrations/001): creating, claiming, finishing and listing tasks. Every time is the
// caller's clock reading, never the database's now(), so a moved embedded clock moves the schedule too.
import { randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { storableText, type Queryable } from "../common/database.js";
import { eventOf, type OutboxEvent } from "../common/events.js";
import { currentTraceId } from "../common/trace.js";
import { NotificationDeadSchema, NotificationDeliveredSchema } from "../../proto/gen/rights/events/v1/events_pb.js";
import { TaskSchema, TaskState, type Task } from "../../proto/gen/rights/notify/v1/notify_pb.js";

export const NOTIFY_SCHEMA = "notify";

export interface TaskRow {
  task_id: string;
  type: number;
  state: TaskState;
  order_no: string;
  code: string;
  payload: Record<string, unknown>;
  attempts: number;
  next_attempt_at: Date;
  claimed_until: Date | null;
  claim_id: string | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
}

export interface NewTaskRow {
  type: number;
  orderNo: string;
  code: string;
  payload: object;
}

/** A task a worker holds until its lease ends: what delivering it needs, and the claim id that finishes it. */
export type ClaimedTask = Pick<TaskRow, "task_id" | "type" | "order_no" | "code" | "payload" | "attempts"> & {
  claim_id: string;
  /** Its previous claim ended without an outcome (its worker died): an attempt that recorded nothing. */
  lapsed: boolean;
};

/** A failed attempt: the error, and when the next is due. */
export interface FailedAttempt {
  task: ClaimedTask;
  error: string;
  retryAt: Date;
}

/** A task given up: its last error. */
export interface DeadTask {
  task: ClaimedTask;
  error: string;
}

/** Tasks of one type and state not delivered: how many, and when the oldest was created. */
export interface TaskBacklog {
  type: number;
  state: TaskState.PENDING | TaskState.DEAD;
  count: number;
  oldestCreatedAt: Date;
}

export interface TaskFilter {
  state?: TaskState;
  type?: number;
  codes?: readonly string[];
  limit: number;
}

/** What a claim answers: no times, which a delivery does not need (and the driver would parse per row). */
const CLAIMED_COLUMNS = "t.task_id, t.type, t.order_no, t.code, t.payload, t.attempts, t.claim_id, due.lapsed";
const COLUMNS = "task_id, type, state, order_no, code, payload, attempts, next_attempt_at, claimed_until, claim_id, last_error, created_at, delivered_at";

export class TaskStore {
  constructor(private readonly db: Queryable) {}

  /**
   * Inserts a pending task due now, unless one of its (type, code) is already waiting: then nothing, and
   * undefined. `on` is the transaction to write in (a consumer's), the store's database otherwise.
   */
  async create(task: NewTaskRow, now: Date, on: Queryable = this.db): Promise<string | undefined> {
    return this.insert(task, now, on, false);
  }

  /**
   * As `create`, and nothing either when a task of its (type, code) was delivered already: what an event asks
   * for, since the same redemption re-published under a new id must not tell PSBC twice. `on` is the consumer's
   * transaction: the waiting task's row is locked first, so a delivery being recorded at that moment is waited
   * for and then seen (the insert alone would see it waiting, then find no conflict once it was delivered).
   */
  async createUnlessDelivered(task: NewTaskRow, now: Date, on: Queryable): Promise<string | undefined> {
    await on.query(`SELECT 1 FROM notify.task WHERE type = $1 AND code = $2 AND state = ${TaskState.PENDING} FOR UPDATE`, [task.type, task.code]);
    return this.insert(task, now, on, true);
  }

  private async insert(task: NewTaskRow, now: Date, on: Queryable, unlessDelivered: boolean): Promise<string | undefined> {
    const { rows } = await on.query<{ task_id: string }>(
      `INSERT INTO notify.task (task_id, type, order_no, code, payload, next_attempt_at, created_at)
       SELECT $1::uuid, $2::smallint, $3::text, $4::text, $5::jsonb, $6::timestamptz, $6::timestamptz
        WHERE NOT ($7::boolean AND EXISTS (SELECT 1 FROM notify.task WHERE type = $2::smallint AND code = $4::text AND state = ${TaskState.DELIVERED}))
       ON CONFLICT (type, code) WHERE state = 1 DO NOTHING
       RETURNING task_id`,
      [randomUUID(), task.type, task.orderNo, task.code, JSON.stringify(task.payload), now, unlessDelivered],
    );
    return rows[0]?.task_id;
  }

  /**
   * Claims up to `limit` due tasks for `leaseMs`: locked rows another worker is claiming are skipped, and the
   * claim counts as an attempt (so a task that kills its worker every time still ends dead).
   */
  async claim(now: Date, limit: number, leaseMs: number): Promise<ClaimedTask[]> {
    const until = new Date(now.getTime() + leaseMs);
    const { rows } = await this.db.query<ClaimedTask>(
      // A claim id still set is a claim that ended without an outcome: every outcome clears it.
      `WITH due AS (
         SELECT task_id, claim_id IS NOT NULL AS lapsed FROM notify.task WHERE state = 1 AND next_attempt_at <= $1
         ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED)
       UPDATE notify.task t SET claimed_until = $2, next_attempt_at = $2, claim_id = $3, attempts = t.attempts + 1
         FROM due WHERE t.task_id = due.task_id
       RETURNING ${CLAIMED_COLUMNS}`,
      [now, until, randomUUID(), limit],
    );
    return rows;
  }

  /**
   * Delivered, each with its `notify.delivered`, in one statement for a whole batch (one round trip, not one per
   * task); answers the ids recorded: a task whose claim was lost (its lease expired) is not among them.
   */
  async delivered(tasks: readonly ClaimedTask[], now: Date): Promise<Set<string>> {
    const deliveredAt = timestampFromDate(now);
    return this.finish(
      TaskState.DELIVERED,
      tasks.map((task) => ({
        task,
        error: null,
        event: eventOf(NotificationDeliveredSchema, { taskId: task.task_id, taskType: task.type, orderNo: task.order_no, code: task.code, deliveredAt }),
      })),
      now,
    );
  }

  /** Pending again from each one's `retryAt`, the error kept, in one statement; a task whose claim was lost is left. */
  async failed(attempts: readonly FailedAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    await this.db.query(
      `UPDATE notify.task t SET next_attempt_at = o.retry_at, last_error = o.error, claimed_until = NULL, claim_id = NULL
       FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[]) AS o(task_id, claim_id, retry_at, error)
       WHERE t.task_id = o.task_id AND t.claim_id = o.claim_id AND t.state = 1`,
      [attempts.map((a) => a.task.task_id), attempts.map((a) => a.task.claim_id), attempts.map((a) => a.retryAt), attempts.map((a) => storableText(a.error))],
    );
  }

  /** Dead, each with its `notify.dead`, in one statement; answers the ids recorded (as `delivered`). */
  async dead(tasks: readonly DeadTask[]): Promise<Set<string>> {
    return this.finish(
      TaskState.DEAD,
      tasks.map(({ task, error }) => ({
        task,
        error,
        event: eventOf(NotificationDeadSchema, { taskId: task.task_id, taskType: task.type, orderNo: task.order_no, code: task.code, lastError: error }),
      })),
      null,
    );
  }

  /** Claimed tasks to a final state, each with its event (all of one subject), where their claim still holds. */
  private async finish(
    state: TaskState.DELIVERED | TaskState.DEAD,
    finished: ReadonlyArray<{ task: ClaimedTask; error: string | null; event: OutboxEvent }>,
    deliveredAt: Date | null,
  ): Promise<Set<string>> {
    const subject = finished[0]?.event.subject;
    if (subject === undefined) return new Set();
    const { rows } = await this.db.query<{ task_id: string }>(
      `WITH outcome AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::bytea[]) AS o(task_id, claim_id, error, event_id, payload)),
       changed AS (
         UPDATE notify.task t SET state = $6, last_error = o.error, delivered_at = $7, claimed_until = NULL, claim_id = NULL
         FROM outcome o WHERE t.task_id = o.task_id AND t.claim_id = o.claim_id AND t.state = 1
         RETURNING t.task_id),
       event AS (
         INSERT INTO notify.outbox (id, subject, payload, trace_id)
         SELECT o.event_id, $8, o.payload, $9 FROM outcome o JOIN changed USING (task_id))
       SELECT task_id FROM changed`,
      [
        finished.map(({ task }) => task.task_id),
        finished.map(({ task }) => task.claim_id),
        finished.map(({ error }) => (error === null ? null : storableText(error))),
        finished.map(() => randomUUID()),
        finished.map(({ event }) => event.data),
        state,
        deliveredAt,
        subject,
        currentTraceId() ?? null,
      ],
    );
    return new Set(rows.map((row) => row.task_id));
  }

  /**
   * A dead task pending again, due now, its attempts reset. "not-dead" for a task in another state, "waiting"
   * when another task of its (type, code) is already pending (that one will deliver the same notice).
   */
  async retry(taskId: string, now: Date): Promise<TaskRow | "not-found" | "not-dead" | "waiting"> {
    try {
      const { rows } = await this.db.query<TaskRow>(
        `UPDATE notify.task SET state = 1, attempts = 0, next_attempt_at = $2, last_error = NULL
         WHERE task_id = $1 AND state = 3 RETURNING ${COLUMNS}`,
        [taskId, now],
      );
      if (rows[0]) return rows[0];
    } catch (err) {
      if ((err as { code?: unknown }).code === "23505") return "waiting";
      throw err;
    }
    return (await this.byId(taskId)) ? "not-dead" : "not-found";
  }

  /** The tasks not delivered, by type and state (pending or dead); a type and state without any is absent. */
  async backlog(): Promise<TaskBacklog[]> {
    const { rows } = await this.db.query<{ type: number; state: TaskBacklog["state"]; count: number; oldest: Date }>(
      `SELECT type, state, count(*)::int AS count, min(created_at) AS oldest FROM notify.task WHERE state IN (1, 3) GROUP BY type, state`,
    );
    return rows.map((row) => ({ type: row.type, state: row.state, count: row.count, oldestCreatedAt: row.oldest }));
  }

  async byId(taskId: string): Promise<TaskRow | undefined> {
    const { rows } = await this.db.query<TaskRow>(`SELECT ${COLUMNS} FROM notify.task WHERE task_id = $1`, [taskId]);
    return rows[0];
  }

  /** Newest first. */
  async list(filter: TaskFilter): Promise<TaskRow[]> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filter.state) conditions.push(`state = $${params.push(filter.state)}`);
    if (filter.type) conditions.push(`type = $${params.push(filter.type)}`);
    if (filter.codes && filter.codes.length > 0) conditions.push(`code = ANY($${params.push([...filter.codes])}::text[])`);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
    const { rows } = await this.db.query<TaskRow>(
      `SELECT ${COLUMNS} FROM notify.task ${where} ORDER BY created_at DESC, task_id LIMIT $${params.push(filter.limit)}`,
      params,
    );
    return rows;
  }
}

/** A row as the API's Task. */
export function taskMessage(row: TaskRow): Task {
  return create(TaskSchema, {
    taskId: row.task_id,
    type: row.type,
    state: row.state,
    orderNo: row.order_no,
    code: row.code,
    attempts: row.attempts,
    nextAttemptAt: row.state === TaskState.PENDING ? timestampFromDate(new Date(row.next_attempt_at)) : undefined,
    lastError: row.last_error ?? "",
    createdAt: timestampFromDate(new Date(row.created_at)),
    deliveredAt: row.delivered_at ? timestampFromDate(new Date(row.delivered_at)) : undefined,
  });
}
