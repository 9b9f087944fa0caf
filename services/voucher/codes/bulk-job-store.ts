// Bulk make-code jobs (migration 006): created once per request id, claimed by one runner at a time under a
// lease, their progress moved only by the lease's holder in the transaction that writes the codes.
import { randomBytes } from "node:crypto";
import type { Database, Queryable, Transaction } from "../../common/database.js";
import { bulkOrderId } from "./bulk-code-writer.js";

export type BulkJobState = "RUNNING" | "DONE" | "CANCELLED";
/** What holds a running job back from every runner (see `makeable`). */
export type BulkJobHold = "TEMPLATE_DISABLED" | "SEND_CHANNEL_DISABLED";

export interface BulkJobRecord {
  jobId: string;
  requestId: string;
  templateId: string;
  sendChannelId: string;
  total: number;
  made: number;
  state: BulkJobState;
  /** Why no runner makes a RUNNING job now; null when one may (and for a done or cancelled job). */
  heldBy: BulkJobHold | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A runner's hold on a job: only the holder (`owner`) moves its progress. */
export interface BulkJobClaim {
  job: BulkJobRecord;
  owner: string;
}

interface JobRow {
  job_id: string;
  request_id: string;
  template_id: string;
  send_channel_id: string;
  total: number;
  made: number;
  state: BulkJobState;
  held_by: BulkJobHold | null;
  created_at: Date;
  updated_at: Date;
}

const lease = (param: string) => `now() + make_interval(secs => ${param}::double precision / 1000)`;

const templateActive = (job: string) =>
  `EXISTS (SELECT 1 FROM vouchers.template t WHERE t.template_id = ${job}.template_id::bigint AND t.is_active)`;
const sendChannelActive = (job: string) =>
  `EXISTS (SELECT 1 FROM vouchers.send_channel c WHERE c.send_channel_id = ${job}.send_channel_id::bigint AND c.is_active)`;

/**
 * The job's template and the send channel it started at are both active: a job is made only then, so disabling
 * either holds its codes (until enabled again, or the job cancelled) as it holds a per-call order's.
 */
const makeable = (job: string) => `(${templateActive(job)} AND ${sendChannelActive(job)})`;

/** The columns of a job as `job` names its row (a job's hold read with it, so an operator sees why it stands still). */
const columns = (job: string) => `${job}.job_id, ${job}.request_id, ${job}.template_id, ${job}.send_channel_id, ${job}.total, ${job}.made,
  ${job}.state, ${job}.created_at, ${job}.updated_at,
  CASE WHEN ${job}.state <> 'RUNNING' THEN NULL WHEN NOT ${templateActive(job)} THEN 'TEMPLATE_DISABLED'
       WHEN NOT ${sendChannelActive(job)} THEN 'SEND_CHANNEL_DISABLED' END AS held_by`;
const COLUMNS = columns("bulk_job");

export class BulkJobStore {
  constructor(private readonly db: Database) {}

  /**
   * The job of `requestId`, created now unless it exists (whatever it asks: the caller compares); `created` says
   * which, so the caller audits a new job once.
   */
  async createOnce(
    job: Pick<BulkJobRecord, "requestId" | "templateId" | "sendChannelId" | "total">,
    on: Queryable = this.db,
  ): Promise<{ job: BulkJobRecord; created: boolean }> {
    const inserted = await on.query<JobRow>(
      `INSERT INTO vouchers.bulk_job (job_id, request_id, template_id, send_channel_id, total) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (request_id) DO NOTHING RETURNING ${COLUMNS}`,
      [randomBytes(16).toString("hex"), job.requestId, job.templateId, job.sendChannelId, job.total],
    );
    if (inserted.rows[0]) return { job: fromRow(inserted.rows[0]), created: true };
    const { rows } = await on.query<JobRow>(`SELECT ${COLUMNS} FROM vouchers.bulk_job WHERE request_id = $1`, [job.requestId]);
    if (!rows[0]) throw new Error(`bulk job of request ${job.requestId} vanished`);
    return { job: fromRow(rows[0]), created: false };
  }

  async find(jobId: string): Promise<BulkJobRecord | undefined> {
    const { rows } = await this.db.query<JobRow>(`SELECT ${COLUMNS} FROM vouchers.bulk_job WHERE job_id = $1`, [jobId]);
    return rows[0] && fromRow(rows[0]);
  }

  /** The newest jobs first, at most `limit`: of `state` if given; `held`: only the running jobs something holds (by the hold read with them). */
  async list(filter: { state?: BulkJobState; held: boolean; limit: number }): Promise<BulkJobRecord[]> {
    const { rows } = await this.db.query<JobRow>(
      `SELECT * FROM (SELECT ${COLUMNS} FROM vouchers.bulk_job WHERE $1::text IS NULL OR state = $1) listed
        WHERE NOT $2 OR held_by IS NOT NULL ORDER BY created_at DESC, job_id LIMIT $3`,
      [filter.state ?? null, filter.held, filter.limit],
    );
    return rows.map(fromRow);
  }

