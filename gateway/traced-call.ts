import type { CallOptions } from "@connectrpc/connect";
import { runWithTrace, TRACE_HEADER } from "../services/common/trace.js";

/**
 * An internal call made for a request: under its traceId, which the header carries to the service on any
 * transport (not only ours, which reads the async context) and which this process's log lines of the call carry,
 * within `timeoutMs`. Every contract's routes call the services this way.
 */
export function tracedCall<T>(traceId: string, timeoutMs: number | undefined, call: (options: CallOptions) => T): T {
  return runWithTrace(traceId, () => call({ headers: { [TRACE_HEADER]: traceId }, timeoutMs }));
}
