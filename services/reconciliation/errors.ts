import { Code, domainErrors } from "../common/errors.js";
import { ReconciliationError, ReconciliationErrorSchema } from "../../proto/gen/rights/reconciliation/v1/errors_pb.js";

export { ReconciliationError, ReconciliationErrorSchema };

/** A reconciliation service failure, for the public contracts to answer. */
export const reconciliationError = domainErrors(ReconciliationErrorSchema, {
  [ReconciliationError.UNSPECIFIED]: Code.Internal,
  [ReconciliationError.PARAMETER_INVALID]: Code.InvalidArgument,
  [ReconciliationError.REQUEST_IN_PROGRESS]: Code.Aborted,
  [ReconciliationError.ACCOUNTING_MONTH_TOO_LATE]: Code.InvalidArgument,
  [ReconciliationError.FILE_INTERFACE_NOT_FOUND]: Code.NotFound,
  [ReconciliationError.DOWNLOAD_PASSWORD_WRONG]: Code.PermissionDenied,
  [ReconciliationError.FILE_NOT_FOUND]: Code.NotFound,
  [ReconciliationError.DOWNLOAD_THROTTLED]: Code.ResourceExhausted,
  [ReconciliationError.REPUSH_SELECTION_INVALID]: Code.InvalidArgument,
  [ReconciliationError.REPUSH_TOO_MANY_CODES]: Code.InvalidArgument,
  [ReconciliationError.REPUSH_TOO_MANY_ORDERS]: Code.FailedPrecondition,
});
