// `npm run bench`: the cluster (sandbox, voucher, order, gateway, one process each) under autocannon, against a
// bare Fastify route as the baseline, with every process's RSS and CPU sampled. See bench/README.md.
import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import { formatProfile, summarizeProfile } from "./profile.js";
import { ProcessSampler, freePort, logProblems, logTail, memoryOf, round, startChild, stopChild } from "./procs.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Whose build runs (BENCH_CHECKOUT, for bench/compare.js): this harness loads another checkout's dist/ alike. */
const CHECKOUT = resolve(process.env.BENCH_CHECKOUT || ROOT);
const fromCheckout = (module) => import(pathToFileURL(join(CHECKOUT, "dist", module)).href);
const { grpcHealthCheck } = await fromCheckout("gateway/app.js");
const { rpcTransport } = await fromCheckout("services/common/rpc-client.js");
const { encryptRightsRequest } = await fromCheckout("services/order/psbc/rights-request.js");
const { DEVELOPMENT_SERVICE_TYPE_KEK, DEVELOPMENT_WHALE_KEK } = await fromCheckout("services/platform/development-kek.js");
const { SANDBOX_BLUE_BROTHERS, SANDBOX_PSBC } = await fromCheckout("services/sandbox/credentials.js");
const RESULTS = join(ROOT, "bench", "results");
const LOGS = join(RESULTS, "logs");
const PROFILES = join(RESULTS, "profiles");
/** Where the report goes (bench/compare.js gives each run its own file). */
const REPORT_FILE = process.env.BENCH_REPORT || join(RESULTS, "latest.json");

const SCENARIOS = ["bare", "appointment", "detail", "expired-points", "cancel"];
/** The scenarios that run on codes booked before them (the booking is not measured; it runs before appointment too). */
const BOOKED_SCENARIOS = ["detail", "expired-points", "cancel"];
/** Cancel takes each booked code once: this share of them warms it up, the rest is measured. */
const CANCEL_WARMUP_SHARE = 0.1;
const PROFILABLE = ["gateway", "order", "voucher"];
/** The platform's own processes; the aim on memory applies to them, not to the test equipment. */
const SERVICES = ["gateway", "order", "voucher"];
/**
 * Throughput as a ratio to the bare route of the same run (absolute figures on this shared machine vary
 * several-fold between runs, and at a fixed connection count latency follows throughput), no long tail.
 */
const AIMS = {
  appointment: { ratioToBare: 0.04 },
  detail: { ratioToBare: 0.16 },
  p99OverP50: 2.5,
  rssMb: 150,
};
/** The floor of the shape (bench/booking-floor.js) beside each aimed scenario: its chain that does what the scenario must. */
const FLOOR_CHAINS = { appointment: "events", detail: "read" };
const PATHS = {
  bare: "/bare",
  appointment: "/api/v1/service/appointment",
  detail: "/api/v1/service/detail",
  "expired-points": "/api/v1/order/expired-points",
  cancel: "/api/v1/service/cancel",
};
const SERVICE_TYPE = "310001";
// The sandbox service type's key and IV for this run (16 ASCII characters each); test equipment only.
const AES = { key: "bench-aes-key-16", iv: "bench-aes-iv-016" };
const READY_TIMEOUT_MS = 60_000;
/** autocannon drops the requests still in flight when a run ends; the cluster finishes them before the next phase. */
const SETTLE_MS = 1_000;

