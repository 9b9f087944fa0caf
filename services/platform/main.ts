import { createClient } from "@connectrpc/connect";
import { buildGateway, grpcHealthCheck } from "../../gateway/app.js";
import { connectEventBus } from "../common/bus.js";
import { port, str, url, type CleanedEnv } from "envalid";
import { aes16, clusterSpec, ConfigError, gatewaySpec, kek, migrateSpec, orderSpec, processSpec, readConfig, secretToken, voucherSpec } from "../common/config.js";
import { openDatabase } from "../common/database.js";
import { decodeKek, KeyRing } from "../common/key-ring.js";
import { createLockService } from "../common/lock.js";
import { createLogger, type Logger } from "../common/logger.js";
import { Metrics, startMetricsServer } from "../common/metrics.js";
import { migrate } from "../common/migrate.js";
import { rpcTransport } from "../common/rpc-client.js";
import type { HostRuntime } from "../common/service-host.js";
import { orderSchema, sandboxServiceType, startOrderService } from "../order/main.js";
import { createPsbcPlatform } from "../order/psbc-platform.js";
import { createBlueBrothersChannel } from "../voucher/blue-brothers.js";
import { startVoucherService, voucherSchema } from "../voucher/main.js";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { startPlatform } from "./platform.js";
import { DEVELOPMENT_SERVICE_TYPE_KEK, SANDBOX_AES, SANDBOX_PORTS } from "./sandbox-credentials.js";
import { ORDER_STREAM, VOUCHER_STREAM } from "./streams.js";

/** Embedded mode: every connection optional; what is missing falls back to PGlite and in-process parts. */
const embeddedSpec = {
  ...processSpec,
  HOST: str({ default: "127.0.0.1" }),
  PORT: port({ default: 8080 }),
  ORDER_PORT: port({ default: 50051 }),
  VOUCHER_PORT: port({ default: 50052 }),
  // The standalone sandbox's defaults too: one port per simulator wherever it runs.
  PSBC_SANDBOX_PORT: port({ default: SANDBOX_PORTS.psbc }),
  BLUE_BROTHERS_SANDBOX_PORT: port({ default: SANDBOX_PORTS.blueBrothers }),
  DATA_DIR: str({ default: "data/pglite", desc: "where embedded PostgreSQL keeps its files" }),
  DATABASE_URL: url({ default: undefined }),
  REDIS_URL: url({ default: undefined }),
  NATS_URL: url({ default: undefined }),
  SANDBOX_AES_KEY: aes16({ default: SANDBOX_AES.key }),
  SANDBOX_AES_IV: aes16({ default: SANDBOX_AES.iv }),
  ADMIN_TOKEN: secretToken({ default: undefined, desc: "absent: a random one, so no other process can call admin RPCs" }),
  SERVICE_TYPE_KEK: kek({ default: DEVELOPMENT_SERVICE_TYPE_KEK }),
  SERVICE_TYPE_KEK_PREVIOUS: kek({ default: undefined }),
};

/** The key ring of SERVICE_TYPE_KEK and, during a rotation, SERVICE_TYPE_KEK_PREVIOUS. */
function serviceTypeKeys(env: { SERVICE_TYPE_KEK: string; SERVICE_TYPE_KEK_PREVIOUS?: string | undefined }): KeyRing {
  return new KeyRing(decodeKek(env.SERVICE_TYPE_KEK), env.SERVICE_TYPE_KEK_PREVIOUS ? decodeKek(env.SERVICE_TYPE_KEK_PREVIOUS) : undefined);
}

type Stop = () => Promise<unknown>;

/** A started role: what stops it, in order, and the promise of its services becoming ready. */
interface Running {
  stops: Stop[];
  ready?: Promise<unknown>;
}

type ProcessEnv = Pick<CleanedEnv<typeof processSpec>, "HOST" | "METRICS_PORT" | "SHUTDOWN_DELAY_MS" | "SHUTDOWN_GRACE_MS"> & {
  OUTBOX_STALL_MS?: number;
};

