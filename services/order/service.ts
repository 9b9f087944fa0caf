import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { adminCredentialInterceptor } from "../common/admin-credential.js";
import { ConfigError } from "../common/config.js";
import { decodeKek, KeyRing } from "../common/key-ring.js";
import { rpcTransport } from "../common/rpc-client.js";
import { defineService } from "../common/service-descriptor.js";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { Bookings } from "./bookings.js";
import { orderConfig } from "./config.js";
import { orderConsumers } from "./consumers.js";
import { expireDueOrders } from "./expiry.js";
import { ORDER_SCHEMA, OrderStore } from "./order-store.js";
import { OrderViews } from "./order-views.js";
import { createPsbcPlatform } from "./psbc/platform.js";
import { orderServiceImpl } from "./routes.js";
import { ServiceTypes, type ServiceType } from "./service-types.js";
import { SANDBOX_PSBC_OFFER } from "../sandbox/credentials.js";

/** The order service: PSBC rights orders (booking, cancel, detail, points), booked at PSBC, vouchers from voucher. */
export const orderService = defineService({
  name: "order",
  schema: { name: ORDER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) },
  streams: [{ name: "ORDER", subjects: ["order.>"] }],
  config: orderConfig,
  // The lock keeps concurrent requests for one rights code from doing the work twice.
  needs: { redis: true },
  peers: ["voucher"],
  start({ env, db, lock, logger, metrics, clock, eventsWritten }) {
    if (Boolean(env.SANDBOX_AES_KEY) !== Boolean(env.SANDBOX_AES_IV)) {
      throw new ConfigError("invalid configuration:\n  SANDBOX_AES_KEY and SANDBOX_AES_IV go together");
    }
    // SERVICE_TYPE_KEK seals the service types' AES secrets; during a rotation the previous one still opens them.
    const keys = new KeyRing(decodeKek(env.SERVICE_TYPE_KEK), env.SERVICE_TYPE_KEK_PREVIOUS ? decodeKek(env.SERVICE_TYPE_KEK_PREVIOUS) : undefined);
    const serviceTypes = new ServiceTypes({ db, keys, logger });
    const orders = new OrderStore(db, clock);
    const vouchers = createClient(VoucherService, rpcTransport(env.VOUCHER_SERVICE_URL, { timeoutMs: env.RPC_TIMEOUT_MS }));
    const bookings = new Bookings({
      serviceTypes,
      orders,
      lock,
      psbc: createPsbcPlatform({
        baseUrl: env.PSBC_BASE_URL,
        appId: env.PSBC_APP_ID,
        appSecret: env.PSBC_APP_SECRET,
        timeoutMs: env.PSBC_TIMEOUT_MS,
        metrics,
      }),
      vouchers,
      voucherTimeoutMs: env.RPC_TIMEOUT_MS,
      psbcTimeoutMs: env.PSBC_TIMEOUT_MS,
      logger,
      eventsWritten,
      now: () => clock.now(),
    });
    // A claim outlasts one order's voucher call (its deadline, with the channel's behind it) many times over.
    const expiry = { orders, vouchers, lock, logger, eventsWritten, claimMs: 10 * env.RPC_TIMEOUT_MS };
    const sandboxSecret = env.SANDBOX_AES_KEY && env.SANDBOX_AES_IV ? { key: env.SANDBOX_AES_KEY, iv: env.SANDBOX_AES_IV } : undefined;
    return {
      interceptors: [adminCredentialInterceptor({ token: env.ADMIN_TOKEN, adminMethods: [OrderService.method.putServiceType], logger })],
      routes: (router) => router.service(OrderService, orderServiceImpl(bookings, serviceTypes, new OrderViews(db), logger)),
      consumers: orderConsumers(orders, logger),
      jobs: [
        {
          name: "order expiry",
          intervalMs: env.ORDER_EXPIRY_INTERVAL_MS,
          run: async () => (await expireDueOrders(expiry, env.ORDER_EXPIRY_BATCH)) === env.ORDER_EXPIRY_BATCH,
        },
      ],
      async prepare() {
        // Rows left in plaintext by migration 002, or sealed under the previous KEK after a rotation.
        await serviceTypes.sealAll();
        if (sandboxSecret) await serviceTypes.put(sandboxServiceType(sandboxSecret));
      },
    };
  },
});

/** The sandbox service type that embedded mode and the tests book against. */
export function sandboxServiceType(secret: { key: string; iv: string }): ServiceType {
  return {
    type: "310001",
    name: "sandbox rights service",
    aesKey: secret.key,
    aesIv: secret.iv,
    providerCode: "A101",
    // The WHALE template of the sandbox's PSBC offer, which the voucher service seeds (SANDBOX_PSBC_OFFER).
    voucherTemplateId: SANDBOX_PSBC_OFFER.templateId,
    sendChannel: "BLUE_BROTHERS",
    validityDays: 365,
    strictMac: false,
  };
}
