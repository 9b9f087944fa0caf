import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { upstreamError } from "../../../test/support/upstream-errors.js";
import { SANDBOX_EXPIRED_POINTS, startPsbcSandbox, type PsbcSandbox } from "../../sandbox/psbc-sandbox.js";
import { createPsbcPlatform, type PsbcBookInput, type PsbcPlatform } from "./platform.js";

const credentials = { appId: "psbc-test", appSecret: "psbc-test-secret" };
let sequence = 0;
const freshCode = () => `C${process.pid}${Date.now().toString(36)}${(sequence += 1)}`;
const bookInput = (code: string, orderNo = `O-${code}`): PsbcBookInput => ({
  orderNo,
  code,
  type: "310001",
  mac: "customer-1",
  channel: "12",
  tranChnl: "12",
  instType: "01",
  provinceInstNo: "100000",
});

describe("PSBC adapter against the PSBC sandbox", () => {
  let sandbox: PsbcSandbox;
  let psbc: PsbcPlatform;
  beforeAll(async () => {
    sandbox = await startPsbcSandbox(credentials);
    psbc = createPsbcPlatform({ baseUrl: sandbox.url, ...credentials, timeoutMs: 300 });
  });
  afterEach(() => sandbox.faults.clear());
  afterAll(async () => {
    await sandbox.close();
  });

  it("books idempotently by rights code", async () => {
    const code = freshCode();
    const before = sandbox.calls.book;
    const first = await psbc.bookService(bookInput(code));
    expect(first.psbcOrderNo).toMatch(/^PS/);
    expect(await psbc.bookService(bookInput(code))).toEqual(first);
    expect(await psbc.bookService(bookInput(code, "another-order"))).toEqual(first);
    expect(sandbox.calls.book - before).toBe(3);
    expect(await sandbox.statusOf(code)).toBe("BOOKED");
    expect(await sandbox.booking(code)).toMatchObject({ orderNo: `O-${code}`, psbcOrderNo: first.psbcOrderNo });
  });

  it("queries the service status", async () => {
    const code = freshCode();
    expect(await psbc.queryServiceStatus({ code, type: "310001" })).toEqual({ status: "NOT_FOUND" });
    await psbc.bookService(bookInput(code));
    expect(await psbc.queryServiceStatus({ code, type: "310001" })).toEqual({ status: "BOOKED" });
    for (const status of ["COMPLETED", "EXPIRED", "CANCELLED"] as const) {
      await sandbox.setStatus(code, status);
      expect(await psbc.queryServiceStatus({ code, type: "310001" })).toEqual({ status });
    }
    await sandbox.setStatus(code, "NOT_FOUND");
    expect(await psbc.queryServiceStatus({ code, type: "310001" })).toEqual({ status: "NOT_FOUND" });
  });

  it("cancels idempotently, and refuses what cannot be cancelled", async () => {
    const code = freshCode();
    const { orderNo } = bookInput(code);
    await psbc.bookService(bookInput(code));
    await psbc.cancelService({ orderNo, code, type: "310001" });
    await psbc.cancelService({ orderNo, code, type: "310001" });
    expect(await sandbox.statusOf(code)).toBe("CANCELLED");
    expect(await upstreamError(psbc.bookService(bookInput(code)))).toMatchObject({ kind: "rejected", code: "200002" });

    const unknown = freshCode();
    expect(await upstreamError(psbc.cancelService({ orderNo: "O", code: unknown, type: "310001" }))).toEqual({
      kind: "rejected",
      code: "200001",
      platform: "psbc",
      operation: "cancel",
    });

    const completed = freshCode();
    await psbc.bookService(bookInput(completed));
    await sandbox.setStatus(completed, "COMPLETED");
    expect(await upstreamError(psbc.cancelService({ orderNo: "O", code: completed, type: "310001" }))).toMatchObject({
      kind: "rejected",
      code: "200002",
    });
  });

  it("answers the expired points deterministically", async () => {
    expect(await psbc.queryExpiredPoints({ code: freshCode(), type: "310001", mac: "m" })).toEqual(SANDBOX_EXPIRED_POINTS);
    expect(SANDBOX_EXPIRED_POINTS).toEqual({ tranIntglNum: 1000, ovdueIntglNum: 200, noticeMsg: "您有200幸福点已过期取消后将无法退回" });
  });

  it("takes the service-complete notice once, idempotently", async () => {
    const code = freshCode();
    const { orderNo } = bookInput(code);
    await psbc.bookService(bookInput(code));
    const notice = { orderNo, code, type: "310001", completedAt: "20250131235959" };
    await psbc.notifyServiceComplete(notice);
    await psbc.notifyServiceComplete(notice);
    expect(await sandbox.statusOf(code)).toBe("COMPLETED");
    expect((await sandbox.completions()).filter((c) => c.code === code)).toEqual([
      { ...notice, receivedAt: expect.any(String) as string },
    ]);
    expect(await upstreamError(psbc.notifyServiceComplete({ ...notice, completedAt: "2025-01-31" }))).toMatchObject({
      kind: "rejected",
      code: "100002",
    });
    expect(await upstreamError(psbc.notifyServiceComplete({ ...notice, code: freshCode() }))).toMatchObject({
      kind: "rejected",
      code: "200001",
    });
  });

  it("fault fail: unavailable with PSBC's busy code, for `times` calls only", async () => {
    const code = freshCode();
    sandbox.faults.set("book", { mode: "fail", times: 2 });
    expect(await upstreamError(psbc.bookService(bookInput(code)))).toEqual({
      kind: "unavailable",
      code: "999999",
      platform: "psbc",
      operation: "book",
    });
    expect(await upstreamError(psbc.bookService(bookInput(code)))).toMatchObject({ kind: "unavailable" });
    expect(await sandbox.statusOf(code)).toBe("NOT_FOUND");
    await psbc.bookService(bookInput(code));
    expect(await sandbox.statusOf(code)).toBe("BOOKED");
  });

  it("fault delay: answers after the delay, or times out when the delay is longer than the adapter waits", async () => {
    sandbox.faults.set("expiredPoints", { mode: "delay", delayMs: 150, times: 1 });
    const started = Date.now();
    await psbc.queryExpiredPoints({ code: freshCode(), type: "310001", mac: "m" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);

    sandbox.faults.set("expiredPoints", { mode: "delay", delayMs: 1000, times: 1 });
    expect(await upstreamError(psbc.queryExpiredPoints({ code: freshCode(), type: "310001", mac: "m" }))).toMatchObject({
      kind: "timeout",
    });
  });

  it("fault timeout: the adapter's timeout fires; the call took effect, so the retry finds it booked", async () => {
    const code = freshCode();
    sandbox.faults.set("book", { mode: "timeout", times: 1 });
    const started = Date.now();
    expect(await upstreamError(psbc.bookService(bookInput(code)))).toMatchObject({ kind: "timeout", code: "TIMEOUT" });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2000);
    expect(await sandbox.statusOf(code)).toBe("BOOKED");
    const { psbcOrderNo } = await psbc.bookService(bookInput(code));
    expect(psbcOrderNo).toBe((await sandbox.booking(code))?.psbcOrderNo);
  });

  it("fault on every operation with *", async () => {
    sandbox.faults.set("*", { mode: "fail" });
    expect(await upstreamError(psbc.queryServiceStatus({ code: freshCode(), type: "310001" }))).toMatchObject({ kind: "unavailable" });
    expect(await upstreamError(psbc.queryExpiredPoints({ code: freshCode(), type: "310001", mac: "m" }))).toMatchObject({
      kind: "unavailable",
    });
    sandbox.faults.clear();
    await psbc.queryServiceStatus({ code: freshCode(), type: "310001" });
  });

  it("a wrong secret is rejected with PSBC's signature error", async () => {
    const forged = createPsbcPlatform({ baseUrl: sandbox.url, appId: credentials.appId, appSecret: "wrong", timeoutMs: 300 });
    expect(await upstreamError(forged.bookService(bookInput(freshCode())))).toMatchObject({ kind: "rejected", code: "100001" });
    const stranger = createPsbcPlatform({ baseUrl: sandbox.url, appId: "stranger", appSecret: credentials.appSecret, timeoutMs: 300 });
    expect(await upstreamError(stranger.queryServiceStatus({ code: "C", type: "310001" }))).toMatchObject({ code: "100001" });
  });

  it("is driven over HTTP by the control endpoints", async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${sandbox.url}${path}`, { method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(2000) });
    expect((await post("/_sandbox/faults", { op: "status", mode: "fail", times: 1 })).status).toBe(200);
    expect(await upstreamError(psbc.queryServiceStatus({ code: "C", type: "310001" }))).toMatchObject({ kind: "unavailable" });
    expect((await post("/_sandbox/faults", { op: "status", mode: "fail" })).status).toBe(200);
    expect((await fetch(`${sandbox.url}/_sandbox/faults`, { method: "DELETE" })).status).toBe(200);
    await psbc.queryServiceStatus({ code: "C", type: "310001" });

    expect((await post("/_sandbox/faults", { op: "nope", mode: "fail" })).status).toBe(400);
    expect((await post("/_sandbox/faults", { op: "book", mode: "explode" })).status).toBe(400);
    expect((await post("/_sandbox/faults", { op: "book", mode: "fail", times: 0 })).status).toBe(400);

    const code = freshCode();
    expect((await post("/_sandbox/status", { code, status: "EXPIRED" })).status).toBe(200);
    expect(await psbc.queryServiceStatus({ code, type: "310001" })).toEqual({ status: "EXPIRED" });
    expect((await post("/_sandbox/status", { code, status: "toString" })).status).toBe(400);

    const health = await (await fetch(`${sandbox.url}/_sandbox/health`)).json();
    expect(health).toMatchObject({ status: "ok", calls: { book: expect.any(Number) as number } });
  });
});

describe("PSBC sandbox lifecycle", () => {
  it("close() ends promptly while a timed-out call is held, and the adapter then sees it unavailable", async () => {
    const sandbox = await startPsbcSandbox(credentials);
    const psbc = createPsbcPlatform({ baseUrl: sandbox.url, ...credentials, timeoutMs: 10_000 });
    sandbox.faults.set("status", { mode: "timeout" });
    sandbox.faults.set("expiredPoints", { mode: "delay", delayMs: 10_000 });
    const held = upstreamError(psbc.queryServiceStatus({ code: "C", type: "310001" }));
    const delayed = upstreamError(psbc.queryExpiredPoints({ code: "C", type: "310001", mac: "m" }));
    await expect.poll(() => sandbox.calls.status + sandbox.calls.expiredPoints).toBe(2);

    const started = Date.now();
    await sandbox.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await held).toMatchObject({ kind: "unavailable", code: "NETWORK" });
    expect(await delayed).toMatchObject({ kind: "unavailable", code: "NETWORK" });
    expect(await upstreamError(psbc.queryServiceStatus({ code: "C", type: "310001" }))).toMatchObject({ kind: "unavailable" });
  });

  it("listens on the given host and port", async () => {
    const sandbox = await startPsbcSandbox({ ...credentials, host: "127.0.0.1", port: 0 });
    expect(sandbox.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await sandbox.close();
    await sandbox.close(); // twice is fine
  });
});
