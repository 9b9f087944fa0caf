// What each step of a booking costs, checkouts side by side in one run:
//   npm run build && node bench/booking-steps.js [checkout …]      (default: this one; each must be built)
// BENCH_STEPS=order (default): each checkout's own Bookings use case runs on the real PostgreSQL and Redis (its
// OrderStore, its lock, its outbox relay publishing to the in-process bus), with PSBC and the voucher service
// answering at once in memory. BENCH_STEPS=voucher: its Vouchers.issue of a PSBC booking's voucher on the real
// PostgreSQL (its stores, the sandbox's PSBC offer, the real quota gate, its relay), the send channel answering
// at once in memory. So what is left is our own round trips. Bookings of fresh codes run one at a time (latency
// is cost, not queueing); every PostgreSQL round trip is counted and timed by the step that made it. Rounds
// interleave the checkouts (A, B, A, B, …). BENCH_BOOKINGS (default 300), BENCH_ROUNDS (default 2),
// BENCH_DATABASE_ADMIN_URL, REDIS_URL.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const env = process.env;
const ADMIN_URL = env.BENCH_DATABASE_ADMIN_URL || "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = env.REDIS_URL || "redis://127.0.0.1:6379";
const AES = { key: "bench-aes-key-16", iv: "bench-aes-iv-016" };
const TYPE = "310001";

/** Counts and times the round trips made through `db`, each under the step running at the time. */
function countingDatabase(db, tally) {
  const trip = async (run) => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      tally.add(performance.now() - started);
    }
  };
  return {
    ...db,
    query: (text, params) => trip(() => db.query(text, params)),
    transaction: (fn) => {
      // BEGIN and COMMIT are round trips of their own.
      tally.add(0, 2);
      return db.transaction((tx) => fn({ ...tx, query: (text, params) => trip(() => tx.query(text, params)) }));
    },
  };
}

class Tally {
  constructor() {
    this.steps = new Map();
    this.current = "other";
  }
  step(name) {
    const entry = this.steps.get(name) ?? { calls: 0, trips: 0, ms: 0, tripMs: 0 };
    this.steps.set(name, entry);
    return entry;
  }
  add(ms, trips = 1) {
    const entry = this.step(this.current);
    entry.trips += trips;
    entry.tripMs += ms;
  }
  /** Runs `fn` as `name`: its wall time and the round trips it made. */
  async timed(name, fn) {
    const outer = this.current;
    this.current = name;
    const started = performance.now();
    try {
      return await fn();
    } finally {
      const entry = this.step(name);
      entry.calls += 1;
      entry.ms += performance.now() - started;
      this.current = outer;
    }
  }
}

/** Wraps every method of `object` (own and prototype) to run as a step named `prefix.method`. */
function timeMethods(object, prefix, tally) {
  const proto = Object.getPrototypeOf(object);
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === "constructor" || typeof object[name] !== "function") continue;
    const method = object[name].bind(object);
    object[name] = (...args) => tally.timed(`${prefix}.${name}`, () => method(...args));
  }
  return object;
}

