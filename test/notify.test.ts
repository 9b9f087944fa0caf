// The notify service through its API on the platform (embedded; and on the real PostgreSQL, Redis and a NATS of
// this file's own when the servers are given): tasks from order.voucher_redeemed, delivery to the PSBC sandbox
// with retries, dead tasks and their retry, replicas sharing tasks, and a killed worker's claim expiring.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { randomUUID } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import {
  NotificationDeadSchema,
  NotificationDeliveredSchema,
  OrderVoucherRedeemedSchema,
} from "../proto/gen/rights/events/v1/events_pb.js";
import { NotifyService, TaskState, TaskType, type Task } from "../proto/gen/rights/notify/v1/notify_pb.js";
import { adminAuthorization } from "../services/common/admin-credential.js";
import { formatBusinessTime } from "../services/common/clock.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { TaskStore } from "../services/notify/task-store.js";
import { freshCode, modes, useTestPlatform, type TestPlatform } from "./support/platform.js";
import { until } from "./support/until.js";

// Quick retries, a short lease and few attempts, so a failing PSBC, a dead task and a killed worker take seconds.
const SCHEDULE = { NOTIFY_BACKOFF_BASE_MS: "50", NOTIFY_BACKOFF_MAX_MS: "200", NOTIFY_MAX_ATTEMPTS: "4", NOTIFY_LEASE_MS: "6000", NOTIFY_POLL_MS: "50", NOTIFY_BATCH_SIZE: "5" };
Object.assign(process.env, SCHEDULE);
const LEASE_MS = Number(SCHEDULE.NOTIFY_LEASE_MS);
/** PSBC's deadline: the embedded sandbox answers 20 concurrent notices one at a time on PGlite, slower than 1 s. */
const PSBC_TIMEOUT_MS = 5_000;

