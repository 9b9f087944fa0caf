import { Code, domainError, type ConnectError, type ErrorDomain } from "../common/errors.js";
import { VoucherError, VoucherErrorSchema } from "../../proto/gen/rights/voucher/v1/errors_pb.js";

export { VoucherError };

const VOUCHER_ERRORS: ErrorDomain<VoucherError> = {
  reasons: VoucherErrorSchema,
  grpcCode: {
    [VoucherError.UNSPECIFIED]: Code.Internal,
    [VoucherError.PARAMETER_INVALID]: Code.InvalidArgument,
    [VoucherError.NOT_FOUND]: Code.NotFound,
    [VoucherError.VOIDED]: Code.FailedPrecondition,
    [VoucherError.REDEEMED]: Code.FailedPrecondition,
    [VoucherError.CHANNEL_FAILED]: Code.Unavailable,
    [VoucherError.CHANNEL_REJECTED]: Code.FailedPrecondition,
  },
};

/** A voucher service failure, for its callers (the order service) to act on. */
export function voucherError(reason: VoucherError, message: string): ConnectError {
  return domainError(VOUCHER_ERRORS, reason, message);
}
