// The cluster's process roles built from service descriptors: one generic role per service, and the
// migration command over every service's schema.
import type { CleanedEnv } from "envalid";
import { connectEventBus, type StreamSpec } from "../common/bus.js";
import { clusterSpec, migrateSpec, processSpec, readConfig, redisSpec } from "../common/config.js";
import { openDatabase } from "../common/database.js";
import { checkSchemaOwner, claimRedis, claimSchema } from "../common/deployment.js";
import { createLockService } from "../common/lock.js";
import { createRateLimiter } from "../common/rate-limiter.js";
import { closeRedis, connectRedis } from "../common/redis.js";
import type { Logger } from "../common/logger.js";
import { Metrics, startMetricsServer } from "../common/metrics.js";
import { migrate } from "../common/migrate.js";
import { hostDescribedService, type AnyServiceDescriptor } from "../common/service-descriptor.js";
import type { HostRuntime } from "../common/service-host.js";
import { useRpcTransport } from "../common/rpc-transport-kind.js";

export type Stop = () => Promise<unknown>;

/** A started role: what stops it, in order, and the promise of its services becoming ready. */
export interface Running {
  stops: Stop[];
  ready?: Promise<unknown>;
}

type ProcessEnv = Pick<CleanedEnv<typeof processSpec>, "HOST" | "METRICS_PORT" | "SHUTDOWN_DELAY_MS" | "SHUTDOWN_GRACE_MS" | "RPC_TRANSPORT"> & {
  /** Service roles only (clusterSpec): how long a failing outbox relay may go before its service is not ready. */
  OUTBOX_STALL_MS?: number;
  /** Service roles only (clusterSpec): the deployment their streams, schema and Redis database are claimed for. */
  PLATFORM_INSTANCE?: string;
};

/** What every long-running role has: one metrics registry served on METRICS_PORT, and how to drain. */
export async function processRuntime(env: ProcessEnv, logger: Logger): Promise<{ metrics: Metrics; runtime: HostRuntime; stop: Stop }> {
  // Every server and client of the process speaks it from here on.
  useRpcTransport(env.RPC_TRANSPORT);
  const metrics = new Metrics();
  const server = await startMetricsServer({ metrics, host: env.HOST, port: env.METRICS_PORT, logger });
  const runtime: HostRuntime = {
    metrics,
    migrations: "await",
    shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    // envalid's env throws on reading a variable outside its spec (the gateway's has none of this).
    outboxStallMs: "OUTBOX_STALL_MS" in env ? env.OUTBOX_STALL_MS : undefined,
    instance: ("PLATFORM_INSTANCE" in env && env.PLATFORM_INSTANCE) || undefined,
  };
  return { metrics, runtime, stop: () => server.close() };
}

/** Every stream of the services: each process declares them all, so a consumer finds its publisher's stream. */
export function streamsOf(descriptors: readonly AnyServiceDescriptor[]): StreamSpec[] {
  const byName = new Map(descriptors.flatMap((descriptor) => descriptor.streams).map((stream) => [stream.name, stream]));
  return [...byName.values()];
}

/**
 * `main.js <service>`: the service alone in its process, on the cluster's PostgreSQL, NATS (and Redis when it
 * needs it), every one required. `streams` are those the process declares (every service's).
 */
export async function startServiceRole(
  descriptor: AnyServiceDescriptor,
  options: { logger: Logger; streams: StreamSpec[]; env?: NodeJS.ProcessEnv },
): Promise<Running> {
  const { logger } = options;
  const variables = options.env ?? process.env;
  // Every problem at once: the cluster's variables, Redis's when needed, and the service's own.
  const env = readConfig({ ...clusterSpec, ...(descriptor.needs.redis ? redisSpec : {}), ...descriptor.config }, variables);
  const { runtime, stop } = await processRuntime(env, logger);
  const stops: Stop[] = [stop];
  try {
    const db = await openDatabase({ url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, logger });
    stops.unshift(() => db.close());
    const bus = await connectEventBus({
      url: env.NATS_URL,
      streams: options.streams,
      name: descriptor.name,
      logger,
      metrics: runtime.metrics,
      instance: runtime.instance,
    });
    stops.unshift(() => bus.close());
    if (descriptor.needs.redis && runtime.instance) await claimRedisFor(String(env.REDIS_URL), runtime.instance, logger);
    const lock = descriptor.needs.redis ? createLockService({ url: String(env.REDIS_URL), logger }) : undefined;
    if (lock) stops.unshift(() => lock.close());
    const limiter = descriptor.needs.redis ? createRateLimiter({ url: String(env.REDIS_URL), logger }) : undefined;
    if (limiter) stops.unshift(() => limiter.close());
    const service = await hostDescribedService(descriptor, { env: variables, db, bus, lock, limiter, logger, host: env.HOST, runtime });
    stops.unshift(() => service.close());
    return { stops, ready: service.ready };
  } catch (err) {
    for (const stopPart of stops) await stopPart().catch(() => undefined);
    throw err;
  }
}

async function claimRedisFor(url: string, instance: string, logger: Logger): Promise<void> {
  const redis = connectRedis(url, logger);
  try {
    await claimRedis(redis, instance);
  } finally {
    await closeRedis(redis);
  }
}

/**
 * `main.js migrate`: brings every service's schema to its newest migration, then exits (a Job, a Helm hook).
 * With PLATFORM_INSTANCE, when another deployment claimed any of the schemas, none is touched and the command fails.
 */
export async function migrateServices(descriptors: readonly AnyServiceDescriptor[], logger: Logger, variables: NodeJS.ProcessEnv = process.env): Promise<void> {
  const env = readConfig(migrateSpec, variables);
  const instance = env.PLATFORM_INSTANCE || undefined;
  const db = await openDatabase({ url: env.DATABASE_URL, poolSize: 1, logger });
  try {
    if (instance) for (const { schema } of descriptors) await checkSchemaOwner(db, schema.name, instance);
    for (const { schema } of descriptors) {
      await migrate(db, { schema: schema.name, migrationsDir: schema.migrationsDir, logger });
      if (instance) await claimSchema(db, schema.name, instance);
    }
  } finally {
    await db.close();
  }
}
