// The reconciliation service through the gateway's three routes and its admin RPCs, on the real PostgreSQL,
// Redis and NATS (cluster) and embedded: the ledger from order.completed, the monthly file on its schedule and
// its bytes, regeneration, two schedulers at once, download passwords and their throttling, batch re-push through
// the real notify service to the PSBC sandbox.
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { OrderCompletedSchema } from "../proto/gen/rights/events/v1/events_pb.js";
import { NotifyService, TaskState, TaskType } from "../proto/gen/rights/notify/v1/notify_pb.js";
import { ReconciliationService } from "../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { adminAuthorization } from "../services/common/admin-credential.js";
import { subjectOf } from "../services/common/events.js";
import { createLockService } from "../services/common/lock.js";
import { createLogger } from "../services/common/logger.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { EMBEDDED_RECONCILIATION } from "../services/platform/platform.js";
import { ReconciliationFiles } from "../services/reconciliation/files.js";
import { previousMonth } from "../services/reconciliation/schedule.js";
import { modes, useTestPlatform, type TestPlatform } from "./support/platform.js";
import { assertContractResponse } from "./support/psbc-contract.js";
import { TestClock } from "./support/test-clock.js";
import { until } from "./support/until.js";

const FILES = "/api/v1/reconciliation/files";
const DOWNLOAD = "/api/v1/reconciliation/download";
const REPUSH = "/api/v1/reconciliation/batch-repush";
// A provider code of this run's own: it names the file interface, whose generation lease is in the Redis that
// runs share.
const PROVIDER = `T${Date.now().toString(36).toUpperCase()}`.slice(0, 10);
const INTERFACE = `RIGHTS_SERVICE_CHK_${PROVIDER}`;
const fileId = (month: string) => `FILE${month}${PROVIDER}001`;
const PASSWORD = EMBEDDED_RECONCILIATION.password;
const MAX_FAILURES = 3;
const WINDOW_MS = 1_500;

interface Answer {
  status: number;
  body: { code: number; msg: string; traceId: string; data?: Record<string, unknown> };
}

