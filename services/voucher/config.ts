import { num, str, url } from "envalid";
import { DEFAULT_TIMEOUTS, listenPort } from "../common/config.js";

/** The voucher service's variables: its port and its send channel (Blue Brothers). */
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
  VOUCHER_STATUS_POLL_BATCH: num({ default: 50, desc: "vouchers one replica claims per poll round" }),
};
