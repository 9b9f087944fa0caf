// The floor of a booking in this shape: what the appointment scenario costs before any of the product's own work.
// A Fastify route calls an "order" process over the internal hop; it calls a stub PSBC over the upstream HTTP
// client, then a "voucher" process over the hop, which calls a stub Blue Brothers; every handler answers from
// memory. Three chains, each adding what correctness needs on top of the one before:
//   hops     the four calls alone;
//   storage  + the Redis lock (SET NX PX, DEL) and the four commits that make a booking resumable without a double
//            booking (the order's row before PSBC is called and its booked step after; the voucher's code order
//            before the channel is called and the voucher after), each one prepared statement;
//   events   + one JetStream publish per service per booking (order.booked, voucher.issued).
// Then batching, the one lever left within the shape:
//   batched         the hops with the two internal calls batched per event-loop turn, as detail's are (the front's
//                   calls of a turn as one GetServiceDetails, the order process's voucher calls of a turn another);
//   batched-events  "events" with its calls batched so, each booking's lock, commits and publishes its own;
//   batched-all     "events" with everything batched: a batch's locks in one pipeline, each step one statement (one
//                   commit) for the whole batch, its upstream calls and publishes concurrent.
// And the floor of a detail: the gateway's batched detail calls (one GetServiceDetails per event-loop turn, the
// gateway's own code) to a process answering from memory (chain "read", beside the detail aim's 0.16×).
// Rounds are interleaved with the bare route, so every chain sees the same noise; prints the ratio to the bare
// route and the machine's CPU µs per request beside the aim's budget (appointment's 0.04× for the booking chains,
// detail's 0.16× for read).
// `npm run build && node bench/booking-floor.js` (BENCH_DURATION, BENCH_WARMUP, BENCH_ROUNDS, BENCH_CONNECTIONS;
// BENCH_DATABASE_ADMIN_URL, REDIS_URL, NATS_URL as for bench/run.js; BENCH_FLOOR_CHAINS, a comma list, to run some
// chains only; BENCH_FLOOR_REPORT, a file for the figures as JSON, which bench/run.js reads). The same hop and
// upstream client code as the services: startRpcServer, rpcTransport, postSigned.
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ProcessSampler, benchChild, freePort, loadWindow, round, startBenchRpcServer, stopChild, waitHttp } from "./procs.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LOGS = join(ROOT, "bench", "results", "logs");
const LEVELS = ["hops", "storage", "events"];
const BATCHED = ["batched", "batched-events", "batched-all"];
const CHAINS = [...LEVELS, ...BATCHED, "read"];
const APPOINTMENT_AIM = 0.04;
const DETAIL_AIM = 0.16;
const env = process.env;
const [role, level, port, nextUrl, stubUrl] = process.argv.slice(2);
/** The chains that store each booking, and those that also publish its events. */
const STORING = ["storage", "events", "batched-events", "batched-all"];
const PUBLISHING = ["events", "batched-events", "batched-all"];
const withStorage = STORING.includes(level);
const withEvents = PUBLISHING.includes(level);
const batched = level?.startsWith("batched") ?? false;

/** The stub's envelope, as the sandboxes answer: code "0000" is success. */
const STUB_WIRE = {
  name: "floor-stub",
  paths: { call: "/call" },
  outcome: (body) => (body && typeof body === "object" ? { code: String(body.code), message: String(body.msg), data: body.data } : undefined),
  isSuccess: (code) => code === "0000",
  isRetryable: () => false,
};

async function stub() {
  const { default: Fastify } = await import("fastify");
  const app = Fastify({ logger: false });
  app.post("/call", async () => ({ code: "0000", msg: "成功", data: { ok: true } }));
  app.get("/healthz", async () => ({ status: "ok" }));
  await app.listen({ host: "127.0.0.1", port: Number(port) });
}

/** What the storage and events chains share: a pool of prepared statements, Redis, JetStream. */
async function stores() {
  if (!withStorage) return {};
  const { default: pg } = await import("pg");
  const { Redis } = await import("ioredis");
  const pool = new pg.Pool({ connectionString: env.FLOOR_DATABASE_URL, max: 10 });
  const redis = new Redis(env.REDIS_URL ?? "redis://127.0.0.1:6379");
  let js;
  if (withEvents) {
    const { connect } = await import("nats");
    js = (await connect({ servers: env.NATS_URL ?? "nats://127.0.0.1:4222" })).jetstream();
  }
  return { pool, redis, js };
}

