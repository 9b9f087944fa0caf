import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metrics } from "./metrics.js";
import { SIGNATURE_HEADERS, verifySignature } from "./signing.js";
import { runWithTrace } from "./trace.js";
import { isRecord, postSigned, UpstreamError, type PlatformWire } from "./upstream-http.js";

const credentials = { appId: "app-1", appSecret: "secret-1" };

const book = { orderNo: "O1", code: "C1" };

/** A platform of this test's own, shaped like the real ones: an envelope with a code, "0" success, "9" busy. */
const EXAMPLE_WIRE: PlatformWire<{ book: { request: typeof book; response: { bookingNo: string } } }> = {
  name: "example",
  paths: { book: "/api/book" },
  outcome: (body) =>
    isRecord(body) && typeof body.code === "string" ? { code: body.code, message: String(body.message ?? ""), data: body.data } : undefined,
  isSuccess: (code) => code === "0",
  isRetryable: (code) => code === "9",
};

describe("postSigned", () => {
  type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
  let handler: Handler = () => undefined;
  let server: Server;
  let baseUrl: string;
  const target = () => ({ baseUrl, ...credentials, timeoutMs: 500 });

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => handler(req, body, res));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const reply = (status: number, body: string) => (_req: IncomingMessage, _body: string, res: ServerResponse) => {
    res.writeHead(status, { "content-type": "application/json" }).end(body);
  };
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error("expected an UpstreamError");
      },
      (err: unknown) => {
        expect(err).toBeInstanceOf(UpstreamError);
        const { kind, code, platform, operation, retryable } = err as UpstreamError;
        return { kind, code, platform, operation, retryable };
      },
    );

  it("posts signed JSON to base URL + path, with the traceId, and answers the envelope's data", async () => {
    let seen: { path?: string; verified?: boolean; trace?: string | string[]; body?: unknown } = {};
    handler = (req, body, res) => {
      seen = {
        path: req.url,
        verified: verifySignature(
          {
            appId: req.headers[SIGNATURE_HEADERS.appId] as string,
            timestamp: req.headers[SIGNATURE_HEADERS.timestamp] as string,
            nonce: req.headers[SIGNATURE_HEADERS.nonce] as string,
            signature: req.headers[SIGNATURE_HEADERS.signature] as string,
            body,
          },
          credentials,
        ),
        trace: req.headers["x-trace-id"],
        body: JSON.parse(body),
      };
      reply(200, JSON.stringify({ code: "0", message: "ok", data: { bookingNo: "B1" } }))(req, body, res);
    };
    const data = await runWithTrace("trace-123", () => postSigned(EXAMPLE_WIRE, { ...target(), baseUrl: `${baseUrl}/` }, "book", book));
    expect(data).toEqual({ bookingNo: "B1" });
    expect(seen).toEqual({ path: EXAMPLE_WIRE.paths.book, verified: true, trace: "trace-123", body: book });
  });

  it("classifies each failure", async () => {
    handler = reply(503, "<html>bad gateway</html>");
    expect(await failure(postSigned(EXAMPLE_WIRE, target(), "book", book))).toEqual({
      kind: "unavailable",
      code: "HTTP_503",
      platform: "example",
      operation: "book",
      retryable: true,
    });

    handler = reply(400, JSON.stringify({ code: "2", message: "bad parameter" }));
    expect(await failure(postSigned(EXAMPLE_WIRE, target(), "book", book))).toMatchObject({ kind: "rejected", code: "2" });

    handler = reply(200, "not json");
    expect(await failure(postSigned(EXAMPLE_WIRE, target(), "book", book))).toMatchObject({ kind: "unavailable", code: "INVALID_RESPONSE" });

    handler = reply(200, JSON.stringify({ code: "9", message: "busy" }));
    expect(await failure(postSigned(EXAMPLE_WIRE, target(), "book", book))).toMatchObject({ kind: "unavailable", code: "9" });

    handler = reply(200, JSON.stringify({ code: "4", message: "state forbids it" }));
    expect(await failure(postSigned(EXAMPLE_WIRE, target(), "book", book))).toMatchObject({
      kind: "rejected",
      code: "4",
      retryable: false,
    });
  });

  it("counts each call by outcome and times it when given metrics", async () => {
    const metrics = new Metrics({ processMetrics: false });
    handler = reply(200, JSON.stringify({ code: "0", message: "ok", data: { bookingNo: "B1" } }));
    await postSigned(EXAMPLE_WIRE, { ...target(), metrics }, "book", book);
    handler = reply(200, JSON.stringify({ code: "4", message: "state forbids it" }));
    await postSigned(EXAMPLE_WIRE, { ...target(), metrics }, "book", book).catch(() => undefined);
    const counted = (await metrics.upstreamRequests.get()).values.map(({ labels, value }) => ({ ...labels, value }));
    expect(counted).toEqual([
      { upstream: "example", operation: "book", outcome: "ok", value: 1 },
      { upstream: "example", operation: "book", outcome: "rejected", value: 1 },
    ]);
    const timed = (await metrics.upstreamSeconds.get()).values.find((v) => v.metricName === "upstream_request_duration_seconds_count");
    expect(timed?.value).toBe(2);
  });

  it("times out after timeoutMs when the server does not answer", async () => {
    handler = () => undefined;
    const started = Date.now();
    expect(await failure(postSigned(EXAMPLE_WIRE, { ...target(), timeoutMs: 200 }, "book", book))).toMatchObject({
      kind: "timeout",
      code: "TIMEOUT",
    });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("answers unavailable when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await failure(postSigned(EXAMPLE_WIRE, { ...target(), baseUrl: `http://127.0.0.1:${port}` }, "book", book))).toMatchObject({
      kind: "unavailable",
      code: "NETWORK",
    });
  });
});
