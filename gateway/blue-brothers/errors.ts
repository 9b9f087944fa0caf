import { Code, ConnectError } from "@connectrpc/connect";
import type { FastifyReply, FastifyRequest } from "fastify";
import { ErrorReason, reasonOf } from "../../services/common/errors.js";
import { CALLBACK_ANSWERS, type CallbackAnswer } from "../../services/voucher/blue-brothers-callback-wire.js";

/** The notice's signature did not verify (absent, wrong, another app, or a timestamp outside the skew). */
export class NoticeSignatureInvalid extends Error {
  override readonly name = "NoticeSignatureInvalid";
}

/** Each business reason the voucher service can raise on a notice, and our answer to Blue Brothers. */
function answerOf(err: unknown): { httpStatus: number; code: CallbackAnswer["code"]; msg: string } {
  if (err instanceof NoticeSignatureInvalid) return CALLBACK_ANSWERS.SIGNATURE_INVALID;
  if (err instanceof ConnectError) {
    switch (reasonOf(err)) {
      case ErrorReason.PARAMETER_INVALID:
        return CALLBACK_ANSWERS.PARAMETER_INVALID;
      case ErrorReason.ORDER_NOT_FOUND:
        return CALLBACK_ANSWERS.VOUCHER_NOT_FOUND;
      case ErrorReason.NOTICE_REPLAYED:
        return CALLBACK_ANSWERS.NOTICE_REPLAYED;
      default:
        return CALLBACK_ANSWERS.SYSTEM_ERROR;
    }
  }
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
    ...(err instanceof ConnectError ? { grpcCode: Code[err.code], reason: ErrorReason[reasonOf(err)] } : { errName: (err as Error).name, errCode: (err as { code?: unknown }).code }),
  };
  if (answer.httpStatus >= 500) request.log.error({ ...fields, err }, "Blue Brothers callback failed");
  else request.log.warn(fields, "Blue Brothers callback rejected");
  return reply.code(answer.httpStatus).send({ code: answer.code, msg: answer.msg, traceId: request.id });
}