function readConfig(env = process.env) {
  const number = (name, fallback, { integer = false, min = 0 } = {}) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      throw new Error(`${name} must be ${integer ? "an integer" : "a number"} ≥ ${min}, got ${JSON.stringify(raw)}`);
    }
    return value;
  };
  const chosen = (env.BENCH_SCENARIOS ?? SCENARIOS.join(",")).split(",").map((s) => s.trim()).filter(Boolean);
  for (const s of chosen) if (!SCENARIOS.includes(s)) throw new Error(`BENCH_SCENARIOS: unknown scenario ${s}; one of ${SCENARIOS.join(", ")}`);
  // Always in this order: cancel uses up the codes the reads ran on.
  const scenarios = SCENARIOS.filter((s) => chosen.includes(s));
  const profile = env.BENCH_PROFILE || undefined;
  if (profile && !PROFILABLE.includes(profile)) throw new Error(`BENCH_PROFILE must be one of ${PROFILABLE.join("|")}`);
  const duration = number("BENCH_DURATION", 10, { min: 1 });
  const warmup = number("BENCH_WARMUP", 2);
  const booked = number("BENCH_BOOKED", 2000, { integer: true, min: 1 });
  return {
    duration,
    warmup,
    connections: number("BENCH_CONNECTIONS", 50, { integer: true, min: 1 }),
    gateways: number("BENCH_GATEWAYS", 1, { integer: true, min: 1 }),
    pipelining: 1,
    booked,
    // Enough fresh codes for ~5,000 bookings/s plus the detail scenario's; past that they are encrypted on
    // demand (counted).
    freshCodes: number(
      "BENCH_FRESH_CODES",
      (scenarios.includes("appointment") ? Math.ceil((duration + warmup) * 5000) : 0) +
        (scenarios.some((s) => s === "appointment" || BOOKED_SCENARIOS.includes(s)) ? booked : 0),
      { integer: true },
    ),
    scenarios,
    profile,
    adminUrl: env.BENCH_DATABASE_ADMIN_URL || "postgres://postgres@127.0.0.1:5432/test",
    redisUrl: env.REDIS_URL || "redis://127.0.0.1:6379",
    natsUrl: env.NATS_URL || "nats://127.0.0.1:4222",
    poolSize: env.DATABASE_POOL_SIZE || undefined,
    // V8 flags to try on the services (e.g. heap sizes against the memory aim); not on the test equipment.
    // The heap cap production sets (README: Running in production): without it Node on a 24 GB machine grows
    // its heap lazily past 150 MB. BENCH_NODE_OPTIONS= (empty) measures without it.
    serviceNodeOptions: env.BENCH_NODE_OPTIONS ?? "--max-old-space-size=96",
    rpcTransport: env.RPC_TRANSPORT || undefined,
    // The shape's floor measured after the cluster, in the same run, unless BENCH_FLOOR=0 (bench/compare.js).
    floor: env.BENCH_FLOOR !== "0" && scenarios.includes("bare") && scenarios.some((s) => s in FLOOR_CHAINS),
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line = "") => process.stdout.write(`${line}\n`);

// ---- requests --------------------------------------------------------------------------------------------

const runTag = Date.now().toString(36).toUpperCase();
let codeSeq = 0;

/** A PSBC request body for a new rights code (unique across runs: the tag is the start time). */
function freshRequest() {
  const code = `BN${runTag}-${(codeSeq++).toString(36)}`;
  const mac = `bench-customer-${codeSeq % 1000}`;
  const body = Buffer.from(
    JSON.stringify({
      type: SERVICE_TYPE,
      request: encryptRightsRequest({ type: SERVICE_TYPE, code, mac }, AES),
      channel: "12",
      tranChnl: "12",
      backUrl: "https://mobile.psbc.com/back",
      instType: "01",
      provinceInstNo: "100000",
    }),
  );
  return { code, body };
}

/** Encrypted bodies made before the load starts, so the generator's CPU goes to sending. */
class FreshRequests {
  constructor(count) {
    this.pool = Array.from({ length: count }, freshRequest);
    this.next = 0;
    this.madeOnDemand = 0;
  }

  take() {
    if (this.next < this.pool.length) {
      const request = this.pool[this.next];
      this.pool[this.next++] = undefined; // let the sent ones be collected
      return request;
    }
    this.madeOnDemand++;
    return freshRequest();
  }
}

/** Cycles over a fixed set of requests (the booked codes, or the one bare body). */
function cycle(requests) {
  let i = 0;
  return () => requests[i++ % requests.length];
}

/** The gateway's success envelope starts with code 0 (fast-json-stringify keeps the schema's order). */
const isSuccess = (status, body) => status >= 200 && status < 300 && body.startsWith('{"code":0,');

function describeFailure(status, body) {
  try {
    const answer = JSON.parse(body);
    return `HTTP ${status} code=${answer.code} ${answer.msg ?? ""}`.trim();
  } catch {
    return `HTTP ${status} ${body.slice(0, 80)}`;
  }
}

/**
 * One autocannon run (for `duration` seconds, or `amount` requests), each request's body from `next()`.
 * Non-2xx answers and 2xx answers whose code is not 0 are failures, tallied by status, code and message.
 */
