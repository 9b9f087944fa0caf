// The internal hop on @grpc/grpc-js under the connect-es shapes: a service stays a plain `ServiceImpl` behind
// connect-es interceptors, and a caller keeps its typed `Client<typeof Service>` and `ConnectError`s, while the
// wire and its per-call cost are grpc-js's (about half connect-node's CPU per call: bench/README.md).
//
// What crosses the wire is plain gRPC: methods at `/<package.Service>/<Method>`, protobuf-es binary messages,
// the deadline as grpc-timeout, headers as metadata (`-bin` keys Base64 in connect-es's Headers, bytes on the
// wire), and errors as grpc-status, grpc-message and a google.rpc.Status in grpc-status-details-bin, encoded
// and decoded by connect-es's own gRPC protocol functions, so error details (ErrorDetail) arrive as they left.
// The connect-es functions used here (`/protocol`, `/protocol-grpc`) are its internals, hence its exact pin.
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, isMessage, toBinary, type DescMessage, type DescMethod, type DescMethodStreaming, type DescMethodUnary, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamResponse,
  type Transport,
  type UnaryResponse,
} from "@connectrpc/connect";
import { createAsyncIterable, invokeUnaryImplementation, transformInvokeImplementation } from "@connectrpc/connect/protocol";
import { findTrailerError, headerGrpcMessage, headerGrpcStatus, headerStatusDetailsBin, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";

type HeadersInit = ConstructorParameters<typeof Headers>[0];

/** The largest message either side takes: connect-es's default read limit is unbounded; grpc-js's would be 4 MiB. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

function serializer<D extends DescMessage>(desc: D): (message: MessageShape<D>) => Buffer {
  return (message) => {
    const bytes = toBinary(desc, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<D extends DescMessage>(desc: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(desc, bytes);
}

/** Metadata as connect-es headers: binary values Base64, as connect-es carries `-bin` headers. */
function headerEntries(metadata: grpc.Metadata): [string, string][] {
  const entries: [string, string][] = [];
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    for (const value of values) entries.push([key, typeof value === "string" ? value : value.toString("base64")]);
  }
  return entries;
}

/** Headers as metadata, leaving out what gRPC itself writes (the status, content type and framing). */
function metadataOf(headers: HeadersInit | undefined, into = new grpc.Metadata()): grpc.Metadata {
  const add = (value: string, key: string) => {
    if (key.startsWith("grpc-") || key === "content-type" || key === "te") return;
    if (key.endsWith("-bin")) into.add(key, Buffer.from(value, "base64"));
    else into.add(key, value);
  };
  // A caller's plain record (the gateway's traceId) is read as it is: a Headers object per call was ~2 % of the
  // gateway's time on a detail request. grpc-js's Metadata checks names and values itself.
  if (headers === undefined) return into;
  if (headers instanceof Headers) headers.forEach(add);
  else if (Array.isArray(headers)) for (const [key = "", value = ""] of headers) add(value, key.toLowerCase());
  else for (const key of Object.keys(headers)) add((headers as Record<string, string>)[key]!, key.toLowerCase());
  return into;
}

/** A handler's failure as a gRPC status: its code and message, its details and metadata in the trailers. */
function statusOf(err: unknown): Partial<grpc.StatusObject> {
  const error = err instanceof ConnectError ? err : new ConnectError("internal error", Code.Internal);
  const trailer = setTrailerStatus(new Headers(), error);
  const metadata = metadataOf(error.metadata);
  const details = trailer.get(headerStatusDetailsBin);
  if (details !== null) metadata.set(headerStatusDetailsBin, Buffer.from(details, "base64"));
  return { code: error.code as number as grpc.status, details: error.rawMessage, metadata };
}

/** A grpc-js call's failure as the ConnectError connect-es's gRPC transport would raise. */
function connectErrorOf(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const status = err as Partial<grpc.StatusObject>;
  if (typeof status?.code !== "number") return ConnectError.from(err);
  const trailer = new Headers(status.metadata ? headerEntries(status.metadata) : undefined);
  trailer.set(headerGrpcStatus, String(status.code));
  trailer.set(headerGrpcMessage, encodeURIComponent(status.details ?? ""));
  return findTrailerError(trailer) ?? new ConnectError(status.details ?? "", Code.Unknown);
}

