import { Code, domainErrors } from "../common/errors.js";
import { VoucherError, VoucherErrorSchema } from "../../proto/gen/rights/voucher/v1/errors_pb.js";

export { VoucherError };

/** A voucher service failure, for its callers (the order service) to act on. */
export const voucherError = domainErrors(VoucherErrorSchema, {
  [VoucherError.UNSPECIFIED]: Code.Internal,
  [VoucherError.PARAMETER_INVALID]: Code.InvalidArgument,
  [VoucherError.NOT_FOUND]: Code.NotFound,
  [VoucherError.VOIDED]: Code.FailedPrecondition,
  [VoucherError.REDEEMED]: Code.FailedPrecondition,
  [VoucherError.CHANNEL_FAILED]: Code.Unavailable,
  [VoucherError.CHANNEL_REJECTED]: Code.FailedPrecondition,
  [VoucherError.NOTICE_REPLAYED]: Code.AlreadyExists,
  [VoucherError.DUPLICATE]: Code.AlreadyExists,
  [VoucherError.REFERENCE_INVALID]: Code.FailedPrecondition,
  [VoucherError.ERP_UNAUTHENTICATED]: Code.Unauthenticated,
  [VoucherError.QUOTA_EXCEEDED]: Code.ResourceExhausted,
  [VoucherError.RULE_VERSION_CONFLICT]: Code.Aborted,
});
