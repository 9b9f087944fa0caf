// The transport every service uses to call another: the Connect protocol (binary protobuf) over one reused
// HTTP/2 session, with the traceId carried along and a deadline on every call. Our servers speak gRPC too, for
// plain gRPC clients; between our own services Connect costs about half the CPU per call of connect-node's gRPC
// transport (measured by the benchmark: bench/README.md).
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { TRACE_HEADER, currentTraceId } from "./trace.js";

export interface RpcTransportOptions {
  /** Deadline of a call that sets none itself. Default 5 s. */
  timeoutMs?: number;
}

export const DEFAULT_RPC_TIMEOUT_MS = 5_000;

/** Passes the current request's traceId on, so the callee's log lines carry it. */
const forwardTrace: Interceptor = (next) => async (req) => {
  const traceId = currentTraceId();
  if (traceId && !req.header.has(TRACE_HEADER)) req.header.set(TRACE_HEADER, traceId);
  return next(req);
};

export function rpcTransport(baseUrl: string, options: RpcTransportOptions = {}): Transport {
  return createConnectTransport({
    baseUrl,
    httpVersion: "2",
    useBinaryFormat: true,
    interceptors: [forwardTrace],
    defaultTimeoutMs: options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS,
    // Notice a dead peer (a pod gone without a FIN) within seconds rather than at the next call's deadline.
    pingIntervalMs: 10_000,
    pingTimeoutMs: 5_000,
    idleConnectionTimeoutMs: 5 * 60_000,
  });
}
