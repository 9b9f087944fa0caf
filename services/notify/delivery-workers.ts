// Delivery workers: each claims a batch of due tasks, delivers them through the port of their type, at most
// `concurrency` at once, and records the batch's outcomes (delivered, retry after a backoff, dead), one statement
// per kind of outcome. Any number of workers in any number of replicas share the table: claims skip each other's
// locked rows, and an outcome is recorded only by the holder of the claim (a worker whose lease ran out records
// nothing; the next claimant delivers again).
import { setTimeout as sleep } from "node:timers/promises";
import type { Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import { UpstreamError } from "../common/upstream-http.js";
import { isDeliverable, type DeliveryPorts } from "./ports.js";
import type { ClaimedTask, DeadTask, FailedAttempt, TaskStore } from "./task-store.js";

export interface DeliverySchedule {
  workers: number;
  batchSize: number;
  /** Deliveries a worker has in flight at once. */
  concurrency: number;
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

/**
 * The longest a batch can take: its deliveries in waves of `concurrency`, each wave bounded by the upstream
 * timeout. The lease must outlast it, or a slow batch's last tasks would be claimed again while in flight.
 */
export function longestBatchMs(schedule: Pick<DeliverySchedule, "batchSize" | "concurrency">, upstreamTimeoutMs: number): number {
  return Math.ceil(schedule.batchSize / Math.min(schedule.concurrency, schedule.batchSize)) * upstreamTimeoutMs;
}

/** What became of a batch's deliveries. */
interface Outcomes {
  delivered: ClaimedTask[];
  failed: FailedAttempt[];
  dead: DeadTask[];
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
      if (claimed.length > 0) await this.record(await this.deliverAll(claimed)).catch(databaseAway);
      // A full batch suggests more are due: claim again at once.
      if (claimed.length < schedule.batchSize) await this.idle(schedule.pollMs);
    }
  }

  private async idle(ms: number): Promise<void> {
    const wake = this.wake;
    await sleep(ms, undefined, { signal: AbortSignal.any([wake.signal, this.stopping.signal]) }).catch(() => undefined);
    if (wake.signal.aborted && this.wake === wake) this.wake = new AbortController();
  }

  /** Delivers a batch, `concurrency` lanes each taking the next task until none is left. */
  private async deliverAll(tasks: readonly ClaimedTask[]): Promise<Outcomes> {
    const outcomes: Outcomes = { delivered: [], failed: [], dead: [] };
    let next = 0;
    const lane = async () => {
      for (let task = tasks[next++]; task; task = tasks[next++]) await this.deliver(task, outcomes);
    };
    await Promise.all(Array.from({ length: Math.min(this.options.schedule.concurrency, tasks.length) }, lane));
    return outcomes;
  }

  /** Delivers one task and files its outcome: delivered, failed (retried after a backoff) or dead. */
  private async deliver(task: ClaimedTask, outcomes: Outcomes): Promise<void> {
    const { ports, schedule, clock } = this.options;
    // Every claim counts as an attempt: a claim past the last means the last one lapsed without an outcome (its
    // worker died, perhaps of this task), so the task is dead rather than claimed and sent again for ever; or that
    // NOTIFY_MAX_ATTEMPTS was lowered below the attempts it had made already.
    if (task.attempts > schedule.maxAttempts) {
      const why = task.lapsed ? "the last without an outcome (its worker died)" : `NOTIFY_MAX_ATTEMPTS is ${schedule.maxAttempts} now`;
      outcomes.dead.push({ task, error: `${task.attempts - 1} attempts, ${why}` });
      return;
    }
    try {
      if (!isDeliverable(task.type)) throw new Error(`no delivery port for task type ${task.type}`);
      await ports[task.type].deliver(task.payload as never);
      outcomes.delivered.push(task);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      if (!(err instanceof UpstreamError && err.retryable) || task.attempts >= schedule.maxAttempts) outcomes.dead.push({ task, error });
      else outcomes.failed.push({ task, error, retryAt: new Date(clock.now().getTime() + backoffDelayMs(task.attempts, schedule)) });
    }
  }

  /** The batch's outcomes, one statement per kind; the events they wrote go to the outbox relay. */
  private async record({ delivered, failed, dead }: Outcomes): Promise<void> {
    const { store, clock, logger, eventsWritten } = this.options;
    const fieldsOf = (task: ClaimedTask, error?: string) => ({ taskId: task.task_id, type: task.type, code: task.code, attempt: task.attempts, error });
    const [recorded, died] = await Promise.all([store.delivered(delivered, clock.now()), store.dead(dead), store.failed(failed)]);
    if (recorded.size > 0 || died.size > 0) eventsWritten();
    if (recorded.size > 0) logger.info({ delivered: recorded.size }, "notifications delivered");
    for (const task of delivered) {
      if (!recorded.has(task.task_id)) logger.warn(fieldsOf(task), "notification delivered after its lease expired; the next claimant delivers it again");
    }
    for (const { task, error } of dead) {
      if (died.has(task.task_id)) logger.error(fieldsOf(task, error), "notification dead: an operator can retry it");
    }
    for (const { task, error, retryAt } of failed) logger.warn({ ...fieldsOf(task, error), retryAt: retryAt.toISOString() }, "notification failed; will retry");
  }
}