async function load({ url, path, next, connections, pipelining, duration, amount, onSuccess }) {
  const failures = new Map();
  const result = await autocannon({
    url,
    // autocannon refuses more connections than requests (a small BENCH_BOOKED, or cancel's warm-up share).
    connections: amount ? Math.min(connections, amount) : connections,
    pipelining,
    ...(amount ? { amount } : { duration }),
    timeout: 10,
    requests: [
      {
        method: "POST",
        path,
        headers: { "content-type": "application/json" },
        setupRequest(request, context) {
          const { code, body } = next();
          // With pipelining 1 a connection has one request in flight: its context names that request.
          context.code = code;
          context.body = body;
          request.body = body;
          return request;
        },
        onResponse(status, body, context) {
          if (isSuccess(status, body)) {
            onSuccess?.(context);
            return;
          }
          const key = describeFailure(status, body);
          failures.set(key, (failures.get(key) ?? 0) + 1);
        },
      },
    ],
  });
  const answered = [...failures.values()].reduce((a, b) => a + b, 0);
  return {
    reqPerSec: Math.round(result.requests.average),
    requests: result.requests.total,
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    errors: answered + result.errors,
    failures: Object.fromEntries(failures),
    socketErrors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    seconds: result.duration,
  };
}

// ---- database --------------------------------------------------------------------------------------------

