import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorDetailSchema, ErrorReason } from "../../proto/gen/rights/common/v1/error_pb.js";
import { create } from "@bufbuild/protobuf";

export { Code, ConnectError, ErrorReason };

/** The gRPC code each business reason travels with, so plain gRPC clients see a meaningful status too. */
const codeOfReason: Record<ErrorReason, Code> = {
  [ErrorReason.UNSPECIFIED]: Code.Internal,
  [ErrorReason.PARAMETER_INVALID]: Code.InvalidArgument,
  [ErrorReason.SERVICE_NOT_SUPPORTED]: Code.NotFound,
  [ErrorReason.SERVICE_EXPIRED]: Code.FailedPrecondition,
  [ErrorReason.SERVICE_IN_EFFECT]: Code.FailedPrecondition,
  [ErrorReason.SERVICE_CANCELLED]: Code.FailedPrecondition,
  [ErrorReason.SERVICE_NOT_BOOKED]: Code.FailedPrecondition,
  [ErrorReason.ORDER_NOT_FOUND]: Code.NotFound,
  [ErrorReason.REQUEST_IN_PROGRESS]: Code.Aborted,
  [ErrorReason.UPSTREAM_FAILED]: Code.Unavailable,
  [ErrorReason.UPSTREAM_REJECTED]: Code.FailedPrecondition,
  [ErrorReason.NOTICE_REPLAYED]: Code.AlreadyExists,
};

/** A domain failure with its business reason attached as a typed error detail. */
export function domainError(reason: ErrorReason, message: string): ConnectError {
  return new ConnectError(message, codeOfReason[reason], undefined, [
    { desc: ErrorDetailSchema, value: create(ErrorDetailSchema, { reason }) },
  ]);
}

/** The business reason of an error raised by `domainError`, here or on the other side of a gRPC call. */
export function reasonOf(err: unknown): ErrorReason {
  const connectError = ConnectError.from(err);
  const [detail] = connectError.findDetails(ErrorDetailSchema);
  return detail?.reason ?? ErrorReason.UNSPECIFIED;
}
