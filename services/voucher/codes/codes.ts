import type { CallOptions, Client, ConnectRouter } from "@connectrpc/connect";
import type { NotifyService } from "../../../proto/gen/rights/notify/v1/notify_pb.js";
import type { PeriodicJob } from "../../common/periodic-job.js";
import { CodeService } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import type { Clock } from "../../common/clock.js";
import type { Database } from "../../common/database.js";
import type { Logger } from "../../common/logger.js";
import type { AuditStore } from "../catalogue/audit-store.js";
import type { CatalogueStore } from "../catalogue/catalogue-store.js";
import { createInternalChannel } from "../channels/internal/channel.js";
import type { SendChannel } from "../channels/send-channel.js";
import { createQuotaGate } from "../rules/quota-gate.js";
import { RuleStore } from "../rules/rule-store.js";
import { bulkCodeWriter } from "./bulk-code-writer.js";
import { BulkJobStore } from "./bulk-job-store.js";
import { BULK_BATCH_SIZE, BulkMakeCodes } from "./bulk-make-code.js";
import { CodeOrderStore, type CodeOrderRecord } from "./code-order-store.js";
import { MakeCodes } from "./make-code.js";
import { MakeCodeNotices } from "./make-code-notices.js";
import { codeServiceImpl } from "./routes.js";
import { SaleChannelSignatures } from "./sale-channel-signatures.js";
import { sendChannelFor, type EsbAccess } from "./send-channels.js";

/** The codes sub-module of the voucher service, assembled: make-code over the catalogue, the quota gate and the send channels. */
export function startCodes(deps: {
  db: Database;
  catalogue: CatalogueStore;
  audit: AuditStore;
  blueBrothers: SendChannel;
  esb: EsbAccess;
  clock: Clock;
  logger: Logger;
  /** How long a make-code may hold its order (the send channel's deadline and some). */
  leaseMs: number;
  /** Where make-code SMS notices go (CreateTasks is an admin RPC: callOptions carry the token). */
  notify: { client: Client<typeof NotifyService>; callOptions: () => CallOptions };
}): { makeCodes: MakeCodes; routes(router: ConnectRouter): void; jobs: PeriodicJob[] } {
  const { db, catalogue } = deps;
  const orders = new CodeOrderStore(db);
  const notices = new MakeCodeNotices({ db, orders, notify: deps.notify.client, callOptions: deps.notify.callOptions, logger: deps.logger });
  const internal = createInternalChannel({ db });
  const makeCodes = new MakeCodes({
    orders,
    catalogue,
    quota: createQuotaGate({ db, rules: new RuleStore(db), clock: deps.clock }),
    channelFor: async (record) =>
      sendChannelFor(record, record.channelType === "ESB" ? await catalogue.sendChannelSecret(record.sendChannelId) : null, {
        internal,
        blueBrothers: deps.blueBrothers,
        esb: deps.esb,
      }),
    clock: deps.clock,
    logger: deps.logger,
    leaseMs: deps.leaseMs,
    onMade: (order: CodeOrderRecord) => notices.queue(order),
  });
  const signatures = new SaleChannelSignatures(catalogue);
  // Rounds of a minute (then the job is let go, so a closing service stops promptly), a lease of two.
  const bulk = new BulkMakeCodes({
    db, jobs: new BulkJobStore(db), catalogue, audit: deps.audit, writer: bulkCodeWriter, logger: deps.logger, leaseMs: 120_000, batchSize: BULK_BATCH_SIZE, roundMs: 60_000,
  });
  return {
    makeCodes,
    routes: (router) => void router.service(CodeService, codeServiceImpl(makeCodes, signatures, notices, bulk)),
    jobs: [
      { name: "bulk make-code", intervalMs: 2_000, run: () => bulk.runRound() },
      { name: "cancelled bulk codes", intervalMs: 60_000, run: () => bulk.purgeCancelledCodes() },
      {
        name: "make-code notices",
        intervalMs: 30_000,
        // Orders a minute old: the make-code's own hand-over has had its chance.
        run: async () => (await notices.queueDue((tradeNo) => orders.findByTradeNo(tradeNo), 60_000, 100)) === 100,
      },
    ],
  };
}
