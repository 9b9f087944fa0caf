// SMS notices (task type 2) through the notify service, on its real database (PostgreSQL when DATABASE_URL is
// set) and the SMS sandbox over HTTP: created by CreateTasks as the code making creates them, delivered once
// to the order's number through outages and lost answers, dead after the last attempt or at a refusal,
// retried by an operator; and the text (the codes) never in a log line nor a listing.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { NotifyService, TaskState, TaskType, type Task } from "../proto/gen/rights/notify/v1/notify_pb.js";
import { adminAuthorization } from "../services/common/admin-credential.js";
import { connectEventBus, type EventBus } from "../services/common/bus.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { hostDescribedService } from "../services/common/service-descriptor.js";
import type { HostedService } from "../services/common/service-host.js";
import { Metrics } from "../services/common/metrics.js";
import { notifyService } from "../services/notify/service.js";
import { smsNotice } from "../services/notify/sms/sms-notice.js";
import { UpstreamError } from "../services/common/upstream-http.js";
import { SANDBOX_SMS } from "../services/sandbox/credentials.js";
import { startSmsSandbox, type SmsSandbox } from "../services/sandbox/sms-sandbox.js";
import { testDatabase, type TestDatabase } from "./support/databases.js";
import { until } from "./support/until.js";

const ADMIN_TOKEN = "notify-sms-test-admin-token-0123456789abcdef";
const MAX_ATTEMPTS = 4;
const SMS_TIMEOUT_MS = 500;

/** Every line the notify service logs, as JSON text: searched for the codes. */
const logLines: string[] = [];
const logger = pino({ level: "debug" }, { write: (line: string) => void logLines.push(line) });

let t: TestDatabase;
let bus: EventBus;
let sms: SmsSandbox;
let service: HostedService;
let notify: Client<typeof NotifyService>;
const admin = { headers: adminAuthorization(ADMIN_TOKEN) };

beforeAll(async () => {
  t = await testDatabase();
  bus = await connectEventBus({ streams: notifyService.streams, name: "notify-sms-test", logger });
  sms = await startSmsSandbox(SANDBOX_SMS);
  service = await hostDescribedService(notifyService, {
    env: {
      ...process.env,
      NOTIFY_PORT: "0",
      // Quick retries and few attempts, so an outage and a dead task take a second or two.
      NOTIFY_BACKOFF_BASE_MS: "50",
      NOTIFY_BACKOFF_MAX_MS: "200",
      NOTIFY_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      NOTIFY_POLL_MS: "50",
      NOTIFY_LEASE_MS: "3000",
      PSBC_TIMEOUT_MS: "500",
      // This file sends no service-complete notice: PSBC is never called.
      PSBC_BASE_URL: "http://127.0.0.1:1",
      PSBC_APP_ID: "unused",
      PSBC_APP_SECRET: "unused",
      ...sms.upstreamEnv(),
      SMS_TIMEOUT_MS: String(SMS_TIMEOUT_MS),
      ADMIN_TOKEN,
    },
    db: t.db,
    bus,
    logger,
    host: "127.0.0.1",
    runtime: { metrics: new Metrics({ processMetrics: false }), migrations: "apply", shutdownDelayMs: 0, shutdownGraceMs: 1_000 },
  });
  await service.ready;
  notify = createClient(NotifyService, rpcTransport(`http://127.0.0.1:${service.port}`));
});

afterAll(async () => {
  await service?.close();
  await sms?.close();
  await bus?.close();
  await t?.drop();
});

beforeEach(() => sms.faults.clear());

/** A make-code notice as the code making would create it: its text carries a code no log may show. */
function notice(overrides: Partial<{ noticeId: string; saleChannelOrderId: string; mobile: string; message: string }> = {}) {
  const code = `${Date.now()}${Math.floor(Math.random() * 1e6)}`.padEnd(20, "7");
  return {
    noticeId: `T${randomUUID().replaceAll("-", "")}`,
    saleChannelOrderId: `SO${randomUUID().slice(0, 8)}`,
    mobile: "13524161800",
    message: `【WHALE】您的星巴克30元代金券券码 ${code}，有效期至2026-12-31。`,
    ...overrides,
  };
}

