// Prometheus metrics: one registry per process (or per embedded platform), served on a port of its own so
// scrapes never queue behind business traffic and the port can be closed to everyone but the monitoring namespace.
import http from "node:http";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { listen } from "./listen.js";
import type { Logger } from "./logger.js";

/** Seconds; from a cached read (ms) to a booking that waits on both upstreams (s). */
const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the metrics read of a service's outbox relay at each scrape. */
export interface OutboxGauges {
  pending(): Promise<number>;
  /** How long the relay has failed to publish, in ms (0 while it publishes). */
  failingForMs(): number;
}

/**
 * The series every process exposes. RPC names follow go-grpc-prometheus (`grpc_server_*`) and HTTP names the
 * Prometheus conventions (`http_server_*`), so the dashboards SREs already have work unchanged.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly rpcStarted = new Counter({
    name: "grpc_server_started_total",
    help: "RPCs started on the server.",
    labelNames: ["grpc_service", "grpc_method", "grpc_type"] as const,
    registers: [this.registry],
  });

  readonly rpcHandled = new Counter({
    name: "grpc_server_handled_total",
    help: "RPCs completed on the server, by status code (errors are every code but OK).",
    labelNames: ["grpc_service", "grpc_method", "grpc_type", "grpc_code"] as const,
    registers: [this.registry],
  });

  readonly rpcSeconds = new Histogram({
    name: "grpc_server_handling_seconds",
    help: "Time from the start of an RPC to its status, in seconds.",
    labelNames: ["grpc_service", "grpc_method", "grpc_type"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly httpRequests = new Counter({
    name: "http_server_requests_total",
    help: "HTTP requests answered, by route, HTTP status and contract code (empty for non-contract routes).",
    labelNames: ["method", "route", "status_code", "code"] as const,
    registers: [this.registry],
  });

  readonly httpSeconds = new Histogram({
    name: "http_server_request_duration_seconds",
    help: "Time to answer an HTTP request, in seconds.",
    labelNames: ["method", "route", "status_code"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly undecryptableRequests = new Counter({
    name: "psbc_undecryptable_requests_total",
    help: "PSBC requests whose encrypted request the order service refused (bad Base64, key, padding or plaintext); a rise is a padding-oracle or key probe. The client IP is in the log line with the traceId.",
    // Only service types the order service knows reach decryption, so the label stays bounded.
    labelNames: ["route", "service_type"] as const,
    registers: [this.registry],
  });

  readonly upstreamRequests = new Counter({
    name: "upstream_requests_total",
    help: "Calls to an upstream platform (PSBC, Blue Brothers), by outcome: ok, timeout, unavailable, rejected.",
    labelNames: ["upstream", "operation", "outcome"] as const,
    registers: [this.registry],
  });

  readonly upstreamSeconds = new Histogram({
    name: "upstream_request_duration_seconds",
    help: "Time of a call to an upstream platform, whatever its outcome, in seconds.",
    labelNames: ["upstream", "operation"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly eventsHandled = new Counter({
    name: "events_handled_total",
    help: "Events a durable consumer handled, by outcome (ack, or nak for a later redelivery).",
    labelNames: ["consumer", "outcome"] as const,
    registers: [this.registry],
  });

  readonly eventsRedelivered = new Counter({
    name: "events_redelivered_total",
    help: "Deliveries of an event a consumer had already been given (a handler failed or timed out before).",
    labelNames: ["consumer"] as const,
    registers: [this.registry],
  });

  private readonly outboxes = new Map<string, OutboxGauges>();

  constructor(options: { processMetrics?: boolean } = {}) {
    const outboxes = this.outboxes;
    new Gauge({
      name: "outbox_pending_events",
      help: "Events committed to a service's outbox and not yet published to the event bus.",
      labelNames: ["schema"] as const,
      registers: [this.registry],
      // Read at scrape time; a database that does not answer leaves the series out rather than failing the scrape.
      async collect() {
        this.reset();
        await Promise.all(
          [...outboxes].map(async ([schema, outbox]) => {
            const value = await outbox.pending().catch(() => undefined);
            if (value !== undefined) this.set({ schema }, value);
          }),
        );
      },
    });
    new Gauge({
      name: "outbox_publish_failing_seconds",
      help: "How long a service's outbox relay has failed to publish to the event bus (0 while it publishes).",
      labelNames: ["schema"] as const,
      registers: [this.registry],
      collect() {
        for (const [schema, outbox] of outboxes) this.set({ schema }, outbox.failingForMs() / 1000);
      },
    });
    // Process CPU, memory, heap, event loop lag, handles: once per process, not per embedded service.
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Reports the outbox lag of `schema`, and how long its relay has failed to publish, at every scrape. */
  addOutbox(schema: string, outbox: OutboxGauges): void {
    this.outboxes.set(schema, outbox);
  }
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** `GET /metrics` in the Prometheus text format; nothing else. */
export async function startMetricsServer(options: {
  metrics: Metrics;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  logger: Logger;
}): Promise<MetricsServer> {
  const { registry } = options.metrics;
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?", 1)[0] !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
      (err: unknown) => {
        options.logger.error({ err }, "metrics collection failed");
        res.writeHead(500).end();
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  const port = await listen(server, options.port, options.host);
  options.logger.info({ port }, "metrics serving on /metrics");
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
