import type { ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { BulkJobHold, BulkJobSchema, BulkJobState, CodeOrderSchema, CodeService, MakeNoticeSchema, type BulkJob, type CodeOrder, type MakeNotice } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import type { BulkJobRecord } from "./bulk-job-store.js";
import type { BulkMakeCodes } from "./bulk-make-code.js";
import type { MakeCodeNotices, MakeNoticeView } from "./make-code-notices.js";
import type { CodeOrderRecord } from "./code-order-store.js";
import type { MakeCodes } from "./make-code.js";
import type { SaleChannelSignatures } from "./sale-channel-signatures.js";
import { CodeError, codeError } from "./errors.js";

/**
 * The admin RPC (ADMIN_TOKEN): a bulk job's codes leave only through the operator. Starting a job and reading
 * its progress are the back office's too (bulkMakeCode, bulkMakeCodeQuery), audited by their actor like the
 * catalogue's writes; the whale-channel gateway never routes them.
 */
export const CODE_ADMIN_METHODS = [CodeService.method.exportBulkCodes, CodeService.method.cancelBulkJob];

export function codeServiceImpl(
  makeCodes: MakeCodes,
  signatures: SaleChannelSignatures,
  notices: MakeCodeNotices,
  bulk: BulkMakeCodes,
): ServiceImpl<typeof CodeService> {
  return {
    async makeCode(req) {
      return { order: toMessage(await makeCodes.make(req)) };
    },
    async getCodeOrder(req) {
      return { order: toMessage(await makeCodes.get(req.saleChannelId, req.saleChannelOrderId)) };
    },
    async authenticateSaleChannel(req) {
      await signatures.verify(req.saleChannelId, req.body, req.signature);
      return {};
    },
    async signForSaleChannel(req) {
      return { signature: await signatures.sign(req.saleChannelId, req.body) };
    },
    async getMakeNotice(req) {
      return { notice: noticeMessage(await notices.noticeOf(req, req.verify)) };
    },
    async retryMakeNotice(req) {
      return { notice: noticeMessage(await notices.retryOf(req)) };
    },
    ...bulkServiceImpl(bulk),
  };
}

/** The bulk make-code RPCs of the code service. */
export function bulkServiceImpl(bulk: BulkMakeCodes): Pick<ServiceImpl<typeof CodeService>, "startBulkJob" | "getBulkJob" | "exportBulkCodes" | "cancelBulkJob" | "listBulkJobs"> {
  return {
    async startBulkJob(req) {
      return { job: bulkJobMessage(await bulk.start(req)) };
    },
    async getBulkJob(req) {
      return { job: bulkJobMessage(await bulk.get(req.jobId)) };
    },
    async *exportBulkCodes(req) {
      yield* bulk.exportCodes(req.jobId);
    },
    async cancelBulkJob(req) {
      return { job: bulkJobMessage(await bulk.cancel(req)) };
    },
    async listBulkJobs(req) {
      const state = (Object.keys(BULK_JOB_STATES) as BulkJobRecord["state"][]).find((name) => BULK_JOB_STATES[name] === req.state);
      if (!state && req.state !== BulkJobState.UNSPECIFIED) throw codeError(CodeError.PARAMETER_INVALID, `state: no bulk job state ${req.state}`);
      const jobs = await bulk.list({ state, held: req.held, limit: req.limit });
      return { jobs: jobs.map(bulkJobMessage) };
    },
  };
}

const BULK_JOB_STATES: Record<BulkJobRecord["state"], BulkJobState> = {
  RUNNING: BulkJobState.RUNNING,
  DONE: BulkJobState.DONE,
  CANCELLED: BulkJobState.CANCELLED,
};

function bulkJobMessage(job: BulkJobRecord): BulkJob {
  return create(BulkJobSchema, {
    jobId: job.jobId,
    requestId: job.requestId,
    templateId: job.templateId,
    total: job.total,
    made: job.made,
    state: BULK_JOB_STATES[job.state],
    // The store names a hold as the enum does.
    heldBy: job.heldBy ? BulkJobHold[job.heldBy] : BulkJobHold.UNSPECIFIED,
    createdAt: timestampFromDate(job.createdAt),
    updatedAt: timestampFromDate(job.updatedAt),
  });
}

function noticeMessage(view: MakeNoticeView): MakeNotice {
  const { order } = view;
  return create(MakeNoticeSchema, {
    notifyId: view.notifyId,
    orderId: order.tradeNo,
    requestId: order.requestId,
    saleChannelId: order.saleChannelId,
    saleChannelOrderId: order.saleChannelOrderId,
    createdAt: timestampFromDate(order.createdAt),
    orderMobile: order.orderMobile ?? "",
    codeNum: order.codes.length,
    notified: view.notified,
    canVoid: view.canVoid,
    returnCode: view.returnCode,
    updatedAt: timestampFromDate(order.updatedAt),
    status: view.status,
  });
}

function toMessage(order: CodeOrderRecord): CodeOrder {
  return create(CodeOrderSchema, {
    tradeNo: order.tradeNo,
    saleChannelId: order.saleChannelId,
    saleChannelOrderId: order.saleChannelOrderId,
    createdAt: timestampFromDate(order.createdAt),
    notify: order.orderMobile !== null,
    codeNum: order.codes.length,
    item: {
      codes: order.codes.map((code) => ({ code: code.code, codeUrl: code.url, useTimes: order.useTimes, status: code.status })),
      validStart: timestampFromDate(order.validStart),
      validEnd: timestampFromDate(order.validEnd),
      saleChannelItemId: order.saleChannelItemId,
      ticketId: order.templateId,
      ticketName: order.ticketName,
      activityId: order.activityId,
      activityName: order.activityName,
    },
  });
}
