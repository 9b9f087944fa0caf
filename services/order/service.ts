import { fileURLToPath } from "node:url";
import { createClient, type Transport } from "@connectrpc/connect";
import type { EventBus } from "../common/bus.js";
import type { Database } from "../common/database.js";
import type { LockService } from "../common/lock.js";
import type { Logger } from "../common/logger.js";
import { hostService, type HostedService, type HostRuntime } from "../common/service-host.js";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { Bookings } from "./bookings.js";
import { ORDER_SCHEMA, OrderStore } from "./order-store.js";
import type { PsbcPlatform } from "./psbc-platform.js";
import { orderServiceImpl } from "./routes.js";
import { ServiceTypes, type ServiceType } from "./service-types.js";

export interface OrderServiceOptions {
  host: string;
  port: number;
  db: Database;
  lock: LockService;
  bus: EventBus;
  psbc: PsbcPlatform;
  voucherTransport: Transport;
  logger: Logger;
  runtime: HostRuntime;
  /** Service types to register at start (the sandbox type 310001 in embedded mode). */
  seedServiceTypes?: ServiceType[];
}

/** The schema the order service owns and its migrations (for the migration command too). */
export const orderSchema = { schema: ORDER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) };

export async function startOrderService(options: OrderServiceOptions): Promise<HostedService> {
  const serviceTypes = new ServiceTypes(options.db);
  const orders = new OrderStore(options.db);
  const vouchers = createClient(VoucherService, options.voucherTransport);
  return hostService({
    name: "order",
    ...orderSchema,
    db: options.db,
    bus: options.bus,
    dependencies: [{ name: "redis", ping: () => options.lock.ping() }],
    logger: options.logger,
    runtime: options.runtime,
    host: options.host,
    port: options.port,
    async prepare() {
      for (const serviceType of options.seedServiceTypes ?? []) await serviceTypes.put(serviceType);
    },
    routes({ eventsWritten }) {
      const bookings = new Bookings({
        serviceTypes,
        orders,
        lock: options.lock,
        psbc: options.psbc,
        vouchers,
        logger: options.logger,
        eventsWritten,
      });
      return (router) => router.service(OrderService, orderServiceImpl(bookings, serviceTypes));
    },
  });
}

/** The sandbox service type that embedded mode and the tests book against. */
export function sandboxServiceType(secret: { key: string; iv: string }): ServiceType {
  return {
    type: "310001",
    name: "sandbox rights service",
    aesKey: secret.key,
    aesIv: secret.iv,
    providerCode: "A101",
    voucherTemplateId: "BB-TPL-310001",
    sendChannel: "BLUE_BROTHERS",
    validityDays: 365,
  };
}
