import type { ConnectRouter } from "@connectrpc/connect";
import { CodeService } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import type { Clock } from "../../common/clock.js";
import type { Database } from "../../common/database.js";
import type { Logger } from "../../common/logger.js";
import type { CatalogueStore } from "../catalogue/catalogue-store.js";
import { createInternalChannel } from "../channels/internal/channel.js";
import type { SendChannel } from "../channels/send-channel.js";
import { createQuotaGate } from "../rules/quota-gate.js";
import { RuleStore } from "../rules/rule-store.js";
import { CodeOrderStore, type CodeOrderRecord } from "./code-order-store.js";
import { MakeCodes } from "./make-code.js";
import { codeServiceImpl } from "./routes.js";
import { SaleChannelSignatures } from "./sale-channel-signatures.js";
import { sendChannelFor, type EsbAccess } from "./send-channels.js";

/** The codes sub-module of the voucher service, assembled: make-code over the catalogue, the quota gate and the send channels. */
export function startCodes(deps: {
  db: Database;
  catalogue: CatalogueStore;
  blueBrothers: SendChannel;
  esb: EsbAccess;
  clock: Clock;
  logger: Logger;
  /** How long a make-code may hold its order (the send channel's deadline and some). */
  leaseMs: number;
  onMade?(order: CodeOrderRecord): Promise<void>;
}): { makeCodes: MakeCodes; routes(router: ConnectRouter): void } {
  const { db, catalogue } = deps;
  const internal = createInternalChannel({ db });
  const makeCodes = new MakeCodes({
    orders: new CodeOrderStore(db),
    catalogue,
    db,
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
    onMade: deps.onMade,
  });
  const signatures = new SaleChannelSignatures(catalogue);
  return { makeCodes, routes: (router) => void router.service(CodeService, codeServiceImpl(makeCodes, signatures)) };
}
