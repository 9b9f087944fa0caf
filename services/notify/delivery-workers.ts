// Delivery workers: each claims a batch of due tasks, delivers them concurrently through the port of their
// type, and records each outcome (delivered, retry after a backoff, dead). Any number of workers in any number
// of replicas share the table: claims skip each other's locked rows, and an outcome is recorded only by the
// holder of the claim (a worker whose lease ran out records nothing; the next claimant delivers again).
import { setTimeout as sleep } from "node:timers/promises";
import type { Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import { UpstreamError } from "../common/upstream-http.js";
import { isDeliverable, type DeliveryPorts } from "./ports.js";
import type { ClaimedTask, TaskStore } from "./task-store.js";

export interface DeliverySchedule {
  workers: number;
  batchSize: number;
  pollMs: number;
  leaseMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/**
 * The delay before attempt `attempts + 1`: base × 2^(attempts−1), capped, then "equal jitter" (half fixed,
 * half random) so tasks that failed together (PSBC down) do not all come back in the same instant.
 */
export function backoffDelayMs(attempts: number, schedule: Pick<DeliverySchedule, "backoffBaseMs" | "backoffMaxMs">, random = Math.random): number {
  const exponential = Math.min(schedule.backoffMaxMs, schedule.backoffBaseMs * 2 ** Math.min(Math.max(attempts - 1, 0), 30));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

export interface DeliveryWorkersOptions {
  store: TaskStore;
  ports: DeliveryPorts;
  schedule: DeliverySchedule;
  clock: Clock;
  logger: Logger;
  /** Tells the outbox relay that an outcome wrote an event. */
  eventsWritten(): void;
}

export class DeliveryWorkers {
  private readonly stopping = new AbortController();
  private running: Promise<void>[] = [];
  /** Wakes idle workers early (a task was just created here). */
  private wake = new AbortController();

  constructor(private readonly options: DeliveryWorkersOptions) {}

  start(): void {
    for (let worker = 0; worker < this.options.schedule.workers; worker += 1) this.running.push(this.loop(worker));
  }

  /** Idle workers look for due tasks now rather than at their next poll. */
  kick(): void {
    this.wake.abort();
  }

  /** Stops claiming; batches in flight finish (each delivery is bounded by its upstream timeout). */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.wake.abort();
    await Promise.all(this.running);
    this.running = [];
  }

  private async loop(worker: number): Promise<void> {
    const { store, schedule, clock, logger } = this.options;
    while (!this.stopping.signal.aborted) {
      // The database away: the tasks stay as they are (a claimed one until its lease ends); try after a poll.
      const databaseAway = (err: unknown) =>
        logger.warn({ worker, error: err instanceof Error ? err.message : String(err) }, "notify worker failed to claim or record");
      let claimed: ClaimedTask[] = [];
      try {
        claimed = await store.claim(clock.now(), schedule.batchSize, schedule.leaseMs);
      } catch (err) {
        databaseAway(err);
      }
      const delivered = (await Promise.all(claimed.map((task) => this.deliver(task).catch((err: unknown) => databaseAway(err))))).filter(
        (task): task is ClaimedTask => task !== undefined,
      );
      await this.recordDelivered(delivered).catch(databaseAway);
      // A full batch suggests more are due: claim again at once.
      if (claimed.length < schedule.batchSize) await this.idle(schedule.pollMs);
    }
  }

  private async idle(ms: number): Promise<void> {
    const wake = this.wake;
    await sleep(ms, undefined, { signal: AbortSignal.any([wake.signal, this.stopping.signal]) }).catch(() => undefined);
    if (wake.signal.aborted && this.wake === wake) this.wake = new AbortController();
  }

  /** Delivers one task; answers it when the recipient acknowledged (recorded with its batch), else records why not. */
  private async deliver(task: ClaimedTask): Promise<ClaimedTask | undefined> {
    const { store, ports, schedule, clock, logger, eventsWritten } = this.options;
    let error: string;
    let final: boolean;
    try {
      if (!isDeliverable(task.type)) throw new Error(`no delivery port for task type ${task.type}`);
      await ports[task.type].deliver(task.payload as never);
      return task;
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      final = !(err instanceof UpstreamError && err.retryable) || task.attempts >= schedule.maxAttempts;
    }
    const fields = { taskId: task.task_id, type: task.type, code: task.code, attempt: task.attempts, error };
    if (final) {
      if (await store.dead(task, error)) {
        eventsWritten();
        logger.error(fields, "notification dead: an operator can retry it");
      }
    } else {
      const retryAt = new Date(clock.now().getTime() + backoffDelayMs(task.attempts, schedule));
      await store.failed(task, error, retryAt);
      logger.warn({ ...fields, retryAt: retryAt.toISOString() }, "notification failed; will retry");
    }
    return undefined;
  }

  private async recordDelivered(tasks: ClaimedTask[]): Promise<void> {
    const { store, clock, logger, eventsWritten } = this.options;
    if (tasks.length === 0) return;
    const recorded = await store.delivered(tasks, clock.now());
    if (recorded.size > 0) {
      eventsWritten();
      logger.info({ delivered: recorded.size }, "notifications delivered");
    }
    for (const task of tasks) {
      const fields = { taskId: task.task_id, type: task.type, code: task.code, attempt: task.attempts };
      if (recorded.has(task.task_id)) logger.debug(fields, "notification delivered");
      else logger.warn(fields, "notification delivered after its lease expired; the next claimant delivers it again");
    }
  }
}
