import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Metrics } from "./metrics.js";
import { runWithTrace } from "./trace.js";
import {
  postSigned,
  PSBC_WIRE,
  sign,
  SIGNATURE_HEADERS,
  SIGNATURE_MAX_SKEW_MS,
  signatureHeaders,
  UpstreamError,
  verifySignature,
} from "./upstream-wire.js";

const credentials = { appId: "app-1", appSecret: "secret-1" };

describe("sign / verifySignature", () => {
  const parts = { appId: "app-1", timestamp: "1700000000000", nonce: "n-1", body: '{"code":"C1"}' };

  it("is the hex HMAC-SHA256 of appId, timestamp, nonce and body joined by newlines", () => {
    const expected = createHmac("sha256", "secret-1").update('app-1\n1700000000000\nn-1\n{"code":"C1"}').digest("hex");
    expect(sign("secret-1", parts)).toBe(expected);
    expect(sign("secret-1", { ...parts, body: Buffer.from(parts.body) })).toBe(expected);
  });

  it("accepts a signature made with the secret, and refuses any change", () => {
    const now = Number(parts.timestamp);
    const signature = sign("secret-1", parts);
    expect(verifySignature({ ...parts, signature }, credentials, now)).toBe(true);
    expect(verifySignature({ ...parts, signature: signature.toUpperCase() }, credentials, now)).toBe(true);

    expect(verifySignature({ ...parts, signature }, { ...credentials, appSecret: "other" }, now)).toBe(false);
    expect(verifySignature({ ...parts, signature }, { ...credentials, appId: "app-2" }, now)).toBe(false);
    expect(verifySignature({ ...parts, body: '{"code":"C2"}', signature }, credentials, now)).toBe(false);
    expect(verifySignature({ ...parts, nonce: "n-2", signature }, credentials, now)).toBe(false);
    expect(verifySignature({ ...parts, signature: signature.slice(2) }, credentials, now)).toBe(false);
    expect(verifySignature({ ...parts, signature: "zz" + signature.slice(2) }, credentials, now)).toBe(false);
    expect(verifySignature({ ...parts, nonce: undefined, signature }, credentials, now)).toBe(false);
  });

  it("refuses a timestamp beyond the allowed skew, either way", () => {
    const signature = sign("secret-1", parts);
    const ts = Number(parts.timestamp);
    expect(verifySignature({ ...parts, signature }, credentials, ts + SIGNATURE_MAX_SKEW_MS)).toBe(true);
    expect(verifySignature({ ...parts, signature }, credentials, ts + SIGNATURE_MAX_SKEW_MS + 1)).toBe(false);
    expect(verifySignature({ ...parts, signature }, credentials, ts - SIGNATURE_MAX_SKEW_MS - 1)).toBe(false);
  });

  it("signatureHeaders produce headers the receiver verifies, with a fresh nonce each time", () => {
    const body = '{"a":1}';
    const first = signatureHeaders(credentials, body);
    const second = signatureHeaders(credentials, body);
    expect(first[SIGNATURE_HEADERS.nonce]).not.toBe(second[SIGNATURE_HEADERS.nonce]);
    const received = {
      appId: first[SIGNATURE_HEADERS.appId],
      timestamp: first[SIGNATURE_HEADERS.timestamp],
      nonce: first[SIGNATURE_HEADERS.nonce],
      signature: first[SIGNATURE_HEADERS.signature],
      body,
    };
    expect(verifySignature(received, credentials)).toBe(true);
  });
});

describe("postSigned", () => {
  type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;
  let handler: Handler = () => undefined;
  let server: Server;
  let baseUrl: string;
  const target = () => ({ baseUrl, ...credentials, timeoutMs: 500 });
  const book = { orderNo: "O1", code: "C1", type: "310001", mac: "M", channel: "12", tranChnl: "12", instType: "01", provinceInstNo: "1" };

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
      reply(200, JSON.stringify({ respCode: "000000", respMsg: "成功", data: { psbcOrderNo: "P1" } }))(req, body, res);
    };
    const data = await runWithTrace("trace-123", () => postSigned(PSBC_WIRE, { ...target(), baseUrl: `${baseUrl}/` }, "book", book));
    expect(data).toEqual({ psbcOrderNo: "P1" });
    expect(seen).toEqual({ path: PSBC_WIRE.paths.book, verified: true, trace: "trace-123", body: book });
  });

  it("classifies each failure", async () => {
    handler = reply(503, "<html>bad gateway</html>");
    expect(await failure(postSigned(PSBC_WIRE, target(), "book", book))).toEqual({
      kind: "unavailable",
      code: "HTTP_503",
      platform: "psbc",
      operation: "book",
      retryable: true,
    });

    handler = reply(400, JSON.stringify({ respCode: "100002", respMsg: "参数错误" }));
    expect(await failure(postSigned(PSBC_WIRE, target(), "book", book))).toMatchObject({ kind: "rejected", code: "100002" });

    handler = reply(200, "not json");
    expect(await failure(postSigned(PSBC_WIRE, target(), "book", book))).toMatchObject({ kind: "unavailable", code: "INVALID_RESPONSE" });

    handler = reply(200, JSON.stringify({ respCode: "999999", respMsg: "系统繁忙" }));
    expect(await failure(postSigned(PSBC_WIRE, target(), "book", book))).toMatchObject({ kind: "unavailable", code: "999999" });

    handler = reply(200, JSON.stringify({ respCode: "200002", respMsg: "状态不允许" }));
    expect(await failure(postSigned(PSBC_WIRE, target(), "book", book))).toMatchObject({
      kind: "rejected",
      code: "200002",
      retryable: false,
    });
  });

  it("counts each call by outcome and times it when given metrics", async () => {
    const metrics = new Metrics({ processMetrics: false });
    handler = reply(200, JSON.stringify({ respCode: "000000", respMsg: "成功", data: { psbcOrderNo: "P1" } }));
    await postSigned(PSBC_WIRE, { ...target(), metrics }, "book", book);
    handler = reply(200, JSON.stringify({ respCode: "200002", respMsg: "状态不允许" }));
    await postSigned(PSBC_WIRE, { ...target(), metrics }, "book", book).catch(() => undefined);
    const counted = (await metrics.upstreamRequests.get()).values.map(({ labels, value }) => ({ ...labels, value }));
    expect(counted).toEqual([
      { upstream: "psbc", operation: "book", outcome: "ok", value: 1 },
      { upstream: "psbc", operation: "book", outcome: "rejected", value: 1 },
    ]);
    const timed = (await metrics.upstreamSeconds.get()).values.find((v) => v.metricName === "upstream_request_duration_seconds_count");
    expect(timed?.value).toBe(2);
  });

  it("times out after timeoutMs when the server does not answer", async () => {
    handler = () => undefined;
    const started = Date.now();
    expect(await failure(postSigned(PSBC_WIRE, { ...target(), timeoutMs: 200 }, "book", book))).toMatchObject({
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
    expect(await failure(postSigned(PSBC_WIRE, { ...target(), baseUrl: `http://127.0.0.1:${port}` }, "book", book))).toMatchObject({
      kind: "unavailable",
      code: "NETWORK",
    });
  });
});
