import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import { CodeError, CodeErrorSchema } from "../../proto/gen/rights/voucher/v1/codes_pb.js";
import { VoucherError, VoucherErrorSchema } from "../../proto/gen/rights/voucher/v1/errors_pb.js";
import { errorDetailOf, ReasonAnswers } from "../../services/common/errors.js";
import { RETURN_CODES, type ReturnCode } from "./schemas.js";

/** A call whose authentication headers are missing or malformed: refused before the voucher service is asked. */
export class ErpAuthenticationFailed extends Error {
  override readonly name = "ErpAuthenticationFailed";
}

export interface ErpAnswer {
  returnCode: Exclude<ReturnCode, "00">;
  returnMsg: string;
}

const SYSTEM_ERROR: ErpAnswer = { returnCode: RETURN_CODES.SYSTEM_ERROR, returnMsg: "system error" };
const withMessage = (returnCode: ErpAnswer["returnCode"], prefix?: string) => (err: ConnectError): ErpAnswer => ({
  returnCode,
  returnMsg: prefix ? `${prefix}: ${err.rawMessage}` : err.rawMessage,
});

type Answering = ((err: ConnectError) => ErpAnswer) | "system";

/**
 * The answer to each reason of the voucher domain. The voucher service writes these messages for the ERP (field
 * names and rules, never a value it was sent), so they are answered as they are; any other failure is a 99.
 */
const answerOfReason = new ReasonAnswers<Answering>("system").domain(VoucherErrorSchema, {
  [VoucherError.UNSPECIFIED]: "system",
  [VoucherError.PARAMETER_INVALID]: withMessage(RETURN_CODES.PARAMETER_ERROR),
  [VoucherError.NOT_FOUND]: withMessage(RETURN_CODES.REFERENCE_INVALID),
  [VoucherError.VOIDED]: "system",
  [VoucherError.REDEEMED]: "system",
  [VoucherError.CHANNEL_FAILED]: "system",
  [VoucherError.CHANNEL_REJECTED]: "system",
  [VoucherError.QUOTA_EXCEEDED]: "system",
  [VoucherError.NOTICE_REPLAYED]: "system",
  [VoucherError.DUPLICATE]: withMessage(RETURN_CODES.DUPLICATE),
  [VoucherError.REFERENCE_INVALID]: withMessage(RETURN_CODES.REFERENCE_INVALID),
  [VoucherError.ERP_UNAUTHENTICATED]: withMessage(RETURN_CODES.AUTHENTICATION_FAILED, "authentication failed"),
  // ruleUpdate's expectedVersion: the rule moved on since the operator read it.
  [VoucherError.RULE_VERSION_CONFLICT]: withMessage(RETURN_CODES.PARAMETER_ERROR, "expectedVersion"),
})
  // The bulk make-code actions' (bulkMakeCode, bulkMakeCodeQuery); the make-code reasons they never raise are a 99.
  .domain(CodeErrorSchema, {
    [CodeError.UNSPECIFIED]: "system",
    [CodeError.PARAMETER_INVALID]: withMessage(RETURN_CODES.PARAMETER_ERROR),
    [CodeError.DUPLICATE_ORDER]: withMessage(RETURN_CODES.DUPLICATE),
    [CodeError.NOT_AVAILABLE]: withMessage(RETURN_CODES.REFERENCE_INVALID),
    [CodeError.NOT_FOUND]: withMessage(RETURN_CODES.REFERENCE_INVALID),
    [CodeError.QUOTA_EXCEEDED]: "system",
    [CodeError.CHANNEL_FAILED]: "system",
    [CodeError.IN_PROGRESS]: "system",
    [CodeError.SIGNATURE_INVALID]: "system",
  });

interface HttpClientError {
  statusCode: number;
  code?: string;
  validation?: ReadonlyArray<ValidationIssue>;
}

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  params?: Record<string, unknown>;
  parentSchema?: { description?: string };
}

function isHttpClientError(err: unknown): err is HttpClientError {
  if (typeof err !== "object" || err === null || err instanceof ConnectError) return false;
  const { statusCode } = err as { statusCode?: unknown };
  return typeof statusCode === "number" && statusCode >= 400 && statusCode < 500;
}