// ---- the server side ----------------------------------------------------------------------------------------

export interface GrpcJsServeOptions {
  /** Outermost first, as connect-es applies them. */
  interceptors: Interceptor[];
  /** Aborted when the server's grace period is over: long streams end. */
  shutdownSignal: AbortSignal;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;

/** The calls in flight under one shutdown signal: aborted together when it fires, with no listener per call. */
const callsOf = new WeakMap<AbortSignal, Set<AbortController>>();

function liveCalls(shutdownSignal: AbortSignal): Set<AbortController> {
  let calls = callsOf.get(shutdownSignal);
  if (!calls) {
    const live = new Set<AbortController>();
    shutdownSignal.addEventListener("abort", () => {
      for (const call of live) call.abort(shutdownSignal.reason);
    }, { once: true });
    callsOf.set(shutdownSignal, live);
    calls = live;
  }
  return calls;
}

type CallContext = HandlerContext & { abort(reason?: unknown): void };

/**
 * The connect-es handler context of a grpc-js call, made with one AbortController and nothing else per call
 * (connect's createHandlerContext links three signals and a timer: about a tenth of the hop's CPU): grpc-js enforces
 * the deadline itself and reports it, like a client's cancel, as the call's 'cancelled' event. `abort()` ends
 * the context once the call is answered.
 */
function contextOf(call: AnyCall, method: DescMethod, shutdownSignal: AbortSignal): CallContext {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  const controller = new AbortController();
  const live = liveCalls(shutdownSignal);
  live.add(controller);
  let answered = false;
  // grpc-js also emits 'cancelled' once a call it answered is over: only one still running is aborted.
  (call as NodeJS.EventEmitter).once("cancelled", () => {
    if (answered) return;
    const expired = Number.isFinite(at) && Date.now() >= at;
    controller.abort(expired ? new ConnectError("the deadline passed", Code.DeadlineExceeded) : new ConnectError("the client cancelled the call", Code.Canceled));
  });
  return {
    service: method.parent,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: call.getPath(),
    signal: controller.signal,
    timeoutMs: () => (Number.isFinite(at) ? at - Date.now() : undefined),
    requestHeader: new Headers(headerEntries(call.metadata)),
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    values: createContextValues(),
    abort(reason?: unknown) {
      answered = true;
      live.delete(controller);
      if (reason !== undefined && !controller.signal.aborted) controller.abort(reason);
    },
  };
}

/** Writes a handler's messages with backpressure, then the status; the response headers go before the first. */
async function writeAll(
  call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
  output: AsyncIterable<unknown>,
  context: HandlerContext,
): Promise<void> {
  let headersSent = false;
  const sendHeaders = () => {
    if (!headersSent) call.sendMetadata(metadataOf(context.responseHeader));
    headersSent = true;
  };
  for await (const message of output) {
    sendHeaders();
    if (!call.write(message)) await new Promise((resolve) => call.once("drain", resolve));
    if (call.cancelled) return;
  }
  sendHeaders();
  call.end(metadataOf(context.responseTrailer));
}

/** Sends a single-message answer (or the failure) with the handler's headers and trailers. */
function answerOnce(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerReadableStream<unknown, unknown>,
  callback: grpc.sendUnaryData<unknown>,
  context: CallContext,
  answer: Promise<unknown>,
): void {
  answer.then(
    (message) => {
      context.abort();
      call.sendMetadata(metadataOf(context.responseHeader));
      callback(null, message, metadataOf(context.responseTrailer));
    },
    (err: unknown) => {
      context.abort(err);
      callback(statusOf(err));
    },
  );
}

/** The grpc-js handler of one method: the connect-es implementation behind the interceptors. */
function handlerOf(spec: MethodImplSpec, options: GrpcJsServeOptions): grpc.UntypedHandleCall {
  const { method } = spec;
  const { interceptors, shutdownSignal } = options;
  switch (spec.kind) {
    case "unary":
      return (call: grpc.ServerUnaryCall<MessageShape<DescMessage>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const context = contextOf(call, method, shutdownSignal);
        answerOnce(call, callback, context, invokeUnaryImplementation(spec, context, call.request, interceptors));
      };
    case "server_streaming":
      return (call: grpc.ServerWritableStream<MessageShape<DescMessage>, unknown>) => {
        const context = contextOf(call, method, shutdownSignal);
        const output = transformInvokeImplementation(spec, context, interceptors)(createAsyncIterable([call.request]));
        writeAll(call, output, context).then(
          () => context.abort(),
          (err: unknown) => {
            context.abort(err);
            call.emit("error", statusOf(err));
          },
        );
      };
    case "client_streaming":
      return (call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const context = contextOf(call, method, shutdownSignal);
        const output = transformInvokeImplementation(spec, context, interceptors)(call as AsyncIterable<MessageShape<DescMessage>>);
        const answer = (async () => {
          let last: unknown;
          for await (const message of output) last = message;
          return last;
        })();
        answerOnce(call, callback, context, answer);
      };
    case "bidi_streaming":
      return (call: grpc.ServerDuplexStream<unknown, unknown>) => {
        const context = contextOf(call, method, shutdownSignal);
        const output = transformInvokeImplementation(spec, context, interceptors)(call as AsyncIterable<MessageShape<DescMessage>>);
        writeAll(call, output, context).then(
          () => context.abort(),
          (err: unknown) => {
            context.abort(err);
            call.emit("error", statusOf(err));
          },
        );
      };
  }
}

/** The grpc-js service definition of a connect-es service: its paths, streaming kinds and protobuf-es codecs. */
export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    } as grpc.MethodDefinition<unknown, unknown>;
  }
  return definition;
}