describe.each(modes)("the notify service (%s)", (mode) => {
  const chain = useTestPlatform(mode, { upstreamTimeoutMs: PSBC_TIMEOUT_MS });
  let platform: TestPlatform;
  let notify: Client<typeof NotifyService>;
  const admin = () => ({ headers: adminAuthorization(platform.adminToken) });

  beforeAll(() => {
    platform = chain.platform;
    notify = createClient(NotifyService, rpcTransport(platform.serviceUrl("notify")));
  });

  /** A rights code booked at the PSBC sandbox, as the order service would have booked it. */
  async function bookedCode(): Promise<string> {
    const code = freshCode();
    await platform.psbcSandbox.setStatus(code, "BOOKED");
    return code;
  }

  function serviceComplete(code: string, usageTime = new Date("2026-10-20T02:30:00Z")) {
    return {
      type: TaskType.SERVICE_COMPLETE,
      payload: {
        case: "serviceComplete" as const,
        value: { orderNo: `O${code}`, code, type: "310001", psbcOrderNo: `P${code}`, usageTime: timestampFromDate(usageTime) },
      },
    };
  }

  async function tasksOf(code: string): Promise<Task[]> {
    return (await notify.listTasks({ codes: [code] })).tasks;
  }

  async function untilState(code: string, state: TaskState, timeoutMs = 10_000): Promise<Task> {
    await until(async () => (await tasksOf(code)).some((task) => task.state === state), timeoutMs, `a task of ${code} in state ${TaskState[state]}`);
    const task = (await tasksOf(code)).find((candidate) => candidate.state === state);
    if (!task) throw new Error("unreachable");
    return task;
  }

  async function events<T>(subject: string, decode: (data: Uint8Array) => T): Promise<T[]> {
    const { rows } = await platform.db.query<{ payload: Uint8Array }>("SELECT payload FROM notify.outbox WHERE subject = $1", [subject]);
    return rows.map((row) => decode(row.payload));
  }
  const delivered = (taskId: string) =>
    events("notify.delivered", (data) => fromBinary(NotificationDeliveredSchema, data)).then((all) => all.filter((event) => event.taskId === taskId));

  async function completionsOf(code: string) {
    return (await platform.psbcSandbox.completions()).filter((completion) => completion.code === code);
  }

  it("makes one delivered service-complete task of a redeemed voucher's order, whatever the redeliveries, duplicates and re-publishes", async () => {
    const code = await bookedCode();
    const usageTime = new Date("2026-10-20T02:30:00Z");
    const redeemed = toBinary(
      OrderVoucherRedeemedSchema,
      create(OrderVoucherRedeemedSchema, { orderNo: `O${code}`, code, type: "310001", psbcOrderNo: `P${code}`, usageTime: timestampFromDate(usageTime) }),
    );
    // PSBC slow: the task is still waiting when the same event comes again and a second event for the code arrives.
    platform.psbcSandbox.faults.set("complete", { mode: "delay", delayMs: 800, times: 1 });
    const first = randomUUID();
    const second = randomUUID();
    await platform.bus.publish("order.voucher_redeemed", first, redeemed);
    await platform.bus.publish("order.voucher_redeemed", first, redeemed);
    await platform.bus.publish("order.voucher_redeemed", second, redeemed);
    await until(
      async () => (await platform.db.query("SELECT 1 FROM notify.processed_event WHERE event_id = ANY($1::text[])", [[first, second]])).rowCount === 2,
      10_000,
      "both events handled",
    );
    const task = await untilState(code, TaskState.DELIVERED);
    expect(await tasksOf(code)).toEqual([expect.objectContaining({ taskId: task.taskId, attempts: 1 })]);
    expect(await completionsOf(code)).toEqual([expect.objectContaining({ orderNo: `O${code}`, type: "310001", completedAt: formatBusinessTime(usageTime) })]);
    expect(await delivered(task.taskId)).toEqual([expect.objectContaining({ taskType: 1, orderNo: `O${code}`, code })]);

    // The same redemption re-published once its task was delivered: PSBC was told, so no task again.
    const calls = platform.psbcSandbox.calls.complete;
    const third = randomUUID();
    await platform.bus.publish("order.voucher_redeemed", third, redeemed);
    await until(
      async () => (await platform.db.query("SELECT 1 FROM notify.processed_event WHERE event_id = $1", [third])).rowCount === 1,
      10_000,
      "the re-published event handled",
    );
    expect(await tasksOf(code)).toEqual([expect.objectContaining({ taskId: task.taskId, state: TaskState.DELIVERED })]);
    expect(platform.psbcSandbox.calls.complete).toBe(calls);
  });

  it("tells PSBC a usage in a month's last second (China time) at that second, whatever its fraction", async () => {
    const code = await bookedCode();
    const lastSecond = BigInt(Date.parse("2026-10-31T23:59:59+08:00") / 1000);
    const redeemed = create(OrderVoucherRedeemedSchema, { orderNo: `O${code}`, code, type: "310001", psbcOrderNo: `P${code}`, usageTime: { seconds: lastSecond, nanos: 999_999_999 } });
    await platform.bus.publish("order.voucher_redeemed", randomUUID(), toBinary(OrderVoucherRedeemedSchema, redeemed));
    await untilState(code, TaskState.DELIVERED);
    expect(await completionsOf(code)).toEqual([expect.objectContaining({ code, completedAt: "20261031235959" })]);
  });

  it("retries with backoff while PSBC fails or times out, then delivers", async () => {
    const code = await bookedCode();
    platform.psbcSandbox.faults.set("complete", { mode: "fail", times: 2 });
    await notify.createTasks({ tasks: [serviceComplete(code)] }, admin());
    const task = await untilState(code, TaskState.DELIVERED);
    expect(task.attempts).toBe(3);
    expect(task.lastError).toBe("");

    const slow = await bookedCode();
    // The answer never comes: the call times out (the upstream timeout), and the repeat is taken as one notice.
    platform.psbcSandbox.faults.set("complete", { mode: "timeout", times: 1 });
    await notify.createTasks({ tasks: [serviceComplete(slow)] }, admin());
    expect((await untilState(slow, TaskState.DELIVERED)).attempts).toBe(2);
    expect(await completionsOf(slow)).toHaveLength(1);
  });

  it("makes a task dead after its last attempt, and an operator's retry delivers it", async () => {
    const code = await bookedCode();
    platform.psbcSandbox.faults.set("complete", { mode: "fail" });
    const [outcome] = (await notify.createTasks({ tasks: [serviceComplete(code)] }, admin())).outcomes;
    const dead = await untilState(code, TaskState.DEAD);
    expect(dead).toMatchObject({ taskId: outcome?.taskId, attempts: 4 });
    const deadEvents = await events("notify.dead", (data) => fromBinary(NotificationDeadSchema, data));
    expect(deadEvents.filter((event) => event.taskId === dead.taskId)).toEqual([expect.objectContaining({ code, lastError: expect.stringContaining("999999") })]);
    expect((await notify.listTasks({ state: TaskState.DEAD, type: TaskType.SERVICE_COMPLETE })).tasks.map((task) => task.taskId)).toContain(dead.taskId);

    await expect(notify.retryTask({ taskId: dead.taskId })).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(notify.retryTask({ taskId: dead.taskId }, { headers: adminAuthorization("x".repeat(40)) })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    platform.psbcSandbox.faults.clear();
    const retried = await notify.retryTask({ taskId: dead.taskId }, admin());
    expect(retried.task).toMatchObject({ state: TaskState.PENDING, attempts: 0 });
    expect((await untilState(code, TaskState.DELIVERED)).taskId).toBe(dead.taskId);
    await expect(notify.retryTask({ taskId: dead.taskId }, admin())).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await expect(notify.retryTask({ taskId: randomUUID() }, admin())).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("makes a notice PSBC refuses for good (a code it never booked) dead at its first attempt", async () => {
    const code = freshCode();
    await notify.createTasks({ tasks: [serviceComplete(code)] }, admin());
    const dead = await untilState(code, TaskState.DEAD);
    expect(dead.attempts).toBe(1);
    expect(dead.lastError).toContain("200001");
  });

  it("creates a task only for a code without a waiting one, for the admin only, and refuses bad requests", async () => {
    const code = await bookedCode();
    platform.psbcSandbox.faults.set("complete", { mode: "fail" });
    try {
      await expect(notify.createTasks({ tasks: [serviceComplete(code)] })).rejects.toMatchObject({ code: Code.Unauthenticated });
      const first = await notify.createTasks({ tasks: [serviceComplete(code)] }, admin());
      const again = await notify.createTasks({ tasks: [serviceComplete(code)] }, admin());
      expect(first.outcomes).toEqual([expect.objectContaining({ code, created: true })]);
      expect(again.outcomes).toEqual([expect.objectContaining({ code, created: false, taskId: "" })]);
      expect(await tasksOf(code)).toHaveLength(1);
    } finally {
      platform.psbcSandbox.faults.clear();
    }
    await untilState(code, TaskState.DELIVERED);

    const invalid = async (request: Parameters<typeof notify.createTasks>[0]) =>
      expect(notify.createTasks(request, admin())).rejects.toMatchObject({ code: Code.InvalidArgument });
    await invalid({ tasks: [] });
    await invalid({ tasks: [{ type: TaskType.SMS }] });
    await invalid({ tasks: [{ ...serviceComplete(code), payload: { case: "serviceComplete", value: { code } } }] });
    await expect(notify.listTasks({ limit: 1001 })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(notify.retryTask({ taskId: "not-a-uuid" }, admin())).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  it("shares 100 tasks between two replicas of two workers each, delivering none twice", async () => {
    const second = await platform.startReplica("notify");
    try {
      const codes = await Promise.all(Array.from({ length: 100 }, () => bookedCode()));
      const calls = platform.psbcSandbox.calls.complete;
      const { outcomes } = await notify.createTasks({ tasks: codes.map((code) => serviceComplete(code)) }, admin());
      expect(outcomes.every((outcome) => outcome.created)).toBe(true);
      const deliveredCount = async () =>
        (await platform.db.query("SELECT 1 FROM notify.task WHERE state = 2 AND code = ANY($1::text[])", [codes])).rowCount;
      await until(async () => (await deliveredCount()) === codes.length, 30_000, "every task delivered");
      // Delivered once each: one task per code, one notify.delivered event per task.
      const { rows: tasks } = await platform.db.query<{ task_id: string; code: string }>(
        "SELECT task_id::text, code FROM notify.task WHERE code = ANY($1::text[])",
        [codes],
      );
      expect(tasks.map((task) => task.code).sort()).toEqual([...codes].sort());
      const taskIds = new Set(tasks.map((task) => task.task_id));
      const deliveries = (await events("notify.delivered", (data) => fromBinary(NotificationDeliveredSchema, data))).filter((event) => taskIds.has(event.taskId));
      expect(deliveries.map((event) => event.taskId).sort()).toEqual([...taskIds].sort());
      // PSBC completed each code once. A notice PSBC answered after our deadline is legitimately sent again (and
      // answered as already completed), so the raw calls are at least one per code, not exactly.
      expect(platform.psbcSandbox.calls.complete - calls).toBeGreaterThanOrEqual(codes.length);
      const completed = (await platform.psbcSandbox.completions()).map((completion) => completion.code).filter((code) => codes.includes(code));
      expect(completed.sort()).toEqual([...codes].sort());
    } finally {
      await second.close();
    }
  });

  it("loses nothing when a worker is killed mid-delivery: its claim expires and another worker delivers", async () => {
    const code = await bookedCode();
    const now = new Date();
    // What a killed worker leaves: the task created and claimed by it (in one transaction, so no live worker
    // claims it first), then nothing.
    const claimedAt = Date.now();
    await platform.db.transaction(async (tx) => {
      const store = new TaskStore(tx);
      await store.create({ type: TaskType.SERVICE_COMPLETE, orderNo: `O${code}`, code, payload: { orderNo: `O${code}`, code, type: "310001", psbcOrderNo: "", usageTime: now.toISOString() } }, now);
      const claimed = await store.claim(now, 1, LEASE_MS);
      expect(claimed.map((task) => task.code)).toEqual([code]);
    });
    expect(await tasksOf(code)).toEqual([expect.objectContaining({ state: TaskState.PENDING, attempts: 1 })]);
    const task = await untilState(code, TaskState.DELIVERED, LEASE_MS + 10_000);
    expect(Date.now() - claimedAt).toBeGreaterThanOrEqual(LEASE_MS);
    expect(task.attempts).toBe(2);
    expect(await completionsOf(code)).toHaveLength(1);
  });

  it("makes a task dead, not delivered again, once every attempt was a claim whose worker died", async () => {
    const code = await bookedCode();
    const maxAttempts = Number(SCHEDULE.NOTIFY_MAX_ATTEMPTS);
    // A task that kills its worker each time: claimed maxAttempts times, each claim lapsing without an outcome.
    const start = Date.now() - (maxAttempts + 1) * LEASE_MS;
    await platform.db.transaction(async (tx) => {
      const store = new TaskStore(tx);
      const payload = { orderNo: `O${code}`, code, type: "310001", psbcOrderNo: "", usageTime: new Date(start).toISOString() };
      await store.create({ type: TaskType.SERVICE_COMPLETE, orderNo: `O${code}`, code, payload }, new Date(start));
      for (let claim = 0; claim < maxAttempts; claim += 1) {
        expect(await store.claim(new Date(start + claim * LEASE_MS), 1, LEASE_MS)).toHaveLength(1);
      }
    });
    const dead = await untilState(code, TaskState.DEAD);
    expect(dead.lastError).toContain("without an outcome");
    expect(await completionsOf(code)).toEqual([]);
  });
});