async function withAdmin(adminUrl, fn) {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000, statement_timeout: 30_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function databaseUrl(adminUrl, name) {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

// ---- the run ---------------------------------------------------------------------------------------------

const children = [];
let database = null; // { adminUrl, name } once created
let cleaning = null;

/**
 * Stops every child (SIGTERM, SIGKILL after the grace period) and drops the run's database; runs once.
 * Callers first (gateway, order, voucher, then the sandboxes), so calls still in flight finish instead of
 * failing against a callee that is already gone.
 */
function cleanup() {
  cleaning ??= (async () => {
    for (const child of [...children].reverse()) await stopChild(child);
    if (database) {
      const { adminUrl, name } = database;
      await withAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).catch((err) =>
        process.stderr.write(`could not drop database ${name}: ${err.message}\n`),
      );
    }
  })();
  return cleaning;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping the children and dropping the database\n`);
    void cleanup().finally(() => process.exit(130));
  });
}
// Last resort if the process ends some other way: no child outlives the benchmark.
process.on("exit", () => {
  for (const child of children) if (child.alive()) child.proc.kill("SIGKILL");
});

function spawnChild(config, name, script, args, env) {
  const profiled = config.profile === name;
  const nodeOptions = config.serviceNodeOptions && SERVICES.includes(name) ? { NODE_OPTIONS: config.serviceNodeOptions } : {};
  // The internal hop's transport, when the run chooses one (RPC_TRANSPORT; else the checkout's default).
  const transport = config.rpcTransport ? { RPC_TRANSPORT: config.rpcTransport } : {};
  // The bare route is the harness's own equipment; everything else is the checkout's build.
  const base = script.startsWith("bench/") ? ROOT : CHECKOUT;
  const child = startChild({
    name,
    script: join(base, script),
    args,
    nodeArgs: profiled ? ["--cpu-prof", "--cpu-prof-dir", PROFILES] : [],
    env: { HOST: "127.0.0.1", LOG_LEVEL: "warn", ...nodeOptions, ...transport, ...env },
    cwd: base,
    logFile: join(LOGS, `${name}.log`),
    // Writing the profile happens at exit and takes a while for a long run.
    graceMs: profiled ? 20_000 : 5_000,
  });
  children.push(child);
  return child;
}

async function waitReady(what, watched, check) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    for (const child of watched) {
      if (!child.alive()) throw new Error(`${child.name} exited while waiting for ${what}; its log ends:\n${logTail(child)}`);
    }
    if (await check().catch(() => false)) return;
    await sleep(200);
  }
  throw new Error(`${what} not ready after ${READY_TIMEOUT_MS / 1000} s; logs end:\n${watched.map((c) => `[${c.name}]\n${logTail(c)}`).join("\n")}`);
}

const httpOk = (url) => () =>
  fetch(url, { signal: AbortSignal.timeout(1_000) }).then(async (res) => {
    await res.arrayBuffer();
    return res.ok;
  });

async function startCluster(config, dbUrl) {
  // Every port at once, each gateway's two (its own and its metrics') last.
  const [barePort, psbcPort, bbPort, voucherPort, orderPort, voucherMetricsPort, orderMetricsPort, ...gatewayPorts] = await Promise.all(
    Array.from({ length: 7 + 2 * config.gateways }, freePort),
  );
  const [voucherMetrics, orderMetrics] = [voucherMetricsPort, orderMetricsPort].map((port) => ({ METRICS_PORT: String(port) }));
  const pool = config.poolSize ? { DATABASE_POOL_SIZE: config.poolSize } : {};

  const bare = spawnChild(config, "bare", "bench/bare-server.js", [], { PORT: String(barePort) });
  const sandbox = spawnChild(config, "sandbox", "dist/services/sandbox/main.js", [], {
    PSBC_SANDBOX_PORT: String(psbcPort),
    PSBC_SANDBOX_APP_ID: SANDBOX_PSBC.appId,
    PSBC_SANDBOX_APP_SECRET: SANDBOX_PSBC.appSecret,
    BLUE_BROTHERS_SANDBOX_PORT: String(bbPort),
    BLUE_BROTHERS_SANDBOX_APP_ID: SANDBOX_BLUE_BROTHERS.appId,
    BLUE_BROTHERS_SANDBOX_APP_SECRET: SANDBOX_BLUE_BROTHERS.appSecret,
  });
  const bareUrl = `http://127.0.0.1:${barePort}`;
  const psbcUrl = `http://127.0.0.1:${psbcPort}`;
  const bbUrl = `http://127.0.0.1:${bbPort}`;
  await waitReady("bare server", [bare], httpOk(`${bareUrl}/healthz`));
  await waitReady("sandboxes", [sandbox], async () => (await httpOk(`${psbcUrl}/_sandbox/health`)()) && httpOk(`${bbUrl}/_sandbox/health`)());

  // The migration command first, as the Job does in Kubernetes; the services wait for their schema.
  const migrate = spawnChild(config, "migrate", "dist/services/platform/main.js", ["migrate"], { DATABASE_URL: dbUrl });
  const { code } = await migrate.exited;
  if (code !== 0) throw new Error(`migrate exited ${code}; its log ends:\n${logTail(migrate)}`);

  // One at a time, so a failure names its process.
  const voucherUrl = `http://127.0.0.1:${voucherPort}`;
  const voucher = spawnChild(config, "voucher", "dist/services/platform/main.js", ["voucher"], {
    DATABASE_URL: dbUrl,
    NATS_URL: config.natsUrl,
    VOUCHER_PORT: String(voucherPort),
    BLUE_BROTHERS_BASE_URL: bbUrl,
    BLUE_BROTHERS_APP_ID: SANDBOX_BLUE_BROTHERS.appId,
    BLUE_BROTHERS_APP_SECRET: SANDBOX_BLUE_BROTHERS.appSecret,
    // The back office's nonces and secrets (issue 10); the bookings measured here do not use them.
    REDIS_URL: config.redisUrl,
    ADMIN_TOKEN: randomBytes(32).toString("hex"),
    WHALE_KEK: DEVELOPMENT_WHALE_KEK,
    // The PSBC offer the sandbox type's vouchers are made from (a booking is a make-code of the sale channel PSBC).
    SANDBOX_PSBC_OFFER: "true",
    ...voucherMetrics,
    ...pool,
  });
  await waitReady("voucher service", [voucher], grpcHealthCheck(rpcTransport(voucherUrl, { timeoutMs: 1_000, transport: config.rpcTransport })));

  const order = spawnChild(config, "order", "dist/services/platform/main.js", ["order"], {
    DATABASE_URL: dbUrl,
    NATS_URL: config.natsUrl,
    REDIS_URL: config.redisUrl,
    ORDER_PORT: String(orderPort),
    VOUCHER_SERVICE_URL: voucherUrl,
    PSBC_BASE_URL: psbcUrl,
    PSBC_APP_ID: SANDBOX_PSBC.appId,
    PSBC_APP_SECRET: SANDBOX_PSBC.appSecret,
    ADMIN_TOKEN: randomBytes(32).toString("hex"),
    SERVICE_TYPE_KEK: DEVELOPMENT_SERVICE_TYPE_KEK,
    SANDBOX_AES_KEY: AES.key,
    SANDBOX_AES_IV: AES.iv,
    ...orderMetrics,
    ...pool,
  });
  // BENCH_GATEWAYS > 1: more gateway replicas, as a deployment scales the gateway; the generator spreads its
  // connections over them (autocannon takes several URLs). Only the first is "gateway" (the memory aims and
  // compare.js's CPU columns).
  const gatewayUrls = [];
  for (let n = 1; n <= config.gateways; n++) {
    const name = n === 1 ? "gateway" : `gateway-${n}`;
    const [port, metricsPort] = gatewayPorts.slice(2 * n - 2, 2 * n);
    const gateway = spawnChild(config, name, "dist/services/platform/main.js", ["gateway"], {
      PORT: String(port),
      ORDER_SERVICE_URL: `http://127.0.0.1:${orderPort}`,
      METRICS_PORT: String(metricsPort),
    });
    gatewayUrls.push(`http://127.0.0.1:${port}`);
    await waitReady(`${name} /readyz`, [order, gateway, voucher, sandbox], httpOk(`${gatewayUrls.at(-1)}/readyz`));
  }
  return { bareUrl, gatewayUrl: gatewayUrls.length === 1 ? gatewayUrls[0] : gatewayUrls };
}

async function main() {
  const config = readConfig();
  if (config.profile) mkdirSync(PROFILES, { recursive: true });
  log(
    `bench: ${config.scenarios.join(", ")}; ${config.duration} s each after ${config.warmup} s warm-up, ` +
      `${config.connections} connections, pipelining ${config.pipelining}; ${cpus().length} CPUs` +
      (config.gateways > 1 ? `; ${config.gateways} gateway processes` : "") +
      (config.profile ? `; profiling ${config.profile}` : "") +
      (config.serviceNodeOptions ? `; services with NODE_OPTIONS=${config.serviceNodeOptions}` : ""),
  );

  const name = `bench_${Date.now()}`;
  await withAdmin(config.adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  database = { adminUrl: config.adminUrl, name };
  const dbUrl = databaseUrl(config.adminUrl, name);
  log(`database ${name} created; starting the cluster (logs in bench/results/logs/)`);

  const started = Date.now();
  const { bareUrl, gatewayUrl } = await startCluster(config, dbUrl);
  log(`cluster ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const sampler = new ProcessSampler(200);
  for (const child of children) sampler.track(child.name, child.pid);
  sampler.track("bench (autocannon)", process.pid);

  const { connections, pipelining } = config;
  const needsFresh = config.scenarios.some((s) => s === "appointment" || BOOKED_SCENARIOS.includes(s));
  const fresh = needsFresh ? new FreshRequests(config.freshCodes) : null;
  const results = {};
  const windows = {};

  const run = async (scenario, target, amounts) => {
    if (config.warmup > 0) {
      const warm = await load({ ...target, connections, pipelining, ...(amounts ? { amount: amounts.warmup } : { duration: config.warmup }) });
      log(`  ${scenario} warm-up: ${warm.reqPerSec} req/s, ${warm.errors} errors`);
      await sleep(SETTLE_MS);
    }
    sampler.begin(scenario);
    const result = await load({ ...target, connections, pipelining, ...(amounts ? { amount: amounts.measured } : { duration: config.duration }) });
    windows[scenario] = sampler.end();
    await sleep(SETTLE_MS);
    results[scenario] = result;
    log(`  ${scenario}: ${result.reqPerSec} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ${result.errors} errors`);
  };

  // Booked once, before the first scenario that needs them; a request on a code is the envelope of its booking.
  let booked;
  let bookingRun;
  const bookCodes = async () => {
    if (booked) return booked;
    booked = [];
    const t0 = Date.now();
    bookingRun = await load({
      url: gatewayUrl,
      path: PATHS.appointment,
      next: () => fresh.take(),
      connections,
      pipelining,
      amount: config.booked,
      onSuccess: (context) => booked.push({ code: context.code, body: context.body }),
    });
    log(`  booked ${booked.length}/${config.booked} codes in ${((Date.now() - t0) / 1000).toFixed(1)} s (${bookingRun.errors} errors)`);
    await sleep(SETTLE_MS);
    return booked;
  };

  for (const scenario of config.scenarios) {
    if (scenario === "bare") {
      await run("bare", { url: bareUrl, path: PATHS.bare, next: cycle([freshRequest()]) });
    } else if (scenario === "appointment") {
      // The codes the later scenarios read are booked first: those bookings warm the cluster up, so appointment
      // is measured in a steady state (V8 compiles a hot function only after many calls; measured from a fresh
      // start, the first ~1,000 bookings ran up to 1.4x slower), on tables that already hold orders.
      await bookCodes();
      await run("appointment", { url: gatewayUrl, path: PATHS.appointment, next: () => fresh.take() });
    } else {
      const codes = await bookCodes();
      if (codes.length === 0) {
        results[scenario] = { skipped: "no code could be booked", booking: bookingRun };
        continue;
      }
      if (scenario === "cancel") {
        // autocannon wants at least one request per connection.
        const warmup = config.warmup > 0 ? Math.max(connections, Math.ceil(codes.length * CANCEL_WARMUP_SHARE)) : 0;
        if (codes.length - warmup < connections) {
          results.cancel = { skipped: `too few booked codes (${codes.length}) for ${connections} connections` };
          continue;
        }
        const queue = [...codes];
        await run("cancel", { url: gatewayUrl, path: PATHS.cancel, next: () => queue.shift() }, { warmup, measured: codes.length - warmup });
      } else {
        await run(scenario, { url: gatewayUrl, path: PATHS[scenario], next: cycle(codes) });
      }
    }
  }

  // Lifetime peaks, read while the processes are still there.
  const hwmMb = {};
  for (const child of children) hwmMb[child.name] = round((memoryOf(child.pid)?.hwmKb ?? 0) / 1024, 1);
  hwmMb["bench (autocannon)"] = round((memoryOf(process.pid)?.hwmKb ?? 0) / 1024, 1);

  await cleanup();

  const floor = config.floor ? await measureFloor(config) : null;
  const report = buildReport(config, results, windows, hwmMb, fresh, floor);
  printReport(report);

  if (config.profile) {
    const child = children.find((c) => c.name === config.profile);
    const file = latestProfile(child.pid);
    if (file) {
      const summary = summarizeProfile(file, 15);
      report.profile = { process: config.profile, ...summary, file: file.slice(ROOT.length) };
      log();
      log(formatProfile({ ...summary, file: file.slice(ROOT.length) }));
    } else {
      log(`\nno .cpuprofile of ${config.profile} (pid ${child.pid}) in bench/results/profiles: did it exit cleanly?`);
    }
  }

  writeFileSync(REPORT_FILE, `${JSON.stringify(report, null, 2)}\n`);
  log(`\nfigures written to ${REPORT_FILE}`);
}

/**
 * The shape's floor for the aimed scenarios run (bench/booking-floor.js, one round of the chains that do what they
 * must, the same durations and connections), once the cluster is gone: each chain's figures, or null when it failed
 * (its output in bench/results/logs/floor.log).
 */
async function measureFloor(config) {
  const chains = config.scenarios.filter((s) => s in FLOOR_CHAINS).map((s) => FLOOR_CHAINS[s]);
  const file = join(tmpdir(), `bench-floor-${process.pid}.json`);
  log(`the shape's floor: ${chains.join(", ")} (bench/booking-floor.js, one round)`);
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, "bench/booking-floor.js")], {
      cwd: ROOT,
      env: {
        ...process.env,
        BENCH_FLOOR_CHAINS: chains.join(","),
        BENCH_FLOOR_REPORT: file,
        BENCH_ROUNDS: "1",
        BENCH_DURATION: String(config.duration),
        BENCH_WARMUP: String(config.warmup),
        BENCH_CONNECTIONS: String(config.connections),
        BENCH_DATABASE_ADMIN_URL: config.adminUrl,
        REDIS_URL: config.redisUrl,
        NATS_URL: config.natsUrl,
      },
      maxBuffer: 16 * 1024 * 1024,
    });
    writeFileSync(join(LOGS, "floor.log"), stdout);
    const { bareReqPerSec, chains: measured } = JSON.parse(readFileSync(file, "utf8"));
    return { bareReqPerSec: bareReqPerSec[0], ...Object.fromEntries(Object.entries(measured).map(([chain, rounds]) => [chain, rounds[0]])) };
  } catch (err) {
    writeFileSync(join(LOGS, "floor.log"), `${err.stdout ?? ""}${err.stderr ?? ""}${err.message}\n`);
    log(`  the floor could not be measured (bench/results/logs/floor.log): ${err.message.split("\n")[0]}`);
    return null;
  } finally {
    rmSync(file, { force: true });
  }
}

