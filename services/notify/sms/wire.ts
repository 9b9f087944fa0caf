/**
 * The wire format of the SMS gateway (短信网关) that sends make-code notices, as the notify service's delivery
 * port (`sms-notice.ts`) speaks it and the SMS sandbox (`services/sandbox/sms-sandbox.ts`) simulates it.
 * Signing and the HTTP exchange are `services/common/signing.ts` and `upstream-http.ts`, as for every upstream.
 *
 * ASSUMPTIONS, CONFIRM WITH THE SMS PROVIDER. No provider is chosen yet; its real spec replaces this file, the
 * port and the sandbox only:
 * - `POST <SMS_BASE_URL>/sms/v1/send`, JSON, the signing headers of signing.ts with the app id and secret the
 *   provider issues us (SMS_APP_ID, SMS_APP_SECRET);
 * - body `{ outId, mobile, content }`: our notice id (the idempotency key), one mainland mobile number
 *   (11 digits, 1[3-9]…), and the text as sent (at most 500 characters; the provider adds its signature 【…】);
 * - IDEMPOTENT by outId: a repeat answers the first send's smsId and sends nothing more. The notify service
 *   relies on it (a worker killed after the provider took the message sends it again);
 * - answered `{ code, message, data: { smsId } }`, HTTP 200: `0000` sent (accepted for delivery);
 *   `9999` busy, HTTP 5xx/429, a timeout or a lost connection: retry later; `1001` signature, `1002`
 *   parameters, `1003` number refused (not a mobile, opted out): the same send would be refused again, so the
 *   task is dead at once, for an operator to look at;
 * - the provider never echoes `content` in its answers or logs it beyond its delivery records.
 */
import { isRecord, type PlatformWire } from "../../common/upstream-http.js";

export const SMS_CODES = {
  SUCCESS: "0000",
  SIGNATURE_INVALID: "1001",
  PARAMETER_INVALID: "1002",
  MOBILE_REFUSED: "1003",
  BUSY: "9999",
} as const;

/** The longest text we send (assumed the provider's limit for one long SMS). */
export const SMS_CONTENT_MAX_LENGTH = 500;
/** A mainland mobile number. */
export const SMS_MOBILE = /^1[3-9]\d{9}$/;

export interface SmsApi {
  send: { request: { outId: string; mobile: string; content: string }; response: { smsId: string } };
}
export type SmsOperation = keyof SmsApi;

export interface SmsEnvelope<T> {
  code: string;
  message: string;
  data?: T;
}

export const SMS_WIRE: PlatformWire<SmsApi> = {
  name: "sms",
  paths: { send: "/sms/v1/send" },
  outcome(body) {
    if (!isRecord(body) || typeof body.code !== "string") return undefined;
    return { code: body.code, message: String(body.message ?? ""), data: body.data };
  },
  isSuccess: (code) => code === SMS_CODES.SUCCESS,
  isRetryable: (code) => code === SMS_CODES.BUSY,
};
