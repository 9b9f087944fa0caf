import { createClient } from "@connectrpc/connect";
import { buildGateway, grpcHealthCheck } from "../../gateway/app.js";
import { connectEventBus } from "../common/bus.js";
import { port, str, url } from "envalid";
import { aes16, clusterSpec, ConfigError, gatewaySpec, orderSpec, processSpec, readConfig, voucherSpec } from "../common/config.js";
import { openDatabase } from "../common/database.js";
import { createLockService } from "../common/lock.js";
import { createLogger, type Logger } from "../common/logger.js";
import { rpcTransport } from "../common/rpc-client.js";
import { sandboxServiceType, startOrderService } from "../order/main.js";
import { createPsbcPlatform } from "../order/psbc-platform.js";
import { createBlueBrothersChannel } from "../voucher/blue-brothers.js";
import { startVoucherService } from "../voucher/main.js";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { startPlatform } from "./platform.js";
import { SANDBOX_AES } from "./sandbox-credentials.js";
import { ORDER_STREAM, VOUCHER_STREAM } from "./streams.js";

/** Embedded mode: every connection optional; what is missing falls back to PGlite and in-process parts. */
const embeddedSpec = {
  ...processSpec,
  HOST: str({ default: "127.0.0.1" }),
  PORT: port({ default: 8080 }),
  ORDER_PORT: port({ default: 50051 }),
  VOUCHER_PORT: port({ default: 50052 }),
  DATA_DIR: str({ default: "data/pglite", desc: "where embedded PostgreSQL keeps its files" }),
  DATABASE_URL: url({ default: undefined }),
  REDIS_URL: url({ default: undefined }),
  NATS_URL: url({ default: undefined }),
  SANDBOX_AES_KEY: aes16({ default: SANDBOX_AES.key }),
  SANDBOX_AES_IV: aes16({ default: SANDBOX_AES.iv }),
};

type Stop = () => Promise<unknown>;

/** `node dist/services/platform/main.js <embedded|order|voucher|gateway>`: one entry, one role per process. */
const roles: Record<string, (logger: Logger) => Promise<Stop[]>> = {
  async embedded(logger) {
    const env = readConfig(embeddedSpec);
    const platform = await startPlatform({
      logger,
      host: env.HOST,
      gatewayPort: env.PORT,
      orderPort: env.ORDER_PORT,
      voucherPort: env.VOUCHER_PORT,
      databaseUrl: env.DATABASE_URL,
      dataDir: env.DATABASE_URL ? undefined : env.DATA_DIR,
      redisUrl: env.REDIS_URL,
      natsUrl: env.NATS_URL,
      sandboxAes: { key: env.SANDBOX_AES_KEY, iv: env.SANDBOX_AES_IV },
    });
    logger.info(
      {
        gateway: platform.gatewayUrl,
        order: platform.orderUrl,
        voucher: platform.voucherUrl,
        database: env.DATABASE_URL ? "postgresql" : `pglite:${env.DATA_DIR}`,
        lock: env.REDIS_URL ? "redis" : "in-process",
        bus: env.NATS_URL ? "nats" : "in-process",
      },
      "rights platform running (embedded); try: npm run psbc -- appointment <rights code>",
    );
    return [() => platform.close()];
  },

  async voucher(logger) {
    const env = readConfig({ ...clusterSpec, ...voucherSpec });
    const db = await openDatabase({ url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, logger });
    const bus = await connectEventBus({ url: env.NATS_URL, streams: [VOUCHER_STREAM], name: "voucher", logger });
    const channel = createBlueBrothersChannel({
      baseUrl: env.BLUE_BROTHERS_BASE_URL,
      appId: env.BLUE_BROTHERS_APP_ID,
      appSecret: env.BLUE_BROTHERS_APP_SECRET,
      timeoutMs: env.BLUE_BROTHERS_TIMEOUT_MS,
    });
    const service = await startVoucherService({
      host: env.HOST,
      port: env.VOUCHER_PORT,
      db,
      bus,
      channels: new Map([["BLUE_BROTHERS", channel]]),
      logger,
    });
    return [() => service.close(), () => bus.close(), () => db.close()];
  },

  async order(logger) {
    const env = readConfig({ ...clusterSpec, ...orderSpec });
    if (Boolean(env.SANDBOX_AES_KEY) !== Boolean(env.SANDBOX_AES_IV)) {
      throw new ConfigError("invalid configuration:\n  SANDBOX_AES_KEY and SANDBOX_AES_IV go together");
    }
    const db = await openDatabase({ url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE, logger });
    const bus = await connectEventBus({ url: env.NATS_URL, streams: [ORDER_STREAM], name: "order", logger });
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
      }),
      voucherTransport: rpcTransport(env.VOUCHER_SERVICE_URL, { timeoutMs: env.RPC_TIMEOUT_MS }),
      logger,
      seedServiceTypes:
        env.SANDBOX_AES_KEY && env.SANDBOX_AES_IV ? [sandboxServiceType({ key: env.SANDBOX_AES_KEY, iv: env.SANDBOX_AES_IV })] : [],
    });
    return [() => service.close(), () => lock.close(), () => bus.close(), () => db.close()];
  },

  async gateway(logger) {
    const env = readConfig({ ...processSpec, ...gatewaySpec });
    const orderTransport = rpcTransport(env.ORDER_SERVICE_URL, { timeoutMs: env.GATEWAY_RPC_TIMEOUT_MS });
    const gateway = await buildGateway({
      orderService: createClient(OrderService, orderTransport),
      readiness: [{ name: "order", check: grpcHealthCheck(orderTransport) }],
      logger,
    });
    await gateway.listen({ host: env.HOST, port: env.PORT });
    return [() => gateway.close()];
  },
};

async function main(): Promise<void> {
  const role = process.argv[2] ?? "";
  const start = roles[role];
  if (!start) {
    process.stderr.write(`usage: main.js <${Object.keys(roles).join("|")}>\n`);
    process.exit(2);
  }
  const logger = createLogger(role, process.env.LOG_LEVEL ?? "info");
  let stops: Stop[];
  try {
    stops = await start(logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${role}: ${err.message}\n`);
    } else {
      logger.fatal({ err }, `${role} failed to start`);
    }
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    void (async () => {
      for (const stop of stops) await stop().catch((err: unknown) => logger.warn({ err }, "stop failed"));
      process.exit(0);
    })();
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

await main();
