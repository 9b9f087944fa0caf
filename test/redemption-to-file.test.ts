// The whole chain as PSBC and a customer live it, in both run modes (cluster: the real PostgreSQL and Redis and a
// NATS of this file's own): appointment → the customer's POST to the voucher URL at the Blue Brothers sandbox →
// its signed notice to our gateway → voucher.redeemed → order key status 2 → the notify service's task → the PSBC
// sandbox's acknowledgement → order 300 → the ledger → the month's file on the 3rd → the download, byte for byte.
// The clock starts at 00:10 on 1 November Asia/Shanghai (still 31 October in UTC), so every time and the month
// in the file show the business time zone.
import { createClient } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import {
  NotificationDeliveredSchema,
  OrderBookedSchema,
  OrderCompletedSchema,
  OrderVoucherRedeemedSchema,
  VoucherIssuedSchema,
  VoucherRedeemedSchema,
} from "../proto/gen/rights/events/v1/events_pb.js";
import { ReconciliationService } from "../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { adminAuthorization } from "../services/common/admin-credential.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { EMBEDDED_RECONCILIATION } from "../services/platform/platform.js";
import { outboxEventsOf } from "./support/outbox-events.js";
import { freshCode, modes, PATHS, useTestPlatform, type TestPlatform } from "./support/platform.js";
import { assertContractResponse, reconciliationFileColumns } from "./support/psbc-contract.js";
import { TestClock } from "./support/test-clock.js";
import { until } from "./support/until.js";

const FILES = "/api/v1/reconciliation/files";
const DOWNLOAD = "/api/v1/reconciliation/download";
/** The sandbox service type's provider code, and so the embedded file interface. */
const INTERFACE = `RIGHTS_SERVICE_CHK_${EMBEDDED_RECONCILIATION.providerCode}`;
const BRANCH = { provinceInstNo: "100000", name: "北京分行" };

/** `yyyyMMddHHmmss` in Asia/Shanghai by the ICU time zone database, not by the product's fixed offset. */
function shanghaiTime(date: Date): string {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: "Asia/Shanghai",
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(date);
  const part = (type: Intl.DateTimeFormatPartTypes) => parts.find((candidate) => candidate.type === type)?.value ?? "";
  return `${part("year")}${part("month")}${part("day")}${part("hour")}${part("minute")}${part("second")}`;
}