async function backend(kind) {
  const { createClient } = await import("@connectrpc/connect");
  const { rpcTransport } = await import("../dist/services/common/rpc-client.js");
  const { postSigned } = await import("../dist/services/common/upstream-http.js");
  const { OrderService } = await import("../dist/proto/gen/rights/order/v1/order_pb.js");
  const { VoucherService } = await import("../dist/proto/gen/rights/voucher/v1/voucher_pb.js");
  const { pool, redis, js } = await stores();
  const target = { baseUrl: stubUrl, appId: "floor", appSecret: "floor-secret", timeoutMs: 5_000 };
  const query = (name, text, values) => pool.query({ name, text, values });
  const publish = (subject, id) => js?.publish(`${env.FLOOR_SUBJECT}.${subject}`, new Uint8Array(64), { msgID: id });

  // One booking's steps in each process, whether its calls come one by one or batched.
  const issueOne = async (orderNo) => {
    if (pool) await query("code-order-insert", "INSERT INTO floor_code_order (order_no) VALUES ($1)", [orderNo]);
    await postSigned(STUB_WIRE, target, "call", { orderNo });
    const url = `https://voucher.example/v/${orderNo}`;
    if (pool) {
      await query(
        "voucher-insert",
        "WITH v AS (INSERT INTO floor_voucher (order_no, url) VALUES ($1, $2) RETURNING order_no) INSERT INTO floor_outbox (subject, event_id) SELECT 'voucher.issued', order_no FROM v",
        [orderNo, url],
      );
    }
    await publish("voucher.issued", `v-${orderNo}`);
    return url;
  };
  const bookOne = async (code, issue) => {
    const lock = randomUUID();
    if (redis && (await redis.set(`floor:lock:${code}`, lock, "PX", 10_000, "NX")) !== "OK") throw new Error("locked");
    try {
      if (pool) await query("order-insert", "INSERT INTO floor_order (code) VALUES ($1)", [code]);
      await postSigned(STUB_WIRE, target, "call", { code });
      const url = await issue(code);
      if (pool) {
        await query(
          "order-booked",
          "WITH o AS (UPDATE floor_order SET url = $2, booked_at = now() WHERE code = $1 RETURNING code) INSERT INTO floor_outbox (subject, event_id) SELECT 'order.booked', code FROM o",
          [code, url],
        );
      }
      await publish("order.booked", `o-${code}`);
      return url;
    } finally {
      if (redis) await redis.del(`floor:lock:${code}`);
    }
  };

  // A whole batch's steps at once: the locks in one pipeline, each step one statement (one commit) for every booking
  // of the batch, the upstream calls and the publishes concurrent.
  const issueAll = async (orderNos) => {
    await query("code-orders-insert", "INSERT INTO floor_code_order (order_no) SELECT unnest($1::text[])", [orderNos]);
    await Promise.all(orderNos.map((orderNo) => postSigned(STUB_WIRE, target, "call", { orderNo })));
    const urls = orderNos.map((orderNo) => `https://voucher.example/v/${orderNo}`);
    await query(
      "vouchers-insert",
      "WITH v AS (INSERT INTO floor_voucher (order_no, url) SELECT * FROM unnest($1::text[], $2::text[]) RETURNING order_no) INSERT INTO floor_outbox (subject, event_id) SELECT 'voucher.issued', order_no FROM v",
      [orderNos, urls],
    );
    await Promise.all(orderNos.map((orderNo) => publish("voucher.issued", `v-${orderNo}`)));
    return urls;
  };
  const bookAll = async (codes, issue) => {
    const lock = randomUUID();
    const taken = await codes.reduce((pipeline, code) => pipeline.set(`floor:lock:${code}`, lock, "PX", 10_000, "NX"), redis.pipeline()).exec();
    if (taken.some(([err, answer]) => err || answer !== "OK")) throw new Error("locked");
    try {
      await query("orders-insert", "INSERT INTO floor_order (code) SELECT unnest($1::text[])", [codes]);
      await Promise.all(codes.map((code) => postSigned(STUB_WIRE, target, "call", { code })));
      const urls = await issue(codes);
      await query(
        "orders-booked",
        "WITH o AS (UPDATE floor_order SET url = b.url, booked_at = now() FROM unnest($1::text[], $2::text[]) AS b(code, url) WHERE floor_order.code = b.code RETURNING floor_order.code) INSERT INTO floor_outbox (subject, event_id) SELECT 'order.booked', code FROM o",
        [codes, urls],
      );
      await Promise.all(codes.map((code) => publish("order.booked", `o-${code}`)));
      return urls;
    } finally {
      await codes.reduce((pipeline, code) => pipeline.del(`floor:lock:${code}`), redis.pipeline()).exec();
    }
  };

  // The voucher calls of a batch as one GetServiceDetails (each call's envelope.request a rights code), its URLs in order.
  const voucherBatch = () => {
    const voucher = createClient(OrderService, rpcTransport(nextUrl));
    return async (codes) => (await voucher.getServiceDetails({ calls: codes.map((code) => ({ envelope: { request: code } })) })).outcomes.map((o) => o.outcome.value.url);
  };

  let routes;
  if (level === "batched-all") {
    const codesOf = (calls) => calls.map(({ envelope }) => envelope?.request ?? "");
    const answers = (urls) => ({ outcomes: urls.map((url) => ({ outcome: { case: "detail", value: { url } } })) });
    if (kind === "order") {
      const issue = voucherBatch();
      routes = (router) => router.service(OrderService, { getServiceDetails: async ({ calls }) => answers(await bookAll(codesOf(calls), issue)) });
    } else {
      routes = (router) => router.service(OrderService, { getServiceDetails: async ({ calls }) => answers(await issueAll(codesOf(calls))) });
    }
  } else if (batched) {
    // GetServiceDetails as a batch carrier both ways: each call's envelope.request is a rights code.
    const each = (one) => async ({ calls }) => ({
      outcomes: await Promise.all(calls.map(async ({ envelope }) => ({ outcome: { case: "detail", value: { url: await one(envelope?.request ?? "") } } }))),
    });
    if (kind === "order") {
      const { default: DataLoader } = await import("dataloader");
      const issue = new DataLoader(voucherBatch(), { cache: false, maxBatchSize: 100, batchScheduleFn: (run) => setImmediate(run) });
      routes = (router) => router.service(OrderService, { getServiceDetails: each((code) => bookOne(code, (c) => issue.load(c))) });
    } else {
      routes = (router) => router.service(OrderService, { getServiceDetails: each(issueOne) });
    }
  } else if (kind === "order") {
    const voucher = createClient(VoucherService, rpcTransport(nextUrl));
    routes = (router) =>
      router.service(OrderService, {
        async bookService({ envelope }) {
          const code = envelope?.request ?? "";
          const url = await bookOne(code, async (c) => (await voucher.issueVoucher({ orderNo: c, rightsCode: c })).url);
          return { orderNo: code, url };
        },
      });
  } else {
    routes = (router) => router.service(VoucherService, { issueVoucher: async ({ orderNo }) => ({ url: await issueOne(orderNo) }) });
  }
  await startBenchRpcServer({ name: `floor-${kind}`, port, routes });
}

