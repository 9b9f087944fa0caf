import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import Fastify, { errorCodes, LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { Type } from "typebox";
import { Health, HealthCheckResponse_ServingStatus } from "../proto/gen/grpc/health/v1/health_pb.js";
import type { OrderService } from "../proto/gen/rights/order/v1/order_pb.js";
import type { ReconciliationService } from "../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { DEFAULT_GATEWAY_HTTP } from "../services/common/config.js";
import { withTimeout } from "../services/common/deadline.js";
import type { Logger } from "../services/common/logger.js";
import type { Metrics } from "../services/common/metrics.js";
import { newTraceId } from "../services/common/trace.js";
import { blueBrothersCallbackContract, type BlueBrothersCallbackOptions } from "./blue-brothers/index.js";
import { psbcContract } from "./psbc/index.js";
import { registerPublicContract, type PublicContract } from "./public-contract.js";
import { whaleChannelContract, type WhaleChannelOptions } from "./whale-channel/index.js";
import { whaleErpContract, type WhaleErpOptions } from "./whale-erp/index.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The contract code answered, for the request log line and the metrics; -1 outside every contract. */
    contractCode: number;
  }
}

export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean>;
}

export interface GatewayOptions {
  orderService: Client<typeof OrderService>;
  /** The reconciliation routes' service; deliberately not among the readiness checks, so booking never waits on it. */
  reconciliationService: Client<typeof ReconciliationService>;
  readiness: ReadinessCheck[];
  logger: Logger;
  metrics: Metrics;
  /**
   * On close, /readyz answers 503 at once while requests are still served this long (so load balancers stop
   * sending), then the server stops accepting and waits for the requests in flight. Default 0.
   */
  shutdownDelayMs?: number;
  /** Deadline of each order service call. Unset, the transport's default deadline applies (`rpcTransport` sets one). */
  callTimeoutMs?: number;
  /**
   * Addresses and CIDRs of the proxies in front (the ingress controller): from them, the client's address is the
   * last X-Forwarded-For hop not itself a trusted proxy. Default none: the connection's peer is the client.
   */
  trustedProxies?: string[];
  /** Request, headers and keep-alive timeouts and the body limit; each defaults to DEFAULT_GATEWAY_HTTP's. */
  http?: Partial<GatewayHttpLimits>;
  /** Blue Brothers' redemption callbacks are served when given (the voucher service and the app credentials). */
  blueBrothers?: BlueBrothersCallbackOptions;
  /** The WHALE back office (/whale/erp) is served when given (the voucher service). */
  whaleErp?: WhaleErpOptions;
  /** The sale channels' make-code API (/whale/channel) is served when given (the voucher service). */
  whaleChannel?: WhaleChannelOptions;
}

export type GatewayHttpLimits = { [K in keyof typeof DEFAULT_GATEWAY_HTTP]: number };

const READINESS_TIMEOUT_MS = 1_000;
/** While closing, connections that have become idle are closed this often. */
const IDLE_CLOSE_INTERVAL_MS = 50;

/** A readiness check that asks a gRPC server's standard health service, with a 1 s deadline. */
export function grpcHealthCheck(transport: Transport, service = ""): () => Promise<boolean> {
  const client = createClient(Health, transport);
  return async () => {
    try {
      const res = await client.check({ service }, { timeoutMs: READINESS_TIMEOUT_MS });
      return res.status === HealthCheckResponse_ServingStatus.SERVING;
    } catch {
      return false;
    }
  };
}

/** A check that neither throws nor outlasts the readiness deadline: both count as not ready. */
function checkWithin(check: ReadinessCheck, ms: number): Promise<boolean> {
  const result = Promise.resolve().then(() => check.check());
  return withTimeout(result, ms, `readiness check ${check.name}`).then(
    (ok) => ok === true,
    () => false,
  );
}

const healthResponse = Type.Object({ status: Type.String() });
const readyResponse = Type.Object({ status: Type.String(), failed: Type.Array(Type.String()) });

/** HTTP statuses a malformed or stalled connection is answered with; every other parser error is a 400. */
const CLIENT_ERROR_STATUS: Record<string, 408 | 431> = { ERR_HTTP_REQUEST_TIMEOUT: 408, HPE_HEADER_OVERFLOW: 431 };

/**
 * A request Node's HTTP parser rejected (bad framing, a bad header, headers too large) or timed out: no
 * Fastify request exists, so the contract's parameter error is written to the socket as it is, with a traceId
 * of its own, and the connection closed (its framing can no longer be trusted).
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket, logger: Logger, metrics: Metrics): void {
  // A reset connection has nobody to answer.
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const status = CLIENT_ERROR_STATUS[err.code ?? ""] ?? 400;
  const traceId = newTraceId();
  logger.warn({ traceId, httpStatus: status, code: 2, errCode: err.code }, "request rejected by the HTTP parser");
  metrics.httpRequests.inc({ method: "", route: "unparsed", status_code: String(status), code: "2" });
  // Node's own rule: answer only if nothing of a response was written yet.
  const response = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (socket.writable && !response?.headersSent) {
    const body = JSON.stringify({ code: 2, msg: "参数错误", traceId });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroySoon();
}

/** The contract whose prefix the path is under, if any. */
function contractOf(contracts: readonly PublicContract[], url: string): PublicContract | undefined {
  const path = url.split("?", 1)[0] ?? url;
  return contracts.find((contract) => path === contract.prefix || path.startsWith(`${contract.prefix}/`));
}

/**
 * The answer outside every contract (probes, docs, unknown paths): a plain JSON status and the traceId. Never the
 * error's text, which may quote the request.
 */
