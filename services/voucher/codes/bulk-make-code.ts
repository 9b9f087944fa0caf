// 批导: bulk make-code of a sendType-2 template whose send channel is WHALE's own generator. Starting a job only
// records it; the voucher service's "bulk make-code" job makes its codes in batches, each batch's codes and the
// job's progress in one transaction, under the runner's lease.
import type { Database } from "../../common/database.js";
import type { Logger } from "../../common/logger.js";
import { SYSTEM_ACTOR, type AuditStore } from "../catalogue/audit-store.js";
import type { CatalogueStore } from "../catalogue/catalogue-store.js";
import { APP_ID_PATTERN } from "../catalogue/erp-signature.js";
import { generateCodes, type RandomSource } from "../channels/internal/code-generator.js";
import { bulkOrderId, type BulkCodeWriter } from "./bulk-code-writer.js";
import type { BulkJobClaim, BulkJobRecord, BulkJobState, BulkJobStore } from "./bulk-job-store.js";
import { CodeError, codeError } from "./errors.js";

export const MAX_BULK_CODES = 1_000_000;
/**
 * Codes per transaction: a COPY of ~0.5 MB. Bigger batches gain nothing measurable against psql's COPY
 * (bench/bulk-make-code.js) and leave more garbage between collections: at 50,000 the peak RSS passed 150 MB.
 */
export const BULK_BATCH_SIZE = 10_000;
export const BULK_REQUEST_ID = /^[0-9A-Za-z_.:-]{1,64}$/;
export const BULK_JOB_ID = /^[0-9a-f]{32}$/;
/** A batch whose draw collides with a code already made is drawn again; at 83 bits twice in a row is unheard of. */
const MAX_DRAWS = 5;
/** Jobs a listing answers: by default, and at most. */
const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 1_000;
/** Codes per page of an export: one keyset query each, so memory stays flat whatever the job's size. */
const EXPORT_PAGE = 10_000;

export interface BulkMakeCodesDeps {
  db: Database;
  jobs: BulkJobStore;
  catalogue: Pick<CatalogueStore, "findTemplate" | "findSendChannel">;
  /** Where a started job's audit row goes (the catalogue's audit: who started what, when). */
  audit: AuditStore;
  writer: BulkCodeWriter;
  logger: Logger;
  /** A runner's hold on a job; renewed by every batch, so a batch must take well under it. */
  leaseMs: number;
  /** Codes per transaction. */
  batchSize: number;
  /** How long one round of the job runs before it lets the job go (so a service closes promptly). */
  roundMs: number;
  random?: RandomSource;
}

export class BulkMakeCodes {
  constructor(private readonly deps: BulkMakeCodesDeps) {}

  /** Records the job (once per request id, audited once as `actor`'s) after checking the template may be bulk-made here. */
  async start(request: { requestId: string; templateId: string; total: number; actor: string }): Promise<BulkJobRecord> {
    checkActor(request.actor);
    if (!BULK_REQUEST_ID.test(request.requestId)) throw codeError(CodeError.PARAMETER_INVALID, "requestId: 1–64 of [0-9A-Za-z_.:-]");
    if (!Number.isInteger(request.total) || request.total < 1 || request.total > MAX_BULK_CODES)
      throw codeError(CodeError.PARAMETER_INVALID, `total: 1–${MAX_BULK_CODES}`);
    const template = await this.deps.catalogue.findTemplate(request.templateId);
    if (!template?.isActive) throw codeError(CodeError.NOT_AVAILABLE, "templateId: no active template has that id");
    if (template.sendType !== 2) throw codeError(CodeError.NOT_AVAILABLE, "templateId: not a bulk (sendType 2) template");
    const channel = await this.deps.catalogue.findSendChannel(template.sendChannelId);
    if (!channel?.isActive || channel.channelType !== "INTERNAL")
      throw codeError(CodeError.NOT_AVAILABLE, "templateId: its send channel is not WHALE's own active generator (INTERNAL)");
    const { requestId, templateId, total, actor } = request;
    const job = await this.deps.db.transaction(async (tx) => {
      const { job, created } = await this.deps.jobs.createOnce({ requestId, templateId, total, sendChannelId: channel.sendChannelId }, tx);
      if (created) {
        await this.deps.audit.record(tx, { actor, action: "bulkMakeCode", recordType: "bulk_job", recordId: job.jobId, before: null, after: { requestId, templateId, total } });
      }
      return job;
    });
    if (job.templateId !== request.templateId || job.total !== request.total)
      throw codeError(CodeError.DUPLICATE_ORDER, "requestId: used before for a job of another template or total");
    return job;
  }

  async get(jobId: string): Promise<BulkJobRecord> {
    const job = BULK_JOB_ID.test(jobId) ? await this.deps.jobs.find(jobId) : undefined;
    if (!job) throw codeError(CodeError.NOT_FOUND, "jobId: no such bulk job");
    return job;
  }

  /** Jobs, the newest first (`limit` 0: 100; at most 1,000): of one state, or only the held ones. */
  async list(request: { state?: BulkJobState; held: boolean; limit: number }): Promise<BulkJobRecord[]> {
    if (!Number.isInteger(request.limit) || request.limit < 0 || request.limit > MAX_LIST_LIMIT)
      throw codeError(CodeError.PARAMETER_INVALID, `limit: 1–${MAX_LIST_LIMIT} (0: ${DEFAULT_LIST_LIMIT})`);
    return this.deps.jobs.list({ ...request, limit: request.limit || DEFAULT_LIST_LIMIT });
  }

