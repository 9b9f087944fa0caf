// The gRPC server every service runs, with health, traceIds, one log line per call, and no internals in error
// messages. The same connect-es routes and interceptors run on one of two transports (RPC_TRANSPORT): grpc-js
// (gRPC only; the default, about half the CPU per call) or connect-node's h2c (gRPC, gRPC-Web and Connect).
import { setMaxListeners } from "node:events";
import http2 from "node:http2";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createMethodImplSpec,
  createServiceImplSpec,
  type ConnectRouter,
  type Interceptor,
  type MethodImplSpec,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Health } from "../../proto/gen/grpc/health/v1/health_pb.js";
import { type HealthStatus, registerHealth } from "./health.js";
import { listen } from "./listen.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { addConnectService, bindGrpcJsServer, createGrpcJsServer } from "./rpc-grpc-js.js";
import { defaultRpcTransport, type RpcTransportKind } from "./rpc-transport-kind.js";
import { TRACE_HEADER, runWithTrace, traceIdOf } from "./trace.js";

export interface RpcServerOptions {
  /** The service name, for log lines. */
  name: string;
  /** Default 0.0.0.0 (every interface, as a container needs). */
  host?: string;
  /** 0 picks a free port (tests); the bound port is returned. */
  port: number;
  routes: (router: ConnectRouter) => void;
  health: HealthStatus;
  logger: Logger;
  metrics: Metrics;
  /** Innermost interceptors, after tracing, logging and error hygiene (a readiness gate). */
  interceptors?: Interceptor[];
  /** How long `close` lets calls in flight finish before cutting them. Default 5 s. */
  shutdownTimeoutMs?: number;
  /** Which server speaks the wire; default the process's RPC_TRANSPORT. */
  transport?: RpcTransportKind;
}

export interface RpcServer {
  port: number;
  close(): Promise<void>;
}

/** Re-wraps a response stream: `step` runs each pull, `end` sees how the stream ended (undefined when it completed). */
async function* wrapStream<M>(
  source: AsyncIterable<M>,
  step: <T>(pull: () => Promise<T>) => Promise<T>,
  end: (err: unknown) => unknown,
): AsyncGenerator<M> {
  const iterator = source[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const result = await step(() => iterator.next());
      if (result.done) break;
      yield result.value;
    }
    finished = true;
    end(undefined);
  } catch (err) {
    finished = true;
    throw end(err) ?? err;
  } finally {
    // The client went away mid-stream: stop the handler's generator too.
    if (!finished) {
      end(new ConnectError("stream closed by the client", Code.Canceled));
      await iterator.return?.();
    }
  }
}

const identity = <T>(pull: () => Promise<T>) => pull();

/** Runs every call inside the caller's traceId (or a new one), and answers with it in the response header. */
function traceInterceptor(): Interceptor {
  return (next) => async (req) => {
    const traceId = traceIdOf(req.header.get(TRACE_HEADER));
    const res = await runWithTrace(traceId, () => next(req));
    res.header.set(TRACE_HEADER, traceId);
    if (!res.stream) return res;
    // A stream's handler runs as the adapter pulls, outside this call: each pull re-enters the trace.
    return { ...res, message: wrapStream(res.message, (pull) => runWithTrace(traceId, pull), () => undefined) };
  };
}

/** The one log line of a call: its method, its final code and how long it took. */
function logCall(logger: Logger, level: "debug" | "info", rpc: string, code: string, seconds: number): void {
  logger[level]({ rpc, code, ms: Math.round(seconds * 1000) }, "rpc");
}

/** One log line and the RPC series per call; health probes log at debug, or they would drown the rest. */
function observeInterceptor(logger: Logger, metrics: Metrics): Interceptor {
  return (next) => async (req) => {
    const started = performance.now();
    const labels = { grpc_service: req.service.typeName, grpc_method: req.method.name, grpc_type: RPC_TYPE[req.method.methodKind] };
    metrics.rpcStarted.inc(labels);
    const rpc = `${labels.grpc_service}/${labels.grpc_method}`;
    const level = req.service.typeName === Health.typeName ? "debug" : "info";
    const observe = (err: unknown) => {
      const seconds = (performance.now() - started) / 1000;
      const code = err === undefined ? "OK" : Code[ConnectError.from(err).code];
      metrics.rpcHandled.inc({ ...labels, grpc_code: code });
      metrics.rpcSeconds.observe(labels, seconds);
      logCall(logger, level, rpc, code, seconds);
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      observe(err);
      throw err;
    }
    if (!res.stream) {
      observe(undefined);
      return res;
    }
    return { ...res, message: wrapStream(res.message, identity, observe) };
  };
}

/** go-grpc-prometheus's grpc_type values. */
const RPC_TYPE: Record<DescMethod["methodKind"], string> = {
  unary: "unary",
  server_streaming: "server_stream",
  client_streaming: "client_stream",
  bidi_streaming: "bidi_stream",
};

/**
 * What a handler's failure is answered with: a ConnectError is the handler's answer; anything else is a bug,
 * logged with its stack and answered "internal error".
 */
export function callFailure(err: unknown, call: { rpc: string; signal: AbortSignal; logger: Logger }): ConnectError {
  if (err instanceof ConnectError) return err;
  // The caller cancelled or its deadline passed: whatever broke in the handler is a consequence.
  if (call.signal.aborted) return ConnectError.from(call.signal.reason, Code.Canceled);
  call.logger.error({ rpc: call.rpc, err }, "unhandled error in rpc handler");
  return new ConnectError("internal error", Code.Internal);
}

/**
 * One call of a batch handled as the interceptors handle a call of its own: under its traceId (a new one unless
 * it is one we take), a bug answered "internal error", and the log line of method `rpc`. (The RPC series count
 * the batch.)
 */