/** Registers the methods of `specs` (connect-es implementations, one service each) on a grpc-js server. */
export function addConnectService(server: grpc.Server, service: DescService, methods: MethodImplSpec[], options: GrpcJsServeOptions): void {
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const spec of methods) implementation[spec.method.localName] = handlerOf(spec, options);
  server.addService(grpcServiceDefinition(service), implementation);
}

/** A grpc-js server with our limits, not yet bound. */
export function createGrpcJsServer(): grpc.Server {
  return new grpc.Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
}

/** Binds `host:port` (0: a free port) and returns the port bound. */
export function bindGrpcJsServer(server: grpc.Server, host: string, port: number): Promise<number> {
  const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}

// ---- the client side ----------------------------------------------------------------------------------------

export interface GrpcJsTransportOptions {
  /** Deadline of a call that sets none itself. */
  defaultTimeoutMs: number;
  /** Headers every call sends (the traceId), computed per call. */
  header?: () => Record<string, string> | undefined;
}

/** `http://host:port` → `host:port` and the credentials for its scheme. */
function targetOf(baseUrl: string): { target: string; credentials: grpc.ChannelCredentials } {
  const url = new URL(baseUrl);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  const credentials = url.protocol === "https:" ? grpc.credentials.createSsl() : grpc.credentials.createInsecure();
  return { target: `${url.hostname}:${port}`, credentials };
}

function requestMetadata(header: HeadersInit | undefined, extra: Record<string, string> | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (extra) for (const key in extra) metadata.set(key, extra[key]!);
  metadataOf(header, metadata);
  return metadata;
}

/** Cancels `call` when `signal` aborts; returns the function that stops listening. */
function cancelOn(signal: AbortSignal | undefined, call: grpc.Call): () => void {
  if (!signal) return () => undefined;
  if (signal.aborted) {
    call.cancel();
    return () => undefined;
  }
  const cancel = () => call.cancel();
  signal.addEventListener("abort", cancel, { once: true });
  return () => signal.removeEventListener("abort", cancel);
}

/** Response headers and trailers, turned into Headers only if someone reads them (most callers never do). */
function lazyHeaders(source: () => grpc.Metadata | undefined): () => Headers {
  let headers: Headers | undefined;
  return () => (headers ??= new Headers(headerEntries(source() ?? new grpc.Metadata())));
}

