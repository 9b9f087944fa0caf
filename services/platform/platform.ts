import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";
import { buildGateway, grpcHealthCheck } from "../../gateway/app.js";
import { connectEventBus, type EventBus } from "../common/bus.js";
import { DEFAULT_TIMEOUTS } from "../common/config.js";
import { openDatabase, sharedDatabase, type Database } from "../common/database.js";
import { createLockService, type LockService } from "../common/lock.js";
import { createRateLimiter } from "../common/rate-limiter.js";
import type { Clock } from "../common/clock.js";
import { createLogger, type Logger } from "../common/logger.js";
import { rpcTransport } from "../common/rpc-client.js";
import { Metrics } from "../common/metrics.js";
import {
  hostDescribedService,
  inPeerOrder,
  portVariable,
  serviceUrlVariable,
  type AnyServiceDescriptor,
} from "../common/service-descriptor.js";
import type { HostedService, HostRuntime } from "../common/service-host.js";
import { startBlueBrothersSandbox, type BlueBrothersSandbox } from "../sandbox/blue-brothers-sandbox.js";
import { startPsbcSandbox, type PsbcSandbox } from "../sandbox/psbc-sandbox.js";
import { SANDBOX_BLUE_BROTHERS, SANDBOX_ERP, SANDBOX_PSBC, SANDBOX_SMS } from "../sandbox/credentials.js";
import { startSmsSandbox, type SmsSandbox } from "../sandbox/sms-sandbox.js";
import { databaseSandboxStore } from "../sandbox/sandbox-store.js";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { ReconciliationService } from "../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { hashPassword } from "../reconciliation/passwords.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { BLUE_BROTHERS_CALLBACK_PREFIX, REDEMPTION_NOTICE_PATH } from "../voucher/channels/blue-brothers/callback-wire.js";
import { streamsOf } from "./cluster.js";
import { DEVELOPMENT_SERVICE_TYPE_KEK, DEVELOPMENT_WHALE_KEK } from "./development-kek.js";
import { services as platformServices } from "./services.js";

export interface PlatformOptions {
  logger: Logger;
  host?: string;
  /** 0 picks a free port (tests). */
  gatewayPort?: number;
  /** Each service listens on its `<NAME>_PORT` (from the environment, else its default); otherwise on a free port (tests). */
  configuredPorts?: boolean;
  /** Where the sandboxes listen; fixed in `npm start`, so the voucher URLs answered keep working after a restart. */
  psbcSandboxPort?: number;
  blueBrothersSandboxPort?: number;
  smsSandboxPort?: number;
  /** Real servers when given; otherwise PGlite (in `dataDir`, or in memory), an in-process lock and bus. */
  databaseUrl?: string;
  dataDir?: string;
  redisUrl?: string;
  /** Prefix of the Redis keys of the lock and the rate limiter (`rights:` unless given): a test run's own. */
  redisKeyPrefix?: string;
  natsUrl?: string;
  /** The AES secret of sandbox service type 310001. */
  sandboxAes: { key: string; iv: string };
  /** The bearer token of admin RPCs; absent: a random one (only this process knows it). */
  adminToken?: string;
  /** Deadline of each call to PSBC and Blue Brothers; the cluster's default unless a test shortens it. */
  upstreamTimeoutMs?: number;
  /** Where every part records its series; a registry of the platform's own when absent. */
  metrics?: Metrics;
  /** How closing drains: a delay serving while not ready, then a grace for calls in flight (0 and 5 s unless set). */
  shutdownDelayMs?: number;
  shutdownGraceMs?: number;
  /** Every service's clock; the system clock unless given (CLOCK_START, tests). */
  clock?: Clock;
  /** The services to run: the platform's list unless a test brings another. */
  services?: readonly AnyServiceDescriptor[];
}

/** The embedded mode's provider code at PSBC (the sandbox's) and download password, unless the environment sets them. */
export const EMBEDDED_RECONCILIATION = { providerCode: "A101", password: "reconcile-sandbox" } as const;

