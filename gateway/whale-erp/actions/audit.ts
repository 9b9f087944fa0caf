import { Type } from "typebox";
import { CatalogueService } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { formatTimestamp } from "../../../services/common/clock.js";
import { AUDIT_PAGE } from "../../../services/voucher/catalogue/audit-store.js";
import { RECORD_ID_PATTERN } from "../../../services/voucher/catalogue/fields.js";
import { erpAction } from "../action.js";
import { body } from "../schemas.js";

const RECORD_TYPES = ["sale_channel", "send_channel", "template", "activity", "activity_template", "erp_app", "bulk_job"] as const;

/** 变更审计查询: the audit rows, newest first. */
export const auditQuery = erpAction({
  name: "auditQuery",
  summary: "变更审计查询: who changed what and when, with the record before and after; newest first",
  tag: "审计",
  body: body({
    recordType: Type.Optional(Type.Union(RECORD_TYPES.map((type) => Type.Literal(type)), { description: "one record's history: with recordId" })),
    recordId: Type.Optional(Type.String({ pattern: "^[0-9:A-Za-z._-]{1,64}$", description: "the record's id (activity_template: activityId:templateId)" })),
    beforeAuditId: Type.Optional(Type.String({ pattern: RECORD_ID_PATTERN, description: "rows older than this audit id (the next page)" })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: AUDIT_PAGE.max, description: `1–${AUDIT_PAGE.max}, default ${AUDIT_PAGE.default}` })),
  }),
  answer: Type.Object({
    audits: Type.Array(
      Type.Object({
        auditId: Type.String(),
        time: Type.String({ description: "yyyyMMddHHmmss (Asia/Shanghai)" }),
        actor: Type.String({ description: "the app id, ops (the operator CLI), or system (the voucher service's own jobs)" }),
        action: Type.String(),
        recordType: Type.String(),
        recordId: Type.String(),
        before: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
        after: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
      }),
    ),
  }),
  async call({ body, client, callOptions }) {
    const { entries } = await client(CatalogueService).listAudit(
      { recordType: body.recordType ?? "", recordId: body.recordId ?? "", beforeAuditId: body.beforeAuditId ?? "", limit: body.limit ?? 0 },
      callOptions,
    );
    return {
      audits: entries.map((entry) => ({
        auditId: entry.auditId,
        time: formatTimestamp(entry.at) ?? "",
        actor: entry.actor,
        action: entry.action,
        recordType: entry.recordType,
        recordId: entry.recordId,
        before: entry.beforeJson ? (JSON.parse(entry.beforeJson) as Record<string, unknown>) : null,
        after: entry.afterJson ? (JSON.parse(entry.afterJson) as Record<string, unknown>) : null,
      })),
    };
  },
});
