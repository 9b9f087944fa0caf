// HTTP-level errors on a listening gateway, sent over raw sockets: malformed framing and headers, oversized
// headers and stalled requests get the contract's parameter-error envelope with a traceId of ours (wherever HTTP
// lets the server answer), are logged under that traceId, reach no order service, and close their connection.
import { connect } from "node:net";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OrderService } from "../proto/gen/rights/order/v1/order_pb.js";
import { ReconciliationService } from "../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { Metrics } from "../services/common/metrics.js";
import { assertContractErrorEnvelope } from "../test/support/psbc-contract.js";
import { buildGateway } from "./app.js";

const APPOINTMENT = "/api/v1/service/appointment";
/** Short, so the stalled cases are quick; the defaults (10 s) are in DEFAULT_GATEWAY_HTTP. */
const REQUEST_TIMEOUT_MS = 400;
const KEEP_ALIVE_TIMEOUT_MS = 300;
const VALID_BODY = JSON.stringify({
  type: "310001",
  request: "c2VjcmV0LWNpcGhlcnRleHQ",
  channel: "12",
  tranChnl: "17",
  backUrl: "https://mobile.psbc.com/back",
  instType: "02",
  provinceInstNo: "100000",
});

let orderCalls = 0;
const transport = createRouterTransport((router) => {
  router.service(OrderService, {
    async bookService() {
      orderCalls++;
      return { orderNo: "O1", url: "https://lsb.example.com/redeem/abc", backUrl: "" };
    },
  });
});

const logLines: Array<Record<string, unknown>> = [];
const logger = pino({ level: "info" }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });

let app: FastifyInstance;
let port = 0;

beforeAll(async () => {
  app = await buildGateway({
    orderService: createClient(OrderService, transport),
    reconciliationService: createClient(ReconciliationService, createRouterTransport(() => {})),
    readiness: [],
    logger,
    metrics: new Metrics({ processMetrics: false }),
    http: { requestTimeoutMs: REQUEST_TIMEOUT_MS, headersTimeoutMs: REQUEST_TIMEOUT_MS, keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS },
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  port = typeof address === "object" && address ? address.port : 0;
});

afterAll(async () => {
  await app?.close();
});

beforeEach(() => {
  orderCalls = 0;
  logLines.length = 0;
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Whether the server closed the connection, and when, from the first byte sent. */
  closedAfterMs: number | undefined;
}

/**
 * Writes `parts` to a new connection (each after the previous one, `pauseMs` apart), then waits for the server
 * to answer and close, at most `waitMs`. Only the first response is parsed.
 */
function rawExchange(parts: Array<string | Buffer>, options: { waitMs?: number; pauseMs?: number } = {}): Promise<RawAnswer> {
  const waitMs = options.waitMs ?? 3_000;
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    let closedAfterMs: number | undefined;
    const started = Date.now();
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString("utf8");
      const headEnd = text.indexOf("\r\n\r\n");
      if (headEnd < 0) return reject(new Error(`no HTTP answer (got ${JSON.stringify(text)})`));
      const [statusLine = "", ...headerLines] = text.slice(0, headEnd).split("\r\n");
      const headers = Object.fromEntries(
        headerLines.map((line) => [line.slice(0, line.indexOf(":")).trim().toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
      );
      const length = Number(headers["content-length"] ?? 0);
      const body = Buffer.from(text.slice(headEnd + 4), "utf8").subarray(0, length).toString("utf8");
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body, closedAfterMs });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("close", () => {
      closedAfterMs = Date.now() - started;
      finish();
    });
    socket.on("error", () => undefined);
    socket.on("connect", async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
        if (!socket.destroyed) socket.write(part);
      }
    });
  });
}

/** The answer is the contract's parameter error with a fresh 32-hex traceId, logged under it, and nothing called. */
function expectParameterError(answer: RawAnswer, httpStatus: number): void {
  expect(answer.status).toBe(httpStatus);
  expect(answer.headers["content-type"]).toMatch(/^application\/json/);
  expect(answer.headers.connection).toBe("close");
  const body = JSON.parse(answer.body) as { code: number; msg: string; traceId: string };
  expect(body).toMatchObject({ code: 2, msg: "参数错误" });
  expect(body.traceId).toMatch(/^[0-9a-f]{32}$/);
  assertContractErrorEnvelope(400, body);
  expect(logLines.some((line) => line.traceId === body.traceId && line.level === 40)).toBe(true);
  expect(orderCalls).toBe(0);
}

const head = (lines: string[]) => `${lines.join("\r\n")}\r\n\r\n`;