/** `/activityConfig/verifyNotifyURL` → `activityConfig.verifyNotifyURL`. */
function fieldOf(issue: ValidationIssue): string {
  const path = (issue.instancePath ?? "").split("/").filter(Boolean).join(".");
  const missing = issue.params?.missingProperty;
  const extra = issue.params?.additionalProperty;
  const leaf = typeof missing === "string" ? missing : typeof extra === "string" ? extra : undefined;
  return [path, leaf].filter(Boolean).join(".") || "body";
}

/** The field and the rule it broke, from the first schema violation (the value itself is never quoted). */
export function validationMessage(issue: ValidationIssue | undefined): string {
  if (!issue) return "body: does not match the action's schema";
  const field = fieldOf(issue);
  switch (issue.keyword) {
    case "required":
      return `${field}: is required`;
    case "additionalProperties":
      return `${field}: is not a field of this action`;
    case "type":
      return `${field}: must be ${issue.params?.type === "object" ? "an object" : `of type ${String(issue.params?.type)}`}`;
    case "minLength":
      return `${field}: must not be empty`;
    default:
      return `${field}: ${issue.parentSchema?.description ?? `breaks its ${issue.keyword ?? "schema"} rule`}`;
  }
}

const CLIENT_ERROR_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "body: Content-Type must be application/json",
  FST_ERR_CTP_BODY_TOO_LARGE: "body: larger than the gateway accepts",
  FST_ERR_CTP_INVALID_JSON_BODY: "body: is not valid JSON",
  FST_ERR_CTP_EMPTY_JSON_BODY: "body: is empty",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "body: Content-Length does not match the body",
};

/** The one mapping from anything thrown while serving a back-office call to its answer. */
export function toErpAnswer(err: unknown): ErpAnswer {
  if (err instanceof ErpAuthenticationFailed) return { returnCode: RETURN_CODES.AUTHENTICATION_FAILED, returnMsg: `authentication failed: ${err.message}` };
  if (err instanceof ConnectError) {
    const answering = answerOfReason.answer(err);
    return answering === "system" ? SYSTEM_ERROR : answering(err);
  }
  if (isHttpClientError(err)) {
    if (err.validation) return { returnCode: RETURN_CODES.PARAMETER_ERROR, returnMsg: validationMessage(err.validation[0]) };
    if (err.statusCode === 404) {
      return { returnCode: RETURN_CODES.PARAMETER_ERROR, returnMsg: "action: unknown (POST /whale/erp/<action>; the actions are listed at /docs/whale-erp)" };
    }
    if (err.statusCode === 415) return { returnCode: RETURN_CODES.PARAMETER_ERROR, returnMsg: CLIENT_ERROR_MESSAGES.FST_ERR_CTP_INVALID_MEDIA_TYPE! };
    if (err.statusCode === 413) return { returnCode: RETURN_CODES.PARAMETER_ERROR, returnMsg: CLIENT_ERROR_MESSAGES.FST_ERR_CTP_BODY_TOO_LARGE! };
    return { returnCode: RETURN_CODES.PARAMETER_ERROR, returnMsg: CLIENT_ERROR_MESSAGES[err.code ?? ""] ?? "request: malformed" };
  }
  return SYSTEM_ERROR;
}

/**
 * The back-office scope's error handler (also its not-found handler and Fastify's pre-routing errors under its
 * prefix): HTTP 200 with the envelope, as the seed's callers expect; logged under the traceId with codes and
 * reasons only (never the body, nor a parser's message that may quote it).
 */
export function sendErpError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = toErpAnswer(err);
  request.contractCode = Number(answer.returnCode);
  const fields = {
    route: request.routeOptions.url ?? "unmatched",
    returnCode: answer.returnCode,
    ...(err instanceof ConnectError
      ? { grpcCode: Code[err.code], ...errorDetailOf(err), grpcMessage: err.rawMessage }
      : isHttpClientError(err)
        ? { errCode: err.code, returnMsg: answer.returnMsg }
        : err instanceof ErpAuthenticationFailed
          ? { returnMsg: answer.returnMsg }
          : { err }),
  };
  if (answer.returnCode === RETURN_CODES.SYSTEM_ERROR) request.log.error(fields, "back-office call failed");
  else request.log.warn(fields, "back-office call refused");
  return reply.code(200).header("x-trace-id", request.id).send(answer);
}
