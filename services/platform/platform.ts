import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";
import { buildGateway, grpcHealthCheck } from "../../gateway/app.js";
import { connectEventBus, type EventBus } from "../common/bus.js";
import { DEFAULT_TIMEOUTS } from "../common/config.js";
import { openDatabase, sharedDatabase, type Database } from "../common/database.js";
import { decodeKek, KeyRing } from "../common/key-ring.js";
import { createLockService, type LockService } from "../common/lock.js";
import { createLogger, type Logger } from "../common/logger.js";
import { rpcTransport } from "../common/rpc-client.js";
import { Metrics } from "../common/metrics.js";
import type { HostedService, HostRuntime } from "../common/service-host.js";
import { sandboxServiceType, startOrderService } from "../order/main.js";
import { createPsbcPlatform } from "../order/psbc-platform.js";
import { startBlueBrothersSandbox, type BlueBrothersSandbox } from "../sandbox/blue-brothers-sandbox.js";
import { startPsbcSandbox, type PsbcSandbox } from "../sandbox/psbc-sandbox.js";
import { databaseSandboxStore } from "../sandbox/sandbox-store.js";
import { createBlueBrothersChannel } from "../voucher/blue-brothers.js";
import { startVoucherService } from "../voucher/main.js";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { DEVELOPMENT_SERVICE_TYPE_KEK, SANDBOX_BLUE_BROTHERS, SANDBOX_PSBC } from "./sandbox-credentials.js";
import { ORDER_STREAM, VOUCHER_STREAM } from "./streams.js";

export interface PlatformOptions {
  logger: Logger;
  host?: string;
  /** 0 picks a free port (tests). */
  gatewayPort?: number;
  orderPort?: number;
  voucherPort?: number;
  /** Where the sandboxes listen; fixed in `npm start`, so the voucher URLs answered keep working after a restart. */
  psbcSandboxPort?: number;
  blueBrothersSandboxPort?: number;
  /** Real servers when given; otherwise PGlite (in `dataDir`, or in memory), an in-process lock and bus. */
  databaseUrl?: string;
  dataDir?: string;
  redisUrl?: string;
  natsUrl?: string;
  /** The AES secret of sandbox service type 310001. */
  sandboxAes: { key: string; iv: string };
  /** The bearer token of admin RPCs; absent: a random one (only this process knows it). */
  adminToken?: string;
  /** Seals service-type keys at rest; absent: the development KEK. */
  serviceTypeKeys?: KeyRing;
  /** Deadline of each call to PSBC and Blue Brothers; the cluster's default unless a test shortens it. */
  upstreamTimeoutMs?: number;
  /** Where every part records its series; a registry of the platform's own when absent. */
  metrics?: Metrics;
  /** How closing drains: a delay serving while not ready, then a grace for calls in flight (0 and 5 s unless set). */
  shutdownDelayMs?: number;
  shutdownGraceMs?: number;
}

export interface RunningPlatform {
  gatewayUrl: string;
  orderUrl: string;
  voucherUrl: string;
  /** What an admin client of the order service sends as `authorization: Bearer …`. */
  adminToken: string;
  gateway: FastifyInstance;
  psbcSandbox: PsbcSandbox;
  blueBrothersSandbox: BlueBrothersSandbox;
  services: HostedService[];
  db: Database;
  bus: EventBus;
  metrics: Metrics;
  close(): Promise<void>;
}

/**
 * The whole system in one process: sandboxes, voucher and order services each on its own gRPC port (so every
 * call is a real HTTP/2 call), and the gateway. `npm start` runs it; the end-to-end tests run it against the
 * real PostgreSQL, Redis and NATS when their URLs are set.
 */
