import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import Fastify, {
  errorCodes,
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { Health, HealthCheckResponse_ServingStatus } from "../proto/gen/grpc/health/v1/health_pb.js";
import type { OrderService } from "../proto/gen/rights/order/v1/order_pb.js";
import { DEFAULT_GATEWAY_HTTP } from "../services/common/config.js";
import { withTimeout } from "../services/common/deadline.js";
import { ErrorReason, reasonOf } from "../services/common/errors.js";
import type { Logger } from "../services/common/logger.js";
import type { Metrics } from "../services/common/metrics.js";
import { newTraceId } from "../services/common/trace.js";
import { errorLogFields, toContractAnswer } from "./contract-errors.js";
import { registerPsbcRoutes } from "./psbc-routes.js";
import { healthResponseSchema, readyResponseSchema, type PsbcRequestBody } from "./psbc-schemas.js";

export interface ReadinessCheck {
  name: string;
  check(): Promise<boolean>;
}

export interface GatewayOptions {
  orderService: Client<typeof OrderService>;
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
  /** Request, headers and keep-alive timeouts and the body limit; each defaults to DEFAULT_GATEWAY_HTTP's. */
  http?: Partial<GatewayHttpLimits>;
}

export type GatewayHttpLimits = { [K in keyof typeof DEFAULT_GATEWAY_HTTP]: number };

const READINESS_TIMEOUT_MS = 1_000;

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

/**
 * Answers a failure as the contract says, and logs it under the request's traceId (Fastify's child logger).
 * A request the order service could not decrypt is counted, and logged with the client's address.
 */
function sendContractError(request: FastifyRequest, reply: FastifyReply, err: unknown, metrics: Metrics): FastifyReply {
  const operation = request.routeOptions.config.psbcOperation;
  const answer = toContractAnswer(err, operation);
  request.psbcCode = answer.code;
  const route = request.routeOptions.url ?? request.url.split("?", 1)[0];
  const undecryptable = err instanceof ConnectError && reasonOf(err) === ErrorReason.PARAMETER_INVALID;
  if (undecryptable) {
    const { type } = request.body as PsbcRequestBody;
    metrics.undecryptableRequests.inc({ route, service_type: type });
  }
  const fields = {
    route,
    operation,
    httpStatus: answer.httpStatus,
    code: answer.code,
    ...(undecryptable ? { undecryptable, clientIp: request.ip } : {}),
    ...errorLogFields(err),
  };
  if (answer.httpStatus >= 500) request.log.error(fields, "request failed");
  else request.log.warn(fields, "request rejected");
  return reply.code(answer.httpStatus).send({ code: answer.code, msg: answer.msg, traceId: request.id });
}

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
        { route: request.routeOptions.url, code: request.psbcCode, httpStatus: reply.statusCode, ms: reply.elapsedTime },
        "request",
      );
    }
  }
}

/** The public HTTP surface: the PSBC contract over Fastify, each call one order service call. */
export async function buildGateway(options: GatewayOptions): Promise<FastifyInstance> {
  const logger: FastifyBaseLogger = options.logger;
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
    // We issue every traceId (the contract's traceIds are ours), so a caller's header is not trusted.
    genReqId: () => newTraceId(),
    requestIdHeader: false,
    bodyLimit: limits.bodyLimitBytes,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, useDefaults: false } },
    // Requests arriving on open connections while closing are served (the services behind are still up), not
    // answered with Fastify's non-contract 503; each such answer closes its connection instead.
    return503OnClosing: false,
    // A malformed URL is a parameter error too, answered by the same mapping.
    frameworkErrors: (err, request, reply) => {
      sendContractError(request, reply, err, options.metrics);
    },
  });

  app.decorateRequest("psbcCode", -1);
  // PSBC sends JSON only; anything else is a 415 that the mapping turns into a parameter error.
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler((err, request, reply) => sendContractError(request, reply, err, options.metrics));
  app.setNotFoundHandler((request, reply) => sendContractError(request, reply, new errorCodes.FST_ERR_NOT_FOUND(), options.metrics));

  let draining = false;
  app.addHook("preClose", async () => {
    draining = true;
    await sleep(options.shutdownDelayMs ?? 0);
  });
  app.addHook("onSend", async (_request, reply) => {
    if (draining) reply.header("connection", "close");
  });
  const { httpRequests, httpSeconds } = options.metrics;
  app.addHook("onResponse", async (request, reply) => {
    const labels = { method: request.method, route: request.routeOptions.url ?? "unmatched", status_code: String(reply.statusCode) };
    httpRequests.inc({ ...labels, code: request.psbcCode >= 0 ? String(request.psbcCode) : "" });
    httpSeconds.observe(labels, reply.elapsedTime / 1000);
  });

  registerPsbcRoutes(app, options.orderService, options.callTimeoutMs);

  app.get("/healthz", { schema: { response: { 200: healthResponseSchema } } }, async () => ({ status: "ok" }));

  app.get("/readyz", { schema: { response: { 200: readyResponseSchema, 503: readyResponseSchema } } }, async (_request, reply) => {
    if (draining) return reply.code(503).send({ status: "draining", failed: [] });
    const results = await Promise.all(options.readiness.map((check) => checkWithin(check, READINESS_TIMEOUT_MS)));
    const failed = options.readiness.filter((_check, i) => !results[i]).map((check) => check.name);
    reply.code(failed.length === 0 ? 200 : 503);
    return { status: failed.length === 0 ? "ready" : "unavailable", failed };
  });

  await app.ready();
  return app;
}
