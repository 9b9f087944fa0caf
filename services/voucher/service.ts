import { fileURLToPath } from "node:url";
import { defineService } from "../common/service-descriptor.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { createBlueBrothersChannel } from "./channels/blue-brothers/channel.js";
import { voucherConfig } from "./config.js";
import { voucherServiceImpl } from "./routes.js";
import { VOUCHER_SCHEMA, VoucherStore } from "./voucher-store.js";
import { Vouchers } from "./vouchers.js";

/** The voucher service: issues, voids and looks up vouchers at their send channels (制码方). */
export const voucherService = defineService({
  name: "voucher",
  schema: { name: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) },
  streams: [{ name: "VOUCHER", subjects: ["voucher.>"] }],
  config: voucherConfig,
  needs: {},
  peers: [],
  start({ env, db, logger, metrics, eventsWritten }) {
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
    const vouchers = new Vouchers({ store: new VoucherStore(db), channels, logger, eventsWritten });
    return { routes: (router) => router.service(VoucherService, voucherServiceImpl(vouchers)) };
  },
});