/** The order service of the read chain: every detail call of a batch answered from memory. */
async function reader() {
  const { OrderService } = await import("../dist/proto/gen/rights/order/v1/order_pb.js");
  const detail = { status: 200, url: "https://voucher.example/v/1", orderNo: "P0000000001" };
  await startBenchRpcServer({
    name: "floor-reader",
    port,
    routes: (router) =>
      router.service(OrderService, {
        getServiceDetails: ({ calls }) => ({ outcomes: calls.map(() => ({ outcome: { case: "detail", value: detail } })) }),
      }),
  });
}

async function front() {
  const { default: Fastify } = await import("fastify");
  const { createClient } = await import("@connectrpc/connect");
  const { rpcTransport } = await import("../dist/services/common/rpc-client.js");
  const { serviceDetails } = await import("../dist/gateway/psbc/service-details.js");
  const { OrderService } = await import("../dist/proto/gen/rights/order/v1/order_pb.js");
  const order = createClient(OrderService, rpcTransport(nextUrl));
  const details = serviceDetails(order, 5_000);
  const app = Fastify({ logger: false });
  let next = 0;
  app.post("/detail", async () => {
    const detail = await details({ request: "x" });
    return { code: 0, msg: "成功", data: { orderNo: detail.orderNo, url: detail.url, status: detail.status } };
  });
  app.post("/book-batched", async () => {
    const booked = await details({ request: `${level}-${process.pid}-${next++}` });
    return { code: 0, msg: "成功", data: { orderNo: booked.orderNo, url: booked.url } };
  });
  app.post("/book", async () => {
    // Every request a new rights code, as in the appointment scenario.
    const booked = await order.bookService({ envelope: { request: `${level}-${process.pid}-${next++}` } });
    return { code: 0, msg: "成功", data: { orderNo: booked.orderNo, url: booked.url } };
  });
  app.get("/healthz", async () => ({ status: "ok" }));
  await app.listen({ host: "127.0.0.1", port: Number(port) });
}

