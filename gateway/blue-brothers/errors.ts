import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import { errorDetailOf, ReasonAnswers } from "../../services/common/errors.js";
import { VoucherError, VoucherErrorSchema } from "../../proto/gen/rights/voucher/v1/errors_pb.js";
import { CALLBACK_ANSWERS, type CallbackAnswer } from "../../services/voucher/channels/blue-brothers/callback-wire.js";

/** The notice's signature did not verify (absent, wrong, another app, or a timestamp outside the skew). */
export class NoticeSignatureInvalid extends Error {
  override readonly name = "NoticeSignatureInvalid";
}

type Answer = { httpStatus: number; code: CallbackAnswer["code"]; msg: string };

/**
 * Our answer to Blue Brothers for each reason the voucher service can raise on a notice (a Record over its enum,
 * so a new reason does not compile until it is decided here); a system error for any other.
 */
const answerOfReason = new ReasonAnswers<Answer>(CALLBACK_ANSWERS.SYSTEM_ERROR).domain(VoucherErrorSchema, {
  [VoucherError.UNSPECIFIED]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.PARAMETER_INVALID]: CALLBACK_ANSWERS.PARAMETER_INVALID,
  [VoucherError.NOT_FOUND]: CALLBACK_ANSWERS.VOUCHER_NOT_FOUND,
  [VoucherError.NOTICE_REPLAYED]: CALLBACK_ANSWERS.NOTICE_REPLAYED,
  // Not raised on a notice.
  [VoucherError.VOIDED]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.REDEEMED]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.CHANNEL_FAILED]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.CHANNEL_REJECTED]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.QUOTA_EXCEEDED]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.DUPLICATE]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.REFERENCE_INVALID]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.ERP_UNAUTHENTICATED]: CALLBACK_ANSWERS.SYSTEM_ERROR,
  [VoucherError.RULE_VERSION_CONFLICT]: CALLBACK_ANSWERS.SYSTEM_ERROR,
});

function answerOf(err: unknown): Answer {
  if (err instanceof NoticeSignatureInvalid) return CALLBACK_ANSWERS.SIGNATURE_INVALID;
  if (err instanceof ConnectError) return answerOfReason.answer(err);
  const { statusCode } = err as { statusCode?: unknown };
  // Fastify's own rejections (bad JSON, media type, size, validation, unknown path): a parameter error.
  if (typeof statusCode === "number" && statusCode >= 400 && statusCode < 500) {
    return statusCode === 404 ? { ...CALLBACK_ANSWERS.PARAMETER_INVALID, httpStatus: 404 } : CALLBACK_ANSWERS.PARAMETER_INVALID;
  }
  return CALLBACK_ANSWERS.SYSTEM_ERROR;
}

/**
 * The Blue Brothers scope's error handler: answers in Blue Brothers' format and logs under the traceId, codes
 * only (never the body or a parser's message, which may quote it).
 */
export function sendCallbackError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = answerOf(err);
  request.contractCode = Number(answer.code);
  const fields = {
    route: request.routeOptions.url ?? request.url.split("?", 1)[0],
    httpStatus: answer.httpStatus,
    code: answer.code,
    ...(err instanceof ConnectError ? { grpcCode: Code[err.code], ...errorDetailOf(err) } : { errName: (err as Error).name, errCode: (err as { code?: unknown }).code }),
  };
  if (answer.httpStatus >= 500) request.log.error({ ...fields, err }, "Blue Brothers callback failed");
  else request.log.warn(fields, "Blue Brothers callback rejected");
  return reply.code(answer.httpStatus).send({ code: answer.code, msg: answer.msg, traceId: request.id });
}
