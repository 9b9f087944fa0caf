// An in-memory PSBC open platform behind the order service's port, for use-case tests. It keeps each rights
// code's state the way the PSBC sandbox does (booking idempotent by code, cancel idempotent, 服务未预约 for a code
// it holds no booking of), records every call, and runs whatever a test scripts for the next calls of an
// operation (an UpstreamError, as the HTTP adapter would throw, or a side effect such as a lost lease).
import { UpstreamError } from "../../services/common/upstream-http.js";
import { PSBC_CODES, type PsbcServiceStatus } from "../../services/order/psbc/wire.js";
import type { PsbcPlatform } from "../../services/order/psbc/platform.js";

export type PsbcOperationName = keyof PsbcPlatform;
export type PsbcCall = { [Op in PsbcOperationName]: { op: Op; input: Parameters<PsbcPlatform[Op]>[0] } }[PsbcOperationName];

/** Runs before the fake's own answer; throwing fails the call with that error. */
type ScriptedStep = () => void | Promise<void>;

/** PSBC's refusal for good of `op` (a business code), as the HTTP adapter reports it. */
export function psbcRejection(op: PsbcOperationName, code: string = PSBC_CODES.SERVICE_STATE_INVALID): UpstreamError {
  return new UpstreamError("rejected", "psbc", op, code, "refused by the fake PSBC");
}

/** No answer from PSBC within the adapter's timeout: the call may or may not have taken effect. */
export function psbcTimeout(op: PsbcOperationName): UpstreamError {
  return new UpstreamError("timeout", "psbc", op, "TIMEOUT", "no answer from the fake PSBC");
}

export class FakePsbc implements PsbcPlatform {
  readonly calls: PsbcCall[] = [];
  /** What 过期幸福点查询 answers for every code. */
  expiredPoints = { tranIntglNum: 0, ovdueIntglNum: 0, noticeMsg: "" };
  private readonly services = new Map<string, { status: PsbcServiceStatus; psbcOrderNo: string }>();
  private readonly scripts = new Map<PsbcOperationName, ScriptedStep[]>();
  private bookings = 0;

  /** The next call of `op` runs `step` first. */
  beforeNext(op: PsbcOperationName, step: ScriptedStep): void {
    this.scripts.set(op, [...(this.scripts.get(op) ?? []), step]);
  }

  /** The next `times` calls of `op` fail with `error`. */
  failNext(op: PsbcOperationName, error: unknown, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.beforeNext(op, () => {
        throw error;
      });
    }
  }

  /** PSBC's own change of a code: used by the customer (COMPLETED), lapsed (EXPIRED), or never booked (NOT_FOUND). */
  setStatus(code: string, status: PsbcServiceStatus): void {
    this.services.set(code, { psbcOrderNo: this.services.get(code)?.psbcOrderNo ?? "", status });
  }

  statusOf(code: string): PsbcServiceStatus {
    return this.services.get(code)?.status ?? "NOT_FOUND";
  }

  callsOf<Op extends PsbcOperationName>(op: Op): Array<Parameters<PsbcPlatform[Op]>[0]> {
    return this.calls.filter((call): call is Extract<PsbcCall, { op: Op }> => call.op === op).map((call) => call.input);
  }

  async bookService(input: Parameters<PsbcPlatform["bookService"]>[0]): Promise<{ psbcOrderNo: string }> {
    await this.run({ op: "bookService", input });
    const known = this.services.get(input.code);
    if (known?.status === "BOOKED") return { psbcOrderNo: known.psbcOrderNo };
    if (known && known.status !== "NOT_FOUND") throw psbcRejection("bookService");
    const psbcOrderNo = `PSBC${String((this.bookings += 1)).padStart(8, "0")}`;
    this.services.set(input.code, { status: "BOOKED", psbcOrderNo });
    return { psbcOrderNo };
  }

  async queryServiceStatus(input: { code: string; type: string }): Promise<{ status: PsbcServiceStatus }> {
    await this.run({ op: "queryServiceStatus", input });
    return { status: this.statusOf(input.code) };
  }

  async cancelService(input: { orderNo: string; code: string; type: string }): Promise<void> {
    await this.run({ op: "cancelService", input });
    const status = this.statusOf(input.code);
    if (status === "NOT_FOUND") throw psbcRejection("cancelService", PSBC_CODES.SERVICE_NOT_BOOKED);
    if (status !== "BOOKED" && status !== "CANCELLED") throw psbcRejection("cancelService");
    this.setStatus(input.code, "CANCELLED");
  }

  async queryExpiredPoints(input: { code: string; type: string; mac: string }): Promise<FakePsbc["expiredPoints"]> {
    await this.run({ op: "queryExpiredPoints", input });
    return { ...this.expiredPoints };
  }

  async notifyServiceComplete(input: { orderNo: string; code: string; type: string; completedAt: string }): Promise<void> {
    await this.run({ op: "notifyServiceComplete", input });
    const status = this.statusOf(input.code);
    if (status !== "BOOKED" && status !== "COMPLETED") throw psbcRejection("notifyServiceComplete");
    this.setStatus(input.code, "COMPLETED");
  }

  private async run(call: PsbcCall): Promise<void> {
    this.calls.push(call);
    const step = this.scripts.get(call.op)?.shift();
    await step?.();
  }
}
