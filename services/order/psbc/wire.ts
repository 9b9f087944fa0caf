/**
 * The wire format of the PSBC service open platform's outbound APIs (the ones a rights provider calls), as
 * the order service's adapter (`platform.ts`) speaks it and the PSBC sandbox (`services/sandbox/psbc-sandbox.ts`)
 * simulates it. Signing and the HTTP exchange are `services/common/signing.ts` and `upstream-http.ts`.
 *
 * ASSUMPTIONS, CONFIRM WITH PSBC. PSBC has not published this spec to us. The paths, field names, codes, HTTP
 * statuses and the signing scheme are our assumption, written down here so that the day PSBC hands over its
 * real spec, this file, its adapter and its sandbox are the only places to change:
 * - every answer is HTTP 200 with the envelope below, a failure being a `respCode` other than `000000`;
 * - `999999` (system busy) is the only code worth a retry;
 * - the service states are the numbers of the PSBC contract's own order status;
 * - book, cancel and complete are idempotent at PSBC (by rights code; a repeat succeeds).
 */
import { isRecord, type PlatformWire } from "../../common/upstream-http.js";

/**
 * PSBC answers every call with HTTP 200 (assumed, as bank gateways do) and this envelope; a failure is a
 * `respCode` other than `000000`, including a bad signature.
 */
export interface PsbcEnvelope<T> {
  respCode: string;
  respMsg: string;
  data?: T;
}

/** PSBC business codes (assumed). */
export const PSBC_CODES = {
  SUCCESS: "000000",
  SIGNATURE_INVALID: "100001",
  PARAMETER_INVALID: "100002",
  /** The rights code was never booked at PSBC. */
  SERVICE_NOT_BOOKED: "200001",
  /** The booking's state forbids the operation (e.g. cancelling a completed service, booking a cancelled one). */
  SERVICE_STATE_INVALID: "200002",
  /** System busy: the only retryable code; the sandbox's "fail" fault answers it. */
  SYSTEM_BUSY: "999999",
} as const;

/**
 * A service's state at PSBC, as the numbers of the contract's order status (assumed PSBC uses the same
 * numbers in its own APIs): 100 never booked, 200 booked, 300 completed, 400 cancelled, 500 expired.
 */
export const PSBC_SERVICE_STATUS = {
  NOT_FOUND: 100,
  BOOKED: 200,
  COMPLETED: 300,
  CANCELLED: 400,
  EXPIRED: 500,
} as const;
export type PsbcWireStatus = (typeof PSBC_SERVICE_STATUS)[keyof typeof PSBC_SERVICE_STATUS];
/** A service's state at PSBC, by name. */
export type PsbcServiceStatus = keyof typeof PSBC_SERVICE_STATUS;

/** The operations we call at PSBC. Field names follow the contract's own (`code`, `type`, `mac`, ...). */
export interface PsbcApi {
  /** 服务预约登记: tell PSBC we booked the service. Idempotent by rights code: a repeat answers the same psbcOrderNo. */
  book: {
    request: {
      /** Our order number. */
      orderNo: string;
      code: string;
      type: string;
      mac: string;
      channel: string;
      tranChnl: string;
      instType: string;
      provinceInstNo: string;
    };
    response: { psbcOrderNo: string };
  };
  /** 服务状态查询. */
  status: { request: { code: string; type: string }; response: { srvStatus: PsbcWireStatus } };
  /** 服务取消登记. Idempotent: cancelling a cancelled service succeeds. */
  cancel: { request: { orderNo: string; code: string; type: string }; response: Record<string, never> };
  /** 过期幸福点查询: the same fields the contract answers PSBC's own caller with. */
  expiredPoints: {
    request: { code: string; type: string; mac: string };
    response: { tranIntglNum: number; ovdueIntglNum: number; noticeMsg: string };
  };
  /** 服务完成通知. Idempotent: a repeated notice succeeds. */
  complete: {
    request: { orderNo: string; code: string; type: string; /** yyyyMMddHHmmss, Beijing time */ completedAt: string };
    response: Record<string, never>;
  };
}
export type PsbcOperation = keyof PsbcApi;

export const PSBC_WIRE: PlatformWire<PsbcApi> = {
  name: "psbc",
  paths: {
    book: "/openapi/rights/v1/service/book",
    status: "/openapi/rights/v1/service/status",
    cancel: "/openapi/rights/v1/service/cancel",
    expiredPoints: "/openapi/rights/v1/points/expired",
    complete: "/openapi/rights/v1/service/complete",
  },
  outcome(body) {
    if (!isRecord(body) || typeof body.respCode !== "string") return undefined;
    return { code: body.respCode, message: String(body.respMsg ?? ""), data: body.data };
  },
  isSuccess: (code) => code === PSBC_CODES.SUCCESS,
  isRetryable: (code) => code === PSBC_CODES.SYSTEM_BUSY,
};
