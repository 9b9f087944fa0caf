// Which transport carries the calls between our services: one choice per process (RPC_TRANSPORT, read by
// every role through processSpec), taken by its servers and its clients alike, so both ends of a hop agree when
// every process of the cluster reads the same ConfigMap.
export const RPC_TRANSPORTS = ["grpc-js", "connect-node"] as const;
export type RpcTransportKind = (typeof RPC_TRANSPORTS)[number];

/** The faster of the two on the benchmark's internal hop (bench/README.md, "The internal hop"). */
export const DEFAULT_RPC_TRANSPORT: RpcTransportKind = "grpc-js";

let processTransport: RpcTransportKind = DEFAULT_RPC_TRANSPORT;

/** Set once at process start from RPC_TRANSPORT (cluster.ts, processRuntime). */
export function useRpcTransport(kind: RpcTransportKind): void {
  processTransport = kind;
}

export function defaultRpcTransport(): RpcTransportKind {
  return processTransport;
}
