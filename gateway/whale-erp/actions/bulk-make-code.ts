// The back office's bulk make-code (批导) actions, ours rather than the seed's (which starts a sendType-2
// template's codes nowhere): bulkMakeCode starts a background job of a bulk template's codes, bulkMakeCodeQuery
// reads its progress. The codes themselves are not answered here: a done job's CSV is exported by the operator
// (`npm run ops -- whale bulk export <jobId>`, an admin RPC), so a million bearer codes never travel in a
// back-office answer.
import { Type, type Static } from "typebox";
import { BulkJobHold, BulkJobState, CodeService, type BulkJob } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import { formatRequiredTimestamp } from "../../../services/common/clock.js";
import { BULK_JOB_ID, BULK_REQUEST_ID, MAX_BULK_CODES } from "../../../services/voucher/codes/bulk-make-code.js";
import { erpAction } from "../action.js";
import { body, longId } from "../schemas.js";

const TAG = "bulk make-code (ours)";

const BulkJobAnswer = Type.Object(
  {
    jobId: Type.String({ description: "the job's id: 32 hex digits" }),
    requestId: Type.String(),
    templateId: Type.Integer(),
    total: Type.Integer({ description: "codes the job makes" }),
    made: Type.Integer({ description: "codes made and stored so far" }),
    state: Type.Union([Type.Literal("RUNNING"), Type.Literal("DONE"), Type.Literal("CANCELLED")], {
      description:
        "RUNNING: waiting for a runner or being made; DONE: every code made (then exported by the operator: npm run ops -- whale bulk export <jobId>); " +
        "CANCELLED: stopped by the operator (npm run ops -- whale bulk cancel <jobId>) after `made` codes, which are never exported",
    }),
    heldBy: Type.Optional(
      Type.Union([Type.Literal("TEMPLATE_DISABLED"), Type.Literal("SEND_CHANNEL_DISABLED")], {
        description:
          "only while RUNNING and held: no runner makes it until its template and the send channel it started at are both enabled again " +
          "(or the operator cancels it); absent when it is being made or waiting for a runner",
      }),
    ),
    createTime: Type.String({ description: "yyyyMMddHHmmss (Asia/Shanghai)" }),
    updateTime: Type.String({ description: "when it last made progress, yyyyMMddHHmmss" }),
  },
  { additionalProperties: false },
);

const HELD_BY: Record<BulkJobHold, Static<typeof BulkJobAnswer>["heldBy"]> = {
  [BulkJobHold.UNSPECIFIED]: undefined,
  [BulkJobHold.TEMPLATE_DISABLED]: "TEMPLATE_DISABLED",
  [BulkJobHold.SEND_CHANNEL_DISABLED]: "SEND_CHANNEL_DISABLED",
};

function jobAnswer(job: BulkJob | undefined): Static<typeof BulkJobAnswer> {
  if (!job) throw new Error("CodeService answered no bulk job");
  return {
    jobId: job.jobId,
    requestId: job.requestId,
    templateId: Number(job.templateId),
    total: job.total,
    made: job.made,
    state: job.state === BulkJobState.DONE ? "DONE" : job.state === BulkJobState.CANCELLED ? "CANCELLED" : "RUNNING",
    ...(HELD_BY[job.heldBy] ? { heldBy: HELD_BY[job.heldBy] } : {}),
    createTime: formatRequiredTimestamp(job.createdAt),
    updateTime: formatRequiredTimestamp(job.updatedAt),
  };
}

export const bulkMakeCode = erpAction({
  name: "bulkMakeCode",
  summary:
    "批导制码 (ours, not the seed's): starts a background job making `total` codes of a bulk (sendType 2) template whose send channel is " +
    "WHALE's own generator; the same requestId answers the same job (03 with another template or total); answers the job",
  tag: TAG,
  body: body({
    requestId: Type.String({ pattern: BULK_REQUEST_ID.source, maxLength: 64, description: "the ERP's key of this job: 1–64 of 0-9 A-Z a-z _ . : -" }),
    templateId: longId("templateId"),
    total: Type.Integer({ minimum: 1, maximum: MAX_BULK_CODES, description: `codes to make: 1–${MAX_BULK_CODES}` }),
  }),
  answer: BulkJobAnswer,
  async call({ body, appId, client, callOptions }) {
    const { job } = await client(CodeService).startBulkJob(
      { requestId: body.requestId, templateId: String(body.templateId), total: body.total, actor: appId },
      callOptions,
    );
    return jobAnswer(job);
  },
});

export const bulkMakeCodeQuery = erpAction({
  name: "bulkMakeCodeQuery",
  summary: "批导制码查询 (ours): a bulk make-code job's progress (made of total, RUNNING, DONE or CANCELLED; what holds a RUNNING one)",
  tag: TAG,
  body: body({ jobId: Type.String({ pattern: BULK_JOB_ID.source, maxLength: 32, description: "jobId: 32 hex digits, as bulkMakeCode answered it" }) }),
  answer: BulkJobAnswer,
  async call({ body, client, callOptions }) {
    return jobAnswer((await client(CodeService).getBulkJob({ jobId: body.jobId }, callOptions)).job);
  },
});