export async function asOwnCall<T>(
  call: { rpc: string; traceId: string; signal: AbortSignal; logger: Logger },
  handle: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: ConnectError }> {
  return runWithTrace(traceIdOf(call.traceId), async () => {
    const started = performance.now();
    const result = await handle().then(
      (value) => ({ ok: true as const, value }),
      (err: unknown) => ({ ok: false as const, error: callFailure(err, call) }),
    );
    logCall(call.logger, "info", call.rpc, result.ok ? "OK" : Code[result.error.code], (performance.now() - started) / 1000);
    return result;
  });
}

function errorInterceptor(logger: Logger): Interceptor {
  return (next) => async (req) => {
    const rpc = `${req.service.typeName}/${req.method.name}`;
    const hygienic = (err: unknown): ConnectError => callFailure(err, { rpc, signal: req.signal, logger });
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw hygienic(err);
    }
    if (!res.stream) return res;
    return { ...res, message: wrapStream(res.message, identity, (err) => (err === undefined ? undefined : hygienic(err))) };
  };
}

export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const { logger, health } = options;
  const shutdown = new AbortController();
  // connect listens on this signal once per call in flight; hundreds at a time are normal under load.
  setMaxListeners(0, shutdown.signal);
  // Unary calls in flight: close waits for them, so a handler never finds its database or Redis closed
  // under it after its client went away. (Streams such as health Watch end with the grace period.)
  let inFlight = 0;
  let drainedNow: (() => void) | undefined;
  const countInFlight: Interceptor = (next) => async (req) => {
    if (req.method.methodKind !== "unary") return next(req);
    inFlight += 1;
    try {
      return await next(req);
    } finally {
      inFlight -= 1;
      if (inFlight === 0) drainedNow?.();
    }
  };
  const drained = (): Promise<void> => (inFlight === 0 ? Promise.resolve() : new Promise((resolve) => (drainedNow = resolve)));
  // The first interceptor is the outermost: trace for every line, then logging and metrics of the final code.
  const interceptors = [countInFlight, traceInterceptor(), observeInterceptor(logger, options.metrics), errorInterceptor(logger), ...(options.interceptors ?? [])];
  const routes = recordRoutes((router) => {
    registerHealth(router, health);
    options.routes(router);
  });
  for (const service of routes.keys()) health.register(service.typeName);
  const serve = (options.transport ?? defaultRpcTransport()) === "grpc-js" ? serveOnGrpcJs : serveOnConnectNode;
  const served = await serve({ ...options, routes, interceptors, shutdown: shutdown.signal });
  logger.debug({ port: served.port }, `${options.name} rpc server listening`);

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    const graceMs = options.shutdownTimeoutMs ?? 5_000;
    // Clients open no new calls here (GOAWAY); those in flight may finish.
    const closed = served.close();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), graceMs);
    });
    const outcome = await Promise.race([Promise.all([closed, drained()]).then(() => "closed" as const), graceOver]);
    clearTimeout(timer);
    if (outcome === "timeout") {
      logger.warn({ inFlight }, "rpc calls still running at shutdown; cutting them");
      shutdown.abort(new ConnectError("server shutting down", Code.Unavailable));
      served.cut();
      await closed;
    }
  };

  const port = served.port;
  return {
    port,
    close: () => (closing ??= close()),
  };
}

/** The implementations of each service the routes register, in connect-es's own spec form. */
type Routes = Map<DescService, MethodImplSpec[]>;

/** Runs `register` on a router that only records what it is given, for either transport to serve. */
function recordRoutes(register: (router: ConnectRouter) => void): Routes {
  const routes: Routes = new Map();
  const add = (spec: MethodImplSpec) => {
    const service = spec.method.parent;
    routes.set(service, [...(routes.get(service) ?? []), spec]);
  };
  const router: ConnectRouter = {
    handlers: [],
    service(service, implementation) {
      for (const spec of Object.values(createServiceImplSpec(service, implementation).methods)) add(spec);
      return router;
    },
    rpc(method, impl) {
      add(createMethodImplSpec(method, impl) as MethodImplSpec);
      return router;
    },
  };
  register(router);
  return routes;
}

interface ServeOptions {
  host?: string;
  port: number;
  routes: Routes;
  interceptors: Interceptor[];
  shutdown: AbortSignal;
  logger: Logger;
}

interface Served {
  port: number;
  /** Stops taking calls and resolves once those in flight are over. */
  close(): Promise<void>;
  /** Ends the calls still in flight (the grace period is over). */
  cut(): void;
}

async function serveOnGrpcJs(options: ServeOptions): Promise<Served> {
  const server = createGrpcJsServer();
  for (const [service, methods] of options.routes) {
    addConnectService(server, service, methods, { interceptors: options.interceptors, shutdownSignal: options.shutdown });
  }
  const port = await bindGrpcJsServer(server, options.host ?? "0.0.0.0", options.port);
  return {
    port,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    cut: () => server.forceShutdown(),
  };
}

async function serveOnConnectNode(options: ServeOptions): Promise<Served> {
  const handler = connectNodeAdapter({
    routes: (router) => {
      for (const methods of options.routes.values()) for (const spec of methods) router.rpc(spec.method, spec.impl);
    },
    interceptors: options.interceptors,
    // Aborted when the grace period of `close` is over, so long streams (health Watch) end too.
    shutdownSignal: options.shutdown,
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.Http2Session>();
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  const port = await listen(server, options.port, options.host ?? "0.0.0.0");
  server.on("error", (err) => options.logger.error({ err }, "rpc server error"));
  return {
    port,
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.close();
      return closed;
    },
    cut: () => {
      for (const session of sessions) session.destroy();
    },
  };
}
