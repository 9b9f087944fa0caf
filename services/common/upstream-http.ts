/**
 * The client of the upstream platforms we call (PSBC, Blue Brothers, ...): each platform's wire format (paths,
 * envelope, codes) lives beside its adapter as a `PlatformWire`; this file only posts, signs and classifies.
 *
 * Common to every platform (assumed until each publishes its spec):
 * - every call is `POST <baseUrl><path>` with a JSON body (`content-type: application/json; charset=utf-8`);
 * - every call is signed with the headers of `signing.ts`;
 * - the answer is a JSON envelope carrying a business code, a message and, on success, `data`;
 * - we also send `x-trace-id` (our traceId) so the platform's support can find a call we ask about;
 *   a platform that does not know the header ignores it.
 */
import http from "node:http";
import https from "node:https";
import type { Metrics } from "./metrics.js";
import { signatureHeaders } from "./signing.js";
import { currentTraceId, TRACE_HEADER } from "./trace.js";

// ---------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------

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
    /** The wire's name (`PlatformWire.name`). */
    readonly platform: string,
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
  /** The platform's name in errors and in the `upstream` label of the metrics. */
  name: string;
  /** The path of each operation, appended to the configured base URL. */
  paths: { readonly [Op in keyof A]: string };
  /** The business code and message of an answer body (whatever its HTTP status), if it is an envelope. */
  outcome(body: unknown): { code: string; message: string; data: unknown } | undefined;
  isSuccess(code: string): boolean;
  /** Codes that mean "busy, try later" rather than "no". */
  isRetryable(code: string): boolean;
}

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
export function invalidResponse(platform: string, operation: string, detail: string): UpstreamError {
  return new UpstreamError("rejected", platform, operation, "INVALID_RESPONSE", detail);
}

/** Whether a parsed JSON body is an object: what every wire's `outcome` checks first. */
export function isRecord(value: unknown): value is Record<string, unknown> {
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
