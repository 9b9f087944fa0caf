import { bool, num, str, url } from "envalid";
import { DEFAULT_TIMEOUTS, kek, listenPort, secretToken } from "../common/config.js";

/** The voucher service's variables: its port, its send channel (Blue Brothers), and the WHALE back office's secrets. */
export const voucherConfig = {
  VOUCHER_PORT: listenPort({ default: 50052 }),
  BLUE_BROTHERS_BASE_URL: url({ desc: "Blue Brothers marketing platform base URL" }),
  BLUE_BROTHERS_APP_ID: str(),
  BLUE_BROTHERS_APP_SECRET: str(),
  BLUE_BROTHERS_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.upstreamMs }),
  VOUCHER_STATUS_POLL_INTERVAL_MS: num({
    default: 10 * 60_000,
    desc: "how often each issued, unredeemed voucher's status is asked of its channel (a safety net for lost redemption notices)",
  }),
  NOTIFY_SERVICE_URL: url({ default: "http://127.0.0.1:50053", desc: "the notify service: make-code SMS notices" }),
  RPC_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.rpcMs, desc: "deadline of calls to other services" }),
  ESB_APP_ID: str({ default: "", desc: "WHALE's app id at the ESB (ESB send channels' calls are signed with it)" }),
  ESB_APP_SECRET: str({ default: "", desc: "WHALE's secret at the ESB" }),
  ESB_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.upstreamMs, desc: "deadline of each call to the ESB" }),
  VOUCHER_STATUS_POLL_BATCH: num({ default: 50, desc: "vouchers one replica claims per poll round" }),

  ADMIN_TOKEN: secretToken({ desc: "the bearer token admin RPCs (the ERP apps: PutErpApp, GrantErpActions, …) require" }),
  WHALE_KEK: kek({ desc: "seals the ERP apps' secrets, WHALE's private keys per sale channel and send channels' keys at rest (AES-256-GCM)" }),
  WHALE_KEK_PREVIOUS: kek({ default: undefined, desc: "during a rotation: the KEK being replaced, still accepted to open" }),
  ERP_SANDBOX_SECRET: str({ default: undefined, desc: "when set, registers the back-office app erp-sandbox with this secret and every action" }),
  SANDBOX_PSBC_OFFER: bool({ default: false, desc: "seeds the sale channel PSBC and the template sandbox service type 310001 books against (staging only)" }),
};
