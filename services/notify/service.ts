import { fileURLToPath } from "node:url";
import { adminCredentialInterceptor } from "../common/admin-credential.js";
import { ConfigError } from "../common/config.js";
import { defineService } from "../common/service-descriptor.js";
import { TaskType, NotifyService } from "../../proto/gen/rights/notify/v1/notify_pb.js";
import { notifyConfig } from "./config.js";
import { notifyConsumers } from "./consumers.js";
import { DeliveryWorkers, longestBatchMs } from "./delivery-workers.js";
import { psbcServiceComplete } from "./psbc/service-complete.js";
import { notifyServiceImpl } from "./routes.js";
import { smsNotice } from "./sms/sms-notice.js";
import { registerTaskMetrics } from "./task-metrics.js";
import { NOTIFY_SCHEMA, TaskStore } from "./task-store.js";

/** The notify service: durable notification tasks (PSBC's service-complete notice, SMS notices), delivered with retries. */
export const notifyService = defineService({
  name: "notify",
  schema: { name: NOTIFY_SCHEMA, migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) },
  streams: [{ name: "NOTIFY", subjects: ["notify.>"] }],
  config: notifyConfig,
  needs: {},
  peers: [],
  start({ env, db, logger, metrics, clock, eventsWritten }) {
    if (env.NOTIFY_WORKERS < 1 || env.NOTIFY_BATCH_SIZE < 1 || env.NOTIFY_CONCURRENCY < 1 || env.NOTIFY_MAX_ATTEMPTS < 1) {
      throw new ConfigError("invalid configuration:\n  NOTIFY_WORKERS, NOTIFY_BATCH_SIZE, NOTIFY_CONCURRENCY and NOTIFY_MAX_ATTEMPTS are at least 1");
    }
    const longestBatch = longestBatchMs(
      { batchSize: env.NOTIFY_BATCH_SIZE, concurrency: env.NOTIFY_CONCURRENCY },
      Math.max(env.PSBC_TIMEOUT_MS, env.SMS_TIMEOUT_MS),
    );
    if (env.NOTIFY_LEASE_MS <= longestBatch) {
      throw new ConfigError(
        `invalid configuration:\n  NOTIFY_LEASE_MS must exceed the longer of PSBC_TIMEOUT_MS and SMS_TIMEOUT_MS × ⌈NOTIFY_BATCH_SIZE / NOTIFY_CONCURRENCY⌉ (${longestBatch} ms), or a slow batch would be claimed twice`,
      );
    }
    const tasks = new TaskStore(db);
    const workers = new DeliveryWorkers({
      store: tasks,
      ports: {
        [TaskType.SERVICE_COMPLETE]: psbcServiceComplete({
          baseUrl: env.PSBC_BASE_URL,
          appId: env.PSBC_APP_ID,
          appSecret: env.PSBC_APP_SECRET,
          timeoutMs: env.PSBC_TIMEOUT_MS,
          metrics,
        }),
        [TaskType.SMS]: smsNotice({
          baseUrl: env.SMS_BASE_URL,
          appId: env.SMS_APP_ID,
          appSecret: env.SMS_APP_SECRET,
          timeoutMs: env.SMS_TIMEOUT_MS,
          metrics,
        }),
      },
      schedule: {
        workers: env.NOTIFY_WORKERS,
        batchSize: env.NOTIFY_BATCH_SIZE,
        concurrency: env.NOTIFY_CONCURRENCY,
        pollMs: env.NOTIFY_POLL_MS,
        leaseMs: env.NOTIFY_LEASE_MS,
        maxAttempts: env.NOTIFY_MAX_ATTEMPTS,
        backoffBaseMs: env.NOTIFY_BACKOFF_BASE_MS,
        backoffMaxMs: env.NOTIFY_BACKOFF_MAX_MS,
      },
      clock,
      logger,
      eventsWritten,
    });
    const taskCreated = () => workers.kick();
    const unregisterMetrics = registerTaskMetrics(metrics.registry, tasks, clock);
    return {
      interceptors: [
        adminCredentialInterceptor({ token: env.ADMIN_TOKEN, adminMethods: [NotifyService.method.createTasks, NotifyService.method.retryTask], logger }),
      ],
      routes: (router) => router.service(NotifyService, notifyServiceImpl({ tasks, clock, taskCreated })),
      consumers: notifyConsumers({ tasks, clock, logger, taskCreated }),
      async prepare() {
        workers.start();
      },
      async stop() {
        await workers.stop();
        unregisterMetrics();
      },
    };
  },
});
