// Unary gRPC calls straight on node:http2: one session per peer, one stream per call, the message framed by
// hand (five bytes). Through connect-es's client a call costs 0.77M instructions this way against 1.33M on
// grpc-js's client (its resolving, retrying, load-balancing and subchannel call layers, the filter stack, a
// captured stack per call; callgrind counts, bench/rpc-call-instructions.js), and the internal hop's caller
// (the gateway above all) is where that CPU went. Streaming calls stay on grpc-js; so does the server side.
//
// What a gRPC client owes its peer is kept: the deadline as grpc-timeout and enforced here too, cancellation
// as RST_STREAM(CANCEL), a status from the trailers (or a trailers-only answer), HTTP statuses mapped as gRPC's
// spec maps them, keepalive pings that drop a dead peer's session, a new session after GOAWAY or a lost
// connection, and a call refused before the server read it (REFUSED_STREAM, or a request the session could no
// longer open) sent once more on a fresh session, as grpc-js's transparent retry does.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from "node:http2";

/** gRPC's status codes used here (the same numbers as connect-es's Code). */
export const GrpcStatus = { OK: 0, CANCELLED: 1, UNKNOWN: 2, INTERNAL: 13, UNAVAILABLE: 14, DEADLINE_EXCEEDED: 4, UNIMPLEMENTED: 12, UNAUTHENTICATED: 16, PERMISSION_DENIED: 7 } as const;

/** A unary call's outcome: the status, and on OK the one message's bytes. Headers and trailers as received. */
export interface UnaryOutcome {
  code: number;
  details: string;
  message?: Buffer;
  header: IncomingHttpHeaders;
  trailer: IncomingHttpHeaders;
}

export interface Http2UnaryOptions {
  /** A ping this often on a session with calls or not; unanswered within `pingTimeoutMs`, the session is dropped. */
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** The largest answer taken. */
  maxMessageBytes: number;
}

/** gRPC's mapping of an HTTP status that is not 200 (doc/http-grpc-status-mapping.md). */
function statusOfHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

const REFUSED = http2.constants.NGHTTP2_REFUSED_STREAM;

/** The grpc-timeout header value: at most 8 digits, in the coarsest unit that keeps the milliseconds. */
function grpcTimeout(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  return whole < 1e8 ? `${whole}m` : `${Math.min(99_999_999, Math.ceil(whole / 1000))}S`;
}

