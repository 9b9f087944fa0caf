// Background work a service runs on an interval (the voucher status poll, the order expiry): started once the
// schema is current, stopped before the consumers when the service closes. Safe with several replicas only
// through what each round does (claims with FOR UPDATE SKIP LOCKED), never through the job itself.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "./logger.js";

export interface PeriodicJob {
  name: string;
  /** Pause between rounds. */
  intervalMs: number;
  /** One round; answers true when it did a full batch and the next round should follow at once. */
  run(): Promise<boolean | void>;
}

/** Runs each job in its own loop until `stop()`; a round that throws is logged and the loop goes on. */
export function startPeriodicJobs(jobs: readonly PeriodicJob[], logger: Logger): { stop(): Promise<void> } {
  const stopping = new AbortController();
  const loops = jobs.map(async (job) => {
    while (!stopping.signal.aborted) {
      let more = false;
      try {
        more = (await job.run()) === true;
      } catch (err) {
        logger.warn({ job: job.name, err }, "periodic job round failed");
      }
      if (!more) await sleep(job.intervalMs, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  });
  return {
    async stop() {
      stopping.abort();
      await Promise.all(loops);
    },
  };
}
