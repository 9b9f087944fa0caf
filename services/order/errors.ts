import { Code, domainErrors } from "../common/errors.js";
import { OrderError, OrderErrorSchema } from "../../proto/gen/rights/order/v1/errors_pb.js";

export { OrderError, OrderErrorSchema };

/** An order service failure, for the public contracts to answer. */
export const orderError = domainErrors(OrderErrorSchema, {
  [OrderError.UNSPECIFIED]: Code.Internal,
  [OrderError.PARAMETER_INVALID]: Code.InvalidArgument,
  [OrderError.SERVICE_NOT_SUPPORTED]: Code.NotFound,
  [OrderError.SERVICE_EXPIRED]: Code.FailedPrecondition,
  [OrderError.SERVICE_IN_EFFECT]: Code.FailedPrecondition,
  [OrderError.SERVICE_CANCELLED]: Code.FailedPrecondition,
  [OrderError.SERVICE_NOT_BOOKED]: Code.FailedPrecondition,
  [OrderError.ORDER_NOT_FOUND]: Code.NotFound,
  [OrderError.REQUEST_IN_PROGRESS]: Code.Aborted,
  [OrderError.UPSTREAM_FAILED]: Code.Unavailable,
});
