import { Code, domainErrors } from "../../common/errors.js";
import { CodeError, CodeErrorSchema } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";

export { CodeError };

/** A code service failure, for its callers (the gateway's make-code route) to answer in their contract. */
export const codeError = domainErrors(CodeErrorSchema, {
  [CodeError.UNSPECIFIED]: Code.Internal,
  [CodeError.PARAMETER_INVALID]: Code.InvalidArgument,
  [CodeError.DUPLICATE_ORDER]: Code.AlreadyExists,
  [CodeError.NOT_AVAILABLE]: Code.FailedPrecondition,
  [CodeError.QUOTA_EXCEEDED]: Code.ResourceExhausted,
  [CodeError.CHANNEL_FAILED]: Code.Unavailable,
  [CodeError.IN_PROGRESS]: Code.Aborted,
  [CodeError.NOT_FOUND]: Code.NotFound,
  [CodeError.SIGNATURE_INVALID]: Code.Unauthenticated,
});