function sendPlainError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { statusCode, code } = err as { statusCode?: unknown; code?: unknown };
  const httpStatus = typeof statusCode === "number" && statusCode >= 400 && statusCode < 500 ? statusCode : 500;
  const route = request.routeOptions.url ?? request.url.split("?", 1)[0];
  if (httpStatus >= 500) request.log.error({ route, httpStatus, err }, "request failed");
  else request.log.warn({ route, httpStatus, errCode: code }, "request rejected");
  return reply.code(httpStatus).send({ error: STATUS_CODES[httpStatus], traceId: request.id });
}

/**
 * Fastify's per-request lines (two at info) replaced by one debug line with the contract code; its other lines
 * stay. Request loggers bind the traceId, since Fastify logs outside the request's async context.
 */
class GatewayLogController extends LogController {
  constructor(private readonly debug: boolean) {
    super({ requestIdLogLabel: "traceId" });
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      request.log.warn({ route: request.routeOptions.url, httpStatus: reply.statusCode, err: error }, "response failed");
    } else if (this.debug) {
      request.log.debug(
        { route: request.routeOptions.url, code: request.contractCode, httpStatus: reply.statusCode, ms: reply.elapsedTime },
        "request",
      );
    }
  }
}

/**
 * The public HTTP surface: each public contract in its own scope under its prefix (today PSBC's, each call one
 * order service call), the probes, and app-wide fallbacks that belong to no contract.
 */
export async function buildGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const logger: FastifyBaseLogger = options.logger;
  const contracts = [
    psbcContract({
      orderService: options.orderService,
      reconciliationService: options.reconciliationService,
      callTimeoutMs: options.callTimeoutMs,
      metrics: options.metrics,
    }),
    ...(options.blueBrothers ? [blueBrothersCallbackContract(options.blueBrothers)] : []),
    ...(options.whaleErp ? [whaleErpContract(options.whaleErp)] : []),
    ...(options.whaleChannel ? [whaleChannelContract(options.whaleChannel)] : []),
  ];
  const limits: GatewayHttpLimits = { ...DEFAULT_GATEWAY_HTTP, ...options.http };
  const headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  const app = Fastify({
    loggerInstance: logger,
    // A client that stalls while sending is answered 408 and cut; while we work on a request no socket timeout
    // applies (the order service call's deadline bounds it).
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      headersTimeout: headersTimeoutMs,
      // Node looks for timed-out requests this often (default 30 s, which would let them live that much longer).
      connectionsCheckingInterval: Math.min(1_000, Math.max(10, Math.floor(headersTimeoutMs / 4))),
    },
    clientErrorHandler: (err, socket) => answerClientError(err, socket, options.logger, options.metrics),
    logController: new GatewayLogController(options.logger.isLevelEnabled("debug")),
    // request.ip (the download's wrong-password count, logs) is the caller's, not the ingress controller's.
    trustProxy: options.trustedProxies && options.trustedProxies.length > 0 ? options.trustedProxies : false,
    // We issue every traceId (the contract's traceIds are ours), so a caller's header is not trusted.
    genReqId: () => newTraceId(),
    requestIdHeader: false,
    bodyLimit: limits.bodyLimitBytes,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false } },
    // Requests arriving on open connections while closing are served (the services behind are still up), not
    // answered with Fastify's non-contract 503; each such answer closes its connection instead.
    return503OnClosing: false,
    // Raised before routing (a malformed URL): answered by the contract the path is under, like its other errors.
    frameworkErrors: (err, request, reply) => {
      const contract = contractOf(contracts, request.url);
      if (contract) contract.sendPreRoutingError(err, request, reply);
      else sendPlainError(err, request, reply);
    },
  });

  app.decorateRequest("contractCode", -1);
  app.setErrorHandler(sendPlainError);
  app.setNotFoundHandler((request, reply) => sendPlainError(new errorCodes.FST_ERR_NOT_FOUND(), request, reply));

  let draining = false;
  let closingIdle: NodeJS.Timeout | undefined;
  app.addHook("preClose", async () => {
    draining = true;
    // A response whose headers went out before closing began (a download still streaming) keeps its connection
    // alive once done, and the server's close would wait for it until the keep-alive timeout: close each
    // connection as soon as it is idle.
    closingIdle = setInterval(() => app.server.closeIdleConnections(), IDLE_CLOSE_INTERVAL_MS);
    closingIdle.unref();
    await sleep(options.shutdownDelayMs ?? 0);
  });
  app.addHook("onClose", async () => clearInterval(closingIdle));
  app.addHook("onSend", async (_request, reply) => {
    if (draining) reply.header("connection", "close");
  });
  const { httpRequests, httpSeconds } = options.metrics;
  app.addHook("onResponse", async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? "unmatched", status_code: String(reply.statusCode) };
    httpRequests.inc({ ...labels, code: request.contractCode >= 0 ? String(request.contractCode) : "" });
    httpSeconds.observe(labels, reply.elapsedTime / 1000);
  });

  for (const contract of contracts) await registerPublicContract(app, contract);

  app.get("/healthz", { schema: { response: { 200: healthResponse } } }, async () => ({ status: "ok" }));

  app.get("/readyz", { schema: { response: { 200: readyResponse, 503: readyResponse } } }, async (_request, reply) => {
    if (draining) return reply.code(503).send({ status: "draining", failed: [] });
    const results = await Promise.all(options.readiness.map((check) => checkWithin(check, READINESS_TIMEOUT_MS)));
    const failed = options.readiness.filter((_check, i) => !results[i]).map((check) => check.name);
    reply.code(failed.length === 0 ? 200 : 503);
    return { status: failed.length === 0 ? "ready" : "unavailable", failed };
  });

  await app.ready();
  return app;
}
