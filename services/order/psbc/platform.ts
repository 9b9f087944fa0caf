import { invalidResponse, postSigned, type UpstreamTarget, UpstreamError } from "../../common/upstream-http.js";
import { PSBC_CODES, PSBC_SERVICE_STATUS, PSBC_WIRE, type PsbcApi, type PsbcOperation, type PsbcServiceStatus } from "./wire.js";

export type PsbcBookInput = PsbcApi["book"]["request"];

/**
 * The PSBC service open platform, as the order service needs it. Every method throws an `UpstreamError`
 * (`services/common/upstream-http.ts`) when PSBC cannot be reached, times out or refuses.
 */
export interface PsbcPlatform {
  /** Registers the booking at PSBC. Idempotent by rights code: booking a booked code answers the same psbcOrderNo. */
  bookService(input: PsbcBookInput): Promise<{ psbcOrderNo: string }>;
  queryServiceStatus(input: { code: string; type: string }): Promise<{ status: PsbcServiceStatus }>;
  /** Idempotent: cancelling a cancelled service succeeds. */
  cancelService(input: { orderNo: string; code: string; type: string }): Promise<void>;
  queryExpiredPoints(input: {
    code: string;
    type: string;
    mac: string;
  }): Promise<{ tranIntglNum: number; ovdueIntglNum: number; noticeMsg: string }>;
  /** 服务完成通知. `completedAt` is yyyyMMddHHmmss. Idempotent. */
  notifyServiceComplete(input: { orderNo: string; code: string; type: string; completedAt: string }): Promise<void>;
}

export type PsbcPlatformConfig = UpstreamTarget;

/** PSBC's refusal because it holds no booking of the rights code (服务未预约): there is nothing to cancel there. */
export function isNotBookedAtPsbc(err: unknown): boolean {
  return err instanceof UpstreamError && err.platform === "psbc" && err.code === PSBC_CODES.SERVICE_NOT_BOOKED;
}

const statusByWire = new Map<number, PsbcServiceStatus>(
  (Object.keys(PSBC_SERVICE_STATUS) as PsbcServiceStatus[]).map((status) => [PSBC_SERVICE_STATUS[status], status]),
);

/** The HTTP adapter: signed JSON calls to `config.baseUrl`, each bounded by `config.timeoutMs`. */
export function createPsbcPlatform(config: PsbcPlatformConfig): PsbcPlatform {
  const call = <Op extends PsbcOperation>(op: Op, request: PsbcApi[Op]["request"]): Promise<PsbcApi[Op]["response"]> =>
    postSigned(PSBC_WIRE, config, op, request);

  return {
    async bookService(input) {
      const data = await call("book", input);
      if (typeof data.psbcOrderNo !== "string" || data.psbcOrderNo === "") {
        throw invalidResponse("psbc", "book", "no psbcOrderNo");
      }
      return { psbcOrderNo: data.psbcOrderNo };
    },

    async queryServiceStatus({ code, type }) {
      const data = await call("status", { code, type });
      const status = statusByWire.get(Number(data.srvStatus));
      if (!status) throw invalidResponse("psbc", "status", `unknown srvStatus ${String(data.srvStatus)}`);
      return { status };
    },

    async cancelService({ orderNo, code, type }) {
      await call("cancel", { orderNo, code, type });
    },

    async queryExpiredPoints({ code, type, mac }) {
      const data = await call("expiredPoints", { code, type, mac });
      if (!Number.isInteger(data.tranIntglNum) || !Number.isInteger(data.ovdueIntglNum) || typeof data.noticeMsg !== "string") {
        throw invalidResponse("psbc", "expiredPoints", "tranIntglNum, ovdueIntglNum and noticeMsg expected");
      }
      return { tranIntglNum: data.tranIntglNum, ovdueIntglNum: data.ovdueIntglNum, noticeMsg: data.noticeMsg };
    },

    async notifyServiceComplete({ orderNo, code, type, completedAt }) {
      await call("complete", { orderNo, code, type, completedAt });
    },
  };
}
