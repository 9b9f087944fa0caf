import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Client, ServiceImpl } from "@connectrpc/connect";
import type { NotifyService } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import type { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import type { Branch, ReconciliationService } from "../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { businessMonth, businessMonthRange, parseBusinessTime, type Clock } from "../common/clock.js";
import { hasControlCharacter, type Database } from "../common/database.js";
import type { Logger } from "../common/logger.js";
import { reconciliationError, ReconciliationError } from "./errors.js";
import type { FileRecord, ReconciliationFiles } from "./files.js";
import type { DownloadPasswords } from "./passwords.js";
import { batchRepush } from "./repush.js";
import { previousMonth } from "./schedule.js";

export interface ReconciliationDeps {
  db: Database;
  clock: Clock;
  files: ReconciliationFiles;
  passwords: DownloadPasswords;
  orders: Client<typeof OrderService>;
  notify: Client<typeof NotifyService>;
  adminToken: string;
  logger: Logger;
}

/** At most this many branches per import call. */
const BRANCHES_PER_IMPORT = 10_000;

const fileMessage = (file: FileRecord) => ({
  fileId: file.fileId,
  fileName: file.fileName,
  fileSize: BigInt(file.fileSize),
  createTime: timestampFromDate(file.createdAt),
});

export function reconciliationServiceImpl(deps: ReconciliationDeps): ServiceImpl<typeof ReconciliationService> {
  const { files, passwords, clock } = deps;
  /** Files exist up to last month (the current one is not over). */
  const checkClosedMonth = (month: string) => {
    if (month > previousMonth(businessMonth(clock.now()))) {
      throw reconciliationError(ReconciliationError.ACCOUNTING_MONTH_TOO_LATE, `files exist up to last month; ${month} is not over`);
    }
  };
  const checkInterface = (fileIntfcName: string) => {
    if (fileIntfcName !== files.fileInterface) throw reconciliationError(ReconciliationError.FILE_INTERFACE_NOT_FOUND, `no file interface ${fileIntfcName}`);
  };

  return {
    async listFiles(req) {
      // accountingDate is a day (yyyyMMdd); its month is the accounting month.
      if (!/^\d{8}$/.test(req.accountingDate) || !parseBusinessTime(`${req.accountingDate}000000`)) {
        throw reconciliationError(ReconciliationError.PARAMETER_INVALID, "accountingDate is a date yyyyMMdd");
      }
      checkInterface(req.fileIntfcName);
      const month = req.accountingDate.slice(0, 6);
      checkClosedMonth(month);
      const file = await files.find(req.fileIntfcName, month);
      return { files: file ? [fileMessage(file)] : [] };
    },

    async *downloadFile(req) {
      // A fileId with a control character names no file, and PostgreSQL refuses a NUL in text outright.
      if (!req.fileId || hasControlCharacter(req.fileId) || !req.fileIntfcName || !req.password) {
        throw reconciliationError(ReconciliationError.PARAMETER_INVALID, "fileId (no control character), fileIntfcName and password are required");
      }
      // The password before the interface and the file, so that without it nothing is learnt of which exist.
      await passwords.check(req.fileIntfcName, req.password, req.client || "unknown");
      // An unknown interface has no files: the contract's download answers 文件不存在.
      const file = req.fileIntfcName === files.fileInterface ? await files.byId(req.fileId, req.fileIntfcName) : undefined;
      if (!file) throw reconciliationError(ReconciliationError.FILE_NOT_FOUND, "no such file");
      yield { part: { case: "file", value: fileMessage(file) } };
      for await (const chunk of files.content(file)) yield { part: { case: "chunk", value: chunk } };
    },

    batchRepush: (req) => batchRepush(req, deps),

    async generateFile(req) {
      if (!businessMonthRange(req.month)) throw reconciliationError(ReconciliationError.PARAMETER_INVALID, "month is YYYYMM");
      if (req.fileIntfcName) checkInterface(req.fileIntfcName);
      checkClosedMonth(req.month);
      const file = await files.generate(req.month, "replace");
      return { files: file ? [fileMessage(file)] : [] };
    },

    async importBranches(req) {
      const branches = req.branches.map(checkedBranch);
      if (branches.length > BRANCHES_PER_IMPORT) throw reconciliationError(ReconciliationError.PARAMETER_INVALID, `at most ${BRANCHES_PER_IMPORT} branches per import`);
      await deps.db.transaction(async (tx) => {
        for (const branch of branches) {
          await tx.query(
            `INSERT INTO reconciliation.branch (province_inst_no, name) VALUES ($1, $2)
             ON CONFLICT (province_inst_no) DO UPDATE SET name = EXCLUDED.name, updated_at = now()`,
            [branch.provinceInstNo, branch.name],
          );
        }
      });
      deps.logger.info({ imported: branches.length }, "branch names imported");
      return { imported: branches.length };
    },

    async setDownloadPassword(req) {
      checkInterface(req.fileIntfcName);
      await passwords.set(req.fileIntfcName, req.password);
      return {};
    },
  };
}

/** A branch as the file shows it: a provinceInstNo of the envelope's kind and a name of one line. */
function checkedBranch(branch: Branch): { provinceInstNo: string; name: string } {
  const provinceInstNo = branch.provinceInstNo.trim();
  const name = branch.name.trim();
  if (!/^[\x21-\x7e]{1,20}$/.test(provinceInstNo) || name.length === 0 || name.length > 128 || hasControlCharacter(name)) {
    throw reconciliationError(ReconciliationError.PARAMETER_INVALID, `branch ${JSON.stringify(provinceInstNo)}: a code of 1 to 20 printable characters and a one-line name`);
  }
  return { provinceInstNo, name };
}