/** A database of its own for one run, dropped after it. */
async function withBenchDatabase(run) {
  const name = `steps_${Date.now()}_${randomBytes(3).toString("hex")}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  try {
    return await run(url.toString(), name);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

/**
 * One checkout's run: its service's schema migrated on a database of its own, its outbox relay publishing to the
 * in-process bus (its round trips tallied apart), then `prepare` (the use case under test, and what to close after)
 * and the bookings: `book(i)` for the warm-up (JIT, pools, prepared statements; not counted), then for each
 * measured one.
 */
async function measureIn(checkout, service, prepare) {
  const from = (module) => import(pathToFileURL(join(checkout, "dist", module)).href);
  const { openDatabase } = await from("services/common/database.js");
  const { migrate } = await from("services/common/migrate.js");
  const { createLogger } = await from("services/common/logger.js");
  const { connectEventBus } = await from("services/common/bus.js");
  const { OutboxRelay } = await from("services/common/outbox.js");
  const logger = createLogger(`${service.schema}-steps`, "warn");
  return withBenchDatabase(async (url, name) => {
    const tally = new Tally();
    const relayTally = new Tally();
    let db;
    let relay;
    let close = async () => undefined;
    try {
      db = await openDatabase({ url, poolSize: 4, logger });
      await migrate(db, { schema: service.schema, migrationsDir: join(checkout, `dist/services/${service.name}/migrations`), logger });
      const bus = await connectEventBus({ streams: [service.stream], name: "booking-steps", logger });
      relay = new OutboxRelay({ db: countingDatabase(db, relayTally), schema: service.schema, bus, logger });
      relay.start();
      const prepared = await prepare({ from, db, counted: countingDatabase(db, tally), tally, logger, name, eventsWritten: () => relay.kick() });
      close = prepared.close ?? close;
      const bookings = Number(env.BENCH_BOOKINGS ?? 300);
      for (let i = 0; i < 20; i++) await prepared.book(i);
      tally.steps.clear();
      relayTally.steps.clear();
      const started = performance.now();
      for (let i = 20; i < bookings + 20; i++) await tally.timed("booking (all of it)", () => prepared.book(i));
      const ms = performance.now() - started;
      // The last kicks' batches.
      await new Promise((r) => setTimeout(r, 300));
      await relay.stop();
      return { bookings, msPerBooking: ms / bookings, steps: Object.fromEntries(tally.steps), relay: Object.fromEntries(relayTally.steps) };
    } finally {
      await relay?.stop();
      await close();
      await db?.close();
    }
  });
}

const orderSteps = (checkout) =>
  measureIn(checkout, { name: "order", schema: "orders", stream: { name: "ORDER", subjects: ["order.>"] } }, async ({ from, db, counted, tally, logger, name, eventsWritten }) => {
    const { create } = await import("@bufbuild/protobuf");
    const { createLockService } = await from("services/common/lock.js");
    const { systemClock } = await from("services/common/clock.js");
    const { Bookings } = await from("services/order/bookings.js");
    const { OrderStore } = await from("services/order/order-store.js");
    const { encryptRightsRequest } = await from("services/order/psbc/rights-request.js");
    const { RightsEnvelopeSchema } = await from("proto/gen/rights/order/v1/order_pb.js");
    const { ServiceTypes } = await from("services/order/service-types.js");
    const { KeyRing, decodeKek } = await from("services/common/key-ring.js");
    const { DEVELOPMENT_SERVICE_TYPE_KEK } = await from("services/platform/development-kek.js");
    const lock = createLockService({ url: REDIS_URL, prefix: `bench:steps:${name}:`, logger });
    const timedLock = {
      acquire: (key, options) =>
        tally.timed("redis: lock (SET NX)", async () => {
          const lease = await lock.acquire(key, options);
          if (!lease) return lease;
          const release = lease.release.bind(lease);
          // A plain object would lose the lease's getters (signal, waited): wrap it instead.
          return new Proxy(lease, {
            get: (target, prop) => (prop === "release" ? () => tally.timed("redis: release (script)", release) : Reflect.get(target, prop, target)),
          });
        }),
      ping: () => lock.ping(),
      close: () => lock.close(),
    };
    const serviceType = {
      type: TYPE,
      name: "bench service",
      aesKey: AES.key,
      aesIv: AES.iv,
      providerCode: "A101",
      validityDays: 30,
      strictMac: true,
      voucherTemplateId: "T1",
      sendChannel: "sms",
    };
    // Registered as the admin RPC would (the order row refers to it); read from memory during the run.
    await new ServiceTypes({ db, keys: new KeyRing(decodeKek(DEVELOPMENT_SERVICE_TYPE_KEK)), logger }).put(serviceType);
    const use = new Bookings({
      serviceTypes: { require: async () => serviceType },
      orders: timeMethods(new OrderStore(counted, systemClock), "pg: OrderStore", tally),
      lock: timedLock,
      psbc: { bookService: async ({ orderNo }) => ({ psbcOrderNo: `P${orderNo}` }) },
      vouchers: { issueVoucher: async ({ orderNo }) => ({ voucher: { voucherNo: `V${orderNo}`, url: `https://v.example/${orderNo}` } }) },
      logger,
      eventsWritten,
    });
    const envelopes = Array.from({ length: Number(env.BENCH_BOOKINGS ?? 300) + 20 }, (_, i) =>
      create(RightsEnvelopeSchema, {
        type: TYPE,
        request: encryptRightsRequest({ type: TYPE, code: `ST${name.slice(-6)}-${i}`, mac: "bench-customer" }, AES),
        channel: "12",
        tranChnl: "12",
        backUrl: "https://mobile.psbc.com/back",
        instType: "01",
        provinceInstNo: "100000",
      }),
    );
    return { book: (i) => use.book(envelopes[i]), close: () => lock.close() };
  });

