import { createClient } from "@connectrpc/connect";
import { makeValidator, port, str, url } from "envalid";
import { buildGateway, grpcHealthCheck } from "../../gateway/app.js";
import { clockStartingAt, parseClockStart } from "../common/clock.js";
import { aes16, ConfigError, gatewaySpec, processSpec, readConfig, SHUTDOWN_WATCHDOG_MARGIN_MS } from "../common/config.js";
import { createLogger, type Logger } from "../common/logger.js";
import { rpcTransport } from "../common/rpc-client.js";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { ReconciliationService } from "../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { migrateServices, processRuntime, startServiceRole, streamsOf, type Running } from "./cluster.js";
import { startPlatform } from "./platform.js";
import { SANDBOX_AES, SANDBOX_PORTS } from "../sandbox/credentials.js";
import { services } from "./services.js";

/** CLOCK_START: the instant the embedded clock reads at start. */
const clockStart = makeValidator<Date>(parseClockStart);

/**
 * Embedded mode: every connection optional; what is missing falls back to PGlite and in-process parts. Each
 * service reads its own variables (its port, say) through its spec, as in the cluster.
 */
const embeddedSpec = {
  ...processSpec,
  HOST: str({ default: "127.0.0.1" }),
  PORT: port({ default: 8080 }),
  // The standalone sandbox's defaults too: one port per simulator wherever it runs.
  PSBC_SANDBOX_PORT: port({ default: SANDBOX_PORTS.psbc }),
  BLUE_BROTHERS_SANDBOX_PORT: port({ default: SANDBOX_PORTS.blueBrothers }),
  DATA_DIR: str({ default: "data/pglite", desc: "where embedded PostgreSQL keeps its files" }),
  DATABASE_URL: url({ default: undefined }),
  REDIS_URL: url({ default: undefined }),
  NATS_URL: url({ default: undefined }),
  SANDBOX_AES_KEY: aes16({ default: SANDBOX_AES.key }),
  SANDBOX_AES_IV: aes16({ default: SANDBOX_AES.iv }),
  CLOCK_START: clockStart({ default: undefined, desc: "start the clock at this instant and let it run (a month in one sitting)" }),
};

/**
 * `node dist/services/platform/main.js <role>`: one entry, one role per process (container args choose it):
 * `embedded`, one role per service of the list (named after it), `gateway`, and `migrate`.
 */
const roles: Record<string, (logger: Logger) => Promise<Running>> = {
  async embedded(logger) {
    const env = readConfig(embeddedSpec);
    const { metrics, stop } = await processRuntime(env, logger);
    const platform = await startPlatform({
      logger,
      host: env.HOST,
      gatewayPort: env.PORT,
      configuredPorts: true,
      psbcSandboxPort: env.PSBC_SANDBOX_PORT,
      blueBrothersSandboxPort: env.BLUE_BROTHERS_SANDBOX_PORT,
      databaseUrl: env.DATABASE_URL,
      dataDir: env.DATABASE_URL ? undefined : env.DATA_DIR,
      redisUrl: env.REDIS_URL,
      natsUrl: env.NATS_URL,
      sandboxAes: { key: env.SANDBOX_AES_KEY, iv: env.SANDBOX_AES_IV },
      metrics,
      shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
      shutdownGraceMs: env.SHUTDOWN_GRACE_MS,
      clock: env.CLOCK_START ? clockStartingAt(env.CLOCK_START) : undefined,
    });
    logger.info(
      {
        gateway: platform.gatewayUrl,
        ...Object.fromEntries(platform.services.map((service) => [service.name, platform.serviceUrl(service.name)])),
        psbcSandbox: platform.psbcSandbox.url,
        blueBrothersSandbox: platform.blueBrothersSandbox.url,
        metrics: `http://${env.HOST}:${env.METRICS_PORT}/metrics`,
        database: env.DATABASE_URL ? "postgresql" : `pglite:${env.DATA_DIR}`,
        lock: env.REDIS_URL ? "redis" : "in-process",
        bus: env.NATS_URL ? "nats" : "in-process",
        ...(env.CLOCK_START ? { clockStart: env.CLOCK_START.toISOString() } : {}),
      },
      "rights platform running (embedded); try: npm run psbc -- appointment <rights code>",
    );
    return { stops: [() => platform.close(), stop] };
  },

  ...Object.fromEntries(
    services.map((descriptor) => [descriptor.name, (logger: Logger) => startServiceRole(descriptor, { logger, streams: streamsOf(services) })]),
  ),

  async gateway(logger) {
    const env = readConfig({ ...processSpec, ...gatewaySpec });
    const { metrics, stop } = await processRuntime(env, logger);
    const orderTransport = rpcTransport(env.ORDER_SERVICE_URL, { timeoutMs: env.GATEWAY_RPC_TIMEOUT_MS });
    const { VOUCHER_SERVICE_URL: voucherUrl, BLUE_BROTHERS_APP_ID: appId, BLUE_BROTHERS_APP_SECRET: appSecret } = env;
    const callbacks = voucherUrl && appId && appSecret ? { transport: rpcTransport(voucherUrl), appId, appSecret } : undefined;
    // With a voucher service, the gateway serves the WHALE back office and channels (and maybe the callbacks):
    // not ready until it is.
    const voucherTransport = voucherUrl ? rpcTransport(voucherUrl, { timeoutMs: env.GATEWAY_RPC_TIMEOUT_MS }) : undefined;
    const gateway = await buildGateway({
      orderService: createClient(OrderService, orderTransport),
      // Not a readiness check: the booking routes must not stop when the reconciliation service does.
      reconciliationService: createClient(ReconciliationService, rpcTransport(env.RECONCILIATION_SERVICE_URL, { timeoutMs: env.GATEWAY_RPC_TIMEOUT_MS })),
      blueBrothers: callbacks && { voucherService: createClient(VoucherService, callbacks.transport), appId: callbacks.appId, appSecret: callbacks.appSecret },
      whaleErp: voucherTransport && { voucherTransport },
      whaleChannel: voucherTransport && { voucherTransport },
      readiness: [
        { name: "order", check: grpcHealthCheck(orderTransport) },
        ...(voucherTransport ? [{ name: "voucher", check: grpcHealthCheck(voucherTransport) }] : []),
      ],
      logger,
      metrics,
      shutdownDelayMs: env.SHUTDOWN_DELAY_MS,
      trustedProxies: env.GATEWAY_TRUSTED_PROXIES,
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
  // A moved clock is for showing a month in one sitting; in the cluster it would stamp real orders wrongly.
  if (role !== "embedded" && process.env.CLOCK_START) {
    reportStartFailure(role, logger, new ConfigError("invalid configuration:\n  CLOCK_START: only the embedded mode takes it"));
  }
  if (!start) {
    await migrateServices(services, logger).catch((err: unknown) => reportStartFailure(role, logger, err));
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
    }, SHUTDOWN_DELAY_MS + SHUTDOWN_GRACE_MS + SHUTDOWN_WATCHDOG_MARGIN_MS).unref();
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
