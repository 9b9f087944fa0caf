/**
 * The wire format of Blue Brothers (蓝色兄弟, the marketing platform that issues voucher redemption URLs), as
 * the voucher service's send channel (`channel.ts`) speaks it and the Blue Brothers sandbox
 * (`services/sandbox/blue-brothers-sandbox.ts`) simulates it. Signing and the HTTP exchange are
 * `services/common/signing.ts` and `upstream-http.ts`.
 *
 * ASSUMPTIONS, CONFIRM WITH BLUE BROTHERS. It has not published this spec to us. The paths, field names, codes,
 * HTTP statuses and the signing scheme are our assumption, written down here so that the day Blue Brothers hands
 * over its real spec, this file, its channel and its sandbox are the only places to change:
 * - `code` 0 is success; refusals come with HTTP 200, a bad signature with HTTP 401, overload with HTTP 503;
 * - one voucher per outOrderNo (our order number), issue and void idempotent by it;
 * - the field lengths below.
 */
import { isRecord, type PlatformWire } from "../../../common/upstream-http.js";

/**
 * Blue Brothers answers with this envelope (assumed): `code` 0 is success. Business refusals come with
 * HTTP 200; a bad signature with HTTP 401; overload or an outage with HTTP 503 (the sandbox's "fail" fault).
 */
export interface BlueBrothersEnvelope<T> {
  code: number;
  message: string;
  data?: T;
}

/** Blue Brothers business codes (assumed). */
export const BLUE_BROTHERS_CODES = {
  SUCCESS: 0,
  PARAMETER_INVALID: 40001,
  SIGNATURE_INVALID: 40101,
  /** The voucher number does not belong to the outOrderNo. */
  VOUCHER_NOT_FOUND: 40401,
  /** The outOrderNo was used before with another template or rights code. */
  OUT_ORDER_CONFLICT: 40901,
  /** Void refused: the customer already redeemed the voucher. */
  VOUCHER_REDEEMED: 42201,
  /** Issue refused: the outOrderNo was voided (a void may arrive before a lost issue; the order stays dead). */
  OUT_ORDER_VOIDED: 42202,
  /** Busy or down; with HTTP 503. */
  SERVICE_UNAVAILABLE: 50301,
} as const;

/**
 * The longest value Blue Brothers takes in each issue field (assumed); the sandbox refuses a longer one as the
 * platform would. What PSBC may send us (`RIGHTS_REQUEST_LIMITS`: a rights code, a mac as customerRef) must
 * fit, or a code would be booked at PSBC and then refused here.
 */
export const BLUE_BROTHERS_ISSUE_MAX_LENGTH = { outOrderNo: 64, templateId: 64, rightsCode: 64, customerRef: 128 } as const;

/** The longest voucher URL Blue Brothers answers (assumed agreed with them: PSBC's contract caps the URL we hand on). */
export const BLUE_BROTHERS_URL_MAX_LENGTH = 125;

export interface BlueBrothersApi {
  /** 发码: one voucher per outOrderNo; a repeat answers the same voucherNo and URL. */
  issue: {
    request: {
      /** Our order number: the idempotency key. */
      outOrderNo: string;
      templateId: string;
      /** The PSBC rights code, kept by Blue Brothers for its own reconciliation. */
      rightsCode: string;
      /** An opaque customer reference (PSBC's mac), never a name or phone number. */
      customerRef: string;
    };
    response: { voucherNo: string; url: string };
  };
  /** 作废: idempotent; refused with VOUCHER_REDEEMED once redeemed. Voiding an unknown outOrderNo succeeds. */
  void: { request: { outOrderNo: string; voucherNo: string }; response: { status: "VOIDED" } };
}
export type BlueBrothersOperation = keyof BlueBrothersApi;

export const BLUE_BROTHERS_WIRE: PlatformWire<BlueBrothersApi> = {
  name: "blue-brothers",
  paths: {
    issue: "/api/v1/vouchers/issue",
    void: "/api/v1/vouchers/void",
  },
  outcome(body) {
    if (!isRecord(body) || typeof body.code !== "number") return undefined;
    return { code: String(body.code), message: String(body.message ?? ""), data: body.data };
  },
  isSuccess: (code) => code === String(BLUE_BROTHERS_CODES.SUCCESS),
  isRetryable: (code) => code === String(BLUE_BROTHERS_CODES.SERVICE_UNAVAILABLE),
};