const voucherSteps = (checkout) =>
  measureIn(checkout, { name: "voucher", schema: "vouchers", stream: { name: "VOUCHER", subjects: ["voucher.>"] } }, async ({ from, db, counted, tally, logger, name, eventsWritten }) => {
    const { systemClock } = await from("services/common/clock.js");
    const { KeyRing } = await from("services/common/key-ring.js");
    const { Vouchers } = await from("services/voucher/vouchers.js");
    const { VoucherStore } = await from("services/voucher/voucher-store.js");
    const { CatalogueStore } = await from("services/voucher/catalogue/catalogue-store.js");
    const { AuditStore } = await from("services/voucher/catalogue/audit-store.js");
    const { ensureSandboxPsbcOffer } = await from("services/voucher/psbc-offer.js");
    const { MakeCodes } = await from("services/voucher/codes/make-code.js");
    const { CodeOrderStore } = await from("services/voucher/codes/code-order-store.js");
    const { createQuotaGate } = await from("services/voucher/rules/quota-gate.js");
    const { RuleStore } = await from("services/voucher/rules/rule-store.js");
    const { SANDBOX_PSBC_OFFER } = await from("services/sandbox/credentials.js");
    const keys = new KeyRing(randomBytes(32), undefined, "WHALE_KEK");
    await ensureSandboxPsbcOffer({ db, store: new CatalogueStore(db, keys), audit: new AuditStore(db), clock: systemClock });
    const catalogue = timeMethods(new CatalogueStore(counted, keys), "pg: CatalogueStore", tally);
    // Blue Brothers answering at once: one code per order, under the order's trade number.
    const channel = {
      makeCodes: async (order) => [{ code: `BB${order.sendChannelOrderId}`, url: `https://bb.example/${order.sendChannelOrderId}`, channelRef: order.sendChannelOrderId }],
      voidCode: async () => undefined,
      queryCode: async () => ({ status: "UNUSED" }),
    };
    const makeCodes = new MakeCodes({
      orders: timeMethods(new CodeOrderStore(counted), "pg: CodeOrderStore", tally),
      catalogue,
      quota: createQuotaGate({ db: counted, rules: timeMethods(new RuleStore(counted), "pg: RuleStore", tally), clock: systemClock }),
      channelFor: async () => channel,
      clock: systemClock,
      logger,
      leaseMs: 10_000,
    });
    const vouchers = new Vouchers({
      store: timeMethods(new VoucherStore(counted), "pg: VoucherStore", tally),
      makeCodes,
      catalogue,
      channels: new Map(),
      logger,
      clock: systemClock,
      statusPollIntervalMs: 3_600_000,
      eventsWritten,
    });
    const validUntil = new Date(Date.now() + 30 * 86_400_000);
    return {
      book: (i) =>
        vouchers.issue({ orderNo: `R${name.slice(-6)}${i}`, templateId: SANDBOX_PSBC_OFFER.templateId, rightsCode: `C${i}`, customerRef: "bench-customer", validUntil }),
    };
  });

const SCENARIOS = { order: orderSteps, voucher: voucherSteps };

if (process.argv[2] === "--run") {
  const steps = SCENARIOS[env.BENCH_STEPS ?? "order"];
  if (!steps) throw new Error(`BENCH_STEPS: one of ${Object.keys(SCENARIOS).join(", ")}`);
  const result = await steps(resolve(process.argv[3]));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const checkouts = (process.argv.length > 2 ? process.argv.slice(2) : [ROOT]).map((dir) => resolve(dir));
const rounds = Number(env.BENCH_ROUNDS ?? 2);
const results = new Map(checkouts.map((dir) => [dir, []]));
for (let round = 1; round <= rounds; round++) {
  for (const dir of checkouts) {
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--run", dir], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (run.status !== 0) throw new Error(`booking-steps failed for ${dir}`);
    const result = JSON.parse(run.stdout.trim().split("\n").pop());
    results.get(dir).push(result);
    process.stdout.write(`round ${round} ${dir}: ${result.msPerBooking.toFixed(2)} ms a booking\n`);
  }
}

const us = (ms) => `${Math.round(ms * 1000)}`;
for (const dir of checkouts) {
  const runs = results.get(dir);
  process.stdout.write(`\n${dir} (${runs.length} run(s) of ${runs[0].bookings} bookings, one at a time; per booking, mean of the runs)\n`);
  process.stdout.write(`${"step".padEnd(40)}${"calls".padStart(7)}${"pg trips".padStart(10)}${"µs".padStart(9)}${"pg µs".padStart(9)}\n`);
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.steps)))];
  for (const name of names) {
    const mean = (field) => runs.reduce((sum, r) => sum + (r.steps[name]?.[field] ?? 0) / r.bookings, 0) / runs.length;
    process.stdout.write(`${name.padEnd(40)}${mean("calls").toFixed(2).padStart(7)}${mean("trips").toFixed(2).padStart(10)}${us(mean("ms")).padStart(9)}${us(mean("tripMs")).padStart(9)}\n`);
  }
  const relayTrips = runs.reduce((sum, r) => sum + Object.values(r.relay).reduce((s, e) => s + e.trips, 0) / r.bookings, 0) / runs.length;
  const relayMs = runs.reduce((sum, r) => sum + Object.values(r.relay).reduce((s, e) => s + e.tripMs, 0) / r.bookings, 0) / runs.length;
  process.stdout.write(`${"outbox relay (per booking's event)".padEnd(40)}${"".padStart(7)}${relayTrips.toFixed(2).padStart(10)}${"".padStart(9)}${us(relayMs).padStart(9)}\n`);
}
