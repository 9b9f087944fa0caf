// `npm run bench`'s harness (bench/run.js) in a one-second run on the real PostgreSQL, Redis and NATS: the cluster
// it starts serves every scenario without an error, and the report carries each ratio and each aim's line, so a
// harness broken by a change shows here rather than the next time someone benchmarks; booking-steps.js likewise, in
// both its modes. Needs the build (dist/).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { connect } from "nats";
import { afterAll, describe, expect, it } from "vitest";
import { cluster } from "./support/cluster.js";

const SCENARIOS = ["bare", "appointment", "detail", "expired-points", "cancel"];

interface FloorChain {
  ratioToBare: number;
  p99OverP50: number;
  errors: number;
  machineCpuUsPerRequest: number;
}

interface Report {
  scenarios: Record<string, { requests: number; errors: number; ratioToBare: number }>;
  floor: { bareReqPerSec: number; events?: FloorChain; read?: FloorChain } | null;
  aims: Array<{
    aim: string;
    met: boolean;
    machineCpuUsPerRequest?: number | null;
    machineCpuUsBudget?: number | null;
    floorRatioToBare?: number | null;
    floorP99OverP50?: number | null;
  }>;
}

describe.skipIf(!cluster)("the benchmark harness, in a one-second run (real PostgreSQL, Redis, NATS)", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-harness-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("measures every scenario without an error and reports its ratio to the bare route, the shape's floor and a met/missed line per aim", async () => {
    const reportFile = join(dir, "report.json");
    const { stdout } = await promisify(execFile)(process.execPath, ["bench/run.js"], {
      env: {
        ...process.env,
        BENCH_DATABASE_ADMIN_URL: process.env.DATABASE_URL,
        BENCH_DURATION: "1",
        BENCH_WARMUP: "0",
        BENCH_CONNECTIONS: "10",
        BENCH_BOOKED: "60",
        BENCH_FRESH_CODES: "600",
        BENCH_REPORT: reportFile,
      },
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    const report = JSON.parse(readFileSync(reportFile, "utf8")) as Report;

    for (const name of SCENARIOS) {
      const scenario = report.scenarios[name];
      expect(scenario, name).toBeDefined();
      expect(scenario?.requests, name).toBeGreaterThan(0);
      expect(scenario?.errors, name).toBe(0);
      expect(scenario?.ratioToBare, name).toBeGreaterThan(0);
    }
    expect(report.aims.map((aim) => aim.aim)).toEqual([
      "appointment ≥ 0.04× bare",
      "appointment p99 ≤ 2.5× p50",
      "detail ≥ 0.16× bare",
      "detail p99 ≤ 2.5× p50",
      "gateway RSS ≤ 150 MB",
      "order RSS ≤ 150 MB",
      "voucher RSS ≤ 150 MB",
    ]);
    const lines = stdout.split("\n").map((line) => line.trim());
    // The code's cost per request, every scenario's for each service and the machine.
    const costs = lines.slice(lines.indexOf("CPU µs per answered request during each scenario:") + 2);
    for (const proc of ["gateway", "order", "voucher", "machine (all of it)"]) {
      const row = costs.find((line) => line.startsWith(`${proc} `));
      expect(row?.slice(proc.length).trim().split(/\s+/).filter((cell) => /^\d+$/.test(cell)).length, proc).toBeGreaterThanOrEqual(4);
    }
    // Each ratio aim also in the code's cost: the machine's CPU per request, and what the aimed rate would allow.
    for (const aim of report.aims.filter((a) => a.aim.endsWith("× bare"))) {
      expect(aim.machineCpuUsPerRequest, aim.aim).toBeGreaterThan(0);
      expect(aim.machineCpuUsBudget, aim.aim).toBeGreaterThan(0);
      expect(lines.some((line) => line.includes(`${aim.aim} `) && line.includes(`${aim.machineCpuUsPerRequest} µs per request`)), aim.aim).toBe(true);
    }
    // The shape's floor in the same run, beside each aimed scenario (bench/booking-floor.js's events and read chains).
    for (const chain of [report.floor?.events, report.floor?.read]) {
      expect(chain?.ratioToBare).toBeGreaterThan(0);
      expect(chain?.errors).toBe(0);
      expect(chain?.machineCpuUsPerRequest).toBeGreaterThan(0);
    }
    for (const aim of report.aims.filter((a) => a.aim.startsWith("appointment") || a.aim.startsWith("detail"))) {
      const floor = aim.aim.endsWith("× bare") ? aim.floorRatioToBare : aim.floorP99OverP50;
      // (A tail of a one-second run may round to 0 ms.)
      expect(typeof floor, aim.aim).toBe("number");
      expect(lines.some((line) => line.includes(`${aim.aim} `) && line.includes(`the shape's floor: ${floor}×`)), aim.aim).toBe(true);
      if (aim.aim.endsWith("× bare")) expect(lines.some((line) => line.includes(`${aim.aim} `) && /this run at \d+(\.\d+)? of it$/.test(line)), aim.aim).toBe(true);
    }
    for (const aim of report.aims) {
      const verdict = aim.met ? "met " : "missed ";
      expect(lines.some((line) => line.startsWith(verdict) && line.includes(`${aim.aim} `)), aim.aim).toBe(true);
    }
  }, 210_000);

  it("booking-floor.js answers every chain without an error, prints each one's floor beside its aim, and leaves no database or stream", async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ["bench/booking-floor.js"], {
      env: { ...process.env, BENCH_DATABASE_ADMIN_URL: process.env.DATABASE_URL, BENCH_DURATION: "1", BENCH_WARMUP: "0", BENCH_ROUNDS: "1", BENCH_CONNECTIONS: "10" },
      timeout: 120_000,
    });
    const lines = stdout.split("\n");
    for (const chain of ["bare", "hops", "storage", "events", "batched", "batched-events", "batched-all", "read"]) {
      expect(lines.find((line) => line.startsWith(`round 1 ${chain} `)), chain).toMatch(/ [1-9]\d* req\/s, .* 0 errors, machine \d+ µs\/req/);
    }
    // Every chain with storage stored each booking it answered: its order booked, its voucher, two outbox rows; and
    // the chains with events published two per booking.
    const stored = lines.find((line) => line.startsWith("stored (warm-ups included): ")) ?? "";
    const counts = new Map([...stored.matchAll(/(\S+) (\d+) bookings, (\d+) vouchers, (\d+) outbox rows/g)].map(([, chain, ...n]) => [chain, n.map(Number)]));
    expect([...counts.keys()]).toEqual(["storage", "events", "batched-events", "batched-all"]);
    for (const [chain, [bookings = 0, vouchers, outbox]] of counts) {
      expect(bookings, chain).toBeGreaterThan(0);
      expect([vouchers, outbox], chain).toEqual([bookings, 2 * bookings]);
    }
    const published = Number(/; (\d+) events in the stream$/.exec(stored)?.[1]);
    expect(published).toBe(2 * [...counts].filter(([chain]) => chain !== "storage").reduce((sum, [, [bookings = 0]]) => sum + bookings, 0));
    const floor = lines.slice(lines.findIndex((line) => line.startsWith("the floor in this shape")));
    for (const chain of ["hops", "storage", "events", "batched", "batched-events", "batched-all", "read"]) {
      expect(floor.find((line) => line.startsWith(`${chain} `)), chain).toMatch(/^\S+\s+0\.\d{4}\s+\d+\s+\d+\s+\d+\/\d+$/);
    }
    const { Client } = (await import("pg")).default;
    const admin = new Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    try {
      expect((await admin.query("SELECT datname FROM pg_database WHERE datname LIKE 'bench_floor_%'")).rows).toEqual([]);
    } finally {
      await admin.end();
    }
    const nc = await connect({ servers: process.env.NATS_URL });
    try {
      const streams = await (await nc.jetstreamManager()).streams.names().next();
      expect(streams.filter((name) => name.startsWith("FLOOR_"))).toEqual([]);
    } finally {
      await nc.close();
    }
  }, 150_000);

  // [step, calls, PostgreSQL round trips] per booking.
  it.each<[string, Array<[string, number, number]>]>([
    ["order", [["pg: OrderStore.findOrCreate", 1, 1], ["redis: lock (SET NX)", 1, 0], ["pg: OrderStore.update", 2, 2]]],
    ["voucher", [["pg: VoucherStore.findOrCreatePending", 1, 1], ["pg: CatalogueStore.findOffer", 1, 1], ["pg: CodeOrderStore.recordMade", 1, 1], ["pg: VoucherStore.recordIssued", 1, 1]]],
  ])("booking-steps.js (BENCH_STEPS=%s) counts each step's round trips", async (steps, expected) => {
    const { stdout } = await promisify(execFile)(process.execPath, ["bench/booking-steps.js"], {
      env: { ...process.env, BENCH_DATABASE_ADMIN_URL: process.env.DATABASE_URL, BENCH_STEPS: steps, BENCH_BOOKINGS: "5", BENCH_ROUNDS: "1" },
      timeout: 60_000,
    });
    const rows = new Map(
      stdout.split("\n").flatMap((line) => {
        const row = /^(.+?)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+\d+\s+\d+$/.exec(line);
        return row ? [[row[1], [Number(row[2]), Number(row[3])]] as const] : [];
      }),
    );
    for (const [step, calls, trips] of expected) expect(rows.get(step), step).toEqual([calls, trips]);
    expect(rows.get("booking (all of it)")?.[0]).toBe(1);
  }, 90_000);
});
