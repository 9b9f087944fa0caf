import { fileURLToPath } from "node:url";
import type { EventBus } from "../common/bus.js";
import type { Database } from "../common/database.js";
import type { Logger } from "../common/logger.js";
import { hostService, type HostedService, type HostRuntime } from "../common/service-host.js";
import { VoucherService } from "../../proto/gen/rights/voucher/v1/voucher_pb.js";
import { voucherServiceImpl } from "./routes.js";
import type { SendChannel } from "./send-channel.js";
import { VOUCHER_SCHEMA, VoucherStore } from "./voucher-store.js";
import { Vouchers } from "./vouchers.js";

export interface VoucherServiceOptions {
  host: string;
  port: number;
  db: Database;
  bus: EventBus;
  /** Send channels (制码方) by the name service types refer to, e.g. BLUE_BROTHERS. */
  channels: ReadonlyMap<string, SendChannel>;
  logger: Logger;
  runtime: HostRuntime;
}

/** The schema the voucher service owns and its migrations (for the migration command too). */
export const voucherSchema = { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) };

export async function startVoucherService(options: VoucherServiceOptions): Promise<HostedService> {
  const store = new VoucherStore(options.db);
  return hostService({
    name: "voucher",
    ...voucherSchema,
    db: options.db,
    bus: options.bus,
    logger: options.logger,
    runtime: options.runtime,
    host: options.host,
    port: options.port,
    routes({ eventsWritten }) {
      const vouchers = new Vouchers({ store, channels: options.channels, logger: options.logger, eventsWritten });
      return (router) => router.service(VoucherService, voucherServiceImpl(vouchers));
    },
  });
}
