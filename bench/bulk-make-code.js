// `npm run build && node bench/bulk-make-code.js [codes]`: a bulk make-code job of 1,000,000 codes (the default)
// as the voucher service runs it (its BulkMakeCodes, batches COPY'd into vouchers.internal_code), against
// `psql -c "COPY … FROM STDIN"` of the same rows into a table of the same shape and indexes, in the same run.
// Reports codes/s, the making process's peak RSS and the ratio of the times (aims: ≤ 2×, ≤ 150 MB).
// Needs a PostgreSQL (DATABASE_URL, default the local one); works in a database of its own, dropped at the end.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CODES = Number(process.argv[2] ?? 1_000_000);
const AIMS = { ratio: 2, rssMb: 150 };
const serverUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const database = `bench_bulk_${process.pid}`;
const benchUrl = (() => {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
})();

/** The job as the service's "bulk make-code" job runs it, in a process of its own so its peak RSS is its own. */
const MAKE = `
  import { openDatabase } from "./dist/services/common/database.js";
  import { KeyRing } from "./dist/services/common/key-ring.js";
  import { createLogger } from "./dist/services/common/logger.js";
  import { AuditStore } from "./dist/services/voucher/catalogue/audit-store.js";
  import { CatalogueStore } from "./dist/services/voucher/catalogue/catalogue-store.js";
  import { bulkCodeWriter } from "./dist/services/voucher/codes/bulk-code-writer.js";
  import { BulkJobStore } from "./dist/services/voucher/codes/bulk-job-store.js";
  import { BULK_BATCH_SIZE, BulkMakeCodes } from "./dist/services/voucher/codes/bulk-make-code.js";
  const logger = createLogger("bench", "warn");
  const db = await openDatabase({ url: process.env.BENCH_URL, logger });
  const bulk = new BulkMakeCodes({ db, jobs: new BulkJobStore(db), catalogue: new CatalogueStore(db, new KeyRing(Buffer.alloc(32, 7))),
    audit: new AuditStore(db), writer: bulkCodeWriter, logger, leaseMs: 120_000, batchSize: BULK_BATCH_SIZE, roundMs: 60_000 });
  const job = await bulk.start({ requestId: "bench", templateId: process.env.BENCH_TEMPLATE, total: ${CODES}, actor: "ops" });
  const started = performance.now();
  while (await bulk.runRound());
  const seconds = (performance.now() - started) / 1000;
  const done = await bulk.get(job.jobId);
  process.stdout.write(JSON.stringify({ jobId: job.jobId, made: done.made, seconds, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
  await db.close();
`;

async function main() {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const scratch = mkdtempSync(join(tmpdir(), "bench-bulk-"));
  try {
    const { migrate } = await import("../dist/services/common/migrate.js");
    const { createLogger } = await import("../dist/services/common/logger.js");
    const { openDatabase } = await import("../dist/services/common/database.js");
    const { VOUCHER_SCHEMA } = await import("../dist/services/voucher/voucher-store.js");
    const logger = createLogger("bench", "warn");
    const db = await openDatabase({ url: benchUrl, logger });
    await migrate(db, { schema: VOUCHER_SCHEMA, migrationsDir: join(ROOT, "dist", "services", "voucher", "migrations"), logger });
    const { rows: [channel] } = await db.query(`INSERT INTO vouchers.send_channel (name, channel_type, config) VALUES ('WHALE自制码', 'INTERNAL', '{}') RETURNING send_channel_id::text AS id`);
    const { rows: [template] } = await db.query(
      `INSERT INTO vouchers.template (name, send_channel_id, brand_id, product_id, ticket_type, face_value, send_type, is_active, erp_create_time, erp_update_time, config)
       VALUES ('批导券', $1, 686, 1, 1, 3000, 2, true, '20260101000000', '20260101000000', '{"useTimes":"1"}') RETURNING template_id::text AS id`,
      [channel.id],
    );
    await db.close();

    console.log(`making ${CODES} codes through the bulk job`);
    const service = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", MAKE], { cwd: ROOT, env: { ...process.env, BENCH_URL: benchUrl, BENCH_TEMPLATE: template.id } });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.pipe(process.stderr);
      child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`the job exited ${code}`))));
    });

    // The same rows, as COPY text, into a table of the same columns, constraints and indexes.
    const rowsFile = join(scratch, "codes.tsv");
    execFileSync("psql", [benchUrl, "-q", "-c",
      `\\copy (SELECT code, send_channel_order_id, seq FROM vouchers.internal_code WHERE send_channel_order_id = 'bulk:${service.jobId}' ORDER BY seq) TO '${rowsFile}'`]);
    execFileSync("psql", [benchUrl, "-q", "-c", "CREATE TABLE vouchers.copy_target (LIKE vouchers.internal_code INCLUDING ALL)"]);
    const copyStarted = performance.now();
    execFileSync("sh", ["-c", `psql '${benchUrl}' -q -c "COPY vouchers.copy_target (code, send_channel_order_id, seq) FROM STDIN" < '${rowsFile}'`]);
    const psqlSeconds = (performance.now() - copyStarted) / 1000;

    const result = {
      codes: CODES,
      made: service.made,
      service: { seconds: round(service.seconds), codesPerSecond: Math.round(CODES / service.seconds), peakRssMb: round(service.maxRssMb) },
      psqlCopy: { seconds: round(psqlSeconds), codesPerSecond: Math.round(CODES / psqlSeconds) },
      ratio: round(service.seconds / psqlSeconds),
      aims: AIMS,
      met: { ratio: service.seconds / psqlSeconds <= AIMS.ratio, rssMb: service.maxRssMb <= AIMS.rssMb },
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
    writeFileSync(join(ROOT, "bench", "results", "bulk-make-code.json"), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    if (!process.env.BENCH_KEEP) await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    else console.log(`kept ${benchUrl}`);
    await admin.end();
  }
}

const round = (n) => Math.round(n * 100) / 100;

await main();
