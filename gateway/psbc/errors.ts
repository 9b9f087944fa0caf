import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import { OrderError, OrderErrorSchema } from "../../proto/gen/rights/order/v1/errors_pb.js";
import { errorDetailOf, ReasonAnswers, reasonOf } from "../../services/common/errors.js";
import type { Metrics } from "../../services/common/metrics.js";
import type { PsbcRequest } from "./schemas.js";

/** The PSBC operations the gateway serves, by the contract's operationId. */
export type PsbcOperation = "serviceAppointment" | "serviceCancel" | "queryExpiredPoints" | "queryServiceDetail";

declare module "fastify" {
  interface FastifyContextConfig {
    /** Set on PSBC routes, so the error handler answers with that operation's contract messages. */
    psbcOperation?: PsbcOperation;
  }
}

/** What the contract answers for a failure: HTTP status, response code and message. */
export interface ContractAnswer {
  httpStatus: 400 | 404 | 500;
  code: 1 | 2 | 4;
  msg: string;
}

const PARAMETER_ERROR: ContractAnswer = { httpStatus: 400, code: 2, msg: "参数错误" };
const ROUTE_NOT_FOUND: ContractAnswer = { httpStatus: 404, code: 2, msg: "参数错误" };
const SYSTEM_ERROR: ContractAnswer = { httpStatus: 500, code: 1, msg: "系统异常" };

/** The contract's system-error text differs per operation (expired points: its own example's text). */
const systemErrorOf: Record<PsbcOperation, ContractAnswer> = {
  serviceAppointment: SYSTEM_ERROR,
  serviceCancel: SYSTEM_ERROR,
  queryExpiredPoints: { httpStatus: 500, code: 1, msg: "查询失败,请重试" },
  queryServiceDetail: SYSTEM_ERROR,
};

const business = (msg: string): ContractAnswer => ({ httpStatus: 400, code: 4, msg });

/**
 * The contract answer of each business reason of the domains PSBC's calls reach (the order service's), per
 * domain a Record over its enum. "system" defers to the operation's system error, which is also the answer
 * to any other domain's reason: add a `.domain(...)` here only for a domain whose reasons PSBC should tell apart.
 */
const answerOfReason = new ReasonAnswers<ContractAnswer | "system">("system").domain(OrderErrorSchema, {
  [OrderError.UNSPECIFIED]: "system",
  [OrderError.PARAMETER_INVALID]: PARAMETER_ERROR,
  [OrderError.SERVICE_NOT_SUPPORTED]: business("暂不支持此服务"),
  [OrderError.SERVICE_EXPIRED]: business("服务已过期"),
  [OrderError.SERVICE_IN_EFFECT]: business("服务已生效无法取消"),
  [OrderError.SERVICE_CANCELLED]: business("服务已取消"),
  [OrderError.SERVICE_NOT_BOOKED]: business("服务未预约"),
  [OrderError.REQUEST_IN_PROGRESS]: business("请求处理中,请稍后重试"),
  // The contract's orderNotFound example: HTTP 400 with code 1.
  [OrderError.ORDER_NOT_FOUND]: { httpStatus: 400, code: 1, msg: "订单不存在" },
  [OrderError.UPSTREAM_FAILED]: "system",
});

/** An HTTP-level rejection raised by Fastify itself (bad JSON, media type, size, validation, bad URL). */
interface HttpClientError {
  statusCode: number;
  code?: string;
  validation?: ReadonlyArray<{ instancePath?: string; keyword?: string }>;
}

function isHttpClientError(err: unknown): err is HttpClientError {
  if (typeof err !== "object" || err === null || err instanceof ConnectError) return false;
  const { statusCode } = err as { statusCode?: unknown };
  return typeof statusCode === "number" && statusCode >= 400 && statusCode < 500;
}

/**
 * The one mapping from anything thrown while serving a PSBC call to its contract answer. `operation` is
 * undefined when no route matched.
 */
export function toContractAnswer(err: unknown, operation: PsbcOperation | undefined): ContractAnswer {
  if (err instanceof ConnectError) {
    const answer = answerOfReason.answer(err);
    if (answer !== "system") return answer;
  } else if (isHttpClientError(err)) {
    return err.statusCode === 404 ? ROUTE_NOT_FOUND : PARAMETER_ERROR;
  }
  return operation ? systemErrorOf[operation] : SYSTEM_ERROR;
}

/**
 * What to log about a failure: codes and reasons only. Never the error text of a client error (a JSON parse
 * message quotes the body, which holds the encrypted `request`), never the request body.
 */
export function errorLogFields(err: unknown): Record<string, unknown> {
  if (err instanceof ConnectError) {
    return { grpcCode: Code[err.code], ...errorDetailOf(err), grpcMessage: err.rawMessage };
  }
  if (isHttpClientError(err)) {
    return {
      errCode: err.code,
      validation: err.validation?.map((v) => ({ instancePath: v.instancePath, keyword: v.keyword })),
    };
  }
  return { err };
}

/** How the PSBC scope answers a failure; `metrics` counts requests the order service could not decrypt. */
export type PsbcErrorSender = (err: unknown, request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/**
 * The PSBC scope's error handler (also its not-found handler, and Fastify's pre-routing errors under its prefix):
 * answers a failure as the contract says, and logs it under the request's traceId (Fastify's child logger). A
 * request the order service could not decrypt is counted, and logged with the client's address.
 */
export function psbcErrorSender(metrics: Metrics): PsbcErrorSender {
  return (err, request, reply) => {
    const operation = request.routeOptions.config.psbcOperation;
    const answer = toContractAnswer(err, operation);
    request.contractCode = answer.code;
    const route = request.routeOptions.url ?? request.url.split("?", 1)[0];
    const undecryptable = err instanceof ConnectError && reasonOf(err, OrderErrorSchema) === OrderError.PARAMETER_INVALID;
    if (undecryptable) metrics.undecryptableRequests.inc({ route, service_type: (request.body as PsbcRequest).type });
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
  };
}
