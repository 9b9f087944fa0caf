import { setTimeout as sleep } from "node:timers/promises";
import { BulkJobHold, BulkJobState, CodeService, type BulkJob } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import { OPS_ACTOR } from "../../voucher/catalogue/audit-store.js";
import { UsageError, optionalLimit, required, type OpsCommand, type OpsContext } from "./command.js";
import { formatTimestamp } from "../../common/clock.js";


const jobView = (job: BulkJob | undefined) =>
  job && {
    jobId: job.jobId, requestId: job.requestId, templateId: job.templateId, made: job.made, total: job.total,
    state: BulkJobState[job.state], ...(job.heldBy ? { heldBy: BulkJobHold[job.heldBy] } : {}), createdAt: formatTimestamp(job.createdAt), updatedAt: formatTimestamp(job.updatedAt),
  };

const LISTED_STATES: Record<string, BulkJobState> = { running: BulkJobState.RUNNING, done: BulkJobState.DONE, cancelled: BulkJobState.CANCELLED };

const BAR_WIDTH = 30;

/** `[#####-----]  42.0%  420000/1000000` redrawn in place on a terminal; one plain line per change otherwise. */
export function progressLine(job: BulkJob): string {
  const share = job.total === 0 ? 1 : job.made / job.total;
  const filled = Math.round(share * BAR_WIDTH);
  const held = job.heldBy ? ` (held: ${BulkJobHold[job.heldBy]})` : "";
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${(share * 100).toFixed(1).padStart(5)}%  ${job.made}/${job.total}  ${BulkJobState[job.state]}${held}`;
}

/** Polls the job until it is DONE (or cancelled), showing its progress; answers the last state read. */
async function watch(jobId: string, everyMs: number, context: OpsContext): Promise<BulkJob | undefined> {
  const voucher = context.client("voucher", CodeService);
  let shown = "";
  for (;;) {
    const { job } = await voucher.getBulkJob({ jobId });
    if (!job) return undefined;
    const line = progressLine(job);
    if (context.progress.tty) context.progress.show(`\r${line}`);
    else if (line !== shown) context.progress.show(`${line}\n`);
    shown = line;
    if (job.state !== BulkJobState.RUNNING) {
      if (context.progress.tty) context.progress.show("\n");
      return job;
    }
    await sleep(everyMs);
  }
}

function everyOf(value: string | boolean | undefined): number {
  if (value === undefined) return 1_000;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 10) throw new UsageError("--every: milliseconds between polls, 10 or more");
  return ms;
}

/** A CSV export streams for as long as a million codes take: no deadline but the operator's. */
const EXPORT_TIMEOUT_MS = 0;

/** `whale bulk …`: bulk make-code (批导) jobs, their progress and their codes as CSV. */
export const bulkCommands: OpsCommand[] = [
  {
    words: ["whale", "bulk", "start"],
    usage: "whale bulk start --template T --total N --request R [--watch]   a bulk make-code job (audited as ops); the same R answers the same job",
    options: ["template", "total", "request", "every"],
    flags: ["watch"],
    positionals: 0,
    async run({ values }, context) {
      const total = Number(required(values, "total"));
      if (!Number.isInteger(total)) throw new UsageError("--total: a whole number of codes");
      const { job } = await context.client("voucher", CodeService).startBulkJob(
        { requestId: required(values, "request"), templateId: required(values, "template"), total, actor: OPS_ACTOR },
      );
      context.print(jobView(values.watch && job ? await watch(job.jobId, everyOf(values.every), context) : job));
    },
  },
  {
    words: ["whale", "bulk", "status"],
    usage: "whale bulk status <jobId> [--watch] [--every MS]   made/total; --watch shows progress until done",
    options: ["every"],
    flags: ["watch"],
    positionals: 1,
    async run({ positionals: [jobId], values }, context) {
      if (!jobId) throw new UsageError("whale bulk status needs a job id");
      if (values.watch) return context.print(jobView(await watch(jobId, everyOf(values.every), context)));
      context.print(jobView((await context.client("voucher", CodeService).getBulkJob({ jobId })).job));
    },
  },
  {
    words: ["whale", "bulk", "list"],
    usage: "whale bulk list [--state running|done|cancelled] [--held] [--limit N]   bulk jobs, newest first; --held: the running ones held",
    options: ["state", "limit"],
    flags: ["held"],
    positionals: 0,
    async run({ values }, context) {
      const state = typeof values.state === "string" ? LISTED_STATES[values.state] : BulkJobState.UNSPECIFIED;
      if (state === undefined) throw new UsageError(`--state is one of ${Object.keys(LISTED_STATES).join(", ")}`);
      const { jobs } = await context.client("voucher", CodeService).listBulkJobs({ state, held: values.held === true, limit: optionalLimit(values, 1000) });
      context.print(jobs.map(jobView));
    },
  },
  {
    words: ["whale", "bulk", "cancel"],
    usage: "whale bulk cancel <jobId>   stops a running job at its next batch (audited as ops; admin); its codes are never exported",
    positionals: 1,
    async run({ positionals: [jobId] }, context) {
      if (!jobId) throw new UsageError("whale bulk cancel needs a job id");
      context.print(jobView((await context.client("voucher", CodeService).cancelBulkJob({ jobId, actor: OPS_ACTOR }, context.admin())).job));
    },
  },
  {
    words: ["whale", "bulk", "export"],
    usage: "whale bulk export <jobId> > codes.csv   a done job's codes as CSV (seq,code), streamed (admin)",
    positionals: 1,
    async run({ positionals: [jobId] }, context) {
      if (!jobId) throw new UsageError("whale bulk export needs a job id");
      const pages = context.client("voucher", CodeService).exportBulkCodes({ jobId }, { ...context.admin(), timeoutMs: EXPORT_TIMEOUT_MS });
      // The header goes with the first page, so a refused export (no such job, not done) writes nothing to codes.csv.
      let header = "seq,code\n";
      for await (const page of pages) {
        let text = header;
        header = "";
        for (let i = 0; i < page.codes.length; i += 1) text += `${page.firstSeq + i},${page.codes[i]}\n`;
        await context.write(text);
      }
      if (header) await context.write(header);
    },
  },
];