/** What every long-running role has: one metrics registry served on METRICS_PORT, and how to drain. */
async function processRuntime(env: ProcessEnv, logger: Logger): Promise<{ metrics: Metrics; runtime: HostRuntime; stop: Stop }> {
  const metrics = new Metrics();
  const server = await startMetricsServer({ metrics, host: env.HOST, port: env.METRICS_PORT, logger });
  const runtime: HostRuntime = {
    metrics,
    migrations: "await",
    shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
    shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    // Only the service roles read it; envalid's env throws on a variable outside its spec (the gateway's).
    outboxStallMs: "OUTBOX_STALL_MS" in env ? env.OUTBOX_STALL_MS : undefined,
  };
  return { metrics, runtime, stop: () => server.close() };
}

/** `node dist/services/platform/main.js <role>`: one entry, one role per process (container args choose it). */
const roles: Record<string, (logger: Logger) => Promise<Running>> = {
  async embedded(logger) {
    const env = readConfig(embeddedSpec);
    const { metrics, stop } = await processRuntime(env, logger);
    const platform = await startPlatform({
      logger,
      host: env.HOST,
      gatewayPort: env.PORT,
      orderPort: env.ORDER_PORT,
      voucherPort: env.VOUCHER_PORT,
      psbcSandboxPort: env.PSBC_SANDBOX_PORT,
      blueBrothersSandboxPort: env.BLUE_BROTHERS_SANDBOX_PORT,
      databaseUrl: env.DATABASE_URL,
      dataDir: env.DATABASE_URL ? undefined : env.DATA_DIR,
      redisUrl: env.REDIS_URL,
      natsUrl: env.NATS_URL,
      sandboxAes: { key: env.SANDBOX_AES_KEY, iv: env.SANDBOX_AES_IV },
      adminToken: env.ADMIN_TOKEN,
      serviceTypeKeys: serviceTypeKeys(env),
      metrics,
      shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
    });
    logger.info(
      {
        gateway: platform.gatewayUrl,
        order: platform.orderUrl,
        voucher: platform.voucherUrl,
        psbcSandbox: platform.psbcSandbox.url,
        blueBrothersSandbox: platform.blueBrothersSandbox.url,
        metrics: `http://${env.HOST}:${env.METRICS_PORT}/metrics`,
        database: env.DATABASE_URL ? "postgresql" : `pglite:${env.DATA_DIR}`,
        lock: env.REDIS_URL ? "redis" : "in-process",
        bus: env.NATS_URL ? "nats" : "in-process",
      },
      "rights platform running (embedded); try: npm run psbc -- appointment <rights code>",
    );
    return { stops: [() => platform.close(), stop] };
  },

  async voucher(logger) {
    const env = readConfig({ ...clusterSpec, ...voucherSpec });
    const { metrics, runtime, stop } = await processRuntime(env, logger);
    const db = await openDatabase({ url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, logger });
    const bus = await connectEventBus({ url: env.NATS_URL, streams: [VOUCHER_STREAM], name: "voucher", logger, metrics });
    const channel = createBlueBrothersChannel({
      baseUrl: env.BLUE_BROTHERS_BASE_URL,
      appId: env.BLUE_BROTHERS_APP_ID,
      appSecret: env.BLUE_BROTHERS_APP_SECRET,
      timeoutMs: env.BLUE_BROTHERS_TIMEOUT_MS,
      metrics,
    });
    const service = await startVoucherService({
      host: env.HOST,
      port: env.VOUCHER_PORT,
      db,
      bus,
      channels: new Map([["BLUE_BROTHERS", channel]]),
      logger,
      runtime,
    });
    return { stops: [() => service.close(), () => bus.close(), () => db.close(), stop], ready: service.ready };
  },

  async order(logger) {
    const env = readConfig({ ...clusterSpec, ...orderSpec });
    if (Boolean(env.SANDBOX_AES_KEY) !== Boolean(env.SANDBOX_AES_IV)) {
      throw new ConfigError("invalid configuration:\n  SANDBOX_AES_KEY and SANDBOX_AES_IV go together");
    }
    const { metrics, runtime, stop } = await processRuntime(env, logger);
    const db = await openDatabase({ url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, logger });
    const bus = await connectEventBus({ url: env.NATS_URL, streams: [ORDER_STREAM], name: "order", logger, metrics });
    const lock = createLockService({ url: env.REDIS_URL, logger });
    const service = await startOrderService({
      host: env.HOST,
      port: env.ORDER_PORT,
      db,
      lock,
      bus,
      psbc: createPsbcPlatform({
        baseUrl: env.PSBC_BASE_URL,
        appId: env.PSBC_APP_ID,
        appSecret: env.PSBC_APP_SECRET,
        timeoutMs: env.PSBC_TIMEOUT_MS,
        metrics,
      }),
      voucherTransport: rpcTransport(env.VOUCHER_SERVICE_URL, { timeoutMs: env.RPC_TIMEOUT_MS }),
      logger,
      runtime,
      adminToken: env.ADMIN_TOKEN,
      serviceTypeKeys: serviceTypeKeys(env),
      seedServiceTypes:
        env.SANDBOX_AES_KEY && env.SANDBOX_AES_IV ? [sandboxServiceType({ key: env.SANDBOX_AES_KEY, iv: env.SANDBOX_AES_IV })] : [],
    });
    return { stops: [() => service.close(), () => lock.close(), () => bus.close(), () => db.close(), stop], ready: service.ready };
  },

  async gateway(logger) {
    const env = readConfig({ ...processSpec, ...gatewaySpec });
    const { metrics, stop } = await processRuntime(env, logger);
    const orderTransport = rpcTransport(env.ORDER_SERVICE_URL, { timeoutMs: env.GATEWAY_RPC_TIMEOUT_MS });
    const gateway = await buildGateway({
      orderService: createClient(OrderService, orderTransport),
      readiness: [{ name: "order", check: grpcHealthCheck(orderTransport) }],
      logger,
      metrics,
      shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
      http: {
        requestTimeoutMs: env.GATEWAY_REQUEST_TIMEOUT_MS,
        headersTimeoutMs: env.GATEWAY_HEADERS_TIMEOUT_MS,
        keepAliveTimeoutMs: env.GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
        bodyLimitBytes: env.GATEWAY_BODY_LIMIT_BYTES,
      },
    });
    await gateway.listen({ host: env.HOST, port: env.PORT });
    const closeGateway = async () => {
      // Requests still running when the grace period is over are cut.
      const cut = setTimeout(() => gateway.server.closeAllConnections(), env.SHUTDOWN_DELAY_MS + env.SHUTDOWN_GRACE_MS);
      await gateway.close();
      clearTimeout(cut);
    };
    return { stops: [closeGateway, stop] };
  },
};

