import { Code, domainError, type ConnectError, type ErrorDomain } from "../common/errors.js";
import { OrderError, OrderErrorSchema } from "../../proto/gen/rights/order/v1/errors_pb.js";

export { OrderError, OrderErrorSchema };

const ORDER_ERRORS: ErrorDomain<OrderError> = {
  reasons: OrderErrorSchema,
  grpcCode: {
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
  },
};

/** An order service failure, for the public contracts to answer. */
export function orderError(reason: OrderError, message: string): ConnectError {
  return domainError(ORDER_ERRORS, reason, message);
}