  /**
   * Stops a running job (the operator's `whale bulk cancel`), audited once as `actor`'s; its runner stops at its
   * next batch and its codes are never exported (the "cancelled bulk codes" job deletes them). A done or cancelled
   * job is answered as it is.
   */
  async cancel(request: { jobId: string; actor: string }): Promise<BulkJobRecord> {
    checkActor(request.actor);
    const { jobId } = await this.get(request.jobId);
    const cancelled = await this.deps.db.transaction(async (tx) => {
      const job = await this.deps.jobs.cancel(tx, jobId);
      if (job) {
        await this.deps.audit.record(tx, {
          actor: request.actor, action: "bulkCancel", recordType: "bulk_job", recordId: job.jobId,
          before: { state: "RUNNING" }, after: { state: job.state, made: job.made, total: job.total },
        });
      }
      return job;
    });
    if (cancelled) this.deps.logger.info({ jobId: cancelled.jobId, made: cancelled.made, total: cancelled.total, actor: request.actor }, "bulk make-code job cancelled");
    return cancelled ?? this.get(jobId);
  }

  /** A finished job's codes in seq order, a page at a time (keyset on the (order, seq) key; PGlite has no cursor of its own). */
  async *exportCodes(jobId: string): AsyncGenerator<{ firstSeq: number; codes: string[] }> {
    const job = await this.get(jobId);
    if (job.state === "CANCELLED") throw codeError(CodeError.NOT_AVAILABLE, `jobId ${jobId}: cancelled after ${job.made} of ${job.total}; its codes are not exported`);
    if (job.state !== "DONE") throw codeError(CodeError.IN_PROGRESS, `jobId ${jobId}: ${job.made} of ${job.total} made so far`);
    for (let after = 0; after < job.total; ) {
      const { rows } = await this.deps.db.query<{ code: string; seq: number }>(
        `SELECT code, seq FROM vouchers.internal_code WHERE send_channel_order_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [bulkOrderId(jobId), after, EXPORT_PAGE],
      );
      if (rows.length === 0) break;
      yield { firstSeq: after + 1, codes: rows.map((row) => row.code) };
      after = rows[rows.length - 1]!.seq;
    }
  }

  /**
   * One round of the "cancelled bulk codes" job: a batch of a cancelled job's codes deleted (never exported, they
   * are nobody's); true while there may be more. The last batch is audited as the service's (`bulkCodesPurge`).
   */
  async purgeCancelledCodes(): Promise<boolean> {
    const purged = await this.deps.db.transaction(async (tx) => {
      const batch = await this.deps.jobs.purgeCancelledCodes(tx, this.deps.batchSize);
      if (batch?.done) {
        await this.deps.audit.record(tx, {
          actor: SYSTEM_ACTOR, action: "bulkCodesPurge", recordType: "bulk_job", recordId: batch.jobId,
          before: { state: "CANCELLED", codes: batch.made }, after: { state: "CANCELLED", codes: 0 },
        });
      }
      return batch;
    });
    if (purged?.done) this.deps.logger.info({ jobId: purged.jobId, codes: purged.made }, "a cancelled bulk make-code job's codes deleted");
    return purged !== undefined;
  }

  /** One round of the background job: takes a job nobody holds and makes batches until it is done or the round's time is up. */
  async runRound(): Promise<boolean> {
    const claim = await this.deps.jobs.claim(this.deps.leaseMs);
    if (!claim) return false;
    const until = Date.now() + this.deps.roundMs;
    this.deps.logger.info({ jobId: claim.job.jobId, made: claim.job.made, total: claim.job.total }, "bulk make-code job claimed");
    while (claim.job.made < claim.job.total) {
      if (!(await this.makeBatch(claim))) return false;
      if (Date.now() >= until && claim.job.made < claim.job.total) {
        await this.deps.jobs.release(claim);
        return true;
      }
    }
    this.deps.logger.info({ jobId: claim.job.jobId, total: claim.job.total }, "bulk make-code job done");
    return true;
  }

  /** The next batch, written with the job's progress in one transaction; false when the lease was lost (another runner has it), the job cancelled or held. */
  private async makeBatch(claim: BulkJobClaim): Promise<boolean> {
    const count = Math.min(this.deps.batchSize, claim.job.total - claim.job.made);
    for (let draw = 1; ; draw += 1) {
      const codes = generateCodes(count, this.deps.random);
      try {
        // Progress first: its row lock holds off any other runner until this batch commits or rolls back.
        await this.deps.db.transaction(async (tx) => {
          if (!(await this.deps.jobs.advance(tx, claim, count, this.deps.leaseMs))) throw new LeaseLost();
          await this.deps.writer.write(tx, bulkOrderId(claim.job.jobId), claim.job.made + 1, codes);
        });
        claim.job.made += count;
        return true;
      } catch (err) {
        if (err instanceof LeaseLost) {
          this.deps.logger.warn({ jobId: claim.job.jobId }, "bulk make-code job taken over, cancelled, or held (its template or send channel disabled); this runner stops");
          return false;
        }
        // A code already taken (the code's primary key) or this seq written by a runner whose lease we outlived.
        if (isUniqueViolation(err) && draw < MAX_DRAWS) continue;
        throw err;
      }
    }
  }
}

class LeaseLost extends Error {}

/** Who starts or stops a job, as the audit names them. */
function checkActor(actor: string): void {
  if (!APP_ID_PATTERN.test(actor)) throw codeError(CodeError.PARAMETER_INVALID, "actor: 1–64 of [0-9A-Za-z._-] (the app id, or ops)");
}

function isUniqueViolation(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "23505";
}
