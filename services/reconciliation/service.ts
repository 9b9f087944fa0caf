import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { NotifyService } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { OrderService } from "../../proto/gen/rights/order/v1/order_pb.js";
import { ReconciliationService } from "../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { adminCredentialInterceptor } from "../common/admin-credential.js";
import { rpcTransport } from "../common/rpc-client.js";
import { defineService } from "../common/service-descriptor.js";
import { reconciliationConfig } from "./config.js";
import { ReconciliationFiles } from "./files.js";
import { ledgerConsumer, RECONCILIATION_SCHEMA } from "./ledger.js";
import { DownloadPasswords } from "./passwords.js";
import { reconciliationServiceImpl } from "./routes.js";
import { monthlyFileJob } from "./schedule.js";

/**
 * The reconciliation service: the ledger of completed orders (from order.completed), the monthly files PSBC
 * lists and downloads, and batch re-push (through the order and notify services).
 */
export const reconciliationService = defineService({
  name: "reconciliation",
  schema: { name: RECONCILIATION_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) },
  // It publishes nothing; the stream holds its future events (a file generated, say).
  streams: [{ name: "RECONCILIATION", subjects: ["reconciliation.>"] }],
  config: reconciliationConfig,
  // A lease per month's generation, and wrong download passwords counted across replicas.
  needs: { redis: true },
  peers: ["order", "notify"],
  start({ env, db, lock, limiter, logger, clock }) {
    const files = new ReconciliationFiles({ db, lock, clock, logger, providerCode: env.PSBC_PROVIDER_CODE });
    const passwords = new DownloadPasswords({
      db,
      limiter,
      logger,
      configuredHash: env.RECONCILIATION_PASSWORD_HASH,
      maxFailures: env.RECONCILIATION_PASSWORD_MAX_FAILURES,
      windowMs: env.RECONCILIATION_PASSWORD_WINDOW_MS,
    });
    const transport = (url: string) => rpcTransport(url, { timeoutMs: env.RPC_TIMEOUT_MS });
    const impl = reconciliationServiceImpl({
      db,
      clock,
      files,
      passwords,
      orders: createClient(OrderService, transport(env.ORDER_SERVICE_URL)),
      notify: createClient(NotifyService, transport(env.NOTIFY_SERVICE_URL)),
      adminToken: env.ADMIN_TOKEN,
      logger,
    });
    const { method } = ReconciliationService;
    return {
      interceptors: [
        adminCredentialInterceptor({
          token: env.ADMIN_TOKEN,
          adminMethods: [method.generateFile, method.importBranches, method.setDownloadPassword],
          logger,
        }),
      ],
      routes: (router) => router.service(ReconciliationService, impl),
      consumers: [ledgerConsumer(logger)],
      jobs: [monthlyFileJob(files, clock, env.RECONCILIATION_SCHEDULE_CHECK_MS)],
    };
  },
});