function decodeMessage(details: string | string[] | undefined): string {
  const raw = Array.isArray(details) ? details.join(",") : (details ?? "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** One peer's unary caller. Sessions are unref'd: a call in flight is held by its own deadline timer. */
export class Http2UnaryCaller {
  private session: ClientHttp2Session | undefined;
  private pinger: NodeJS.Timeout | undefined;

  constructor(
    private readonly authority: string,
    private readonly options: Http2UnaryOptions,
  ) {}

  /**
   * Sends `message` (a serialized request) to `path` with `headers` (lower-case, no pseudo-headers) and a
   * deadline `timeoutMs` from now (Infinity: none); never rejects, every failure is a status.
   */
  call(path: string, message: Uint8Array, headers: Record<string, string | string[]>, timeoutMs: number, signal?: AbortSignal): Promise<UnaryOutcome> {
    const deadline = Number.isFinite(timeoutMs) ? Date.now() + timeoutMs : Infinity;
    return this.attempt(path, message, headers, deadline, signal, true);
  }

  private attempt(path: string, message: Uint8Array, headers: Record<string, string | string[]>, deadline: number, signal: AbortSignal | undefined, mayRetry: boolean): Promise<UnaryOutcome> {
    return new Promise((resolve) => {
      const header: IncomingHttpHeaders = {};
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      let stream: ClientHttp2Stream | undefined;
      const onAbort = () => {
        stream?.close(http2.constants.NGHTTP2_CANCEL);
        failed(GrpcStatus.CANCELLED, "Cancelled on client");
      };
      const failed = (code: number, details: string) => finish({ code, details, header, trailer: {} });
      if (signal?.aborted) return failed(GrpcStatus.CANCELLED, "Cancelled on client");
      const left = deadline - Date.now();
      if (left <= 0) return failed(GrpcStatus.DEADLINE_EXCEEDED, "Deadline exceeded");
      let session: ClientHttp2Session;
      try {
        session = this.current();
        stream = session.request({
          ...headers,
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
          ...(Number.isFinite(left) ? { "grpc-timeout": grpcTimeout(left) } : {}),
        });
      } catch (err) {
        // Out of stream ids, or the session closed between the check and the request: a fresh one, once.
        this.drop(this.session);
        if (mayRetry) return void this.attempt(path, message, headers, deadline, signal, false).then(resolve);
        return failed(GrpcStatus.UNAVAILABLE, `connection failed: ${(err as Error).message}`);
      }
      function finish(outcome: UnaryOutcome): void {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(outcome);
      }
      if (Number.isFinite(left)) {
        timer = setTimeout(() => {
          stream?.close(http2.constants.NGHTTP2_CANCEL);
          failed(GrpcStatus.DEADLINE_EXCEEDED, "Deadline exceeded");
        }, left);
      }
      signal?.addEventListener("abort", onAbort, { once: true });

      const chunks: Buffer[] = [];
      let received = 0;
      let trailer: IncomingHttpHeaders = {};
      stream.on("response", (h) => Object.assign(header, h));
      stream.on("data", (chunk: Buffer) => {
        received += chunk.length;
        if (received > this.options.maxMessageBytes + 5) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          failed(GrpcStatus.INTERNAL, "response larger than the limit");
          return;
        }
        chunks.push(chunk);
      });
      stream.on("trailers", (t) => (trailer = t));
      let streamError: Error | undefined;
      stream.on("error", (err) => (streamError = err));
      stream.on("close", () => {
        if (done) return;
        const httpStatus = Number(header[":status"] ?? 0);
        if (httpStatus === 0) {
          // No answer at all. Refused (the server never read it): once more on a fresh session. Anything else may
          // have reached the handler, so it is not sent again.
          if (mayRetry && stream.rstCode === REFUSED) {
            done = true;
            if (timer) clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            this.drop(session);
            return void this.attempt(path, message, headers, deadline, signal, false).then(resolve);
          }
          return failed(GrpcStatus.UNAVAILABLE, `no answer from ${this.authority}: ${streamError?.message ?? `stream closed with code ${stream.rstCode}`}`);
        }
        // A trailers-only answer carries the status in its headers.
        const status = trailer["grpc-status"] ?? header["grpc-status"];
        if (status === undefined) {
          if (httpStatus !== 200) return failed(statusOfHttp(httpStatus), `HTTP status ${httpStatus}`);
          return failed(GrpcStatus.INTERNAL, `the stream ended without a status (code ${stream.rstCode})`);
        }
        const code = Number(status);
        const outcome: UnaryOutcome = { code, details: decodeMessage(trailer["grpc-message"] ?? header["grpc-message"]), header, trailer: trailer["grpc-status"] !== undefined ? trailer : header };
        if (code !== GrpcStatus.OK) return finish(outcome);
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        if (body.length < 5) return finish({ ...outcome, code: GrpcStatus.UNIMPLEMENTED, details: "No message received" });
        const length = body.readUInt32BE(1);
        if (body[0] !== 0) return finish({ ...outcome, code: GrpcStatus.INTERNAL, details: "compressed messages are not accepted" });
        if (body.length !== 5 + length) return finish({ ...outcome, code: body.length > 5 + length ? GrpcStatus.UNIMPLEMENTED : GrpcStatus.INTERNAL, details: body.length > 5 + length ? "Too many responses received" : "truncated message" });
        finish({ ...outcome, message: body.subarray(5) });
      });

      const frame = Buffer.allocUnsafe(5 + message.length);
      frame[0] = 0;
      frame.writeUInt32BE(message.length, 1);
      frame.set(message, 5);
      stream.end(frame);
    });
  }

  /** The session for new calls: the open one, or a new one. */
  private current(): ClientHttp2Session {
    const open = this.session;
    if (open && !open.closed && !open.destroyed) return open;
    const session = http2.connect(this.authority);
    session.on("error", () => this.drop(session));
    // Calls in flight finish on the old session; new ones go to a new session.
    session.on("goaway", () => this.drop(session, false));
    session.on("close", () => this.drop(session, false));
    session.unref();
    this.session = session;
    this.startPinging(session);
    return session;
  }

  private startPinging(session: ClientHttp2Session): void {
    if (this.pinger) clearInterval(this.pinger);
    const { pingIntervalMs, pingTimeoutMs } = this.options;
    this.pinger = setInterval(() => {
      if (session.destroyed || session.connecting) return;
      const timeout = setTimeout(() => this.drop(session), pingTimeoutMs);
      timeout.unref();
      session.ping((err) => {
        clearTimeout(timeout);
        if (err) this.drop(session);
      });
    }, pingIntervalMs);
    this.pinger.unref();
  }

  /** No new calls on `session`; `destroy` also ends those in flight (a dead or broken connection). */
  private drop(session: ClientHttp2Session | undefined, destroy = true): void {
    if (!session) return;
    if (this.session === session) {
      this.session = undefined;
      if (this.pinger) clearInterval(this.pinger);
      this.pinger = undefined;
    }
    if (destroy) session.destroy();
    else if (!session.closed) session.close();
  }
}
