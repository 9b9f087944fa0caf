import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freshCode, modes, PATHS, startTestPlatform, type TestPlatform } from "./support/platform.js";

const SYSTEM_ERROR = { code: 1, msg: "系统异常" };

describe.each(modes)("a step that fails half-way is resumed by the retry (%s)", (mode) => {
  let platform: TestPlatform;
  beforeAll(async () => {
    // A short upstream timeout keeps the timeout cases quick.
    platform = await startTestPlatform(mode, { upstreamTimeoutMs: 300 });
  });
  afterEach(() => {
    platform.psbcSandbox.faults.clear();
    platform.blueBrothersSandbox.faults.clear();
  });
  afterAll(async () => {
    await platform?.close();
  });

  it("PSBC booked, Blue Brothers timed out: code 1, then the retry issues the voucher without booking again", async () => {
    const code = freshCode();
    platform.blueBrothersSandbox.faults.set("issue", { mode: "timeout", times: 1 });
    const failed = await platform.call(PATHS.appointment, { code });
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject(SYSTEM_ERROR);
    const row = await platform.orderRow(code);
    expect(row).toMatchObject({ status: 100, key_status: 0 });
    expect(row?.psbc_booked_at).not.toBeNull();
    expect(String(row?.last_error)).toContain("voucher issue");
    expect(platform.psbcSandbox.calls.book).toBeGreaterThan(0);
    const booked = platform.psbcSandbox.calls.book;

    const retried = await platform.call(PATHS.appointment, { code });
    expect(retried.body.code).toBe(0);
    expect(platform.psbcSandbox.calls.book).toBe(booked);
    expect(await platform.orderRow(code)).toMatchObject({ status: 200, key_status: 1, last_error: null });
  });

  it("Blue Brothers failing outright: code 1, and the retry gets the one voucher", async () => {
    const code = freshCode();
    platform.blueBrothersSandbox.faults.set("issue", { mode: "fail", times: 2 });
    expect((await platform.call(PATHS.appointment, { code })).body).toMatchObject(SYSTEM_ERROR);
    expect((await platform.call(PATHS.appointment, { code })).body).toMatchObject(SYSTEM_ERROR);
    const retried = await platform.call(PATHS.appointment, { code });
    expect(retried.body.code).toBe(0);
    const row = await platform.orderRow(code);
    expect(await platform.blueBrothersSandbox.voucherByNo(String(row?.voucher_no))).toMatchObject({ status: "NORMAL" });
  });

  it("PSBC booking failing: code 1 with nothing booked, then the retry books", async () => {
    const code = freshCode();
    platform.psbcSandbox.faults.set("book", { mode: "fail", times: 1 });
    expect((await platform.call(PATHS.appointment, { code })).body).toMatchObject(SYSTEM_ERROR);
    const row = await platform.orderRow(code);
    expect(row).toMatchObject({ status: 100, psbc_booked_at: null });
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
    expect(await platform.psbcSandbox.statusOf(code)).toBe("BOOKED");
  });

  it("PSBC booking timing out: the retry books (PSBC is idempotent by rights code) and answers once", async () => {
    const code = freshCode();
    platform.psbcSandbox.faults.set("book", { mode: "timeout", times: 1 });
    expect((await platform.call(PATHS.appointment, { code })).body).toMatchObject(SYSTEM_ERROR);
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
  });

  it("cancel: the void failing keeps the order booked; the retry voids and cancels", async () => {
    const code = freshCode();
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
    platform.blueBrothersSandbox.faults.set("void", { mode: "fail", times: 1 });
    const failed = await platform.call(PATHS.cancel, { code });
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject(SYSTEM_ERROR);
    expect(await platform.orderRow(code)).toMatchObject({ status: 200, key_status: 1, voucher_voided_at: null });
    expect(await platform.psbcSandbox.statusOf(code)).toBe("BOOKED");

    expect((await platform.call(PATHS.cancel, { code })).body.code).toBe(0);
    expect(await platform.orderRow(code)).toMatchObject({ status: 400, key_status: 3 });
    expect(await platform.psbcSandbox.statusOf(code)).toBe("CANCELLED");
  });

  it("cancel: voided but PSBC's cancel timed out; the retry cancels at PSBC without voiding again", async () => {
    const code = freshCode();
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(0);
    platform.psbcSandbox.faults.set("cancel", { mode: "timeout", times: 1 });
    expect((await platform.call(PATHS.cancel, { code })).body).toMatchObject(SYSTEM_ERROR);
    const row = await platform.orderRow(code);
    expect(row).toMatchObject({ status: 200, key_status: 3 });
    expect(row?.voucher_voided_at).not.toBeNull();
    const voids = platform.blueBrothersSandbox.calls.void;

    expect((await platform.call(PATHS.cancel, { code })).body.code).toBe(0);
    expect(platform.blueBrothersSandbox.calls.void).toBe(voids);
    expect(await platform.orderRow(code)).toMatchObject({ status: 400 });
  });

  it("cancel of a booking that stopped half-way cancels PSBC's booking too", async () => {
    const code = freshCode();
    platform.blueBrothersSandbox.faults.set("issue", { mode: "fail", times: 1 });
    expect((await platform.call(PATHS.appointment, { code })).body.code).toBe(1);
    expect((await platform.call(PATHS.cancel, { code })).body.code).toBe(0);
    expect(await platform.psbcSandbox.statusOf(code)).toBe("CANCELLED");
    expect(await platform.orderRow(code)).toMatchObject({ status: 400 });
  });

  it("expired points: PSBC failing answers 查询失败,请重试 with HTTP 500", async () => {
    platform.psbcSandbox.faults.set("expiredPoints", { mode: "fail", times: 1 });
    const { status, body } = await platform.call(PATHS.expiredPoints, { code: freshCode() });
    expect(status).toBe(500);
    expect(body).toMatchObject({ code: 1, msg: "查询失败,请重试" });
  });

  it("detail keeps answering while the upstreams are down (it reads our own order)", async () => {
    const code = freshCode();
    const { body } = await platform.call(PATHS.appointment, { code });
    platform.psbcSandbox.faults.set("*", { mode: "fail" });
    platform.blueBrothersSandbox.faults.set("*", { mode: "fail" });
    const detail = await platform.call(PATHS.detail, { code });
    expect(detail.body).toMatchObject({ code: 0, data: { url: body.data?.url } });
  });
});