/** `main.js migrate`: brings every service's schema to its newest migration, then exits (a Job, a Helm hook). */
async function migrateAll(logger: Logger): Promise<void> {
  const env = readConfig(migrateSpec);
  const db = await openDatabase({ url: env.DATABASE_URL, poolSize: 1, logger });
  try {
    for (const schema of [orderSchema, voucherSchema]) await migrate(db, { ...schema, logger });
  } finally {
    await db.close();
  }
}

function reportStartFailure(role: string, logger: Logger, err: unknown): never {
  if (err instanceof ConfigError) process.stderr.write(`${role}: ${err.message}\n`);
  else logger.fatal({ err }, `${role} failed to start`);
  process.exit(1);
}

async function main(): Promise<void> {
  const role = process.argv[2] ?? "";
  const start = roles[role];
  if (!start && role !== "migrate") {
    process.stderr.write(`usage: main.js <${[...Object.keys(roles), "migrate"].join("|")}>\n`);
    process.exit(2);
  }
  const logger = createLogger(role, process.env.LOG_LEVEL ?? "info");
  if (!start) {
    await migrateAll(logger).catch((err: unknown) => reportStartFailure(role, logger, err));
    process.exit(0);
  }
  let stopping = false;
  let running: Running;
  try {
    running = await start(logger);
  } catch (err) {
    reportStartFailure(role, logger, err);
  }
  // A service that cannot finish starting (its seed fails, say) exits, so Kubernetes restarts it.
  running.ready?.catch((err: unknown) => {
    if (!stopping) reportStartFailure(role, logger, err);
  });
  const { SHUTDOWN_DELAY_MS, SHUTDOWN_GRACE_MS } = readConfig(processSpec);
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    // Past the delay and the grace, something is stuck: exit anyway, before the kubelet's SIGKILL.
    setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS + 5_000).unref();
    void (async () => {
      for (const stop of running.stops) await stop().catch((err: unknown) => logger.warn({ err }, "stop failed"));
      logger.info("stopped");
      process.exit(0);
    })();
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

await main();
