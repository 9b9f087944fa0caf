import { setTimeout as sleep } from "node:timers/promises";
import { Code, ConnectError, type ConnectRouter, type Interceptor } from "@connectrpc/connect";
import { Health } from "../../proto/gen/grpc/health/v1/health_pb.js";
import type { EventBus, Subscription } from "./bus.js";
import { startConsumers, type Consumer } from "./consumer.js";
import type { Database } from "./database.js";
import { withTimeout } from "./deadline.js";
import { claimSchema } from "./deployment.js";
import { HealthStatus } from "./health.js";
import type { Logger } from "./logger.js";
import type { Metrics } from "./metrics.js";
import { awaitSchema, migrate } from "./migrate.js";
import { OutboxRelay } from "./outbox.js";
import { startPeriodicJobs, type PeriodicJob } from "./periodic-job.js";
import { messagingRetentionJob } from "./retention.js";
import { startRpcServer } from "./rpc-server.js";

/** How a process hosts its services: the same for every service of the process. */
export interface HostRuntime {
  metrics: Metrics;
  /**
   * "apply": the service migrates its schema at start (embedded mode, tests). "await": it waits, not ready,
   * until the migration command (`main.js migrate`, a Job or Helm hook) has done it (the cluster).
   */
  migrations: "apply" | "await";
  /** After close() turns health NOT_SERVING, calls are still served this long, until load balancers stop sending. */
  shutdownDelayMs: number;
  /** Then calls in flight get this long to finish before they are cut. */
  shutdownGraceMs: number;
  /** How often the database, the bus and the other dependencies are pinged for readiness. Default 5 s. */
  dependencyCheckMs?: number;
  /** An outbox relay failing to publish for this long makes its service not ready. Default 30 s. */
  outboxStallMs?: number;
  /** The deployment (PLATFORM_INSTANCE) the schema is claimed for once current; absent: no claim. */
  instance?: string;
}

/** Something the service cannot serve without; pinged for readiness. */
export interface Dependency {
  name: string;
  ping(): Promise<void>;
}

export interface HostedService {
  name: string;
  port: number;
  health: HealthStatus;
  /** Resolves when the schema is in place and the service has prepared; rejects when starting failed. */
  ready: Promise<void>;
  /** Not serving first, then the server and the outbox relay stop; the caller closes the connections. */
  close(): Promise<void>;
}

/** What a service brings to its host: its entry points (routes, consumers) and how it gets ready. */
export interface StartedService {
  /** Run after the host's own, innermost (the admin credential check). */
  interceptors?: Interceptor[];
  routes(router: ConnectRouter): void;
  /** Durable event consumers, subscribed once the schema is current. */
  consumers?: Consumer[];
  /** Background work on an interval, started after the consumers, stopped before them. */
  jobs?: PeriodicJob[];
  /** Runs once the schema is current and before the service reports SERVING (seed data, warm caches). */
  prepare?(): Promise<void>;
  /** Dependencies beyond the database and the bus (Redis). */
  dependencies?: Dependency[];
  /** Stops what `prepare` started (workers, schedules): after the calls in flight, before the consumers. */
  stop?(): Promise<void>;
}

export interface HostOptions {
  name: string;
  /** The PostgreSQL schema the service owns; its own migrations (if any) live in `migrationsDir`. */
  schema: string;
  migrationsDir?: string;
  db: Database;
  bus: EventBus;
  logger: Logger;
  host: string;
  port: number;
  runtime: HostRuntime;
  /** Builds the service; `eventsWritten` asks the outbox relay to publish what a commit just wrote. */
  start(context: { eventsWritten(): void }): StartedService;
}

const PING_TIMEOUT_MS = 2_000;
/**
 * How far back the in-process bus may have held events unhandled when its process stopped: beyond an event's
 * redeliveries (DEFAULT_RETRY: about an hour before its dead letter, which that bus keeps no longer), well within
 * processed_event's two weeks.
 */
const REPUBLISH_ON_LOCAL_BUS_MS = 2 * 3_600_000;

/**
 * Every service starts the same way: its gRPC server answers health at once (NOT_SERVING; liveness SERVING),
 * then its schema is migrated or awaited, it prepares, its consumers subscribe, its outbox relay starts, and it
 * reports SERVING for as long as its database, bus and other dependencies answer. Closing reverses that:
 * NOT_SERVING, a delay for load balancers to notice, calls in flight finish, the consumers and the relay stop.
 */
