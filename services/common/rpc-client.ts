// The transport every service uses to call another, with the traceId carried along and a deadline on every
// call: grpc-js (gRPC over one channel per peer; the default) or connect-node (the Connect protocol, binary
// protobuf, over one reused HTTP/2 session), as the process's RPC_TRANSPORT says. Callers get the same
// connect-es Transport either way, so `createClient(Service, transport)` and ConnectError handling are unchanged.
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { grpcJsTransport } from "./rpc-grpc-js.js";
import { defaultRpcTransport, type RpcTransportKind } from "./rpc-transport-kind.js";
import { TRACE_HEADER, currentTraceId } from "./trace.js";

export interface RpcTransportOptions {
  /** Deadline of a call that sets none itself. Default 5 s. */
  timeoutMs?: number;
  /** Default: the process's RPC_TRANSPORT. */
  transport?: RpcTransportKind;
}

export const DEFAULT_RPC_TIMEOUT_MS = 5_000;

/** Notice a dead peer (a pod gone without a FIN) within seconds rather than at the next call's deadline. */
const PING_INTERVAL_MS = 10_000;
const PING_TIMEOUT_MS = 5_000;
const IDLE_TIMEOUT_MS = 5 * 60_000;

/** Passes the current request's traceId on, so the callee's log lines carry it. */
const forwardTrace: Interceptor = (next) => async (req) => {
  const traceId = currentTraceId();
  if (traceId && !req.header.has(TRACE_HEADER)) req.header.set(TRACE_HEADER, traceId);
  return next(req);
};

function traceHeader(): Record<string, string> | undefined {
  const traceId = currentTraceId();
  return traceId ? { [TRACE_HEADER]: traceId } : undefined;
}

export function rpcTransport(baseUrl: string, options: RpcTransportOptions = {}): Transport {
  const timeoutMs = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
  if ((options.transport ?? defaultRpcTransport()) === "grpc-js") {
    return grpcJsTransport(
      baseUrl,
      { defaultTimeoutMs: timeoutMs, header: traceHeader },
      {
        "grpc.keepalive_time_ms": PING_INTERVAL_MS,
        "grpc.keepalive_timeout_ms": PING_TIMEOUT_MS,
        "grpc.client_idle_timeout_ms": IDLE_TIMEOUT_MS,
      },
    );
  }
  return createConnectTransport({
    baseUrl,
    httpVersion: "2",
    useBinaryFormat: true,
    interceptors: [forwardTrace],
    defaultTimeoutMs: timeoutMs,
    pingIntervalMs: PING_INTERVAL_MS,
    pingTimeoutMs: PING_TIMEOUT_MS,
    idleConnectionTimeoutMs: IDLE_TIMEOUT_MS,
  });
}
