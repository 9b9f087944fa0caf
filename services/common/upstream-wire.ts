/**
 * The wire format of the two upstream platforms we call: the PSBC service open platform (its outbound APIs,
 * the ones a rights provider calls) and Blue Brothers (蓝色兄弟, the marketing platform that issues voucher
 * redemption URLs).
 *
 * ASSUMPTIONS, CONFIRM WITH THE PLATFORM. Neither platform has published a spec to us. Everything below (paths,
 * field names, codes, HTTP statuses, the signing scheme) is our assumption, written down in this one file so
 * that the day each platform hands over its real spec, this file, the two adapters
 * (`services/order/psbc-platform.ts`, `services/voucher/blue-brothers.ts`) and the two sandbox simulators
 * (`services/sandbox/`) are the only places to change.
 *
 * Common to both platforms (assumed):
 * - every call is `POST <baseUrl><path>` with a JSON body (`content-type: application/json; charset=utf-8`);
 * - every call is signed with the headers below (HMAC-SHA256, hex, keyed with the app secret);
 * - the answer is a JSON envelope carrying a business code, a message and, on success, `data`;
 * - we also send `x-trace-id` (our traceId) so either platform's support can find a call we ask about;
 *   a platform that does not know the header ignores it.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { Metrics } from "./metrics.js";
import { currentTraceId, TRACE_HEADER } from "./trace.js";

// ---------------------------------------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------------------------------------

/** The signing headers (assumed; lower case, as Node presents incoming headers). */
export const SIGNATURE_HEADERS = {
  appId: "x-app-id",
  /** Milliseconds since the epoch, decimal. */
  timestamp: "x-timestamp",
  /** Random per call, so two identical bodies in one millisecond still sign differently. */
  nonce: "x-nonce",
  /** Hex HMAC-SHA256 with the app secret over `appId \n timestamp \n nonce \n body`. */
  signature: "x-signature",
} as const;

/** How far a request's timestamp may be from the receiver's clock (assumed: 5 minutes, either way). */
export const SIGNATURE_MAX_SKEW_MS = 5 * 60_000;

export interface SignedParts {
  appId: string;
  timestamp: string;
  nonce: string;
  /** The exact bytes sent: a signature over re-serialised JSON would not survive key order or spacing. */
  body: string | Buffer;
}

/** The hex HMAC-SHA256 of `appId + "\n" + timestamp + "\n" + nonce + "\n" + body`, keyed with `appSecret`. */
export function sign(appSecret: string, parts: SignedParts): string {
  return createHmac("sha256", appSecret)
    .update(`${parts.appId}\n${parts.timestamp}\n${parts.nonce}\n`)
    .update(parts.body)
    .digest("hex");
}

/** The four signing headers of one call. */
export function signatureHeaders(
  credentials: { appId: string; appSecret: string },
  body: string,
  now = Date.now(),
): Record<string, string> {
  const parts = { appId: credentials.appId, timestamp: String(now), nonce: randomBytes(16).toString("hex"), body };
  return {
    [SIGNATURE_HEADERS.appId]: parts.appId,
    [SIGNATURE_HEADERS.timestamp]: parts.timestamp,
    [SIGNATURE_HEADERS.nonce]: parts.nonce,
    [SIGNATURE_HEADERS.signature]: sign(credentials.appSecret, parts),
  };
}

/**
 * Whether a received call is signed by the holder of `appSecret` for `appId`, within the allowed clock skew.
 * Constant-time on the signature. Replayed nonces are not tracked (assumed the platforms do not either).
 */