describe.each(modes)("reconciliation (%s)", (mode) => {
  const clock = new TestClock(new Date("2026-10-20T10:00:00+08:00"));
  // A NATS of its own in the cluster mode: the ledger sees only this file's order.completed events.
  const chain = useTestPlatform(mode, {
    clock,
    env: {
      RECONCILIATION_SCHEDULE_CHECK_MS: "100",
      PSBC_PROVIDER_CODE: PROVIDER,
      RECONCILIATION_PASSWORD_MAX_FAILURES: String(MAX_FAILURES),
      RECONCILIATION_PASSWORD_WINDOW_MS: String(WINDOW_MS),
      // Re-pushed notices retried quickly, and never given up while the test holds PSBC failing.
      NOTIFY_POLL_MS: "50",
      NOTIFY_BACKOFF_BASE_MS: "50",
      NOTIFY_BACKOFF_MAX_MS: "200",
      NOTIFY_MAX_ATTEMPTS: "1000",
    },
  });
  let platform: TestPlatform;
  beforeAll(() => {
    platform = chain.platform;
  });

  /** Posts JSON to a reconciliation route; every JSON answer is checked against the contract. */
  async function post(path: string, body: unknown): Promise<Answer> {
    const res = await fetch(`${platform.gatewayUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const json = (await res.json()) as Answer["body"];
    assertContractResponse(path, res.status, json);
    return { status: res.status, body: json };
  }
  const answerOf = ({ status, body }: Answer) => ({ status, code: body.code, msg: body.msg });

  const admin = () => createClient(ReconciliationService, rpcTransport(platform.serviceUrl("reconciliation")));
  const notify = () => createClient(NotifyService, rpcTransport(platform.serviceUrl("notify")));
  const asAdmin = () => ({ headers: adminAuthorization(platform.adminToken) });

  async function complete(order: { orderNo: string; code: string; completedAt: string; provinceInstNo?: string; serviceName?: string }, eventId = randomUUID()) {
    const event = create(OrderCompletedSchema, {
      orderNo: order.orderNo,
      code: order.code,
      type: "310001",
      serviceName: order.serviceName ?? "sandbox rights service",
      providerCode: PROVIDER,
      provinceInstNo: order.provinceInstNo ?? "100000",
      instType: "01",
      bookedAt: timestampFromDate(new Date("2026-10-02T01:02:03Z")),
      completedAt: timestampFromDate(new Date(order.completedAt)),
      keyStatus: 2,
    });
    await platform.bus.publish(subjectOf(OrderCompletedSchema), eventId, toBinary(OrderCompletedSchema, event));
  }
  const ledgerRows = async (month: string) =>
    (await platform.db.query<{ n: number }>("SELECT count(*)::int AS n FROM reconciliation.ledger WHERE month = $1 AND provider_code = $2", [month, PROVIDER])).rows[0]?.n ?? 0;

  it("puts each completed order once in the ledger, under its Asia/Shanghai month, whatever the redeliveries", async () => {
    const eventId = randomUUID();
    await complete({ orderNo: "R-OCT-LAST", code: "CODE-OCT-LAST", completedAt: "2026-10-31T15:59:59Z" }, eventId);
    await complete({ orderNo: "R-OCT-LAST", code: "CODE-OCT-LAST", completedAt: "2026-10-31T15:59:59Z" }, eventId);
    // A re-publish under another event id: the order number keeps it one row.
    await complete({ orderNo: "R-OCT-LAST", code: "CODE-OCT-LAST", completedAt: "2026-10-31T15:59:59Z" });
    await complete({ orderNo: "R-NOV-FIRST", code: "CODE-NOV-FIRST", completedAt: "2026-10-31T16:00:00Z" });
    await complete({
      orderNo: "R-OCT-QUOTED",
      code: "CODE-OCT-QUOTED",
      completedAt: "2026-10-05T02:00:00Z",
      provinceInstNo: "110000",
      serviceName: 'Car wash, "deluxe"',
    });
    await until(async () => (await ledgerRows("202610")) === 2 && (await ledgerRows("202611")) === 1, 10_000, "ledger rows");
    const { rows } = await platform.db.query<{ order_no: string }>("SELECT order_no FROM reconciliation.ledger WHERE order_no = 'R-OCT-LAST'");
    expect(rows).toHaveLength(1);
  });

  it("puts a completion in the last second of a month (China time) under that month, whatever its fraction of a second", async () => {
    // 31 July 23:59:59 Asia/Shanghai, and any nanoseconds after it: still July (a month no other test fills).
    const lastSecond = BigInt(Date.parse("2026-07-31T23:59:59+08:00") / 1000);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 999_999_999 }), async (nanos) => {
        const orderNo = `R-JUL-${mode}-${run++}`;
        const event = create(OrderCompletedSchema, { orderNo, code: orderNo, providerCode: PROVIDER, completedAt: { seconds: lastSecond, nanos }, keyStatus: 2 });
        await platform.bus.publish(subjectOf(OrderCompletedSchema), randomUUID(), toBinary(OrderCompletedSchema, event));
        const row = async () =>
          (await platform.db.query<{ month: string; completed_time: string }>("SELECT month, completed_time FROM reconciliation.ledger WHERE order_no = $1", [orderNo])).rows[0];
        await until(async () => (await row()) !== undefined, 10_000, `the ledger row of ${orderNo}`);
        expect(await row()).toEqual({ month: "202607", completed_time: "20260731235959" });
      }),
      { numRuns: 8, examples: [[999_999_999], [999_500_000]] },
    );
  });

  it("generates the month before the clock's at start (past its 3rd), and the months it missed since the ledger's first", async () => {
    await until(async () => ((await post(FILES, { accountingDate: "20260901", fileIntfcName: INTERFACE })).body.data?.fileList as unknown[]).length === 1, 5_000, "September's file");
    // Earlier months (July's completions, of the test before, and August without any) had no file: the schedule
    // makes them as months it missed, August's empty as a due month's would be.
    const months = async (sql: string) => (await platform.db.query<{ month: string }>(sql, [PROVIDER])).rows.map((row) => row.month);
    const [first] = await months("SELECT min(month) AS month FROM reconciliation.ledger WHERE provider_code = $1");
    const expected = ["202609"];
    while (first && expected[0] !== first) expected.unshift(previousMonth(expected[0] ?? ""));
    const made = () => months("SELECT month FROM reconciliation.file WHERE file_intfc_name LIKE '%' || $1 ORDER BY month");
    await until(async () => (await made()).length === expected.length, 5_000, `the files of ${expected.join(", ")}`);
    expect(await made()).toEqual(expected);
  });

  it("generates last month's file on the 3rd from 01:00 Asia/Shanghai, not before; its bytes are the contract's CSV", async () => {
    await admin().importBranches({ branches: [{ provinceInstNo: "100000", name: "北京分行" }, { provinceInstNo: "110000", name: "天津,分行" }] }, asAdmin());
    clock.set("2026-11-03T00:59:00+08:00");
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await post(FILES, { accountingDate: "20261001", fileIntfcName: INTERFACE })).body.data).toEqual({ fileList: [] });

    clock.set("2026-11-03T01:00:00+08:00");
    let list: Answer | undefined;
    await until(async () => {
      list = await post(FILES, { accountingDate: "20261015", fileIntfcName: INTERFACE });
      return (list.body.data?.fileList as unknown[]).length === 1;
    }, 10_000, "the October file");
    const [file] = list?.body.data?.fileList as Array<{ fileId: string; fileName: string; fileSize: number; createTime: string }>;
    expect(file).toMatchObject({ fileId: fileId("202610"), fileName: `${INTERFACE}_202610.csv` });
    expect(file?.createTime).toMatch(/^2026110301\d{4}$/);

    const res = await fetch(`${platform.gatewayUrl}${DOWNLOAD}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fileId: file?.fileId, fileIntfcName: INTERFACE, password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="${INTERFACE}_202610.csv"`);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length).toBe(file?.fileSize);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect(bytes.subarray(3).toString("utf8")).toBe(
      "统计月份,一分机构序号,一分机构名称,网点机构属性,积分客户服务编码,服务内容,预约时间,实际完成时间,权益兑换码,订单号,券码状态\r\n" +
        "202610,100000,北京分行,01,310001,sandbox rights service,20261002090203,20261031235959,CODE-OCT-LAST,R-OCT-LAST,2\r\n" +
        '202610,110000,"天津,分行",01,310001,"Car wash, ""deluxe""",20261002090203,20261005100000,CODE-OCT-QUOTED,R-OCT-QUOTED,2\r\n',
    );
  });

  it("regenerates a past month in place: new content, same fileId, and only by an admin", async () => {
    await complete({ orderNo: "R-OCT-LATE", code: "CODE-OCT-LATE", completedAt: "2026-10-10T00:00:00Z" });
    await until(async () => (await ledgerRows("202610")) === 3, 10_000, "the late row");
    await expect(admin().generateFile({ month: "202610" })).rejects.toMatchObject({ code: Code.Unauthenticated });
    const { files } = await admin().generateFile({ month: "202610" }, asAdmin());
    expect(files.map((f) => f.fileId)).toEqual([fileId("202610")]);
    // One file for the month, and no content left over from the one it replaced.
    const { rows } = await platform.db.query<{ n: number; orphans: number }>(
      `SELECT (SELECT count(*)::int FROM reconciliation.file WHERE month = '202610') AS n,
              (SELECT count(*)::int FROM reconciliation.file_chunk c
                 WHERE NOT EXISTS (SELECT 1 FROM reconciliation.file f WHERE f.content_id = c.content_id)) AS orphans`,
    );
    expect(rows[0]).toEqual({ n: 1, orphans: 0 });
    const download = await fetch(`${platform.gatewayUrl}${DOWNLOAD}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fileId: fileId("202610"), fileIntfcName: INTERFACE, password: PASSWORD }),
    });
    expect(await download.text()).toContain("CODE-OCT-LATE");
    await expect(admin().generateFile({ month: "202611" }, asAdmin())).rejects.toBeInstanceOf(ConnectError);
  });

  it("two schedulers at once make one file", async () => {
    const lockUrl = mode === "cluster" ? process.env.REDIS_URL : undefined;
    const logger = createLogger("test", "silent");
    const schedulers = [0, 1].map(() => {
      const lock = createLockService({ url: lockUrl, logger });
      return { lock, files: new ReconciliationFiles({ db: platform.db, lock, clock, logger, providerCode: PROVIDER }) };
    });
    try {
      const made = await Promise.all(schedulers.map(({ files }) => files.generate("202608", "if-missing")));
      const ids = new Set(made.filter((file) => file !== undefined).map((file) => file.fileId));
      expect(ids).toEqual(new Set([fileId("202608")]));
      const { rows } = await platform.db.query<{ contents: number }>(
        `SELECT count(DISTINCT c.content_id)::int AS contents FROM reconciliation.file_chunk c
           WHERE NOT EXISTS (SELECT 1 FROM reconciliation.file f WHERE f.content_id = c.content_id)`,
      );
      expect(rows[0]?.contents).toBe(0);
      expect((await post(FILES, { accountingDate: "20260801", fileIntfcName: INTERFACE })).body.data?.fileList).toHaveLength(1);
    } finally {
      for (const { lock } of schedulers) await lock.close();
    }
  });

  it("makes the file of a past month its schedule missed (completions, no file), and none for a month before the ledger's first", async () => {
    // As if the service had been down past May's due day (3 June): May's completions arrive, its file is made.
    await complete({ orderNo: "R-MAY-LATE", code: "CODE-MAY-LATE", completedAt: "2026-05-15T10:00:00+08:00" });
    await until(async () => ((await post(FILES, { accountingDate: "20260501", fileIntfcName: INTERFACE })).body.data?.fileList as unknown[]).length === 1, 10_000, "May's file");
    expect((await post(FILES, { accountingDate: "20260401", fileIntfcName: INTERFACE })).body.data).toEqual({ fileList: [] });
  });

  it("answers every bad query of the file list with the contract's code and message", async () => {
    const cases: Array<[unknown, number, number, string]> = [
      [{}, 400, 2, "参数错误"],
      [{ accountingDate: "20261001" }, 400, 2, "参数错误"],
      [{ accountingDate: "2026101", fileIntfcName: INTERFACE }, 400, 2, "参数错误"],
      [{ accountingDate: "20261301", fileIntfcName: INTERFACE }, 400, 2, "参数错误"],
      [{ accountingDate: "20260231", fileIntfcName: INTERFACE }, 400, 2, "参数错误"],
      [{ accountingDate: 20261001, fileIntfcName: INTERFACE }, 400, 2, "参数错误"],
      [{ accountingDate: "20261101", fileIntfcName: INTERFACE }, 400, 4, "对账月份不能超过上月"],
      [{ accountingDate: "20270101", fileIntfcName: INTERFACE }, 400, 4, "对账月份不能超过上月"],
      [{ accountingDate: "20261001", fileIntfcName: "RIGHTS_SERVICE_CHK_B202" }, 400, 4, "文件接口名不存在"],
    ];
    for (const [body, status, code, msg] of cases) expect(answerOf(await post(FILES, body)), JSON.stringify(body)).toEqual({ status, code, msg });
    expect((await post(FILES, { accountingDate: "20250101", fileIntfcName: INTERFACE })).body.data).toEqual({ fileList: [] });
  });

  it("refuses downloads without the right password or of unknown files, then throttles a guessing client", async () => {
    const windowOver = () => new Promise((resolve) => setTimeout(resolve, WINDOW_MS + 100));
    await windowOver();
    const download = (body: unknown) => post(DOWNLOAD, body);
    const parameterErrors = [
      {},
      { fileId: fileId("202610"), fileIntfcName: INTERFACE },
      { fileId: "x".repeat(33), fileIntfcName: INTERFACE, password: PASSWORD },
      // PostgreSQL refuses a NUL in text: the file's lookup would fail.
      { fileId: `${fileId("202610")}\u0000`, fileIntfcName: INTERFACE, password: PASSWORD },
    ];
    for (const body of parameterErrors) {
      expect(answerOf(await download(body))).toEqual({ status: 400, code: 2, msg: "参数错误" });
    }
    expect(answerOf(await download({ fileId: fileId("209901"), fileIntfcName: INTERFACE, password: PASSWORD }))).toEqual({ status: 400, code: 4, msg: "文件不存在" });
    expect(answerOf(await download({ fileId: fileId("202610"), fileIntfcName: "RIGHTS_SERVICE_CHK_B202", password: PASSWORD }))).toEqual({
      status: 400,
      code: 4,
      msg: "文件不存在",
    });
    for (let i = 0; i < MAX_FAILURES; i += 1) {
      expect(answerOf(await download({ fileId: fileId("202610"), fileIntfcName: INTERFACE, password: `wrong-${i}` }))).toEqual({ status: 400, code: 3, msg: "密码错误" });
    }
    // Throttled now, even with the right password, until the window is over.
    const throttled = { status: 400, code: 4, msg: "密码错误次数过多,请稍后重试" };
    expect(answerOf(await download({ fileId: fileId("202610"), fileIntfcName: INTERFACE, password: PASSWORD }))).toEqual(throttled);
    await windowOver();
    const res = await fetch(`${platform.gatewayUrl}${DOWNLOAD}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fileId: fileId("202610"), fileIntfcName: INTERFACE, password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    // Without the password nothing is learnt, not even which file interfaces exist.
    expect(answerOf(await download({ fileId: fileId("202610"), fileIntfcName: "RIGHTS_SERVICE_CHK_B202", password: "wrong-0" }))).toEqual({
      status: 400,
      code: 3,
      msg: "密码错误",
    });
  });

  it("refuses a branch name with a control character (a NUL PostgreSQL refuses, a line break the file would split)", async () => {
    for (const name of ["北京\u0000分行", "北京\n分行", "北京\u0085分行"]) {
      await expect(admin().importBranches({ branches: [{ provinceInstNo: "120000", name }] }, asAdmin())).rejects.toMatchObject({ code: Code.InvalidArgument });
    }
    const { rows } = await platform.db.query("SELECT 1 FROM reconciliation.branch WHERE province_inst_no = '120000'");
    expect(rows).toEqual([]);
  });

  it("takes a password an operator sets, stored only as an argon2id hash", async () => {
    await expect(admin().setDownloadPassword({ fileIntfcName: INTERFACE, password: "short" }, asAdmin())).rejects.toBeInstanceOf(ConnectError);
    await admin().setDownloadPassword({ fileIntfcName: INTERFACE, password: "operator-chosen-1" }, asAdmin());
    const { rows } = await platform.db.query<{ hash: string }>("SELECT hash FROM reconciliation.download_password");
    expect(rows[0]?.hash).toMatch(/^\$argon2id\$/);
    expect(rows[0]?.hash).not.toContain("operator-chosen-1");
    const res = await fetch(`${platform.gatewayUrl}${DOWNLOAD}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ fileId: fileId("202610"), fileIntfcName: INTERFACE, password: "operator-chosen-1" }),
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  describe("batch re-push", () => {
    const usage = "2026-10-15T06:30:00Z";
    /** Orders whose voucher was redeemed (at `usedAt`) and PSBC never told, booked at the PSBC sandbox. */
    async function redeemed(prefix: string, count: number, usedAt = usage): Promise<string[]> {
      const codes = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
      await platform.db.query(
        `INSERT INTO orders.rights_order (order_no, code, type, mac, channel, tran_chnl, inst_type, province_inst_no, status, key_status, expire_at, psbc_order_no, key_usage_time)
         SELECT 'O-' || c, c, '310001', 'm', '12', '12', '01', '100000', 200, 2, now() + interval '1 year', 'P-' || c, $2::timestamptz
           FROM unnest($1::text[]) AS c`,
        [codes, usedAt],
      );
      for (const code of codes) await platform.psbcSandbox.setStatus(code, "BOOKED");
      return codes;
    }

    it("answers every bad selection with the contract's message", async () => {
      const codes = Array.from({ length: 101 }, (_, i) => `C${i}`);
      const cases: Array<[unknown, number, number, string]> = [
        [{}, 400, 2, "参数错误:权益码列表和时间范围必须二选一"],
        [{ codes: [] }, 400, 2, "参数错误:权益码列表和时间范围必须二选一"],
        [{ codes: ["A"], startTime: "20261001000000", endTime: "20261031235959" }, 400, 2, "参数错误:权益码列表和时间范围必须二选一"],
        [{ startTime: "20261001000000" }, 400, 2, "参数错误:权益码列表和时间范围必须二选一"],
        [{ codes }, 400, 2, "单次补推数量不能超过100笔"],
        [{ startTime: "2026100100000", endTime: "20261031235959" }, 400, 2, "参数错误"],
        [{ startTime: "20261032000000", endTime: "20261031235959" }, 400, 2, "参数错误"],
        [{ startTime: "20261031000000", endTime: "20261001000000" }, 400, 2, "参数错误"],
        [{ codes: "A" }, 400, 2, "参数错误"],
        [{ codes: ["A"], dryRun: "yes" }, 400, 2, "参数错误"],
        // PostgreSQL refuses a NUL in text: a code holding one would fail the order service's query.
        [{ codes: ["A\u0000B"] }, 400, 2, "参数错误"],
        [{ codes: ["A\u0000B"], dryRun: true }, 400, 2, "参数错误"],
      ];
      for (const [body, status, code, msg] of cases) expect(answerOf(await post(REPUSH, body)), JSON.stringify(body)).toEqual({ status, code, msg });
    });

    it("creates type-1 tasks for redeemed orders, skips codes with a task waiting, on a dry run only lists them, and PSBC is told", async () => {
      const codes = await redeemed(`RP${mode}`, 3);
      // PSBC failing keeps each task waiting until the test lets it through.
      platform.psbcSandbox.faults.set("complete", { mode: "fail" });
      const first = await post(REPUSH, { codes: codes.slice(0, 1) });
      expect(first.body.data).toEqual({ totalCount: 1, createdCount: 1, skippedCount: 0 });
      const dry = await post(REPUSH, { codes: [...codes, "NOT-REDEEMED"], dryRun: true });
      expect(dry.body.data).toMatchObject({ totalCount: 3, createdCount: 0, skippedCount: 0 });
      const orders = dry.body.data?.orders as Array<{ code: string; hasTask: boolean; keyUsageTime: string; status: number; keyStatus: number }>;
      expect(orders.map((o) => [o.code, o.hasTask, o.keyUsageTime, o.status, o.keyStatus])).toEqual(
        codes.map((code, i) => [code, i === 0, "20261015143000", 200, 2]),
      );
      const second = await post(REPUSH, { codes });
      expect(second.body.data).toEqual({ totalCount: 3, createdCount: 2, skippedCount: 1 });
      const { tasks } = await notify().listTasks({ type: TaskType.SERVICE_COMPLETE, codes });
      expect(tasks.map((task) => [task.code, task.state]).sort()).toEqual(codes.map((code) => [code, TaskState.PENDING]));

      platform.psbcSandbox.faults.clear();
      const told = async () => (await platform.psbcSandbox.completions()).filter((completion) => codes.includes(completion.code));
      await until(async () => (await told()).length === codes.length, 10_000, "PSBC told of every re-pushed order");
      expect((await told()).map(({ orderNo, code, completedAt }) => [orderNo, code, completedAt]).sort()).toEqual(
        codes.map((code) => [`O-${code}`, code, "20261015143000"]),
      );
    });

    it("takes a range's end as its whole second: an order redeemed at 23:59:59.999 China time is in the month's range", async () => {
      const inside = [
        ...(await redeemed(`END0${mode}`, 1, "2026-10-31T23:59:59.000+08:00")),
        ...(await redeemed(`END5${mode}`, 1, "2026-10-31T23:59:59.500+08:00")),
        ...(await redeemed(`END9${mode}`, 1, "2026-10-31T23:59:59.999+08:00")),
      ];
      const after = await redeemed(`NOV${mode}`, 1, "2026-11-01T00:00:00.000+08:00");
      const listed = async (startTime: string, endTime: string) => {
        const answer = await post(REPUSH, { startTime, endTime, dryRun: true });
        return (answer.body.data?.orders as Array<{ code: string; keyUsageTime: string }>).map((order) => [order.code, order.keyUsageTime]);
      };
      expect(await listed("20261031235959", "20261031235959")).toEqual(inside.map((code) => [code, "20261031235959"]));
      expect(await listed("20261101000000", "20261101000000")).toEqual(after.map((code) => [code, "20261101000000"]));
    });

    it("refuses a time range matching more than 100 orders", async () => {
      await redeemed(`MANY${mode}`, 101);
      const answer = await post(REPUSH, { startTime: "20261015000000", endTime: "20261015235959", dryRun: true });
      expect(answerOf(answer)).toEqual({ status: 400, code: 4, msg: "符合条件的订单超过100笔请缩小时间范围或使用权益码列表" });
    });

    it("any generated selection is answered by the contract, never a system error", async () => {
      const text = fc.string({ maxLength: 16 });
      await fc.assert(
        fc.asyncProperty(
          fc.record(
            { codes: fc.array(text, { maxLength: 3 }), startTime: fc.stringMatching(/^\d{14}$/), endTime: text, dryRun: fc.constant(true) },
            { requiredKeys: [] },
          ),
          async (body) => {
            const { status, body: answer } = await post(REPUSH, body);
            expect(status).toBeLessThan(500);
            expect(answer.code === 0 || status === 400).toBe(true);
          },
        ),
        { numRuns: 25 },
      );
    });
  });
});
