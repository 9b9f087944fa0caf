/**
 * Blue Brothers' traffic towards us and the status query: its redemption notice (a callback to our gateway) and
 * the voucher status query we poll with when a notice is lost.
 *
 * ASSUMPTIONS, CONFIRM WITH BLUE BROTHERS. Like the rest of its wire format (`wire.ts`), nothing here comes from a
 * published spec:
 * - The notice is `POST <our callback URL>` (the gateway's `/callbacks/blue-brothers/redemption`) with a JSON
 *   body `RedemptionNotice`, signed exactly like our calls to Blue Brothers: the same four headers
 *   (`x-app-id`, `x-timestamp` in ms, `x-nonce`, `x-signature` = hex HMAC-SHA256 with the shared app secret over
 *   `appId \n timestamp \n nonce \n body`), the same 5-minute skew either way.
 * - A nonce is used once: the same nonce again within the skew window is a replay (answered 4090). Blue
 *   Brothers retries a notice we did not answer `0000` with a NEW nonce and timestamp and the SAME `noticeId`.
 * - `redeemedAt` is ISO 8601 with an offset (the customer's redemption time, by Blue Brothers' clock).
 * - We answer `{ code, msg }` (`CALLBACK_ANSWERS`): `0000` tells Blue Brothers to stop; anything else, or no
 *   answer, and it retries a few times with backoff.
 * - The status query is `POST /api/v1/vouchers/query` `{ outOrderNo, voucherNo }`, answered in the usual
 *   envelope with `{ voucherNo, status: NORMAL|REDEEMED|VOIDED, redeemedAt? }`.
 */
import { signatureHeaders } from "../../../common/signing.js";
import type { PlatformWire } from "../../../common/upstream-http.js";
import { BLUE_BROTHERS_WIRE } from "./wire.js";

/** Where the gateway serves Blue Brothers' callbacks, and the notice's path under it. */
export const BLUE_BROTHERS_CALLBACK_PREFIX = "/callbacks/blue-brothers";
export const REDEMPTION_NOTICE_PATH = "/redemption";

/** A voucher's redemption, as Blue Brothers tells it. */
export interface RedemptionNotice {
  /** Blue Brothers' id of the notice: the same on its retries. */
  noticeId: string;
  voucherNo: string;
  /** Our order number (the outOrderNo we issued the voucher with). */
  outOrderNo: string;
  status: "REDEEMED";
  /** ISO 8601 with an offset. */
  redeemedAt: string;
}

/** Our answers to a notice: HTTP status, Blue Brothers-style code and message. */
export const CALLBACK_ANSWERS = {
  SUCCESS: { httpStatus: 200, code: "0000", msg: "success" },
  PARAMETER_INVALID: { httpStatus: 400, code: "4000", msg: "parameter invalid" },
  SIGNATURE_INVALID: { httpStatus: 401, code: "4010", msg: "signature invalid" },
  VOUCHER_NOT_FOUND: { httpStatus: 404, code: "4040", msg: "voucher not found" },
  NOTICE_REPLAYED: { httpStatus: 409, code: "4090", msg: "notice replayed" },
  SYSTEM_ERROR: { httpStatus: 500, code: "5000", msg: "system error" },
} as const;
export type CallbackAnswer = (typeof CALLBACK_ANSWERS)[keyof typeof CALLBACK_ANSWERS];

/** The status of a voucher at Blue Brothers. */
export type BlueBrothersVoucherStatus = "NORMAL" | "REDEEMED" | "VOIDED";

export interface BlueBrothersQueryApi {
  /** 券码状态查询. */
  query: {
    request: { outOrderNo: string; voucherNo: string };
    response: { voucherNo: string; status: BlueBrothersVoucherStatus; redeemedAt?: string };
  };
}

/** The status query: Blue Brothers' envelope and codes, one more path. */
export const BLUE_BROTHERS_QUERY_WIRE: PlatformWire<BlueBrothersQueryApi> = {
  ...BLUE_BROTHERS_WIRE,
  paths: { query: "/api/v1/vouchers/query" },
};

/** A notice as Blue Brothers sends it: the body's exact bytes and their signing headers (a fresh nonce each time). */
export function signedRedemptionNotice(
  credentials: { appId: string; appSecret: string },
  notice: RedemptionNotice,
  now = Date.now(),
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(notice);
  return { body, headers: { "content-type": "application/json; charset=utf-8", ...signatureHeaders(credentials, body, now) } };
}
