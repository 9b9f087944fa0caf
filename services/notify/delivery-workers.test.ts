import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TaskType } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { createLogger } from "../common/logger.js";
import { UpstreamError } from "../common/upstream-http.js";
import { backoffDelayMs, DeliveryWorkers, longestBatchMs } from "./delivery-workers.js";
import type { ClaimedTask, DeadTask, FailedAttempt, TaskStore } from "./task-store.js";

describe("the delay before a task's next attempt", () => {
  it("doubles per attempt up to the cap, with at most half of it random", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempts, backoffBaseMs, extra, random) => {
          const schedule = { backoffBaseMs, backoffMaxMs: backoffBaseMs + extra };
          const full = Math.min(schedule.backoffMaxMs, backoffBaseMs * 2 ** Math.min(attempts - 1, 30));
          const delay = backoffDelayMs(attempts, schedule, () => random);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(full / 2));
          expect(delay).toBeLessThanOrEqual(Math.ceil(full));
          expect(backoffDelayMs(attempts + 1, schedule, () => random)).toBeGreaterThanOrEqual(delay);
        },
      ),
    );
  });
});

describe("delivery workers", () => {
  const schedule = { workers: 1, batchSize: 20, concurrency: 3, pollMs: 10, leaseMs: 10_000, maxAttempts: 5, backoffBaseMs: 1_000, backoffMaxMs: 60_000 };
  const task = (i: number): ClaimedTask => ({ task_id: `t${i}`, type: TaskType.SERVICE_COMPLETE, order_no: `O${i}`, code: `C${i}`, payload: { code: `C${i}` }, attempts: 1, claim_id: "claim", lapsed: false });

  /** Workers over a fake store that hands out `batch` once, delivering service-complete notices with `deliver`. */
  function workersOver(batch: ClaimedTask[], deliver: (payload: { code?: unknown }) => Promise<void>) {
    const calls: Record<string, unknown[][]> = { claim: [], delivered: [], failed: [], dead: [] };
    let claims = 0;
    let recordedBatch = () => {};
    const recorded = new Promise<void>((resolve) => (recordedBatch = resolve));
    const store = {
      claim: async (...args: unknown[]) => (calls.claim?.push(args), claims++ === 0 ? batch : []),
      delivered: async (tasks: ClaimedTask[]) => (calls.delivered?.push([tasks]), recordedBatch(), new Set(tasks.map((t) => t.task_id))),
      failed: async (attempts: FailedAttempt[]) => void calls.failed?.push([attempts]),
      dead: async (tasks: DeadTask[]) => (calls.dead?.push([tasks]), recordedBatch(), new Set(tasks.map(({ task }) => task.task_id))),
    } as unknown as TaskStore;
    const now = new Date("2026-10-20T02:00:00Z");
    const workers = new DeliveryWorkers({
      store,
      schedule,
      clock: { now: () => now },
      logger: createLogger("test", "silent"),
      eventsWritten: () => undefined,
      ports: { [TaskType.SERVICE_COMPLETE]: { deliver }, [TaskType.SMS]: { deliver: async () => undefined } },
    });
    return { calls, recorded, workers, now };
  }

  it("delivers a claimed batch at most `concurrency` at once and records each kind of outcome in one call", async () => {
    const batch = Array.from({ length: 20 }, (_, i) => task(i));
    let inFlight = 0;
    let most = 0;
    const { calls, recorded, workers, now } = workersOver(batch, async (payload) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      if (payload.code === "C3") throw new UpstreamError("unavailable", "psbc", "complete", "999999", "busy");
      if (payload.code === "C4") throw new UpstreamError("rejected", "psbc", "complete", "200001", "never booked");
    });
    workers.start();
    await recorded;
    await workers.stop();
    expect(most).toBe(schedule.concurrency);
    expect(calls.claim?.[0]).toEqual([now, schedule.batchSize, schedule.leaseMs]);
    expect(calls.delivered).toHaveLength(1);
    expect((calls.delivered?.[0]?.[0] as ClaimedTask[]).map((t) => t.code).sort()).toEqual(batch.map((t) => t.code).filter((c) => c !== "C3" && c !== "C4").sort());
    const [failed] = calls.failed?.[0] as [FailedAttempt[]];
    expect(failed.map((a) => a.task.code)).toEqual(["C3"]);
    expect(failed[0]?.retryAt.getTime()).toBeGreaterThanOrEqual(now.getTime() + schedule.backoffBaseMs / 2);
    const [dead] = calls.dead?.[0] as [DeadTask[]];
    expect(dead.map((d) => [d.task.code, d.error])).toEqual([["C4", expect.stringContaining("never booked")]]);
  });

  it("makes a task past its attempts dead untried, saying why: its worker died, or NOTIFY_MAX_ATTEMPTS was lowered", async () => {
    const past = schedule.maxAttempts + 2;
    const batch = [
      { ...task(1), attempts: past, lapsed: true },
      { ...task(2), attempts: past, lapsed: false },
    ];
    const delivered: unknown[] = [];
    const { calls, recorded, workers } = workersOver(batch, async (payload) => void delivered.push(payload.code));
    workers.start();
    await recorded;
    await workers.stop();
    expect(delivered).toEqual([]);
    const [dead] = calls.dead?.[0] as [DeadTask[]];
    expect(dead.map((d) => [d.task.code, d.error])).toEqual([
      ["C1", `${past - 1} attempts, the last without an outcome (its worker died)`],
      ["C2", `${past - 1} attempts, NOTIFY_MAX_ATTEMPTS is ${schedule.maxAttempts} now`],
    ]);
  });

  it("needs a lease longer than a batch's waves of deliveries, each as long as the upstream timeout", () => {
    expect(longestBatchMs({ batchSize: 200, concurrency: 100 }, 3_000)).toBe(6_000);
    expect(longestBatchMs({ batchSize: 201, concurrency: 100 }, 3_000)).toBe(9_000);
    expect(longestBatchMs({ batchSize: 5, concurrency: 100 }, 5_000)).toBe(5_000);
  });
});