describe.each(modes)("a customer's redemption to the downloaded month file (%s)", (mode) => {
  const clock = new TestClock(new Date("2026-11-01T00:10:00+08:00"));
  // The schedule looked at often, the notice delivered at once.
  const chain = useTestPlatform(mode, { clock, env: { RECONCILIATION_SCHEDULE_CHECK_MS: "100", NOTIFY_POLL_MS: "50" } });
  let platform: TestPlatform;
  beforeAll(() => {
    platform = chain.platform;
  });

  /** Posts to a reconciliation route as PSBC does, reads the whole answer, and checks it against the contract. */
  async function reconciliation(path: string, body: unknown): Promise<{ status: number; headers: Headers; bytes: Buffer; json?: unknown }> {
    const response = await fetch(`${platform.gatewayUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    const json: unknown = response.headers.get("content-type")?.startsWith("application/json") ? JSON.parse(bytes.toString("utf8")) : undefined;
    assertContractResponse(path, response.status, json ?? bytes.toString("utf8"));
    return { status: response.status, headers: response.headers, bytes, json };
  }

  it("books, is redeemed at the sandbox, completes once, and is the month's file line, with every time in Asia/Shanghai", async () => {
    const admin = createClient(ReconciliationService, rpcTransport(platform.serviceUrl("reconciliation")));
    await admin.importBranches({ branches: [BRANCH] }, { headers: adminAuthorization(platform.adminToken) });

    const code = freshCode();
    const booked = await platform.call(PATHS.appointment, { code });
    expect(booked.body.code).toBe(0);
    const url = String(booked.body.data?.url);
    const order = await platform.orderRow(code);
    const orderNo = String(order?.order_no);

    // The customer's button on the voucher page; the sandbox then sends its signed notice to our gateway.
    const page = await fetch(url, { method: "POST", body: "", signal: AbortSignal.timeout(10_000) });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("REDEEMED");
    await until(async () => (await platform.orderRow(code))?.status === 300, 30_000, "the order completed");
    // The sandbox counts its notice answered 0000 once it has read the answer, which may be after the chain ran.
    await until(() => platform.blueBrothersSandbox.notices.delivered === 1, 10_000, "the sandbox's notice answered 0000");
    expect(platform.blueBrothersSandbox.notices.failed).toBe(0);

    // Each hop once: the voucher's redemption, the order's, the delivered notice, the completion.
    const redeemedAt = new Date(String((await platform.blueBrothersSandbox.voucherByNo(String(order?.voucher_no)))?.redeemedAt));
    const [task, ...otherTasks] = (
      await platform.db.query<{ type: number; state: number; attempts: number; delivered_at: Date }>(
        "SELECT type, state, attempts, delivered_at FROM notify.task WHERE code = $1",
        [code],
      )
    ).rows;
    expect(otherTasks).toEqual([]);
    expect(task).toMatchObject({ type: 1, state: 2, attempts: 1 });
    const completedAt = task?.delivered_at ?? new Date(Number.NaN);
    const row = await platform.orderRow(code);
    expect(row).toMatchObject({ status: 300, key_status: 2, key_usage_time: redeemedAt, completed_at: completedAt });
    const subjects = async (schema: string, payloads: Parameters<typeof outboxEventsOf>[3]) =>
      (await outboxEventsOf(platform.db, schema, orderNo, payloads)).map((entry) => entry.subject);
    expect(await subjects("vouchers", [VoucherIssuedSchema, VoucherRedeemedSchema])).toEqual(["voucher.issued", "voucher.redeemed"]);
    expect(await subjects("orders", [OrderBookedSchema, OrderVoucherRedeemedSchema, OrderCompletedSchema])).toEqual([
      "order.booked",
      "order.voucher_redeemed",
      "order.completed",
    ]);
    expect(await subjects("notify", [NotificationDeliveredSchema])).toEqual(["notify.delivered"]);
    const completions = (await platform.psbcSandbox.completions()).filter((completion) => completion.code === code);
    expect(completions).toEqual([expect.objectContaining({ orderNo, code, type: "310001", completedAt: shanghaiTime(redeemedAt) })]);
    expect(platform.psbcSandbox.calls.complete).toBe(1);

    // Business times: the clock's 1 November in Shanghai, whatever the UTC date.
    const bookedTime = shanghaiTime(row?.booked_at as Date);
    const completedTime = shanghaiTime(completedAt);
    for (const time of [bookedTime, completedTime, shanghaiTime(redeemedAt)]) expect(time).toMatch(/^202611010[01]\d{4}$/);

    // The ledger holds it under November (Asia/Shanghai), once.
    await until(
      async () => (await platform.db.query("SELECT 1 FROM reconciliation.ledger WHERE order_no = $1", [orderNo])).rowCount === 1,
      10_000,
      "the ledger row",
    );
    expect((await platform.db.query("SELECT month FROM reconciliation.ledger WHERE order_no = $1", [orderNo])).rows).toEqual([{ month: "202611" }]);
    // No file before the 3rd of the month after.
    expect((await platform.db.query("SELECT 1 FROM reconciliation.file WHERE month = '202611'")).rowCount).toBe(0);

    // 3 December, 01:00 in Shanghai: November's file is made by the schedule.
    clock.set("2026-12-03T01:00:00+08:00");
    let listed: Array<{ fileId: string; fileName: string; fileSize: number; createTime: string }> = [];
    await until(
      async () => {
        const list = await reconciliation(FILES, { accountingDate: "20261115", fileIntfcName: INTERFACE });
        listed = (list.json as { data: { fileList: typeof listed } }).data.fileList;
        return listed.length === 1;
      },
      15_000,
      "November's file",
    );
    const fileName = `${INTERFACE}_202611.csv`;
    expect(listed[0]).toMatchObject({ fileId: `FILE202611${EMBEDDED_RECONCILIATION.providerCode}001`, fileName });
    expect(listed[0]?.createTime).toMatch(/^2026120301\d{4}$/);

    const download = async () => {
      const { status, headers, bytes } = await reconciliation(DOWNLOAD, { fileId: listed[0]?.fileId, fileIntfcName: INTERFACE, password: EMBEDDED_RECONCILIATION.password });
      expect(status).toBe(200);
      expect(headers.get("content-type")).toBe("text/csv; charset=utf-8");
      expect(headers.get("content-disposition")).toBe(`attachment; filename="${fileName}"`);
      return bytes;
    };
    const bytes = await download();
    expect(bytes.length).toBe(listed[0]?.fileSize);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = bytes.subarray(3).toString("utf8").split("\r\n");
    expect(lines.at(-1)).toBe("");
    const [header, line, ...rest] = lines;
    expect(rest).toEqual([""]);
    const columns = reconciliationFileColumns();
    expect(columns).toHaveLength(11);
    expect(header?.split(",")).toEqual(columns.map((column) => column.name));
    const fields = Object.fromEntries(columns.map((column, i) => [column.name, line?.split(",")[i]]));
    expect(line?.split(",")).toHaveLength(11);
    expect(fields).toEqual({
      统计月份: "202611",
      一分机构序号: BRANCH.provinceInstNo,
      一分机构名称: BRANCH.name,
      网点机构属性: "01",
      积分客户服务编码: "310001",
      服务内容: "sandbox rights service",
      预约时间: bookedTime,
      实际完成时间: completedTime,
      权益兑换码: code,
      订单号: orderNo,
      券码状态: "2",
    });

    // An operator's regeneration of the month keeps the fileId and makes the same bytes.
    const { files } = await admin.generateFile({ month: "202611" }, { headers: adminAuthorization(platform.adminToken) });
    expect(files.map((file) => file.fileId)).toEqual([listed[0]?.fileId]);
    expect((await download()).equals(bytes)).toBe(true);
  });
});
