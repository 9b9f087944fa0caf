import { makeValidator, num, url } from "envalid";
import { DEFAULT_TIMEOUTS, listenPort, secretToken } from "../common/config.js";

/** An argon2id hash in its PHC form, as `argon2` tools and SetDownloadPassword write it. */
const argon2idHash = makeValidator<string>((value) => {
  if (!/^\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/.test(value)) {
    throw new Error("must be an argon2id hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash)");
  }
  return value;
});

/** A PSBC provider code: it names the file interface and the file, so letters and digits only. */
const providerCode = makeValidator<string>((value) => {
  if (!/^[A-Za-z0-9]{1,16}$/.test(value)) throw new Error("must be 1 to 16 letters or digits, e.g. A101");
  return value;
});

/** The reconciliation service's variables: its port, its peers (order, notify), its file interface and password. */
export const reconciliationConfig = {
  RECONCILIATION_PORT: listenPort({ default: 50054 }),
  ORDER_SERVICE_URL: url({ default: "http://127.0.0.1:50051" }),
  NOTIFY_SERVICE_URL: url({ default: "http://127.0.0.1:50053" }),
  RPC_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.rpcMs, desc: "deadline of calls to other services" }),
  ADMIN_TOKEN: secretToken({ desc: "the bearer token admin RPCs (GenerateFile, ImportBranches, SetDownloadPassword) require, and CreateTasks sends" }),
  PSBC_PROVIDER_CODE: providerCode({ desc: "our provider code at PSBC: file interface RIGHTS_SERVICE_CHK_<code> (embedded: A101)" }),
  RECONCILIATION_PASSWORD_HASH: argon2idHash({
    default: undefined,
    desc: "the file interface's download password (argon2id hash, from a Secret) until an operator sets one",
  }),
  RECONCILIATION_PASSWORD_MAX_FAILURES: num({ default: 5, desc: "wrong download passwords a client may send per window" }),
  RECONCILIATION_PASSWORD_WINDOW_MS: num({ default: 15 * 60_000, desc: "the window, from a client's first wrong password" }),
  RECONCILIATION_SCHEDULE_CHECK_MS: num({ default: 60_000, desc: "how often the monthly file's schedule is checked" }),
};