function latestProfile(pid) {
  const files = readdirSync(PROFILES)
    .filter((f) => f.endsWith(".cpuprofile") && f.includes(`.${pid}.`))
    .map((f) => join(PROFILES, f));
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

function gitCommit() {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

function buildReport(config, results, windows, hwmMb, fresh, floor) {
  const bare = results.bare?.reqPerSec;
  const scenarios = {};
  for (const [name, r] of Object.entries(results)) {
    // p50 is in whole milliseconds: under 1 ms counts as 1.
    scenarios[name] = r.skipped ? r : { ...r, ratioToBare: bare ? round(r.reqPerSec / bare, 4) : null, p99OverP50: round(r.p99Ms / Math.max(1, r.p50Ms), 2) };
  }
  const processes = {};
  for (const name of [...children.map((c) => c.name), "bench (autocannon)"]) {
    const perScenario = {};
    for (const [scenario, w] of Object.entries(windows)) perScenario[scenario] = w.processes[name];
    const peak = Math.max(hwmMb[name] ?? 0, ...Object.values(perScenario).map((p) => p?.peakRssMb ?? 0));
    processes[name] = { service: SERVICES.includes(name), scenarios: perScenario, vmHwmMb: hwmMb[name] ?? null, peakRssMb: peak };
  }
  const aims = [];
  for (const scenario of ["appointment", "detail"]) {
    const r = scenarios[scenario];
    if (!r || r.skipped) continue;
    const { ratioToBare } = AIMS[scenario];
    // The same aim in the code's cost: the machine's CPU per request that would let its cores answer the aimed rate.
    const spent = windows[scenario] ? cpuPerRequest(windows[scenario].machineCpuPercentOfCore, windows[scenario].seconds, r) : null;
    const budget = bare ? Math.round((cpus().length * 1e6) / (ratioToBare * bare)) : null;
    const cost = spent !== null && budget !== null ? ` (the machine's CPU ${spent} µs per request; the aim's rate fits its cores at ≤ ${budget})` : "";
    // What the shape itself reaches on this machine in this run, with none of the product's work.
    const shape = floor?.[FLOOR_CHAINS[scenario]];
    aims.push({
      aim: `${scenario} ≥ ${ratioToBare}× bare`,
      measured:
        r.ratioToBare === null
          ? "no bare run"
          : `${r.ratioToBare}×${cost}${shape ? `; the shape's floor: ${shape.ratioToBare}×, this run at ${round(r.ratioToBare / shape.ratioToBare, 2)} of it` : ""}`,
      met: r.ratioToBare !== null && r.ratioToBare >= ratioToBare,
      machineCpuUsPerRequest: spent,
      machineCpuUsBudget: budget,
      floorRatioToBare: shape?.ratioToBare ?? null,
    });
    aims.push({
      aim: `${scenario} p99 ≤ ${AIMS.p99OverP50}× p50`,
      measured: `${r.p99Ms} / ${r.p50Ms} ms = ${r.p99OverP50}×${shape ? `; the shape's floor: ${shape.p99OverP50}×` : ""}`,
      met: r.p99OverP50 <= AIMS.p99OverP50,
      floorP99OverP50: shape?.p99OverP50 ?? null,
    });
  }
  for (const [scenario, r] of Object.entries(scenarios)) {
    if (scenario !== "bare" && !r.skipped && r.errors > 0) aims.push({ aim: `${scenario} without errors`, measured: `${r.errors} errors`, met: false });
  }
  for (const name of SERVICES) {
    const p = processes[name];
    if (p) aims.push({ aim: `${name} RSS ≤ ${AIMS.rssMb} MB`, measured: `${p.peakRssMb} MB`, met: p.peakRssMb <= AIMS.rssMb });
  }
  return {
    generatedAt: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? null },
    config: {
      durationSeconds: config.duration,
      warmupSeconds: config.warmup,
      connections: config.connections,
      gateways: config.gateways,
      pipelining: config.pipelining,
      bookedForDetail: config.booked,
      scenarios: config.scenarios,
      profile: config.profile ?? null,
      serviceNodeOptions: config.serviceNodeOptions ?? null,
      freshCodesMadeOnDemand: fresh?.madeOnDemand ?? 0,
      rpcTransport: config.rpcTransport ?? "the checkout's default",
      checkout: CHECKOUT === ROOT ? "." : CHECKOUT,
    },
    scenarios,
    cpu: Object.fromEntries(
      Object.entries(windows).map(([s, w]) => [
        s,
        {
          seconds: w.seconds,
          machinePercentOfCore: w.machineCpuPercentOfCore,
          untrackedPercentOfCore: w.untrackedCpuPercentOfCore,
          processes: Object.fromEntries(Object.entries(w.processes).map(([n, p]) => [n, p.cpuPercentOfCore])),
        },
      ]),
    ),
    processes,
    floor,
    aims,
  };
}

/** CPU µs per answered request of a process (or the machine) busy `percent` of a core for a scenario's `seconds`; null without it. */
function cpuPerRequest(percent, seconds, result) {
  return typeof percent === "number" && result && !result.skipped && result.requests > 0 ? Math.round(((percent / 100) * seconds * 1e6) / result.requests) : null;
}

const pad = (value, width, left = false) => (left ? String(value).padEnd(width) : String(value).padStart(width));

function printReport(report) {
  const names = Object.keys(report.scenarios);
  log();
  log(`${pad("scenario", 15, true)}${pad("req/s", 9)}${pad("p50 ms", 9)}${pad("p99 ms", 9)}${pad("p99/p50", 9)}${pad("errors", 9)}${pad("vs bare", 9)}`);
  for (const name of names) {
    const r = report.scenarios[name];
    if (r.skipped) {
      log(`${pad(name, 15, true)}  skipped: ${r.skipped}`);
      continue;
    }
    log(
      `${pad(name, 15, true)}${pad(r.reqPerSec, 9)}${pad(r.p50Ms, 9)}${pad(r.p99Ms, 9)}${pad(r.p99OverP50, 9)}${pad(r.errors, 9)}${pad(r.ratioToBare === null ? "-" : r.ratioToBare.toFixed(4), 9)}`,
    );
  }

  for (const name of names) {
    const r = report.scenarios[name];
    const failures = Object.entries(r.failures ?? r.booking?.failures ?? {});
    if (failures.length === 0 && !r.socketErrors) continue;
    log(`\nerrors in ${name}${r.skipped ? " (booking its codes)" : ""}:`);
    if (r.socketErrors) log(`  ${r.socketErrors} socket errors (of which ${r.timeouts} timeouts)`);
    for (const [what, count] of failures.sort((a, b) => b[1] - a[1]).slice(0, 10)) log(`  ${pad(count, 7)}  ${what}`);
  }

  const windows = Object.keys(report.cpu);
  if (windows.length > 0) {
    log("\nCPU during each scenario, % of one core (the machine has " + report.machine.cpus + " cores):");
    log(`${pad("process", 20, true)}${windows.map((w) => pad(w, 16)).join("")}`);
    for (const proc of Object.keys(report.processes)) {
      log(`${pad(proc, 20, true)}${windows.map((w) => pad(report.cpu[w].processes[proc] ?? "-", 16)).join("")}`);
    }
    log(`${pad("other (pg, redis…)", 20, true)}${windows.map((w) => pad(report.cpu[w].untrackedPercentOfCore, 16)).join("")}`);
    log(`${pad("machine", 20, true)}${windows.map((w) => pad(report.cpu[w].machinePercentOfCore, 16)).join("")}`);

    // The code's cost per request: a loaded or faster machine moves it far less than throughput and the ratios.
    const perRequest = (w, percent) => cpuPerRequest(percent, report.cpu[w].seconds, report.scenarios[w]) ?? "-";
    log("\nCPU µs per answered request during each scenario:");
    log(`${pad("process", 20, true)}${windows.map((w) => pad(w, 16)).join("")}`);
    for (const [proc, p] of Object.entries(report.processes)) {
      if (p.service) log(`${pad(proc, 20, true)}${windows.map((w) => pad(perRequest(w, report.cpu[w].processes[proc]), 16)).join("")}`);
    }
    log(`${pad("machine (all of it)", 20, true)}${windows.map((w) => pad(perRequest(w, report.cpu[w].machinePercentOfCore), 16)).join("")}`);
  }

  log("\npeak RSS, MB (sampled every 200 ms per scenario; VmHWM = lifetime peak):");
  log(`${pad("process", 20, true)}${windows.map((w) => pad(w, 16)).join("")}${pad("VmHWM", 9)}`);
  for (const [proc, p] of Object.entries(report.processes)) {
    const label = p.service ? proc : `${proc}*`;
    log(`${pad(label, 20, true)}${windows.map((w) => pad(p.scenarios[w]?.peakRssMb ?? "-", 16)).join("")}${pad(p.vmHwmMb ?? "-", 9)}`);
  }
  log("  * test equipment, outside the memory aim");

  if (report.config.freshCodesMadeOnDemand > 0) {
    log(`\nnote: ${report.config.freshCodesMadeOnDemand} fresh codes were encrypted during the load (raise BENCH_FRESH_CODES)`);
  }

  if (report.floor) {
    log(`\nthe shape's floor in this run (bench/booking-floor.js: the same processes and calls answered from memory; bare route ${report.floor.bareReqPerSec} req/s):`);
    for (const [scenario, chain] of Object.entries(FLOOR_CHAINS)) {
      const f = report.floor[chain];
      if (f) log(`  ${pad(`${scenario} (${chain})`, 22, true)}${pad(`${f.ratioToBare}×`, 9)}  p50 ${f.p50Ms} ms, p99 ${f.p99Ms} ms (${f.p99OverP50}×), machine ${f.machineCpuUsPerRequest} µs per request, ${f.errors} errors`);
    }
  }

  log(`\naims (ratios to the bare route of this run, ${report.scenarios.bare ? `${report.scenarios.bare.reqPerSec} req/s` : "not run"}):`);
  for (const a of report.aims) log(`  ${a.met ? "met   " : "missed"}  ${pad(a.aim, 34, true)}${a.measured}`);

  const problems = children
    .map((child) => [child.name, [...logProblems(child).entries()].sort((a, b) => b[1] - a[1])])
    .filter(([, entries]) => entries.length > 0);
  if (problems.length > 0) {
    log("\nwarnings and errors the processes logged:");
    for (const [name, entries] of problems) {
      for (const [what, count] of entries.slice(0, 5)) log(`  ${pad(name, 8, true)} ${pad(count, 6)}  ${what}`);
    }
  }
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
// Open HTTP/2 sessions and sockets of the health checks must not keep the benchmark alive.
process.exit(process.exitCode ?? 0);
