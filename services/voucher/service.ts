import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { adminAuthorization, adminCredentialInterceptor } from "../common/admin-credential.js";
import { rpcTransport } from "../common/rpc-client.js";
import { NotifyService } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { decodeKek, KeyRing } from "../common/key-ring.js";
import { defineService } from "../common/service-descriptor.js";
import { SIGNATURE_MAX_SKEW_MS } from "../common/signing.js";
import { CatalogueService } from "../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { RuleService } from "../../proto/gen/rights/voucher/v1/rules_pb.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { AuditStore } from "./catalogue/audit-store.js";
import { Catalogue } from "./catalogue/catalogue.js";
import { CatalogueStore } from "./catalogue/catalogue-store.js";
import { ErpApps } from "./catalogue/erp-apps.js";
import { CATALOGUE_ADMIN_METHODS, catalogueServiceImpl } from "./catalogue/routes.js";
import { SecretReseal } from "./catalogue/secret-reseal.js";
import { SANDBOX_ERP } from "../sandbox/credentials.js";
import { createBlueBrothersChannel } from "./channels/blue-brothers/channel.js";
import { voucherConfig } from "./config.js";
import { voucherServiceImpl } from "./routes.js";
import { RuleStore } from "./rules/rule-store.js";
import { Rules } from "./rules/rules.js";
import { ruleServiceImpl } from "./rules/routes.js";
import { VOUCHER_SCHEMA, VoucherStore } from "./voucher-store.js";
import { Vouchers } from "./vouchers.js";
import { ensureSandboxPsbcOffer } from "./psbc-offer.js";
import { startCodes } from "./codes/codes.js";
import { CODE_ADMIN_METHODS } from "./codes/routes.js";

/**
 * The voucher service: issues, voids and looks up vouchers at their send channels (制码方), and the WHALE
 * catalogue the ERP's back office manages, its rules and quotas, and code making (制码) for sale channels.
 */
export const voucherService = defineService({
  name: "voucher",
  schema: { name: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) },
  streams: [{ name: "VOUCHER", subjects: ["voucher.>"] }],
  config: voucherConfig,
  // Redis remembers the back-office calls' nonces, so a replay to another replica is caught too.
  needs: { redis: true },
  // The notify service takes the make-code SMS notices.
  peers: ["notify"],
  start({ env, db, limiter, logger, metrics, clock, eventsWritten }) {
    const blueBrothers = createBlueBrothersChannel({
      baseUrl: env.BLUE_BROTHERS_BASE_URL,
      appId: env.BLUE_BROTHERS_APP_ID,
      appSecret: env.BLUE_BROTHERS_APP_SECRET,
      timeoutMs: env.BLUE_BROTHERS_TIMEOUT_MS,
      metrics,
    });
    // Send channels by the name service types refer to.
    const channels = new Map([["BLUE_BROTHERS", blueBrothers]]);
    const store = new VoucherStore(db);
    // WHALE_KEK seals the back office's secrets; during a rotation the previous one still opens them.
    const keys = new KeyRing(decodeKek(env.WHALE_KEK), env.WHALE_KEK_PREVIOUS ? decodeKek(env.WHALE_KEK_PREVIOUS) : undefined, "WHALE_KEK");
    const audit = new AuditStore(db);
    const catalogueStore = new CatalogueStore(db, keys);
    const catalogue = new Catalogue({ db, store: catalogueStore, audit });
    const erpApps = new ErpApps({ db, keys, nonces: limiter, audit, logger });
    const rules = new Rules({ store: new RuleStore(db), clock });
    const codes = startCodes({
      db,
      catalogue: catalogueStore,
      audit,
      blueBrothers,
      esb: { appId: env.ESB_APP_ID, appSecret: env.ESB_APP_SECRET, timeoutMs: env.ESB_TIMEOUT_MS, metrics },
      clock,
      logger,
      // A make-code's send channel may take its whole deadline, and Blue Brothers one per code.
      leaseMs: Math.max(env.ESB_TIMEOUT_MS, env.BLUE_BROTHERS_TIMEOUT_MS) * 4,
      notify: {
        client: createClient(NotifyService, rpcTransport(env.NOTIFY_SERVICE_URL, { timeoutMs: env.RPC_TIMEOUT_MS })),
        callOptions: () => ({ headers: adminAuthorization(env.ADMIN_TOKEN) }),
      },
    });
    // A PSBC booking's voucher is a code order of the PSBC sale channel: the same make-code as any sale channel's.
    const pollIntervalMs = env.VOUCHER_STATUS_POLL_INTERVAL_MS;
    const vouchers = new Vouchers({
      store, makeCodes: codes.makeCodes, catalogue: catalogueStore, channels, logger, clock, statusPollIntervalMs: pollIntervalMs, eventsWritten,
    });
    return {
      interceptors: [adminCredentialInterceptor({ token: env.ADMIN_TOKEN, adminMethods: [...CATALOGUE_ADMIN_METHODS, ...CODE_ADMIN_METHODS], logger })],
      routes: (router) => {
        router.service(VoucherService, voucherServiceImpl(vouchers));
        router.service(CatalogueService, catalogueServiceImpl(catalogue, erpApps, audit, new SecretReseal({ db, keys, logger })));
        router.service(RuleService, ruleServiceImpl(rules));
        codes.routes(router);
      },
      async prepare() {
        if (env.ERP_SANDBOX_SECRET) await erpApps.ensureSandboxApp(SANDBOX_ERP.appId, env.ERP_SANDBOX_SECRET);
        if (env.SANDBOX_PSBC_OFFER) await ensureSandboxPsbcOffer({ db, store: catalogueStore, audit, clock });
      },
      jobs: [
        ...codes.jobs,
        {
          name: "voucher status poll",
          // Rounds come often enough that a batch-limited backlog drains; each voucher is asked once per interval.
          intervalMs: Math.min(pollIntervalMs, 60_000),
          async run() {
            await store.pruneNonces(2 * SIGNATURE_MAX_SKEW_MS);
            const { claimed } = await vouchers.pollStatuses(env.VOUCHER_STATUS_POLL_BATCH);
            return claimed === env.VOUCHER_STATUS_POLL_BATCH;
          },
        },
      ],
    };
  },
});
