// `npm run bench`'s harness (bench/run.js) in a one-second run on the real PostgreSQL, Redis and NATS: the cluster
// it starts serves every scenario without an error, and the report carries each ratio and each aim's line, so a
// harness broken by a change shows here rather than the next time someone benchmarks; booking-steps.js likewise, in
// both its modes. Needs the build (dist/).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { cluster } from "./support/cluster.js";

const SCENARIOS = ["bare", "appointment", "detail", "expired-points", "cancel"];

interface Report {
  scenarios: Record<string, { requests: number; errors: number; ratioToBare: number }>;
  aims: Array<{ aim: string; met: boolean; machineCpuUsPerRequest?: number | null; machineCpuUsBudget?: number | null }>;
}

describe.skipIf(!cluster)("the benchmark harness, in a one-second run (real PostgreSQL, Redis, NATS)", () => {
  const dir = mkdtempSync(join(tmpdir(), "bench-harness-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("measures every scenario without an error and reports its ratio to the bare route and a met/missed line per aim", async () => {
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
      timeout: 150_000,
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
    for (const aim of report.aims) {
      const verdict = aim.met ? "met " : "missed ";
      expect(lines.some((line) => line.startsWith(verdict) && line.includes(`${aim.aim} `)), aim.aim).toBe(true);
    }
  }, 180_000);

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