describe("malformed requests get the contract envelope", () => {
  it("two different Content-Length headers: 400, connection closed", async () => {
    const answer = await rawExchange([
      head([`POST ${APPOINTMENT} HTTP/1.1`, "Host: x", "Content-Type: application/json", "Content-Length: 10", "Content-Length: 20"]) +
        VALID_BODY,
    ]);
    expectParameterError(answer, 400);
    expect(answer.closedAfterMs).toBeDefined();
  });

  it("a bad chunk in a chunked body: 400", async () => {
    const answer = await rawExchange([
      head([`POST ${APPOINTMENT} HTTP/1.1`, "Host: x", "Content-Type: application/json", "Transfer-Encoding: chunked"]) + "zz\r\n{}\r\n0\r\n\r\n",
    ]);
    expectParameterError(answer, 400);
  });

  it("a bare CR inside any header value: 400", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.stringMatching(/^[!-~]{0,20}$/),
        fc.stringMatching(/^[!-~]{1,20}$/),
        async (before, after) => {
          logLines.length = 0;
          const answer = await rawExchange([head([`POST ${APPOINTMENT} HTTP/1.1`, "Host: x", `X-Note: ${before}\r${after}`, "Content-Length: 0"])]);
          expectParameterError(answer, 400);
        },
      ),
      { numRuns: 15 },
    );
  });

  it("a 20 KB header: 431", async () => {
    const answer = await rawExchange([head([`POST ${APPOINTMENT} HTTP/1.1`, "Host: x", `X-Big: ${"a".repeat(20 * 1024)}`, "Content-Length: 0"])]);
    expectParameterError(answer, 431);
  });
});

describe("stalled requests are answered 408 and closed within the request timeout", () => {
  it("headers never finished", async () => {
    const answer = await rawExchange([`POST ${APPOINTMENT} HTTP/1.1\r\nHost: x\r\n`]);
    expectParameterError(answer, 408);
    expect(answer.closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 500);
  });

  it("a body shorter than its Content-Length", async () => {
    const answer = await rawExchange([
      head([`POST ${APPOINTMENT} HTTP/1.1`, "Host: x", "Content-Type: application/json", `Content-Length: ${VALID_BODY.length}`]) + VALID_BODY.slice(0, 10),
    ]);
    expectParameterError(answer, 408);
    expect(answer.closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 500);
  });

  it("a body trickled a byte at a time past the timeout", async () => {
    const bytes = [...VALID_BODY.slice(0, 8)];
    const answer = await rawExchange(
      [head([`POST ${APPOINTMENT} HTTP/1.1`, "Host: x", "Content-Type: application/json", `Content-Length: ${VALID_BODY.length}`]), ...bytes],
      { pauseMs: 100 },
    );
    expectParameterError(answer, 408);
  });
});

describe("Fastify's own rejections get the contract envelope too", () => {
  const post = (contentType: string, body: string) =>
    rawExchange([head([`POST ${APPOINTMENT} HTTP/1.1`, "Host: x", `Content-Type: ${contentType}`, `Content-Length: ${Buffer.byteLength(body)}`, "Connection: close"]) + body]);

  it("a body over the limit: 400 parameter error", async () => {
    const body = JSON.stringify({ request: "x".repeat(17 * 1024) });
    const answer = await post("application/json", body);
    expect({ status: answer.status, body: JSON.parse(answer.body) }).toMatchObject({ status: 400, body: { code: 2, msg: "参数错误" } });
  });

  it("an unsupported media type: 400 parameter error", async () => {
    const answer = await post("text/plain", "hello");
    expect({ status: answer.status, body: JSON.parse(answer.body) }).toMatchObject({ status: 400, body: { code: 2, msg: "参数错误" } });
  });

  it("JSON that does not parse: 400 parameter error", async () => {
    const answer = await post("application/json", "{\"type\":");
    expect({ status: answer.status, body: JSON.parse(answer.body) }).toMatchObject({ status: 400, body: { code: 2, msg: "参数错误" } });
    expect(orderCalls).toBe(0);
  });
});

describe("connections", () => {
  it("a well-formed request is served, and its idle keep-alive connection closed after the keep-alive timeout", async () => {
    const answer = await rawExchange(
      [head([`POST ${APPOINTMENT} HTTP/1.1`, "Host: x", "Content-Type: application/json", `Content-Length: ${VALID_BODY.length}`]) + VALID_BODY],
      { waitMs: 3_000 },
    );
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 0 });
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT_MS);
    expect(answer.closedAfterMs).toBeLessThan(KEEP_ALIVE_TIMEOUT_MS + 1_500);
  });
});