export function verifySignature(
  received: { appId?: string; timestamp?: string; nonce?: string; signature?: string; body: string | Buffer },
  credentials: { appId: string; appSecret: string },
  now = Date.now(),
): boolean {
  const { appId, timestamp, nonce, signature, body } = received;
  if (appId !== credentials.appId || !timestamp || !nonce || !signature) return false;
  if (!/^\d{1,15}$/.test(timestamp) || Math.abs(now - Number(timestamp)) > SIGNATURE_MAX_SKEW_MS) return false;
  if (!/^[0-9a-f]{64}$/i.test(signature)) return false;
  const expected = Buffer.from(sign(credentials.appSecret, { appId, timestamp, nonce, body }), "hex");
  return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

export type UpstreamPlatformName = "psbc" | "blue-brothers";

/**
 * - `timeout`: no answer within the configured time; the call may or may not have taken effect.
 * - `unavailable`: no usable answer (connection refused or reset, HTTP 5xx/429, a busy code, a body that is
 *   not the platform's JSON); worth retrying later.
 * - `rejected`: the platform answered and said no (signature, parameters, state); retrying the same call
 *   gives the same answer.
 */
export type UpstreamErrorKind = "timeout" | "unavailable" | "rejected";

export class UpstreamError extends Error {
  override readonly name = "UpstreamError";

  constructor(
    readonly kind: UpstreamErrorKind,
    readonly platform: UpstreamPlatformName,
    readonly operation: string,
    /** The platform's business code when it answered one; otherwise `HTTP_<status>`, `TIMEOUT`, `NETWORK`... */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${platform} ${operation} ${kind} (${code}): ${message}`, options);
  }

  /** Timeouts and unavailability may pass; a rejection will not. Our calls are idempotent, so a retry is safe. */
  get retryable(): boolean {
    return this.kind !== "rejected";
  }
}

// ---------------------------------------------------------------------------------------------------------
// Platform descriptions
// ---------------------------------------------------------------------------------------------------------

/** An API: per operation name, the request body and the `data` of a successful answer. */
export type Api<A> = { [Op in keyof A]: { request: object; response: unknown } };

export interface PlatformWire<A extends Api<A>> {
  name: UpstreamPlatformName;
  /** The path of each operation, appended to the configured base URL. */
  paths: { readonly [Op in keyof A]: string };
  /** The business code and message of an answer body (whatever its HTTP status), if it is an envelope. */
  outcome(body: unknown): { code: string; message: string; data: unknown } | undefined;
  isSuccess(code: string): boolean;
  /** Codes that mean "busy, try later" rather than "no". */
  isRetryable(code: string): boolean;
}

// ----- PSBC service open platform ------------------------------------------------------------------------

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

// ----- Blue Brothers -------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------------------

export interface UpstreamTarget {
  baseUrl: string;
  appId: string;
  appSecret: string;
  /** The whole call: connect, send, wait, read the body. */
  timeoutMs: number;
  /** Where each call is counted and timed (upstream_requests_total, upstream_request_duration_seconds). */
  metrics?: Metrics;
}

/**
 * Signs and posts one operation; answers the envelope's `data`, or throws an UpstreamError. The `data` is
 * typed as the platform promises it; the adapters check the fields they rely on.
 */
export async function postSigned<A extends Api<A>, Op extends keyof A & string>(
  wire: PlatformWire<A>,
  target: UpstreamTarget,
  operation: Op,
  request: A[Op]["request"],
): Promise<A[Op]["response"]> {
  const started = performance.now();
  const observe = (outcome: "ok" | UpstreamErrorKind) => {
    if (!target.metrics) return;
    const labels = { upstream: wire.name, operation };
    target.metrics.upstreamRequests.inc({ ...labels, outcome });
    target.metrics.upstreamSeconds.observe(labels, (performance.now() - started) / 1000);
  };
  try {
    const data = await exchange(wire, target, operation, request);
    observe("ok");
    return data;
  } catch (err) {
    observe(err instanceof UpstreamError ? err.kind : "unavailable");
    throw err;
  }
}

async function exchange<A extends Api<A>, Op extends keyof A & string>(
  wire: PlatformWire<A>,
  target: UpstreamTarget,
  operation: Op,
  request: A[Op]["request"],
): Promise<A[Op]["response"]> {
  const fail = (kind: UpstreamErrorKind, code: string, message: string, cause?: unknown): UpstreamError =>
    new UpstreamError(kind, wire.name, operation, code, message, cause === undefined ? undefined : { cause });

  const body = JSON.stringify(request);
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    accept: "application/json",
    ...signatureHeaders(target, body),
  };
  const traceId = currentTraceId();
  if (traceId) headers[TRACE_HEADER] = traceId;

  let status: number;
  let text: string;
  try {
    ({ status, text } = await httpPost(`${target.baseUrl.replace(/\/+$/, "")}${wire.paths[operation]}`, headers, body, target.timeoutMs));
  } catch (err) {
    if (err instanceof UpstreamTimeout) throw fail("timeout", "TIMEOUT", `no answer within ${target.timeoutMs} ms`, err);
    throw fail("unavailable", "NETWORK", networkMessage(err), err);
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const outcome = wire.outcome(json);
  const transient = status >= 500 || status === 429 || status === 408;
  if (status < 200 || status > 299) {
    throw fail(transient ? "unavailable" : "rejected", outcome?.code ?? `HTTP_${status}`, outcome?.message ?? `HTTP ${status}`);
  }
  if (!outcome) throw fail("unavailable", "INVALID_RESPONSE", `HTTP ${status} without the platform's JSON envelope`);
  if (!wire.isSuccess(outcome.code)) {
    throw fail(wire.isRetryable(outcome.code) ? "unavailable" : "rejected", outcome.code, outcome.message);
  }
  return (outcome.data ?? {}) as A[Op]["response"];
}

/** The error an adapter throws when a successful answer lacks what the assumed contract promises. */
export function invalidResponse(platform: UpstreamPlatformName, operation: string, detail: string): UpstreamError {
  return new UpstreamError("rejected", platform, operation, "INVALID_RESPONSE", detail);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function networkMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return "code" in err && err.code ? `${err.message} (${String(err.code)})` : err.message;
}

class UpstreamTimeout extends Error {}

/**
 * Keep-alive agents, one per protocol for the process: an upstream call reuses a warm connection instead of
 * a TCP (and TLS) handshake. node:http rather than fetch: a fraction of the CPU per call (bench/README.md).
 */
const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 256, scheduling: "lifo" }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 256, scheduling: "lifo" }),
};

/** POSTs `body`; the whole exchange (connect, send, wait, read) must finish within `timeoutMs`. */
function httpPost(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const client = target.protocol === "https:" ? https : http;
    const agent = target.protocol === "https:" ? agents["https:"] : agents["http:"];
    const request = client.request(
      target,
      { method: "POST", agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") });
        });
        response.on("error", (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => request.destroy(new UpstreamTimeout(`no answer within ${timeoutMs} ms`)), timeoutMs);
    request.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    request.end(body);
  });
}
