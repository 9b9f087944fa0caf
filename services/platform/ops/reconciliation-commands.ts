import { CsvError, parse, type InfoRecord } from "csv-parse/sync";
import { ReconciliationService, type ReconciliationFile } from "../../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { required, UsageError, type OpsCommand } from "./command.js";
import { formatTimestamp } from "../../common/clock.js";

function fileView(file: ReconciliationFile) {
  return {
    fileId: file.fileId,
    fileName: file.fileName,
    fileSize: Number(file.fileSize),
    createTime: formatTimestamp(file.createTime),
  };
}

/**
 * The branch table's CSV: `provinceInstNo,name` per line (一分机构号, 一分机构名称), UTF-8 with or without a BOM,
 * an optional header row naming those two columns. A file that is not such a CSV is a usage error naming its line.
 */
export function parseBranches(text: string): Array<{ provinceInstNo: string; name: string }> {
  let rows: Array<{ record: string[]; info: InfoRecord }>;
  try {
    // With `info`, each record comes with where it ends (csv-parse's typings do not say so).
    rows = parse(text, { bom: true, skip_empty_lines: true, trim: true, info: true }) as unknown as typeof rows;
  } catch (err) {
    if (err instanceof CsvError) throw new UsageError(`branches file: ${err.message}`);
    throw err;
  }
  const [first] = rows;
  const body = first && first.record[0]?.toLowerCase() === "provinceinstno" ? rows.slice(1) : rows;
  return body.map(({ record, info }) => {
    const [provinceInstNo, name] = record;
    if (record.length !== 2 || !provinceInstNo || !name) throw new UsageError(`branches line ${info.lines}: expected provinceInstNo,name`);
    return { provinceInstNo, name };
  });
}

/** `reconcile`, `branches import`, `repush`: the reconciliation service's operator RPCs (admin). */
export const reconciliationCommands: OpsCommand[] = [
  {
    words: ["reconcile"],
    usage: "reconcile <YYYYMM> [--interface NAME]   (re)generates a month's file(s), keeping each fileId (admin)",
    options: ["interface"],
    positionals: 1,
    async run({ positionals: [month], values }, context) {
      if (!month || !/^\d{4}(0[1-9]|1[0-2])$/.test(month)) throw new UsageError("reconcile needs a month YYYYMM");
      const fileIntfcName = typeof values.interface === "string" ? values.interface : "";
      const { files } = await context.client("reconciliation", ReconciliationService).generateFile({ month, fileIntfcName }, context.admin());
      context.print(files.map(fileView));
    },
  },
  {
    words: ["branches", "import"],
    usage: "branches import <file.csv>          loads 一分机构名称 by provinceInstNo (CSV: provinceInstNo,name) (admin)",
    positionals: 1,
    async run({ positionals: [file] }, context) {
      if (!file) throw new UsageError("branches import needs a CSV file");
      const branches = parseBranches(await context.readFile(file));
      if (branches.length === 0) throw new UsageError(`${file} has no branches`);
      const { imported } = await context.client("reconciliation", ReconciliationService).importBranches({ branches }, context.admin());
      context.print({ imported });
    },
  },
  {
    words: ["repush"],
    usage: "repush (--codes C[,C…] | --start yyyyMMddHHmmss --end yyyyMMddHHmmss) [--dry-run]   service-complete notices again (admin)",
    options: ["codes", "start", "end"],
    flags: ["dry-run"],
    positionals: 0,
    async run({ values }, context) {
      const codes = typeof values.codes === "string" ? values.codes.split(",").filter(Boolean) : [];
      const byRange = values.start !== undefined || values.end !== undefined;
      if ((codes.length > 0) === byRange) throw new UsageError("repush takes --codes or --start and --end, not both");
      const [startTime, endTime] = byRange ? [required(values, "start"), required(values, "end")] : ["", ""];
      const answer = await context
        .client("reconciliation", ReconciliationService)
        .batchRepush({ codes, startTime, endTime, dryRun: values["dry-run"] === true }, context.admin());
      context.print({
        totalCount: answer.totalCount,
        createdCount: answer.createdCount,
        skippedCount: answer.skippedCount,
        ...(values["dry-run"] === true
          ? { orders: answer.orders.map(({ orderNo, code, status, keyStatus, keyUsageTime, hasTask }) => ({ orderNo, code, status, keyStatus, keyUsageTime, hasTask })) }
          : {}),
      });
    },
  },
];