export async function hostService(options: HostOptions): Promise<HostedService> {
  const { name, schema, db, bus, logger, runtime } = options;
  const health = new HealthStatus();
  health.setAll(false);
  const stopping = new AbortController();
  let started = false;
  const relay = new OutboxRelay({
    db,
    schema,
    bus,
    logger,
    stallAfterMs: runtime.outboxStallMs,
    republishWithinMs: bus.durable ? undefined : REPUBLISH_ON_LOCAL_BUS_MS,
  });
  runtime.metrics.addOutbox(schema, { pending: () => relay.lag(), failingForMs: () => relay.failingForMs() });

  // Until the schema is in place a call could only fail obscurely: answer Unavailable, which callers retry.
  const untilStarted: Interceptor = (next) => async (req) => {
    if (!started && req.service.typeName !== Health.typeName) throw new ConnectError(`${name} service is starting`, Code.Unavailable);
    return next(req);
  };
  const eventsWritten = () => relay.kick();
  const service = options.start({ eventsWritten });
  let subscriptions: Subscription[] = [];
  let jobs: { stop(): Promise<void> } | undefined;
  const server = await startRpcServer({
    name,
    host: options.host,
    port: options.port,
    routes: (router) => service.routes(router),
    health,
    logger,
    metrics: runtime.metrics,
    interceptors: [untilStarted, ...(service.interceptors ?? [])],
    shutdownTimeoutMs: runtime.shutdownGraceMs,
  });

  const dependencies: Dependency[] = [
    { name: "database", ping: () => db.ping() },
    { name: "event bus", ping: () => bus.ping() },
    // A bus that answers pings but takes no events (its streams lost) stalls the outbox: not ready either.
    {
      name: "outbox",
      ping: async () => {
        if (relay.stalled()) throw new Error("outbox stalled");
      },
    },
    ...(service.dependencies ?? []),
  ];
  let unavailable: string[] | undefined;
  const checkDependencies = async (): Promise<void> => {
    const results = await Promise.all(
      dependencies.map((dependency) =>
        withTimeout(dependency.ping(), PING_TIMEOUT_MS, `${dependency.name} ping`).then(
          () => undefined,
          () => dependency.name,
        ),
      ),
    );
    if (stopping.signal.aborted) return;
    const failed = results.filter((result) => result !== undefined);
    if (unavailable === undefined || failed.join() !== unavailable.join()) {
      if (failed.length > 0) logger.warn({ unavailable: failed }, `${name} service not ready: dependencies unavailable`);
      else logger.info({ port: server.port }, `${name} service serving`);
    }
    unavailable = failed;
    health.setAll(failed.length === 0);
  };

  const ready = (async () => {
    const { migrationsDir } = options;
    if (runtime.migrations === "apply") await migrate(db, { schema, migrationsDir, logger });
    else await awaitSchema(db, { schema, migrationsDir, logger, signal: stopping.signal });
    // Before anything reads or writes a row: another deployment's rows are not this one's to relay or claim.
    if (runtime.instance) await claimSchema(db, schema, runtime.instance);
    await service.prepare?.();
    stopping.signal.throwIfAborted();
    subscriptions = await startConsumers(bus, service.consumers ?? [], { db, schema, logger, eventsWritten });
    jobs = startPeriodicJobs([...(service.jobs ?? []), messagingRetentionJob(db, schema)], logger);
    relay.start();
    started = true;
    await checkDependencies();
  })();
  // Readiness follows the dependencies from then on, until close.
  const watching = ready.then(async () => {
    const interval = runtime.dependencyCheckMs ?? 5_000;
    while (!stopping.signal.aborted) {
      await sleep(interval, undefined, { signal: stopping.signal }).catch(() => undefined);
      if (!stopping.signal.aborted) await checkDependencies();
    }
  });
  // Whoever awaits `ready` sees a failure; nothing else may crash the process over it.
  watching.catch(() => undefined);

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    stopping.abort();
    health.setAll(false);
    logger.info({ delayMs: runtime.shutdownDelayMs, graceMs: runtime.shutdownGraceMs }, `${name} service draining`);
    await sleep(runtime.shutdownDelayMs);
    await server.close();
    await watching.catch(() => undefined);
    await jobs?.stop();
    await service.stop?.();
    // Consumers stop before the relay, so the events their last handlers wrote are still published.
    for (const subscription of subscriptions) await subscription.stop();
    await relay.stop();
  };
  return { name, port: server.port, health, ready, close: () => (closing ??= close()) };
}
