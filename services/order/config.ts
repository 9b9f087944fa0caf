import { num, str, url } from "envalid";
import { aes16, DEFAULT_TIMEOUTS, kek, listenPort, secretToken } from "../common/config.js";

/** The order service's variables: its port, its peer (voucher), its upstream (PSBC). */
export const orderConfig = {
  ORDER_PORT: listenPort({ default: 50051 }),
  VOUCHER_SERVICE_URL: url({ default: "http://127.0.0.1:50052" }),
  RPC_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.rpcMs, desc: "deadline of calls to other services" }),
  PSBC_BASE_URL: url({ desc: "PSBC open platform base URL" }),
  PSBC_APP_ID: str(),
  PSBC_APP_SECRET: str(),
  PSBC_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.upstreamMs }),
  ADMIN_TOKEN: secretToken({ desc: "the bearer token admin RPCs (PutServiceType) require" }),
  SERVICE_TYPE_KEK: kek({ desc: "seals the service types' AES keys at rest (AES-256-GCM)" }),
  SERVICE_TYPE_KEK_PREVIOUS: kek({ default: undefined, desc: "during a rotation: the KEK being replaced, still accepted to open" }),
  SANDBOX_AES_KEY: aes16({ default: undefined, desc: "when set, registers sandbox service type 310001" }),
  SANDBOX_AES_IV: aes16({ default: undefined }),
  ORDER_EXPIRY_INTERVAL_MS: num({ default: 60_000, desc: "how often due orders are looked for and expired" }),
  ORDER_EXPIRY_BATCH: num({ default: 20, desc: "orders one replica claims per expiry round" }),
};
