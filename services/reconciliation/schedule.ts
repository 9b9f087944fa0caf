// When the monthly file is due: from the 3rd, 01:00 (Asia/Shanghai), the previous month's. Checked on start and
// periodically against the service's clock, so a service that was down on the 3rd catches up, and CLOCK_START
// in embedded mode makes it happen; a service down past a whole month catches up the months it missed too.
import { businessMonth, businessMonthRange, formatBusinessTime, type Clock } from "../common/clock.js";
import type { PeriodicJob } from "../common/periodic-job.js";
import type { ReconciliationFiles } from "./files.js";

/** The business month before `month` (YYYYMM). */
export function previousMonth(month: string): string {
  const range = businessMonthRange(month);
  if (!range) throw new Error(`not a month: ${month}`);
  return businessMonth(new Date(range.start.getTime() - 1));
}

/** How far back, before last month, the schedule looks for a month whose file it missed. */
const CATCH_UP_MONTHS = 12;

/** The `count` months before `month`, oldest first. */
export function monthsBefore(month: string, count: number): string[] {
  const months: string[] = [];
  for (let m = previousMonth(month); months.length < count; m = previousMonth(m)) months.unshift(m);
  return months;
}

/** The month whose file is due at `now`: last month once it is the 3rd, 01:00 or later; before then none. */
export function dueMonth(now: Date): string | undefined {
  const time = formatBusinessTime(now);
  const dayAndHour = time.slice(6, 10);
  return dayAndHour >= "0301" ? previousMonth(time.slice(0, 6)) : undefined;
}

/**
 * The schedule as a periodic job: each round makes sure the due month's file exists (if-missing), then makes any
 * of the twelve months before last month that has no file (its due day passed with the service down), from the
 * first month the ledger or the files know of: empty for a month without completions, as a due month's is.
 */
export function monthlyFileJob(files: ReconciliationFiles, clock: Clock, intervalMs: number): PeriodicJob {
  return {
    name: "reconciliation-monthly-file",
    intervalMs,
    async run() {
      const now = clock.now();
      const month = dueMonth(now);
      if (month) await files.generate(month, "if-missing");
      for (const missed of await files.monthsWithoutFile(monthsBefore(previousMonth(businessMonth(now)), CATCH_UP_MONTHS))) {
        await files.generate(missed, "if-missing");
      }
    },
  };
}