const log = (line = "") => process.stdout.write(`${line}\n`);

const SCHEMA = `
  CREATE TABLE floor_order (code text PRIMARY KEY, url text, created_at timestamptz NOT NULL DEFAULT now(), booked_at timestamptz);
  CREATE TABLE floor_code_order (id bigserial PRIMARY KEY, order_no text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE floor_voucher (order_no text PRIMARY KEY, url text NOT NULL, issued_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE floor_outbox (id bigserial PRIMARY KEY, subject text NOT NULL, event_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());`;

async function main() {
  const chosen = (env.BENCH_FLOOR_CHAINS || CHAINS.join(",")).split(",").map((c) => c.trim());
  for (const chain of chosen) if (!CHAINS.includes(chain)) throw new Error(`BENCH_FLOOR_CHAINS: unknown chain ${chain}; one of ${CHAINS.join(", ")}`);
  const duration = Number(env.BENCH_DURATION ?? 8);
  const warmup = Number(env.BENCH_WARMUP ?? 2);
  const rounds = Number(env.BENCH_ROUNDS ?? 2);
  const connections = Number(env.BENCH_CONNECTIONS ?? 50);
  const stamp = Date.now();
  const adminUrl = env.BENCH_DATABASE_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const database = `bench_floor_${stamp}`;
  const databaseUrl = Object.assign(new URL(adminUrl), { pathname: `/${database}` }).toString();
  const stream = `FLOOR_${stamp}`;
  const subject = `floor_${stamp}`;
  const { default: pg } = await import("pg");
  const { connect } = await import("nats");
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const schema = new pg.Client({ connectionString: databaseUrl });
  await schema.connect();
  await schema.query(SCHEMA);
  await schema.end();
  const nc = await connect({ servers: env.NATS_URL ?? "nats://127.0.0.1:4222" });
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`], duplicate_window: 120e9 });

  const children = [];
  const spawn = (name, args) => {
    const child = benchChild({
      root: ROOT,
      logs: LOGS,
      logPrefix: "floor-",
      name,
      script: "bench/booking-floor.js",
      args,
      env: { FLOOR_DATABASE_URL: databaseUrl, FLOOR_SUBJECT: subject, REDIS_URL: env.REDIS_URL ?? "redis://127.0.0.1:6379", NATS_URL: env.NATS_URL ?? "nats://127.0.0.1:4222" },
    });
    children.push(child);
    return child;
  };
  try {
    const barePort = await freePort();
    const bare = benchChild({ root: ROOT, logs: LOGS, logPrefix: "floor-", name: "bare", script: "bench/bare-server.js", env: { PORT: String(barePort) } });
    children.push(bare);
    await waitHttp(`http://127.0.0.1:${barePort}/healthz`, bare);
    const stubPort = await freePort();
    const stubChild = spawn("stub", ["stub", "-", String(stubPort)]);
    await waitHttp(`http://127.0.0.1:${stubPort}/healthz`, stubChild);
    const stubUrlOf = `http://127.0.0.1:${stubPort}`;
    const targets = [{ name: "bare", url: `http://127.0.0.1:${barePort}`, path: "/bare" }];
    for (const chain of [...LEVELS, ...BATCHED].filter((c) => chosen.includes(c))) {
      const [vp, op, fp] = [await freePort(), await freePort(), await freePort()];
      spawn(`${chain}-voucher`, ["voucher", chain, String(vp), "-", stubUrlOf]);
      spawn(`${chain}-order`, ["order", chain, String(op), `http://127.0.0.1:${vp}`, stubUrlOf]);
      const fr = spawn(`${chain}-front`, ["front", chain, String(fp), `http://127.0.0.1:${op}`]);
      await waitHttp(`http://127.0.0.1:${fp}/healthz`, fr);
      targets.push({ name: chain, url: `http://127.0.0.1:${fp}`, path: BATCHED.includes(chain) ? "/book-batched" : "/book", aim: APPOINTMENT_AIM });
    }
    if (chosen.includes("read")) {
      const [rp, rfp] = [await freePort(), await freePort()];
      spawn("read-order", ["reader", "read", String(rp)]);
      const readFront = spawn("read-front", ["front", "read", String(rfp), `http://127.0.0.1:${rp}`]);
      await waitHttp(`http://127.0.0.1:${rfp}/healthz`, readFront);
      targets.push({ name: "read", url: `http://127.0.0.1:${rfp}`, path: "/detail", aim: DETAIL_AIM });
    }
    const sampler = new ProcessSampler(500);
    for (const child of children) sampler.track(child.name, child.pid);
    const figures = new Map(targets.map((t) => [t.name, []]));
    for (let r = 1; r <= rounds; r++) {
      for (const t of targets) {
        const { result, window, answered } = await loadWindow(sampler, t, { connections, warmup, duration });
        const machineUs = answered > 0 ? round((window.machineCpuPercentOfCore / 100) * window.seconds * 1e6 / answered, 0) : null;
        const row = { reqPerSec: Math.round(result.requests.average), p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx, machineUs };
        figures.get(t.name).push(row);
        // Who spent it: each busy process's CPU per request (the rest is PostgreSQL, Redis, NATS, the kernel, autocannon).
        const busy = Object.entries(window.processes)
          .filter(([, p]) => (p.cpuPercentOfCore ?? 0) >= 2)
          .map(([name, p]) => `${name} ${answered > 0 ? round((p.cpuPercentOfCore / 100) * window.seconds * 1e6 / answered, 0) : "-"}`);
        log(`round ${r} ${t.name.padEnd(14)} ${row.reqPerSec} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, ${row.errors} errors, machine ${machineUs} µs/req (${busy.join(", ")})`);
      }
    }
    // What the chains stored, so a chain that silently skipped its storage or events shows.
    const counted = new pg.Client({ connectionString: databaseUrl });
    await counted.connect();
    const stored = [];
    // In-flight bookings of the last chain finish first.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    for (const chain of STORING.filter((c) => chosen.includes(c))) {
      const like = [`${chain}-%`];
      const count = async (text) => Number((await counted.query(text, like)).rows[0].count);
      const bookings = await count("SELECT count(*) FROM floor_order WHERE code LIKE $1 AND booked_at IS NOT NULL");
      const vouchers = await count("SELECT count(*) FROM floor_voucher WHERE order_no LIKE $1");
      const outbox = await count("SELECT count(*) FROM floor_outbox WHERE event_id LIKE $1");
      stored.push(`${chain} ${bookings} bookings, ${vouchers} vouchers, ${outbox} outbox rows`);
    }
    await counted.end();
    const events = (await jsm.streams.info(stream)).state.messages;
    log(`\nstored (warm-ups included): ${stored.join("; ")}; ${events} events in the stream`);
    const cores = cpus().length;
    const bares = figures.get("bare");
    if (env.BENCH_FLOOR_REPORT) {
      const report = { bareReqPerSec: bares.map((b) => b.reqPerSec), chains: {} };
      for (const { name: chain } of targets.slice(1)) {
        report.chains[chain] = figures.get(chain).map((row, i) => ({
          ratioToBare: round(row.reqPerSec / bares[i].reqPerSec, 4),
          reqPerSec: row.reqPerSec,
          p50Ms: row.p50,
          p99Ms: row.p99,
          p99OverP50: round(row.p99 / Math.max(1, row.p50), 2),
          errors: row.errors,
          machineCpuUsPerRequest: row.machineUs,
        }));
      }
      writeFileSync(env.BENCH_FLOOR_REPORT, `${JSON.stringify(report, null, 2)}\n`);
    }
    log(`\nthe floor in this shape (${cores} cores; aims: a booking ${APPOINTMENT_AIM}× the bare route, a detail ${DETAIL_AIM}×)`);
    log("chain           ratio to bare (per round)   machine CPU µs/request   aim's budget µs   p50/p99 ms");
    for (const { name: chain, aim } of targets.slice(1)) {
      const rows = figures.get(chain);
      const ratios = rows.map((row, i) => (row.reqPerSec / bares[i].reqPerSec).toFixed(4));
      const budgets = bares.map((b) => Math.round((cores * 1e6) / (aim * b.reqPerSec)));
      log(`${chain.padEnd(15)} ${ratios.join(", ").padEnd(27)} ${rows.map((row) => row.machineUs).join(", ").padEnd(24)} ${budgets.join(", ").padEnd(17)} ${rows.map((row) => `${row.p50}/${row.p99}`).join(", ")}`);
    }
  } finally {
    for (const child of children.reverse()) await stopChild(child);
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc.close();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}

const ROLES = { stub, reader, front, order: () => backend("order"), voucher: () => backend("voucher") };
if (role in ROLES) {
  await ROLES[role]();
  // A clean exit, so a --cpu-prof run writes its profile.
  for (const signal of ["SIGTERM", "SIGINT"]) process.once(signal, () => process.exit(0));
} else {
  await main();
  process.exit(0);
}
