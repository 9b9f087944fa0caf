// `npm run build && node bench/reconciliation-file.js [rows]`: a month's reconciliation file from 1,000,000
// completed ledger rows (the default), against `psql -c "COPY (…) TO STDOUT"` of the same rows and columns in the
// same run. Reports both times, their ratio and the generating process's peak RSS (aims: ≤ 1.5×, ≤ 150 MB).
// Needs a PostgreSQL (DATABASE_URL, default the local one); works in a database of its own, dropped at the end.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const ROWS = Number(process.argv[2] ?? 1_000_000);
const MONTH = "202610";
const AIMS = { ratio: 1.5, rssMb: 150 };
const serverUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const database = `bench_reconciliation_${process.pid}`;
const benchUrl = (() => {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
})();

// The same 11 columns, in the same order and form, as the service writes them (its LINE_SQL).
const COPY_SQL = `COPY (SELECT l.month, l.province_inst_no, coalesce(b.name, ''), l.inst_type, l.type, l.service_name,
  l.booked_time, l.completed_time, l.code, l.order_no, l.key_status
  FROM reconciliation.ledger l LEFT JOIN reconciliation.branch b ON b.province_inst_no = l.province_inst_no
  WHERE l.provider_code = 'A101' AND l.month = '${MONTH}' ORDER BY l.order_no) TO STDOUT WITH (FORMAT csv)`;

/** The generation as the service runs it, in a process of its own so its peak RSS is its own. */
const GENERATE = `
  import { openDatabase } from "./dist/services/common/database.js";
  import { createLockService } from "./dist/services/common/lock.js";
  import { createLogger } from "./dist/services/common/logger.js";
  import { ReconciliationFiles } from "./dist/services/reconciliation/files.js";
  const logger = createLogger("bench", "warn");
  const db = await openDatabase({ url: process.env.BENCH_URL, logger });
  const lock = createLockService({ logger });
  const files = new ReconciliationFiles({ db, lock, clock: { now: () => new Date() }, logger, providerCode: "A101" });
  const started = performance.now();
  const file = await files.generate("${MONTH}", "replace");
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(JSON.stringify({ seconds, bytes: file.fileSize, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
  await lock.close();
  await db.close();
`;

async function main() {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  try {
    const { migrate } = await import("../dist/services/common/migrate.js");
    const { createLogger } = await import("../dist/services/common/logger.js");
    const { openDatabase } = await import("../dist/services/common/database.js");
    const { reconciliationService } = await import("../dist/services/reconciliation/service.js");
    const logger = createLogger("bench", "warn");
    const db = await openDatabase({ url: benchUrl, logger });
    await migrate(db, { schema: "reconciliation", migrationsDir: reconciliationService.schema.migrationsDir, logger });
    console.log(`loading ${ROWS} completed orders into the ledger`);
    await db.close();
    // Loaded by a plain client: one statement, beyond the services' statement timeout.
    const loader = new pg.Client({ connectionString: benchUrl });
    await loader.connect();
    await loader.query(
      `INSERT INTO reconciliation.ledger (order_no, provider_code, month, province_inst_no, inst_type, type, service_name, booked_time, completed_time, code, key_status)
       SELECT lpad(i::text, 20, '0'), 'A101', $1, (100000 + i % 40)::text, '0' || (1 + i % 2), '310001', '洗车服务,标准', '20261002090203',
              '2026101' || (i % 10) || '120000', 'CODE-' || i, 2
         FROM generate_series(1, $2::int) AS i`,
      [MONTH, ROWS],
    );
    await loader.query(`INSERT INTO reconciliation.branch (province_inst_no, name) SELECT (100000 + i)::text, '分行' || i FROM generate_series(0, 39) AS i`);
    await loader.query("VACUUM ANALYZE reconciliation.ledger");
    await loader.end();

    const copyStarted = performance.now();
    const copied = execFileSync("psql", [benchUrl, "-q", "-c", COPY_SQL], { maxBuffer: 1 << 30 });
    const psqlSeconds = (performance.now() - copyStarted) / 1000;

    const service = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ["--input-type=module", "-e", GENERATE], { cwd: ROOT, env: { ...process.env, BENCH_URL: benchUrl } });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.pipe(process.stderr);
      child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`generation exited ${code}`))));
    });
    const result = {
      rows: ROWS,
      psqlCopy: { seconds: round(psqlSeconds), bytes: copied.length },
      service: { seconds: round(service.seconds), bytes: service.bytes, peakRssMb: round(service.maxRssMb) },
      ratio: round(service.seconds / psqlSeconds),
      aims: AIMS,
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(join(ROOT, "bench", "results"), { recursive: true });
    writeFileSync(join(ROOT, "bench", "results", "reconciliation-file.json"), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    if (!process.env.BENCH_KEEP) await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    else console.log(`kept ${benchUrl}`);
    await admin.end();
  }
}

const round = (n) => Math.round(n * 100) / 100;

await main();