  /** The oldest running, makeable job nobody holds (or whose holder's lease ran out), now held by a new owner. */
  async claim(leaseMs: number): Promise<BulkJobClaim | undefined> {
    const owner = randomBytes(12).toString("hex");
    const { rows } = await this.db.query<JobRow>(
      `UPDATE vouchers.bulk_job SET lease_owner = $1, lease_until = ${lease("$2")}, updated_at = now()
        WHERE job_id = (SELECT job_id FROM vouchers.bulk_job j
                         WHERE state = 'RUNNING' AND (lease_until IS NULL OR lease_until < now()) AND ${makeable("j")}
                         ORDER BY created_at LIMIT 1 FOR UPDATE OF j SKIP LOCKED)
          AND state = 'RUNNING' AND (lease_until IS NULL OR lease_until < now())
        RETURNING ${COLUMNS}`,
      [owner, leaseMs],
    );
    return rows[0] && { job: fromRow(rows[0]), owner };
  }

  /**
   * `count` more codes made (their rows written in `tx`), the lease renewed; DONE at the total. False when the
   * claim is no longer the holder's, the progress moved under it or the job is no longer makeable: the caller
   * rolls back and stops.
   */
  async advance(tx: Transaction, claim: BulkJobClaim, count: number, leaseMs: number): Promise<boolean> {
    const { rowCount } = await tx.query(
      `UPDATE vouchers.bulk_job j SET made = made + $3, lease_until = ${lease("$5")}, updated_at = now(),
              state = CASE WHEN made + $3 >= total THEN 'DONE' ELSE 'RUNNING' END
        WHERE job_id = $1 AND lease_owner = $2 AND made = $4 AND state = 'RUNNING' AND ${makeable("j")}`,
      [claim.job.jobId, claim.owner, count, claim.job.made, leaseMs],
    );
    return rowCount === 1;
  }

  /**
   * A running job CANCELLED (in `tx`, with its audit); undefined when it is not running (done, cancelled already,
   * or no such job). A batch being written holds the row: the cancel waits for it, and the runner's next batch
   * finds the job no longer running and stops.
   */
  async cancel(tx: Transaction, jobId: string): Promise<BulkJobRecord | undefined> {
    const { rows } = await tx.query<JobRow>(
      `UPDATE vouchers.bulk_job SET state = 'CANCELLED', lease_owner = NULL, lease_until = NULL, updated_at = now()
        WHERE job_id = $1 AND state = 'RUNNING' RETURNING ${COLUMNS}`,
      [jobId],
    );
    return rows[0] && fromRow(rows[0]);
  }

  /**
   * Deletes up to `limit` codes (in `tx`) of the cancelled job longest waiting for it, and marks the job once none
   * are left; undefined when no cancelled job has codes left. Concurrent purgers take different jobs.
   */
  async purgeCancelledCodes(tx: Transaction, limit: number): Promise<{ jobId: string; made: number; deleted: number; done: boolean } | undefined> {
    const { rows } = await tx.query<{ job_id: string; made: number }>(
      `SELECT job_id, made FROM vouchers.bulk_job WHERE state = 'CANCELLED' AND codes_purged_at IS NULL
        ORDER BY updated_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
    );
    const job = rows[0];
    if (!job) return undefined;
    const { rowCount } = await tx.query(
      `DELETE FROM vouchers.internal_code WHERE send_channel_order_id = $1
          AND seq IN (SELECT seq FROM vouchers.internal_code WHERE send_channel_order_id = $1 ORDER BY seq LIMIT $2)`,
      [bulkOrderId(job.job_id), limit],
    );
    const done = rowCount < limit;
    if (done) await tx.query(`UPDATE vouchers.bulk_job SET codes_purged_at = now() WHERE job_id = $1`, [job.job_id]);
    return { jobId: job.job_id, made: job.made, deleted: rowCount, done };
  }

  /** Lets go of a held job (a round's time is up), so any runner may take it next. */
  async release(claim: BulkJobClaim): Promise<void> {
    await this.db.query(`UPDATE vouchers.bulk_job SET lease_owner = NULL, lease_until = NULL WHERE job_id = $1 AND lease_owner = $2`, [
      claim.job.jobId,
      claim.owner,
    ]);
  }
}

function fromRow(row: JobRow): BulkJobRecord {
  return {
    jobId: row.job_id,
    requestId: row.request_id,
    templateId: row.template_id,
    sendChannelId: row.send_channel_id,
    total: row.total,
    made: row.made,
    state: row.state,
    heldBy: row.held_by,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
