import { fileURLToPath } from "node:url";
import { defineService } from "../common/service-descriptor.js";
import { SIGNATURE_MAX_SKEW_MS } from "../common/signing.js";
import { RuleService } from "../../proto/gen/rights/voucher/v1/rules_pb.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { createBlueBrothersChannel } from "./channels/blue-brothers/channel.js";
import { voucherConfig } from "./config.js";
import { voucherServiceImpl } from "./routes.js";
import { RuleStore } from "./rules/rule-store.js";
import { Rules } from "./rules/rules.js";
import { ruleServiceImpl } from "./rules/routes.js";
import { VOUCHER_SCHEMA, VoucherStore } from "./voucher-store.js";
import { Vouchers } from "./vouchers.js";

/** The voucher service: issues, voids and looks up vouchers at their send channels (制码方); WHALE's rules. */
export const voucherService = defineService({
  name: "voucher",
  schema: { name: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) },
  streams: [{ name: "VOUCHER", subjects: ["voucher.>"] }],
  config: voucherConfig,
  needs: {},
  peers: [],
  start({ env, db, logger, metrics, clock, eventsWritten }) {
    // Send channels by the name service types refer to.
    const channels = new Map([
      [
        "BLUE_BROTHERS",
        createBlueBrothersChannel({
          baseUrl: env.BLUE_BROTHERS_BASE_URL,
          appId: env.BLUE_BROTHERS_APP_ID,
          appSecret: env.BLUE_BROTHERS_APP_SECRET,
          timeoutMs: env.BLUE_BROTHERS_TIMEOUT_MS,
          metrics,
        }),
      ],
    ]);
    const store = new VoucherStore(db);
    const vouchers = new Vouchers({ store, channels, logger, clock, eventsWritten });
    const rules = new Rules({ store: new RuleStore(db), clock });
    const pollIntervalMs = env.VOUCHER_STATUS_POLL_INTERVAL_MS;
    return {
      routes: (router) => router.service(VoucherService, voucherServiceImpl(vouchers)).service(RuleService, ruleServiceImpl(rules)),
      jobs: [
        {
          name: "voucher status poll",
          // Rounds come often enough that a batch-limited backlog drains; each voucher is asked once per interval.
          intervalMs: Math.min(pollIntervalMs, 60_000),
          async run() {
            await store.pruneNonces(2 * SIGNATURE_MAX_SKEW_MS);
            const { claimed } = await vouchers.pollStatuses(pollIntervalMs, env.VOUCHER_STATUS_POLL_BATCH);
            return claimed === env.VOUCHER_STATUS_POLL_BATCH;
          },
        },
      ],
    };
  },
});
