import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import { CodeError, CodeErrorSchema } from "../../proto/gen/rights/voucher/v1/codes_pb.js";
import { errorDetailOf, ReasonAnswers } from "../../services/common/errors.js";
import { toErpAnswer } from "../whale-erp/errors.js";
import { RETURN_CODES, type ChannelFailure } from "./schemas.js";

/** A call whose X-Sale-Channel-Id or X-Signature is missing or malformed: refused before the voucher service is asked. */
export class ChannelAuthenticationFailed extends Error {
  override readonly name = "ChannelAuthenticationFailed";
}

const SYSTEM_ERROR: ChannelFailure = { returnCode: RETURN_CODES.SYSTEM_ERROR, returnMsg: "system error" };
const withMessage = (returnCode: ChannelFailure["returnCode"]) => (err: ConnectError): ChannelFailure => ({ returnCode, returnMsg: err.rawMessage });

/** The answer to each reason of the codes domain; the voucher service writes these messages for the caller. */
const answerOfReason = new ReasonAnswers<(err: ConnectError) => ChannelFailure>(() => SYSTEM_ERROR).domain(CodeErrorSchema, {
  [CodeError.UNSPECIFIED]: () => SYSTEM_ERROR,
  [CodeError.PARAMETER_INVALID]: withMessage(RETURN_CODES.PARAMETER_ERROR),
  [CodeError.DUPLICATE_ORDER]: withMessage(RETURN_CODES.DUPLICATE),
  [CodeError.NOT_AVAILABLE]: withMessage(RETURN_CODES.NOT_AVAILABLE),
  [CodeError.QUOTA_EXCEEDED]: withMessage(RETURN_CODES.QUOTA_EXCEEDED),
  [CodeError.CHANNEL_FAILED]: () => ({ returnCode: RETURN_CODES.SYSTEM_ERROR, returnMsg: "the send channel failed; repeat the same request" }),
  [CodeError.IN_PROGRESS]: () => ({ returnCode: RETURN_CODES.SYSTEM_ERROR, returnMsg: "this order's codes are being made; repeat the same request" }),
  [CodeError.NOT_FOUND]: withMessage(RETURN_CODES.NOT_AVAILABLE),
  [CodeError.SIGNATURE_INVALID]: withMessage(RETURN_CODES.AUTHENTICATION_FAILED),
});

/** The one mapping from anything thrown while serving a make-code to its answer. */
export function toChannelAnswer(err: unknown): ChannelFailure {
  if (err instanceof ChannelAuthenticationFailed) return { returnCode: RETURN_CODES.AUTHENTICATION_FAILED, returnMsg: `authentication failed: ${err.message}` };
  if (err instanceof ConnectError) return answerOfReason.answer(err)(err);
  const { statusCode, code } = (err ?? {}) as { statusCode?: unknown; code?: unknown };
  // Fastify 5's code for a body that is not JSON (the back office's table names an older one).
  if (code === "FST_ERR_CTP_INVALID_JSON_BODY") return { returnCode: RETURN_CODES.PARAMETER_ERROR, returnMsg: "body: is not valid JSON" };
  if (statusCode === 404) return { returnCode: RETURN_CODES.PARAMETER_ERROR, returnMsg: "action: unknown (POST /whale/channel/makeCode)" };
  // Validation and body errors are answered as the back office answers them: 01 naming the field and the rule.
  const answer = toErpAnswer(err);
  return answer.returnCode === RETURN_CODES.PARAMETER_ERROR ? { returnCode: RETURN_CODES.PARAMETER_ERROR, returnMsg: answer.returnMsg } : SYSTEM_ERROR;
}

/**
 * The make-code scope's error handler: HTTP 200 with the envelope; logged under the traceId with codes and
 * reasons only (never the body, which may hold a phone number).
 */
export function sendChannelError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = toChannelAnswer(err);
  request.contractCode = Number(answer.returnCode);
  const fields = {
    route: request.routeOptions.url ?? "unmatched",
    returnCode: answer.returnCode,
    ...(err instanceof ConnectError ? { grpcCode: Code[err.code], ...errorDetailOf(err) } : { returnMsg: answer.returnMsg }),
  };
  if (answer.returnCode === RETURN_CODES.SYSTEM_ERROR) request.log.error(fields, "make-code failed");
  else request.log.warn(fields, "make-code refused");
  return reply.code(200).header("x-trace-id", request.id).send(answer);
}