export async function startPlatform(options: PlatformOptions): Promise<RunningPlatform> {
  const { logger } = options;
  const host = options.host ?? "127.0.0.1";
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? DEFAULT_TIMEOUTS.upstreamMs;
  const metrics = options.metrics ?? new Metrics();
  const shutdownDelayMs = options.shutdownDelayMs ?? 0;
  const adminToken = options.adminToken ?? randomBytes(32).toString("hex");
  // One process, one database: each service migrates its own schema as it starts.
  const runtime: HostRuntime = { metrics, migrations: "apply", shutdownDelayMs, shutdownGraceMs: options.shutdownGraceMs ?? 5_000 };
  const closers: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<void> => {
    for (const closer of closers.reverse()) await closer().catch((err: unknown) => logger.warn({ err }, "close failed"));
  };
  try {
    const db = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, logger });
    closers.push(() => db.close());
    const bus: EventBus = await connectEventBus({
      url: options.natsUrl,
      streams: [ORDER_STREAM, VOUCHER_STREAM],
      name: "platform",
      logger,
      metrics,
    });
    closers.push(() => bus.close());
    const lock: LockService = createLockService({ url: options.redisUrl, logger });
    closers.push(() => lock.close());

    // The sandboxes keep their bookings and vouchers beside the services' data, so a restart loses none.
    const sandboxStore = await databaseSandboxStore(sharedDatabase(db), logger);
    const psbcSandbox = await startPsbcSandbox({ host, port: options.psbcSandboxPort ?? 0, ...SANDBOX_PSBC, store: sandboxStore, logger });
    closers.push(() => psbcSandbox.close());
    const blueBrothersSandbox = await startBlueBrothersSandbox({
      host,
      port: options.blueBrothersSandboxPort ?? 0,
      ...SANDBOX_BLUE_BROTHERS,
      store: sandboxStore,
      logger,
    });
    closers.push(() => blueBrothersSandbox.close());

    const voucher = await startVoucherService({
      host,
      port: options.voucherPort ?? 0,
      db: sharedDatabase(db),
      bus,
      logger: createLogger("voucher", logger.level),
      runtime,
      channels: new Map([
        [
          "BLUE_BROTHERS",
          createBlueBrothersChannel({ baseUrl: blueBrothersSandbox.url, ...SANDBOX_BLUE_BROTHERS, timeoutMs: upstreamTimeoutMs, metrics }),
        ],
      ]),
    });
    closers.push(() => voucher.close());
    await voucher.ready;
    const voucherUrl = `http://${host}:${voucher.port}`;

    const voucherTransport = rpcTransport(voucherUrl, { timeoutMs: DEFAULT_TIMEOUTS.rpcMs });
    const order = await startOrderService({
      host,
      port: options.orderPort ?? 0,
      db: sharedDatabase(db),
      lock,
      bus,
      psbc: createPsbcPlatform({ baseUrl: psbcSandbox.url, ...SANDBOX_PSBC, timeoutMs: upstreamTimeoutMs, metrics }),
      voucherTransport,
      logger: createLogger("order", logger.level),
      runtime,
      adminToken,
      serviceTypeKeys: options.serviceTypeKeys ?? new KeyRing(decodeKek(DEVELOPMENT_SERVICE_TYPE_KEK)),
      seedServiceTypes: [sandboxServiceType(options.sandboxAes)],
    });
    closers.push(() => order.close());
    await order.ready;
    const orderUrl = `http://${host}:${order.port}`;

    const orderTransport = rpcTransport(orderUrl, { timeoutMs: DEFAULT_TIMEOUTS.gatewayRpcMs });
    const gateway = await buildGateway({
      orderService: createClient(OrderService, orderTransport),
      readiness: [
        { name: "order", check: grpcHealthCheck(orderTransport) },
        { name: "voucher", check: grpcHealthCheck(voucherTransport) },
      ],
      logger: createLogger("gateway", logger.level),
      metrics,
      shutdownDelayMs,
    });
    closers.push(() => gateway.close());
    await gateway.listen({ host, port: options.gatewayPort ?? 0 });
    const address = gateway.server.address();
    const gatewayPort = typeof address === "object" && address ? address.port : options.gatewayPort;

    return {
      gatewayUrl: `http://${host}:${gatewayPort}`,
      orderUrl,
      voucherUrl,
      adminToken,
      gateway,
      psbcSandbox,
      blueBrothersSandbox,
      services: [voucher, order],
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
