/**
 * JSON schemas of the contract's three reconciliation operations (对账管理), used as schemas.ts's are: ajv
 * validates the bodies, fast-json-stringify writes the answers, the served OpenAPI document shows them.
 */
import { Type, type Static } from "typebox";
import { PsbcErrorResponse } from "./schemas.js";

export const ReconciliationFilesRequest = Type.Object({
  accountingDate: Type.String({ pattern: "^\\d{8}$", maxLength: 8, description: "会计日期格式YYYYMMDD" }),
  fileIntfcName: Type.String({ minLength: 1, maxLength: 64, description: "文件接口名" }),
});
export type ReconciliationFilesRequest = Static<typeof ReconciliationFilesRequest>;

export const ReconciliationFilesData = Type.Object({
  fileList: Type.Array(
    Type.Object({
      fileId: Type.String(),
      fileName: Type.String(),
      fileSize: Type.Integer(),
      createTime: Type.String({ description: "yyyyMMddHHmmss" }),
    }),
  ),
});

export const ReconciliationDownloadRequest = Type.Object({
  fileId: Type.String({ minLength: 1, maxLength: 32 }),
  fileIntfcName: Type.String({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 32 }),
});
export type ReconciliationDownloadRequest = Static<typeof ReconciliationDownloadRequest>;

/** The file itself on success; the error envelope otherwise. */
export const reconciliationDownloadResponses = {
  200: {
    description: "下载成功",
    content: { "text/csv": { schema: { type: "string", format: "binary" } } },
    headers: { "Content-Disposition": { type: "string", description: "文件名" } },
  },
  400: PsbcErrorResponse,
  500: PsbcErrorResponse,
};

/**
 * Codes xor a time range, and at most 100 codes: the reconciliation service decides those, with the contract's
 * own messages for each, so here only the shapes are checked.
 */
export const BatchRepushRequest = Type.Object({
  codes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 32 }), { description: "权益码列表最多100个与时间范围二选一" })),
  startTime: Type.Optional(Type.String({ pattern: "^\\d{14}$", description: "开始时间格式yyyyMMddHHmmss与codes二选一" })),
  endTime: Type.Optional(Type.String({ pattern: "^\\d{14}$", description: "结束时间格式yyyyMMddHHmmss与codes二选一" })),
  dryRun: Type.Optional(Type.Boolean({ description: "是否试运行默认false" })),
});
export type BatchRepushRequest = Static<typeof BatchRepushRequest>;

export const BatchRepushData = Type.Object({
  totalCount: Type.Integer(),
  createdCount: Type.Integer(),
  skippedCount: Type.Integer(),
  orders: Type.Optional(
    Type.Array(
      Type.Object({
        orderNo: Type.String(),
        code: Type.String(),
        status: Type.Integer(),
        keyStatus: Type.Integer(),
        keyUsageTime: Type.Optional(Type.String()),
        hasTask: Type.Boolean(),
      }),
    ),
  ),
});
