// `npm run build && node bench/notify-throughput.js`: notification tasks delivered per second by one notify
// service (2 workers) to a PSBC sandbox that answers at once, on the real PostgreSQL. Not a test.
// BENCH_TASKS (default 20000), BENCH_DATABASE_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test),
// NOTIFY_WORKERS / NOTIFY_BATCH_SIZE (defaults 2 / 50). The sandbox runs in this process (in memory), so the
// figure is a floor: in the cluster PSBC's answers cost the notify process nothing but the wait.
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { connectEventBus } from "../dist/services/common/bus.js";
import { openDatabase } from "../dist/services/common/database.js";
import { createLogger } from "../dist/services/common/logger.js";
import { Metrics } from "../dist/services/common/metrics.js";
import { hostDescribedService } from "../dist/services/common/service-descriptor.js";
import { notifyService } from "../dist/services/notify/service.js";
import { SANDBOX_PSBC } from "../dist/services/sandbox/credentials.js";
import { startPsbcSandbox } from "../dist/services/sandbox/psbc-sandbox.js";

const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const AIM_PER_SECOND = 2_000;
const logger = createLogger("bench", "warn");

const database = `bench_notify_${Date.now()}`;
const admin = new pg.Client({ connectionString: ADMIN_URL });
await admin.connect();
await admin.query(`CREATE DATABASE ${database}`);
const url = new URL(ADMIN_URL);
url.pathname = `/${database}`;

const closers = [];
try {
  const db = await openDatabase({ url: url.toString(), poolSize: 10, logger });
  closers.push(() => db.close());
  const bus = await connectEventBus({ streams: notifyService.streams, name: "bench", logger });
  closers.push(() => bus.close());
  const sandbox = await startPsbcSandbox({ ...SANDBOX_PSBC, logger });
  closers.push(() => sandbox.close());
  const codes = Array.from({ length: TASKS }, (_, i) => `B${i}${randomBytes(4).toString("hex")}`);
  for (const code of codes) await sandbox.setStatus(code, "BOOKED");

  const metrics = new Metrics();
  const service = await hostDescribedService(notifyService, {
    env: {
      ...process.env,
      NOTIFY_PORT: "0",
      // Idle workers look for tasks only at their poll: the tasks are inserted while they poll.
      NOTIFY_POLL_MS: "50",
      PSBC_BASE_URL: sandbox.url,
      PSBC_APP_ID: SANDBOX_PSBC.appId,
      PSBC_APP_SECRET: SANDBOX_PSBC.appSecret,
      // Only service-complete tasks here: the SMS gateway is never called.
      SMS_BASE_URL: "http://127.0.0.1:1",
      SMS_APP_ID: "unused",
      SMS_APP_SECRET: "unused",
      ADMIN_TOKEN: randomBytes(32).toString("hex"),
    },
    db,
    bus,
    logger,
    host: "127.0.0.1",
    runtime: { metrics, migrations: "apply", shutdownDelayMs: 0, shutdownGraceMs: 1_000 },
  });
  closers.unshift(() => service.close());
  await service.ready;

  // The tasks as the consumer writes them, inserted in bulk so the insert is not what is measured.
  const usageTime = new Date().toISOString();
  const started = performance.now();
  for (let i = 0; i < codes.length; i += 5_000) {
    const batch = codes.slice(i, i + 5_000);
    await db.query(
      `INSERT INTO notify.task (task_id, type, order_no, code, payload, next_attempt_at, created_at)
       SELECT t.id, 1, 'O' || t.code, t.code,
              jsonb_build_object('orderNo', 'O' || t.code, 'code', t.code, 'type', '310001', 'psbcOrderNo', '', 'usageTime', $3::text), now(), now()
       FROM unnest($1::uuid[], $2::text[]) AS t(id, code)`,
      [batch.map(() => randomUUID()), batch, usageTime],
    );
  }
  const inserted = performance.now();
  let delivered = 0;
  while (delivered < TASKS) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    delivered = (await db.query("SELECT count(*)::int AS n FROM notify.task WHERE state = 2")).rows[0].n;
    if (performance.now() - started > 600_000) throw new Error(`only ${delivered} of ${TASKS} delivered in 10 minutes`);
  }
  const seconds = (performance.now() - started) / 1000;
  const perSecond = Math.round(TASKS / seconds);
  const result = {
    tasks: TASKS,
    workers: Number(process.env.NOTIFY_WORKERS ?? 2),
    insertSeconds: Math.round(inserted - started) / 1000,
    seconds: Math.round(seconds * 100) / 100,
    tasksPerSecond: perSecond,
    psbcCalls: sandbox.calls.complete,
    aim: AIM_PER_SECOND,
    met: perSecond >= AIM_PER_SECOND,
    rssMb: Math.round(process.memoryUsage().rss / 1048576),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  for (const close of closers) await close().catch(() => undefined);
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();
}
