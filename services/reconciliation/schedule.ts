// When the monthly file is due: from the 3rd, 01:00 (Asia/Shanghai), the previous month's. Checked on start and
// periodically against the service's clock, so a service that was down on the 3rd catches up, and CLOCK_START
// in embedded mode makes it happen.
import { businessMonth, businessMonthRange, formatBusinessTime, type Clock } from "../common/clock.js";
import type { PeriodicJob } from "../common/periodic-job.js";
import type { ReconciliationFiles } from "./files.js";

/** The business month before `month` (YYYYMM). */
export function previousMonth(month: string): string {
  const range = businessMonthRange(month);
  if (!range) throw new Error(`not a month: ${month}`);
  return businessMonth(new Date(range.start.getTime() - 1));
}

/** The month whose file is due at `now`: last month once it is the 3rd, 01:00 or later; before then none. */
export function dueMonth(now: Date): string | undefined {
  const time = formatBusinessTime(now);
  const dayAndHour = time.slice(6, 10);
  return dayAndHour >= "0301" ? previousMonth(time.slice(0, 6)) : undefined;
}

/** The schedule as a periodic job: each round makes sure the due month's file exists (if-missing). */
export function monthlyFileJob(files: ReconciliationFiles, clock: Clock, intervalMs: number): PeriodicJob {
  return {
    name: "reconciliation-monthly-file",
    intervalMs,
    async run() {
      const month = dueMonth(clock.now());
      if (month) await files.generate(month, "if-missing");
    },
  };
}