function smsTask(value: ReturnType<typeof notice>) {
  return { type: TaskType.SMS, payload: { case: "sms" as const, value } };
}

async function taskOf(noticeId: string): Promise<Task | undefined> {
  return (await notify.listTasks({ codes: [noticeId], type: TaskType.SMS })).tasks[0];
}

async function untilState(noticeId: string, state: TaskState, timeoutMs = 10_000): Promise<Task> {
  await until(async () => (await taskOf(noticeId))?.state === state, timeoutMs, `the SMS task ${noticeId} ${TaskState[state]}`);
  return (await taskOf(noticeId))!;
}

async function sentFor(noticeId: string) {
  return (await sms.messages()).filter((message) => message.outId === noticeId);
}

describe("an SMS notice", () => {
  it("is delivered to the order's number with its text, listed by its order and notice id", async () => {
    const sent = notice();
    const { outcomes } = await notify.createTasks({ tasks: [smsTask(sent)] }, admin);
    expect(outcomes).toEqual([expect.objectContaining({ code: sent.noticeId, created: true })]);
    const task = await untilState(sent.noticeId, TaskState.DELIVERED);
    expect(task).toMatchObject({ type: TaskType.SMS, orderNo: sent.saleChannelOrderId, code: sent.noticeId, attempts: 1 });
    expect(await sentFor(sent.noticeId)).toEqual([expect.objectContaining({ mobile: sent.mobile, content: sent.message })]);
  });

  it("waits while the SMS gateway is down, then is delivered once", async () => {
    const sent = notice();
    sms.faults.set("send", { mode: "fail" });
    await notify.createTasks({ tasks: [smsTask(sent)] }, admin);
    await until(async () => ((await taskOf(sent.noticeId))?.attempts ?? 0) >= 2, 10_000, "two failed attempts");
    expect(await taskOf(sent.noticeId)).toMatchObject({ state: TaskState.PENDING, lastError: expect.stringContaining("9999") });
    expect(await sentFor(sent.noticeId)).toEqual([]);
    sms.faults.clear();
    await untilState(sent.noticeId, TaskState.DELIVERED);
    expect(await sentFor(sent.noticeId)).toHaveLength(1);
  });

  it("whose answer was lost is sent again under the same notice id, and the phone gets it once", async () => {
    const sent = notice();
    sms.faults.set("send", { mode: "timeout", times: 1 });
    await notify.createTasks({ tasks: [smsTask(sent)] }, admin);
    const task = await untilState(sent.noticeId, TaskState.DELIVERED);
    expect(task.attempts).toBe(2);
    expect(await sentFor(sent.noticeId)).toHaveLength(1);
  });

  it("is dead after the last attempt, and an operator's retry delivers it", async () => {
    const sent = notice();
    sms.faults.set("send", { mode: "fail" });
    await notify.createTasks({ tasks: [smsTask(sent)] }, admin);
    const dead = await untilState(sent.noticeId, TaskState.DEAD);
    expect(dead.attempts).toBe(MAX_ATTEMPTS);
    sms.faults.clear();
    await notify.retryTask({ taskId: dead.taskId }, admin);
    await untilState(sent.noticeId, TaskState.DELIVERED);
    expect(await sentFor(sent.noticeId)).toHaveLength(1);
  });

  it("is dead at once when the gateway refuses it for good", async () => {
    const sent = notice();
    sms.faults.set("send", { mode: "reject", times: 1 });
    await notify.createTasks({ tasks: [smsTask(sent)] }, admin);
    expect(await untilState(sent.noticeId, TaskState.DEAD)).toMatchObject({ attempts: 1, lastError: expect.stringContaining("1002") });
  });

  it("waits once per notice id: a repeated create makes no second task", async () => {
    const sent = notice();
    sms.faults.set("send", { mode: "delay", delayMs: 500, times: 1 });
    const first = await notify.createTasks({ tasks: [smsTask(sent)] }, admin);
    const again = await notify.createTasks({ tasks: [smsTask(sent)] }, admin);
    expect(first.outcomes[0]?.created).toBe(true);
    expect(again.outcomes[0]?.created).toBe(false);
    await untilState(sent.noticeId, TaskState.DELIVERED);
    expect(await sentFor(sent.noticeId)).toHaveLength(1);
  });
});

