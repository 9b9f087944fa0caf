import { Readable } from "node:stream";
import type { Client } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";
import type { DownloadFileResponse, ReconciliationFile, ReconciliationService } from "../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { formatTimestamp } from "../../services/common/clock.js";
import { tracedCall } from "../traced-call.js";
import {
  BatchRepushData,
  BatchRepushRequest,
  ReconciliationDownloadRequest,
  ReconciliationFilesData,
  ReconciliationFilesRequest,
  reconciliationDownloadResponses,
} from "./reconciliation-schemas.js";
import { psbcResponses } from "./schemas.js";

export type ReconciliationClient = Client<typeof ReconciliationService>;

/** A download streams the whole file: its deadline is far above a single call's. */
const DOWNLOAD_TIMEOUT_MS = 10 * 60_000;

const TAG = "对账管理";

const fileItem = (file: ReconciliationFile) => ({
  fileId: file.fileId,
  fileName: file.fileName,
  fileSize: Number(file.fileSize),
  createTime: formatTimestamp(file.createTime) ?? "",
});

/**
 * The file's bytes after its first message (the file itself). Ending early (the client went away, and the reply
 * stream was destroyed) cancels the call: the service's stream would otherwise run on to its deadline.
 */
async function* fileBytes(parts: AsyncIterator<DownloadFileResponse>, call: AbortController): AsyncIterable<Uint8Array> {
  try {
    for (let next = await parts.next(); !next.done; next = await parts.next()) {
      if (next.value.part.case === "chunk") yield next.value.part.value;
    }
  } finally {
    call.abort();
  }
}

/**
 * The contract's three reconciliation routes (对账管理): each validates its body and makes one reconciliation
 * service call under the request's traceId. Failures go to the scope's error handler, like the other routes'.
 */
export function registerReconciliationRoutes(scope: FastifyInstance, client: ReconciliationClient, callTimeoutMs: number | undefined): void {
  scope.post<{ Body: ReconciliationFilesRequest }>(
    "/reconciliation/files",
    {
      schema: {
        operationId: "queryReconciliationFiles",
        tags: [TAG],
        summary: "对账文件查询接口",
        body: ReconciliationFilesRequest,
        response: psbcResponses(ReconciliationFilesData),
      },
      config: { psbcOperation: "queryReconciliationFiles" },
    },
    async (request) => {
      const { files } = await tracedCall(request.id, callTimeoutMs, (options) => client.listFiles(request.body, options));
      request.contractCode = 0;
      return { code: 0, msg: "成功", traceId: request.id, data: { fileList: files.map(fileItem) } };
    },
  );

  scope.post<{ Body: ReconciliationDownloadRequest }>(
    "/reconciliation/download",
    {
      schema: {
        operationId: "downloadReconciliationFile",
        tags: [TAG],
        summary: "对账文件下载接口",
        body: ReconciliationDownloadRequest,
        response: reconciliationDownloadResponses,
      },
      config: { psbcOperation: "downloadReconciliationFile" },
    },
    async (request, reply) => {
      // The client's address counts its wrong passwords; the password goes nowhere else.
      const call = new AbortController();
      const parts = tracedCall(request.id, DOWNLOAD_TIMEOUT_MS, (options) =>
        client.downloadFile({ ...request.body, client: request.ip }, { ...options, signal: call.signal })[Symbol.asyncIterator](),
      );
      // Refusals (wrong password, no such file) come before the first message: answered as JSON errors.
      const first = await parts.next();
      if (first.done || first.value.part.case !== "file") throw new Error("the download began without its file");
      const file = first.value.part.value;
      request.contractCode = 0;
      return reply
        .header("content-type", "text/csv; charset=utf-8")
        .header("content-disposition", `attachment; filename="${file.fileName}"`)
        .header("content-length", String(file.fileSize))
        .send(Readable.from(fileBytes(parts, call), { objectMode: false }));
    },
  );

  scope.post<{ Body: BatchRepushRequest }>(
    "/reconciliation/batch-repush",
    {
      schema: {
        operationId: "batchRepush",
        tags: [TAG],
        summary: "批量补推接口",
        body: BatchRepushRequest,
        response: psbcResponses(BatchRepushData),
      },
      config: { psbcOperation: "batchRepush" },
    },
    async (request) => {
      const { codes, startTime, endTime, dryRun } = request.body;
      const res = await tracedCall(request.id, callTimeoutMs, (options) => client.batchRepush({ codes, startTime, endTime, dryRun }, options));
      request.contractCode = 0;
      const counts = { totalCount: res.totalCount, createdCount: res.createdCount, skippedCount: res.skippedCount };
      const orders = res.orders.map(({ orderNo, code, status, keyStatus, keyUsageTime, hasTask }) => ({
        orderNo,
        code,
        status,
        keyStatus,
        ...(keyUsageTime ? { keyUsageTime } : {}),
        hasTask,
      }));
      return { code: 0, msg: "成功", traceId: request.id, data: dryRun ? { ...counts, orders } : counts };
    },
  );
}
