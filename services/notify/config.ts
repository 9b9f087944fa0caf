import { num, str, url } from "envalid";
import { DEFAULT_TIMEOUTS, listenPort, secretToken } from "../common/config.js";

/** The notify service's variables: its port, its upstreams (PSBC, the same variables as the order service's; the SMS gateway), its workers. */
export const notifyConfig = {
  NOTIFY_PORT: listenPort({ default: 50053 }),
  PSBC_BASE_URL: url({ desc: "PSBC open platform base URL" }),
  PSBC_APP_ID: str(),
  PSBC_APP_SECRET: str(),
  PSBC_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.upstreamMs }),
  SMS_BASE_URL: url({ desc: "SMS gateway base URL (make-code notices)" }),
  SMS_APP_ID: str(),
  SMS_APP_SECRET: str(),
  SMS_TIMEOUT_MS: num({ default: DEFAULT_TIMEOUTS.upstreamMs }),
  ADMIN_TOKEN: secretToken({ desc: "the bearer token admin RPCs (CreateTasks, RetryTask) require" }),
  NOTIFY_WORKERS: num({ default: 2, desc: "delivery workers per replica; every replica's workers share the tasks" }),
  NOTIFY_BATCH_SIZE: num({ default: 200, desc: "tasks a worker claims at once (one round trip) and records at once" }),
  NOTIFY_CONCURRENCY: num({ default: 100, desc: "deliveries a worker has in flight at once" }),
  NOTIFY_POLL_MS: num({ default: 250, desc: "how often an idle worker looks for due tasks" }),
  NOTIFY_LEASE_MS: num({ default: 30_000, desc: "a claimed task is another worker's again after this (a killed worker); above the longer of PSBC_TIMEOUT_MS and SMS_TIMEOUT_MS × ⌈NOTIFY_BATCH_SIZE / NOTIFY_CONCURRENCY⌉" }),
  NOTIFY_MAX_ATTEMPTS: num({ default: 12, desc: "failed attempts before a task is dead (12 with the default backoff: 9 to 19 minutes of waits, then RetryTask)" }),
  NOTIFY_BACKOFF_BASE_MS: num({ default: 1_000, desc: "delay after the first failure; doubles per attempt, with jitter" }),
  NOTIFY_BACKOFF_MAX_MS: num({ default: 300_000, desc: "longest delay between attempts" }),
};
