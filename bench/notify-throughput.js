// `npm run build && node bench/notify-throughput.js`: notification tasks delivered per second by one notify
// service (2 workers) to a PSBC sandbox that answers at once, on the real PostgreSQL. Not a test.
// BENCH_TASKS (default 20000), BENCH_DATABASE_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/test),
// NOTIFY_WORKERS / NOTIFY_BATCH_SIZE / NOTIFY_CONCURRENCY (the service's defaults otherwise). The notify service
// runs in this process (so `node --cpu-prof bench/notify-throughput.js` profiles it), the sandbox in a child
// process of its own, as PSBC is another machine's work. BENCH_ROOT: the checkout whose build (dist/) is measured,
// this one by default (bench/compare.js measures two with the same benchmark).
// Prints the figures and writes them to bench/results/notify-throughput.json.
import { fork } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";

const HERE = fileURLToPath(new URL("..", import.meta.url));
const ROOT = resolve(process.env.BENCH_ROOT ?? HERE);
const built = (path) => import(pathToFileURL(join(ROOT, "dist", path)).href);

const TASKS = Number(process.env.BENCH_TASKS ?? 20_000);
const ADMIN_URL = process.env.BENCH_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const AIM_PER_SECOND = 2_000;

/** The sandbox child: books the codes `<prefix><i>`, answers with its URL, and at the end with its call count. */
if (process.argv[2] === "sandbox") {
  const { startPsbcSandbox } = await built("services/sandbox/psbc-sandbox.js");
  const { SANDBOX_PSBC } = await built("services/sandbox/credentials.js");
  process.once("message", async ({ prefix, tasks }) => {
    const sandbox = await startPsbcSandbox({ ...SANDBOX_PSBC });
    for (let i = 0; i < tasks; i++) await sandbox.setStatus(`${prefix}${i}`, "BOOKED");
    process.send({ url: sandbox.url });
    process.once("message", async () => {
      process.send({ complete: sandbox.calls.complete, maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024) });
      await sandbox.close();
      process.disconnect();
    });
  });
} else {
  await main();
}

async function main() {
  const { connectEventBus } = await built("services/common/bus.js");
  const { openDatabase } = await built("services/common/database.js");
  const { createLogger } = await built("services/common/logger.js");
  const { Metrics } = await built("services/common/metrics.js");
  const { hostDescribedService } = await built("services/common/service-descriptor.js");
  const { notifyService } = await built("services/notify/service.js");
  const { SANDBOX_PSBC } = await built("services/sandbox/credentials.js");
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
    const child = fork(fileURLToPath(import.meta.url), ["sandbox"], { env: { ...process.env, BENCH_ROOT: ROOT }, execArgv: [], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const reply = () => new Promise((resolve, reject) => {
      child.once("message", resolve);
      child.once("exit", (code) => reject(new Error(`the sandbox exited (${code})`)));
    });
    closers.push(async () => child.connected && child.kill());
    const prefix = `B${randomBytes(4).toString("hex")}-`;
    child.send({ prefix, tasks: TASKS });
    const { url: sandboxUrl } = await reply();
    const codes = Array.from({ length: TASKS }, (_, i) => `${prefix}${i}`);

    const metrics = new Metrics();
    const service = await hostDescribedService(notifyService, {
      env: {
        ...process.env,
        NOTIFY_PORT: "0",
        // Idle workers look for tasks only at their poll: the tasks are inserted while they poll.
        NOTIFY_POLL_MS: "50",
        PSBC_BASE_URL: sandboxUrl,
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
    child.send("done");
    const sandbox = await reply();
    const result = {
      checkout: ROOT,
      tasks: TASKS,
      workers: Number(process.env.NOTIFY_WORKERS ?? 2),
      insertSeconds: Math.round(inserted - started) / 1000,
      seconds: Math.round(seconds * 100) / 100,
      tasksPerSecond: perSecond,
      psbcCalls: sandbox.complete,
      aim: AIM_PER_SECOND,
      met: perSecond >= AIM_PER_SECOND,
      peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
      sandboxPeakRssMb: sandbox.maxRssMb,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    mkdirSync(join(HERE, "bench", "results"), { recursive: true });
    writeFileSync(join(HERE, "bench", "results", "notify-throughput.json"), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    for (const close of closers) await close().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
}
