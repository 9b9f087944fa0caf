// `npm run build && node bench/reconciliation-file.js [rows, or BENCH_ROWS]`: a month's reconciliation file from 1,000,000
// completed ledger rows (the default), against `psql -c "COPY (…) TO STDOUT"` of the same rows and columns in the
// same run. Reports both times, their ratio and the generating process's peak RSS (aims: ≤ 1.5×, ≤ 150 MB).
// Needs a PostgreSQL (DATABASE_URL, default the local one); works in a database of its own, dropped at the end.
// BENCH_ROOTS: comma-separated checkouts (each built) whose generation is measured on the same rows, this one by
// default; BENCH_ROUNDS (default 1): rounds of psql then each checkout in turn, medians reported.
// BENCH_PROFILE=1: each generation runs with --cpu-prof (bench/results/profiles/) and its summary is printed.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { formatProfile, summarizeProfile } from "./profile.js";

const HERE = fileURLToPath(new URL("..", import.meta.url));
const ROOTS = (process.env.BENCH_ROOTS ?? HERE).split(",").map((root) => resolve(root));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);
const PROFILES = join(HERE, "bench", "results", "profiles");
const ROWS = Number(process.argv[2] ?? process.env.BENCH_ROWS ?? 1_000_000);
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
  process.stdout.write("\\n" + JSON.stringify({ seconds, bytes: file.fileSize, maxRssMb: process.resourceUsage().maxRSS / 1024 }));
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

    const runs = new Map(ROOTS.map((root) => [root, []]));
    const psqlRuns = [];
    let copiedBytes = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const copyStarted = performance.now();
      copiedBytes = execFileSync("psql", [benchUrl, "-q", "-c", COPY_SQL], { maxBuffer: 1 << 30 }).length;
      const psqlSeconds = (performance.now() - copyStarted) / 1000;
      psqlRuns.push(psqlSeconds);
      for (const root of ROOTS) {
        const service = await generate(root);
        // The file's bytes, hashed by PostgreSQL after the timing: every checkout must write the same file.
        const { rows } = await hashOfFile();
        runs.get(root).push({ ...service, ratio: service.seconds / psqlSeconds, sha256: rows[0].sha256 });
        console.log(`round ${round}: psql ${round2(psqlSeconds)} s, ${root}: ${round2(service.seconds)} s (${round2(service.seconds / psqlSeconds)}×), peak RSS ${round2(service.maxRssMb)} MB`);
      }
    }
    const median = (values) => [...values].sort((x, y) => x - y)[Math.floor(values.length / 2)];
    const figures = ROOTS.map((root) => {
      const of = runs.get(root);
      return {
        checkout: root,
        seconds: round2(median(of.map((r) => r.seconds))),
        bytes: of[0].bytes,
        sha256: [...new Set(of.map((r) => r.sha256))].join(" / "),
        peakRssMb: round2(Math.max(...of.map((r) => r.maxRssMb))),
        ratio: round2(median(of.map((r) => r.ratio))),
      };
    });
    const result = {
      date: new Date().toISOString().slice(0, 10),
      rows: ROWS,
      rounds: ROUNDS,
      psqlCopy: { seconds: round2(median(psqlRuns)), bytes: copiedBytes },
      service: figures.length === 1 ? figures[0] : figures,
      ...(figures.length === 1 ? { ratio: figures[0].ratio } : {}),
      aims: AIMS,
    };
    console.log(JSON.stringify(result, null, 2));
    mkdirSync(join(HERE, "bench", "results"), { recursive: true });
    writeFileSync(join(HERE, "bench", "results", "reconciliation-file.json"), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    if (!process.env.BENCH_KEEP) await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    else console.log(`kept ${benchUrl}`);
    await admin.end();
  }
}

async function hashOfFile() {
  const client = new pg.Client({ connectionString: benchUrl });
  await client.connect();
  try {
    return await client.query(
      `SELECT encode(sha256(string_agg(c.data, ''::bytea ORDER BY c.seq)), 'hex') AS sha256
         FROM reconciliation.file f JOIN reconciliation.file_chunk c USING (content_id) WHERE f.month = $1`,
      [MONTH],
    );
  } finally {
    await client.end();
  }
}

/** One generation by a checkout's build, in a process of its own (its peak RSS its own). */
function generate(root) {
  const profiled = process.env.BENCH_PROFILE === "1";
  if (profiled) mkdirSync(PROFILES, { recursive: true });
  const before = profiled ? new Set(readdirSync(PROFILES)) : new Set();
  const flags = profiled ? ["--cpu-prof", `--cpu-prof-dir=${PROFILES}`] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, "--input-type=module", "-e", GENERATE], { cwd: root, env: { ...process.env, BENCH_URL: benchUrl } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.pipe(process.stderr);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`generation in ${root} exited ${code}`));
      if (profiled) {
        for (const file of readdirSync(PROFILES).filter((f) => !before.has(f))) console.log(formatProfile(summarizeProfile(join(PROFILES, file), 25)));
      }
      // The figures are the last line; the service's own log lines (a slow query) come before it.
      const lines = out.trim().split("\n");
      for (const line of lines.slice(0, -1)) process.stderr.write(`${line}\n`);
      try {
        resolve(JSON.parse(lines.at(-1)));
      } catch (err) {
        reject(err);
      }
    });
  });
}

const round2 = (n) => Math.round(n * 100) / 100;

await main();
