// The catalogue's audit: one row per change (who, when, what, the record before and after), written in the
// change's own transaction, so there is never a change without its row nor a row without its change.
import type { Queryable } from "../../common/database.js";

export type AuditRecordType = "sale_channel" | "send_channel" | "template" | "activity" | "activity_template" | "erp_app" | "bulk_job";

/** Who the operator CLI's changes are audited as. */
export const OPS_ACTOR = "ops";
/** Who the voucher service's own changes are audited as (its background jobs'). */
export const SYSTEM_ACTOR = "system";
/** Actors no ERP app may be named, so an audit row's actor says which of the three made the change. */
export const RESERVED_ACTORS: readonly string[] = [OPS_ACTOR, SYSTEM_ACTOR];

export interface AuditChange {
  /** The ERP app id, OPS_ACTOR for the operator CLI, or SYSTEM_ACTOR for the service's own jobs. */
  actor: string;
  /** The back-office action (activityInsert, activityDisable, …) or the operator's (erpAppAdd, …). */
  action: string;
  recordType: AuditRecordType;
  recordId: string;
  /** The record before and after the change (null: none); never a secret. */
  before: unknown;
  after: unknown;
}

export interface AuditEntry extends AuditChange {
  auditId: string;
  at: Date;
}

interface AuditRow {
  audit_id: string;
  at: Date;
  actor: string;
  action: string;
  record_type: AuditRecordType;
  record_id: string;
  before: unknown;
  after: unknown;
}

export const AUDIT_PAGE = { default: 50, max: 500 } as const;

export class AuditStore {
  constructor(private readonly db: Queryable) {}

  async record(tx: Queryable, change: AuditChange): Promise<void> {
    await tx.query(
      `INSERT INTO vouchers.catalogue_audit (actor, action, record_type, record_id, before, after) VALUES ($1, $2, $3, $4, $5, $6)`,
      [
        change.actor,
        change.action,
        change.recordType,
        change.recordId,
        change.before === null ? null : JSON.stringify(change.before),
        change.after === null ? null : JSON.stringify(change.after),
      ],
    );
  }

  /** Newest first; one record's rows when given; older than `beforeAuditId` when given (paging). */
  async list(filter: { recordType?: string; recordId?: string; beforeAuditId?: string; limit: number }): Promise<AuditEntry[]> {
    // ORDER BY the bigint column, qualified: a bare audit_id there is the text output column (9 above 10).
    const { rows } = await this.db.query<AuditRow>(
      `SELECT audit_id::text, at, actor, action, record_type, record_id, before, after FROM vouchers.catalogue_audit
        WHERE ($1::text IS NULL OR record_type = $1) AND ($2::text IS NULL OR record_id = $2)
          AND ($3::bigint IS NULL OR audit_id < $3)
        ORDER BY catalogue_audit.audit_id DESC LIMIT $4`,
      [filter.recordType ?? null, filter.recordId ?? null, filter.beforeAuditId ?? null, filter.limit],
    );
    return rows.map((row) => ({
      auditId: row.audit_id,
      at: new Date(row.at),
      actor: row.actor,
      action: row.action,
      recordType: row.record_type,
      recordId: row.record_id,
      before: row.before,
      after: row.after,
    }));
  }
}