describe("the codes in a notice", () => {
  it("never reach a log line, a listing or an error, through outages and deaths", async () => {
    logLines.length = 0;
    const sent = [notice(), notice(), notice()];
    sms.faults.set("send", { mode: "fail", times: 2 });
    await notify.createTasks({ tasks: sent.map(smsTask) }, admin);
    for (const one of sent) await untilState(one.noticeId, TaskState.DELIVERED);
    const rejected = notice();
    sms.faults.set("send", { mode: "reject", times: 1 });
    await notify.createTasks({ tasks: [smsTask(rejected)] }, admin);
    await untilState(rejected.noticeId, TaskState.DEAD);

    const listed = JSON.stringify((await notify.listTasks({ type: TaskType.SMS, limit: 1000 })).tasks, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v));
    expect(logLines.length).toBeGreaterThan(0);
    for (const one of [...sent, rejected]) {
      const code = /券码 (\d+)/.exec(one.message)![1]!;
      expect(logLines.filter((line) => line.includes(code))).toEqual([]);
      expect(listed).not.toContain(code);
    }
  });
});

describe("a bad SMS task", () => {
  it.each([
    ["a landline", { mobile: "02188888888" }, "mobile"],
    ["a number with a prefix", { mobile: "+8613524161800" }, "mobile"],
    ["no notice id", { noticeId: "" }, "notice_id"],
    ["a notice id with a space", { noticeId: "T 1" }, "notice_id"],
    ["no order id", { saleChannelOrderId: "" }, "sale_channel_order_id"],
    ["an order id with a NUL", { saleChannelOrderId: "SO\u00001" }, "sale_channel_order_id"],
    ["no text", { message: "" }, "message"],
    ["a text of 501 characters", { message: "码".repeat(501) }, "message"],
    // (A lone surrogate cannot arrive: protobuf's UTF-8 encoding turns it into U+FFFD on the caller's side.)
    ["a control character", { message: "券\u0007码" }, "message"],
    ["a NUL", { message: "券\u0000码" }, "message"],
  ])("is refused as an invalid argument: %s", async (_, overrides, field) => {
    const err = await notify.createTasks({ tasks: [smsTask(notice(overrides))] }, admin).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toContain(field);
  });

  it("of type 2 with a service-complete payload is refused", async () => {
    const err = await notify
      .createTasks({ tasks: [{ type: TaskType.SMS, payload: { case: "serviceComplete", value: { orderNo: "O1", code: "C1", type: "310001" } } }] }, admin)
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.InvalidArgument });
  });
});

describe("the SMS adapter", () => {
  const target = () => ({ baseUrl: sms.url, ...SANDBOX_SMS, timeoutMs: SMS_TIMEOUT_MS });

  it("signs every send: another secret is refused for good (1001)", async () => {
    const err = await smsNotice({ ...target(), appSecret: "not-the-secret" })
      .deliver(notice())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ kind: "rejected", code: "1001", retryable: false });
  });

  it("gives up at its timeout when the answer never comes", async () => {
    sms.faults.set("send", { mode: "timeout", times: 1 });
    const started = Date.now();
    const err = await smsNotice(target())
      .deliver(notice())
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(SMS_TIMEOUT_MS + 1_000);
  });

  it("takes a busy gateway as worth retrying (9999)", async () => {
    sms.faults.set("send", { mode: "fail", times: 1 });
    expect(await smsNotice(target()).deliver(notice()).catch((e: unknown) => e)).toMatchObject({ kind: "unavailable", code: "9999", retryable: true });
  });
});