export interface RunningPlatform {
  gatewayUrl: string;
  /** A service's gRPC URL (throws for a service not running). */
  serviceUrl(name: string): string;
  /** What an admin client of the order service sends as `authorization: Bearer …`. */
  adminToken: string;
  gateway: FastifyInstance;
  psbcSandbox: PsbcSandbox;
  blueBrothersSandbox: BlueBrothersSandbox;
  smsSandbox: SmsSandbox;
  services: HostedService[];
  /**
   * Another instance of one of the running services, as a second replica would run in the cluster: the same
   * variables, database, bus, lock and clock, on a port of its own. Closed with the platform, or before by the caller.
   */
  startReplica(name: string): Promise<HostedService>;
  db: Database;
  bus: EventBus;
  metrics: Metrics;
  close(): Promise<void>;
}

/**
 * The whole system in one process: sandboxes, every service of the list each on its own gRPC port (so every
 * call is a real HTTP/2 call), and the gateway. `npm start` runs it; the end-to-end tests run it against the
 * real PostgreSQL, Redis and NATS when their URLs are set.
 */
export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const { logger } = options;
  const host = options.host ?? "127.0.0.1";
  const descriptors = inPeerOrder(options.services ?? platformServices);
  const metrics = options.metrics ?? new Metrics();
  const shutdownDelayMs = options.shutdownDelayMs ?? 0;
  const adminToken = options.adminToken ?? process.env.ADMIN_TOKEN ?? randomBytes(32).toString("hex");
  // One process, one database: each service migrates its own schema as it starts.
  const runtime: HostRuntime = { metrics, migrations: "apply", shutdownDelayMs, shutdownGraceMs: options.shutdownGraceMs ?? 5_000 };
  const closers: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.reverse()) await closer().catch((err: unknown) => logger.warn({ err }, "close failed"));
  };
  try {
    const db = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, logger });
    closers.push(() => db.close());
    const bus: EventBus = await connectEventBus({ url: options.natsUrl, streams: streamsOf(descriptors), name: "platform", logger, metrics });
    closers.push(() => bus.close());
    const redisKeyPrefix = options.redisKeyPrefix ?? "rights:";
    const lock: LockService = createLockService({ url: options.redisUrl, prefix: `${redisKeyPrefix}lock:`, logger });
    closers.push(() => lock.close());
    const limiter = createRateLimiter({ url: options.redisUrl, prefix: `${redisKeyPrefix}failures:`, logger });
    closers.push(() => limiter.close());

    // The sandboxes keep their bookings and vouchers beside the services' data, so a restart loses none.
    const sandboxStore = await databaseSandboxStore(sharedDatabase(db), logger);
    const psbcSandbox = await startPsbcSandbox({ host, port: options.psbcSandboxPort ?? 0, ...SANDBOX_PSBC, store: sandboxStore, logger });
    closers.push(() => psbcSandbox.close());
    const blueBrothersSandbox = await startBlueBrothersSandbox({
      host,
      port: options.blueBrothersSandboxPort ?? 0,
      ...SANDBOX_BLUE_BROTHERS,
      store: sandboxStore,
      clock: options.clock,
      logger,
    });
    closers.push(() => blueBrothersSandbox.close());
    const smsSandbox = await startSmsSandbox({ host, port: options.smsSandboxPort ?? 0, ...SANDBOX_SMS, store: sandboxStore, logger });
    closers.push(() => smsSandbox.close());

    // Services read their variables through their own specs, as in the cluster; the sandboxes stand in for
    // their upstreams, and each started service's URL is given to the services calling it.
    const overlay: Record<string, string> = {
      ...psbcSandbox.upstreamEnv(),
      ...blueBrothersSandbox.upstreamEnv(),
      ...smsSandbox.upstreamEnv(),
      SANDBOX_AES_KEY: options.sandboxAes.key,
      SANDBOX_AES_IV: options.sandboxAes.iv,
      // The PSBC offer sandbox type 310001's vouchers are made from (README: the PSBC offer).
      SANDBOX_PSBC_OFFER: "true",
      ADMIN_TOKEN: adminToken,
      // A public development key unless one is given: embedded data is test data.
      SERVICE_TYPE_KEK: process.env.SERVICE_TYPE_KEK ?? DEVELOPMENT_SERVICE_TYPE_KEK,
      WHALE_KEK: process.env.WHALE_KEK ?? DEVELOPMENT_WHALE_KEK,
      // The back-office app the embedded ERP calls as (README: the back office).
      ERP_SANDBOX_SECRET: process.env.ERP_SANDBOX_SECRET ?? SANDBOX_ERP.secret,
      PSBC_PROVIDER_CODE: process.env.PSBC_PROVIDER_CODE ?? EMBEDDED_RECONCILIATION.providerCode,
      // The reconciliation service takes only a hash; embedded, it is made from the password at each start.
      RECONCILIATION_PASSWORD_HASH:
        process.env.RECONCILIATION_PASSWORD_HASH ?? (await hashPassword(process.env.RECONCILIATION_PASSWORD ?? EMBEDDED_RECONCILIATION.password)),
      ...(options.upstreamTimeoutMs === undefined
        ? {}
        : {
            PSBC_TIMEOUT_MS: String(options.upstreamTimeoutMs),
            BLUE_BROTHERS_TIMEOUT_MS: String(options.upstreamTimeoutMs),
            SMS_TIMEOUT_MS: String(options.upstreamTimeoutMs),
          }),
    };
    const started: HostedService[] = [];
    const serviceUrls = new Map<string, string>();
    const serviceUrl = (name: string): string => {
      const url = serviceUrls.get(name);
      if (!url) throw new Error(`no ${name} service is running`);
      return url;
    };
    const startService = async (descriptor: AnyServiceDescriptor, port?: string): Promise<HostedService> => {
      const service = await hostDescribedService(descriptor, {
        env: { ...process.env, ...overlay, ...(port === undefined ? {} : { [portVariable(descriptor.name)]: port }) },
        db: sharedDatabase(db),
        bus,
        lock,
        limiter,
        logger: createLogger(descriptor.name, logger.level),
        host,
        runtime,
        clock: options.clock,
      });
      closers.push(() => service.close());
      await service.ready;
      return service;
    };
    for (const descriptor of descriptors) {
      const service = await startService(descriptor, options.configuredPorts ? undefined : "0");
      started.push(service);
      const url = `http://${host}:${service.port}`;
      serviceUrls.set(descriptor.name, url);
      overlay[serviceUrlVariable(descriptor.name)] = url;
    }

    // The gateway is not a service of the list: it answers PSBC through the order service, and Blue Brothers'
    // callbacks through the voucher service.
    const gateway = await buildGateway({
      orderService: createClient(OrderService, rpcTransport(serviceUrl("order"), { timeoutMs: DEFAULT_TIMEOUTS.gatewayRpcMs })),
      reconciliationService: createClient(ReconciliationService, rpcTransport(serviceUrl("reconciliation"), { timeoutMs: DEFAULT_TIMEOUTS.gatewayRpcMs })),
      blueBrothers: {
        voucherService: createClient(VoucherService, rpcTransport(serviceUrl("voucher"), { timeoutMs: DEFAULT_TIMEOUTS.rpcMs })),
        ...SANDBOX_BLUE_BROTHERS,
      },
      whaleErp: { voucherTransport: rpcTransport(serviceUrl("voucher"), { timeoutMs: DEFAULT_TIMEOUTS.gatewayRpcMs }) },
      whaleChannel: { voucherTransport: rpcTransport(serviceUrl("voucher"), { timeoutMs: DEFAULT_TIMEOUTS.gatewayRpcMs }) },
      readiness: [...serviceUrls].map(([name, url]) => ({
        name,
        check: grpcHealthCheck(rpcTransport(url, { timeoutMs: DEFAULT_TIMEOUTS.rpcMs })),
      })),
      logger: createLogger("gateway", logger.level),
      metrics,
      shutdownDelayMs,
    });
    closers.push(() => gateway.close());
    await gateway.listen({ host, port: options.gatewayPort ?? 0 });
    const address = gateway.server.address();
    const gatewayPort = typeof address === "object" && address ? address.port : options.gatewayPort;
    // The sandbox tells our gateway of each redemption, as Blue Brothers would.
    blueBrothersSandbox.callbacks.url = `http://${host}:${gatewayPort}${BLUE_BROTHERS_CALLBACK_PREFIX}${REDEMPTION_NOTICE_PATH}`;

    return {
      gatewayUrl: `http://${host}:${gatewayPort}`,
      serviceUrl,
      adminToken,
      gateway,
      psbcSandbox,
      blueBrothersSandbox,
      smsSandbox,
      services: started,
      async startReplica(name) {
        const descriptor = descriptors.find((candidate) => candidate.name === name);
        if (!descriptor || !serviceUrls.has(name)) throw new Error(`no ${name} service is running`);
        return startService(descriptor, "0");
      },
      db,
      bus,
      metrics,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
