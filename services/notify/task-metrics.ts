// The notify service's own series, read from the tasks table at each scrape: a notice PSBC never gets is a
// redemption the bank does not know of, so dead and long-pending tasks are what its alerts watch.
import { Gauge, type Registry } from "prom-client";
import type { Clock } from "../common/clock.js";
import { TaskState, TaskType } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import type { TaskStore } from "./task-store.js";

/** The type label: the enum's name without its prefix, lower case ("service_complete", "sms"). */
function typeLabel(type: number): string {
  return (TaskType[type] ?? String(type)).toLowerCase();
}

const TYPES = [TaskType.SERVICE_COMPLETE, TaskType.SMS] as const;

/**
 * Registers notify_tasks and notify_oldest_pending_task_seconds on `registry`, unless they are there already; the
 * returned function takes off what this call registered.
 */
export function registerTaskMetrics(registry: Registry, tasks: Pick<TaskStore, "backlog">, clock: Clock): () => void {
  // A second notify in one process (the embedded platform's replicas) reads the same table: the first's series serve.
  if (registry.getSingleMetric("notify_tasks")) return () => undefined;
  // One read serves both gauges of a scrape, whichever the registry collects first.
  let last: { at: number; backlog: Promise<Awaited<ReturnType<TaskStore["backlog"]>> | undefined> } | undefined;
  const read = () => {
    if (!last || Date.now() - last.at > 1_000) last = { at: Date.now(), backlog: tasks.backlog().catch(() => undefined) };
    return last.backlog;
  };
  new Gauge({
    name: "notify_tasks",
    help: "Notification tasks not delivered, by type and state (pending: waiting for an attempt; dead: given up, an operator's to retry).",
    labelNames: ["type", "state"] as const,
    registers: [registry],
    async collect() {
      const backlog = await read();
      this.reset();
      // A database that does not answer leaves the series out rather than failing the scrape.
      if (!backlog) return;
      for (const type of TYPES) {
        for (const state of [TaskState.PENDING, TaskState.DEAD] as const) {
          const count = backlog.find((b) => b.type === type && b.state === state)?.count ?? 0;
          this.set({ type: typeLabel(type), state: state === TaskState.PENDING ? "pending" : "dead" }, count);
        }
      }
    },
  });
  new Gauge({
    name: "notify_oldest_pending_task_seconds",
    help: "Age of the oldest pending notification task, by type (0 when none is pending).",
    labelNames: ["type"] as const,
    registers: [registry],
    async collect() {
      const backlog = await read();
      this.reset();
      if (!backlog) return;
      const now = clock.now().getTime();
      for (const type of TYPES) {
        const oldest = backlog.find((b) => b.type === type && b.state === TaskState.PENDING)?.oldestCreatedAt;
        this.set({ type: typeLabel(type) }, oldest ? Math.max(0, (now - oldest.getTime()) / 1000) : 0);
      }
    },
  });
  return () => {
    registry.removeSingleMetric("notify_tasks");
    registry.removeSingleMetric("notify_oldest_pending_task_seconds");
  };
}
