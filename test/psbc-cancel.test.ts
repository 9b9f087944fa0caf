import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { PsbcServiceStatus } from "../services/order/psbc/wire.js";
import { freshCode, modes, PATHS, startTestPlatform, type TestPlatform } from "./support/platform.js";

const CANCELLED = { status: 400, code: 4, msg: "服务已取消" };
const EXPIRED = { status: 400, code: 4, msg: "服务已过期" };

describe.each(modes)("cancel: only a booked service, and never a URL of a voided voucher (%s)", (mode) => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform(mode);
  });
  afterEach(() => {
    platform.psbcSandbox.faults.clear();
    platform.blueBrothersSandbox.faults.clear();
  });
  afterAll(async () => {
    await platform?.close();
  });

  async function answer(path: string, code: string) {
    const { status, body } = await platform.call(path, { code });
    return { status, code: body.code, msg: body.msg, url: body.data?.url };
  }

  async function book(code: string): Promise<string> {
    const booked = await answer(PATHS.appointment, code);
    expect(booked.code).toBe(0);
    return String(booked.url);
  }

  async function voucherStatus(row: Record<string, unknown> | undefined) {
    return (await platform.blueBrothersSandbox.voucherByNo(String(row?.voucher_no)))?.status;
  }

  it("answers a repeated cancel with 服务已取消 and touches nothing", async () => {
    const code = freshCode();
    await book(code);
    expect((await answer(PATHS.cancel, code)).code).toBe(0);
    const row = await platform.orderRow(code);
    const calls = { psbc: { ...platform.psbcSandbox.calls }, blueBrothers: { ...platform.blueBrothersSandbox.calls } };

    expect(await answer(PATHS.cancel, code)).toMatchObject(CANCELLED);
    expect(await platform.orderRow(code)).toEqual(row);
    expect({ psbc: platform.psbcSandbox.calls, blueBrothers: platform.blueBrothersSandbox.calls }).toEqual(calls);
    expect(await answer(PATHS.detail, code)).toEqual({ ...CANCELLED, url: undefined });
  });

  it("completes the cancel when PSBC holds no booking of the code (服务未预约): order 400, voucher voided", async () => {
    const code = freshCode();
    await book(code);
    await platform.psbcSandbox.setStatus(code, "NOT_FOUND");
    const cancels = platform.psbcSandbox.calls.cancel;
    expect(await answer(PATHS.cancel, code)).toMatchObject({ status: 200, code: 0 });
    const row = await platform.orderRow(code);
    expect(row).toMatchObject({ status: 400, key_status: 3 });
    expect(await voucherStatus(row)).toBe("VOIDED");
    expect(platform.psbcSandbox.calls.cancel).toBe(cancels);
    expect(await answer(PATHS.detail, code)).toEqual({ ...CANCELLED, url: undefined });
  });

  it("completes the cancel when PSBC's booking disappears between the status query and the cancel", async () => {
    const code = freshCode();
    await book(code);
    // The void is slow; meanwhile PSBC forgets the booking, so its cancel answers 服务未预约.
    platform.blueBrothersSandbox.faults.set("void", { mode: "delay", delayMs: 300, times: 1 });
    const cancelling = answer(PATHS.cancel, code);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await platform.psbcSandbox.setStatus(code, "NOT_FOUND");
    expect(await cancelling).toMatchObject({ status: 200, code: 0 });
    expect(await platform.orderRow(code)).toMatchObject({ status: 400, key_status: 3 });
  });

  it("voids the voucher and expires the order when PSBC reports the code expired", async () => {
    const code = freshCode();
    await book(code);
    await platform.psbcSandbox.setStatus(code, "EXPIRED");
    expect(await answer(PATHS.cancel, code)).toMatchObject(EXPIRED);
    const row = await platform.orderRow(code);
    expect(row).toMatchObject({ status: 500, key_status: 3 });
    expect(await voucherStatus(row)).toBe("VOIDED");
    expect(await answer(PATHS.detail, code)).toEqual({ ...EXPIRED, url: undefined });
    expect(await answer(PATHS.appointment, code)).toEqual({ ...EXPIRED, url: undefined });
  });

  it("a cancel past the code's validity expires the order, and detail then answers 服务已过期, not the URL", async () => {
    const code = freshCode();
    await book(code);
    await platform.db.query("UPDATE orders.rights_order SET expire_at = now() - interval '1 second' WHERE code = $1", [code]);
    expect(await answer(PATHS.cancel, code)).toMatchObject(EXPIRED);
    // Expired by the request; its voucher is left for the expiry job to void, still live meanwhile.
    expect(await platform.orderRow(code)).toMatchObject({ status: 500, voucher_voided_at: null });
    expect(await answer(PATHS.detail, code)).toEqual({ ...EXPIRED, url: undefined });
    expect(await answer(PATHS.appointment, code)).toEqual({ ...EXPIRED, url: undefined });
  });

  it("a cancel stopped after the void answers no URL on detail or appointment, and its retry finishes", async () => {
    const code = freshCode();
    await book(code);
    platform.psbcSandbox.faults.set("cancel", { mode: "fail", times: 1 });
    expect((await answer(PATHS.cancel, code)).status).toBe(500);
    expect(await platform.orderRow(code)).toMatchObject({ status: 200, key_status: 3 });
    expect(await answer(PATHS.detail, code)).toEqual({ ...CANCELLED, url: undefined });
    expect(await answer(PATHS.appointment, code)).toEqual({ ...CANCELLED, url: undefined });
    expect((await answer(PATHS.cancel, code)).code).toBe(0);
    expect(await platform.orderRow(code)).toMatchObject({ status: 400 });
  });

  it("whatever PSBC and Blue Brothers do, no answer carries the URL of a voided voucher", async () => {
    const statuses: PsbcServiceStatus[] = ["BOOKED", "COMPLETED", "CANCELLED", "EXPIRED", "NOT_FOUND"];
    const step = fc.oneof(
      fc.record({ call: fc.constantFrom(PATHS.appointment, PATHS.cancel, PATHS.detail) }),
      fc.record({ psbcStatus: fc.constantFrom(...statuses) }),
      fc.record({ failing: fc.constantFrom("psbc:cancel", "psbc:status", "blueBrothers:void") }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 8 }), async (steps) => {
        const code = freshCode();
        await book(code);
        for (const s of steps) {
          if ("psbcStatus" in s) await platform.psbcSandbox.setStatus(code, s.psbcStatus);
          else if ("failing" in s) {
            const [upstream, op] = s.failing.split(":");
            if (upstream === "psbc") platform.psbcSandbox.faults.set(op as "cancel" | "status", { mode: "fail", times: 1 });
            else platform.blueBrothersSandbox.faults.set("void", { mode: "fail", times: 1 });
          } else {
            const { url } = await answer(s.call, code);
            const row = await platform.orderRow(code);
            if (url !== undefined) expect(await voucherStatus(row)).not.toBe("VOIDED");
          }
        }
        platform.psbcSandbox.faults.clear();
        platform.blueBrothersSandbox.faults.clear();
      }),
      { numRuns: 15 },
    );
  });
});