/**
 * A connect-es Transport over one grpc-js channel to `baseUrl`: `createClient(Service, transport)` gives the
 * usual typed client, its failures ConnectErrors with the server's code, message and details.
 */
export function grpcJsTransport(baseUrl: string, options: GrpcJsTransportOptions, channelOptions: grpc.ChannelOptions = {}): Transport {
  const { target, credentials } = targetOf(baseUrl);
  const client = new grpc.Client(target, credentials, {
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
    ...channelOptions,
  });
  const path = (method: DescMethod) => `/${method.parent.typeName}/${method.name}`;
  const deadlineOf = (timeoutMs: number | undefined) => {
    const ms = timeoutMs ?? options.defaultTimeoutMs;
    return ms > 0 ? Date.now() + ms : Infinity;
  };
  return {
    unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
    ): Promise<UnaryResponse<I, O>> {
      const message = isMessage(input, method.input) ? input : create(method.input, input);
      return new Promise((resolve, reject) => {
        let responseHeader: grpc.Metadata | undefined;
        let outcome: { value: MessageShape<O> } | { error: unknown } | undefined;
        const call = client.makeUnaryRequest(
          path(method),
          serializer(method.input),
          deserializer(method.output),
          message,
          requestMetadata(header, options.header?.()),
          { deadline: deadlineOf(timeoutMs) },
          (err, value) => {
            outcome = err || value === undefined ? { error: err ?? new ConnectError("no response message", Code.Internal) } : { value };
          },
        );
        const stopListening = cancelOn(signal, call);
        call.on("metadata", (metadata: grpc.Metadata) => (responseHeader = metadata));
        // grpc-js calls back, then emits the status (the trailers): the answer is complete here.
        call.on("status", (status: grpc.StatusObject) => {
          stopListening();
          if (!outcome || "error" in outcome) {
            reject(connectErrorOf(outcome && "error" in outcome ? outcome.error : status));
            return;
          }
          const header = lazyHeaders(() => responseHeader);
          const trailer = lazyHeaders(() => status.metadata);
          resolve({
            stream: false,
            service: method.parent,
            method,
            message: outcome.value,
            get header() {
              return header();
            },
            get trailer() {
              return trailer();
            },
          } as UnaryResponse<I, O>);
        });
      });
    },

    // Every streaming kind is the same exchange on the wire: messages one way, messages the other.
    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
    ): Promise<StreamResponse<I, O>> {
      const call = client.makeBidiStreamRequest(path(method), serializer(method.input), deserializer(method.output), requestMetadata(header, options.header?.()), {
        deadline: deadlineOf(timeoutMs),
      });
      const stopListening = cancelOn(signal, call);
      let status: grpc.StatusObject | undefined;
      call.on("status", (value: grpc.StatusObject) => {
        status = value;
        stopListening();
      });
      // Errors surface through the reading below; this keeps an unread failure from being an unhandled 'error'.
      call.on("error", () => undefined);
      void (async () => {
        for await (const value of input) {
          const message = isMessage(value, method.input) ? value : create(method.input, value);
          if (!call.write(message)) await new Promise((resolve) => call.once("drain", resolve));
        }
        call.end();
      })().catch(() => call.cancel());
      const responseHeader = await new Promise<grpc.Metadata>((resolve, reject) => {
        call.once("metadata", resolve);
        call.once("error", (err) => reject(connectErrorOf(err)));
        // A trailers-only answer (no message) brings no headers: the stream is simply over.
        call.once("status", () => resolve(new grpc.Metadata()));
      });
      async function* messages(): AsyncGenerator<MessageShape<O>> {
        try {
          for await (const message of call) yield message as MessageShape<O>;
        } catch (err) {
          throw connectErrorOf(err);
        } finally {
          if (!status) call.cancel();
        }
      }
      const trailer = lazyHeaders(() => status?.metadata);
      return {
        stream: true,
        service: method.parent,
        method,
        header: new Headers(headerEntries(responseHeader)),
        message: messages(),
        get trailer() {
          return trailer();
        },
      } as StreamResponse<I, O>;
    },
  };
}
