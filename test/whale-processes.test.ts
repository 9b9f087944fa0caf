// A bulk make-code job over real processes, as an operator runs it in the cluster: `main.js migrate`, the voucher
// role as its own process (the compiled code, as the image runs it), and the operator CLI as processes of their
// own: `whale bulk start --watch`, then `whale bulk export` streamed to a pipe; and the gateway role serving
// the back office, ready only while the voucher service is. Real PostgreSQL, Redis, NATS (skipped without
// their URLs).
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as ServingStatus } from "../proto/gen/grpc/health/v1/health_pb.js";
import { CodeService } from "../proto/gen/rights/voucher/v1/codes_pb.js";
import { adminAuthorization } from "../services/common/admin-credential.js";
import { decodeKek, KeyRing } from "../services/common/key-ring.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { DEVELOPMENT_WHALE_KEK } from "../services/platform/development-kek.js";
import { bulkOrderId } from "../services/voucher/codes/bulk-code-writer.js";
import { testDatabase, type TestDatabase } from "./support/databases.js";
import { freePort } from "./support/free-port.js";
import { until } from "./support/until.js";
import { seedOffer } from "./support/whale-codes.js";
import { erpPost, SANDBOX_ERP_APP } from "./support/whale-erp.js";
import { cluster } from "./support/cluster.js";

const ADMIN_TOKEN = "bulk-export-process-admin-token-0123456789";
/** Three export pages (10,000 codes each at most) and three make-code batches. */
const TOTAL = 25_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the operator CLI (`npm run ops -- …`, compiled) as a process of its own, collecting its output. */
async function ops(args: string[], env: Record<string, string>): Promise<Run> {
  const child = spawn(process.execPath, ["dist/services/platform/ops-cli.js", ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const run: Run = { code: null, stdout: "", stderr: "" };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (run.stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (run.stderr += chunk));
  [run.code] = (await once(child, "exit")) as [number | null];
  return run;
}

describe.skipIf(!cluster)("a bulk job's CSV export from the voucher role as a real process (real PostgreSQL, Redis, NATS)", () => {
  let database: TestDatabase;
  let voucher: ChildProcess | undefined;
  let voucherUrl: string;
  let templateId: string;

  beforeAll(async () => {
    await promisify(execFile)("npm", ["run", "--silent", "build"], { timeout: 120_000 });
    database = await testDatabase();
    const env = { PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", HOST: "127.0.0.1", DATABASE_URL: database.url ?? "" };
    const migrate = spawn(process.execPath, ["dist/services/platform/main.js", "migrate"], { env, stdio: "ignore" });
    expect((await once(migrate, "exit"))[0]).toBe(0);
    templateId = (await seedOffer(database.db, new KeyRing(decodeKek(DEVELOPMENT_WHALE_KEK)), { sendType: 2 })).templateId;

    const [port, metricsPort] = [await freePort(), await freePort()];
    voucherUrl = `http://127.0.0.1:${port}`;
    voucher = spawn(process.execPath, ["dist/services/platform/main.js", "voucher"], {
      env: {
        ...env,
        NATS_URL: process.env.NATS_URL ?? "",
        REDIS_URL: process.env.REDIS_URL ?? "",
        VOUCHER_PORT: String(port),
        METRICS_PORT: String(metricsPort),
        // No Blue Brothers call is made here; the variables are required all the same.
        BLUE_BROTHERS_BASE_URL: "http://127.0.0.1:9",
        BLUE_BROTHERS_APP_ID: "unused",
        BLUE_BROTHERS_APP_SECRET: "unused-secret",
        ADMIN_TOKEN,
        WHALE_KEK: DEVELOPMENT_WHALE_KEK,
        ERP_SANDBOX_SECRET: SANDBOX_ERP_APP.secret,
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const health = createClient(Health, rpcTransport(voucherUrl, { timeoutMs: 1_000 }));
    await until(async () => (await health.check({}).catch(() => undefined))?.status === ServingStatus.SERVING, 30_000, "the voucher role serves");
  }, 180_000);

  const gateways: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of [...gateways, voucher]) {
      if (child && child.exitCode === null) {
        child.kill("SIGTERM");
        await once(child, "exit");
      }
    }
    await database?.drop();
  });

  /** The gateway role (compiled) on a port of its own; the voucher service at `voucherServiceUrl`. */
  async function gateway(voucherServiceUrl: string): Promise<string> {
    const [port, metricsPort] = [await freePort(), await freePort()];
    gateways.push(
      spawn(process.execPath, ["dist/services/platform/main.js", "gateway"], {
        env: {
          PATH: process.env.PATH ?? "", LOG_LEVEL: "warn", HOST: "127.0.0.1", PORT: String(port), METRICS_PORT: String(metricsPort),
          // Any server of the platform answers the order check's gRPC health; this test is about the voucher's.
          ORDER_SERVICE_URL: voucherUrl,
          VOUCHER_SERVICE_URL: voucherServiceUrl,
        },
        stdio: ["ignore", "ignore", "inherit"],
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    await until(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200, 30_000, "the gateway role listens");
    return url;
  }

  it("starts a job with the CLI, watches it to DONE, and streams its CSV: the header, one row per code in seq order, the stored codes", async () => {
    const env = { VOUCHER_SERVICE_URL: voucherUrl };
    const started = await ops(["whale", "bulk", "start", "--template", templateId, "--total", String(TOTAL), "--request", "process-export-1", "--watch", "--every", "100"], env);
    expect(started.code, started.stderr).toBe(0);
    const job = JSON.parse(started.stdout) as { jobId: string; made: number; total: number; state: string };
    expect(job).toMatchObject({ made: TOTAL, total: TOTAL, state: "DONE" });
    // --watch in a log (stderr is a pipe): one plain line per change, the last at 100 %.
    expect(started.stderr.trimEnd().split("\n").at(-1)).toMatch(/100\.0%  25000\/25000  DONE$/);

    expect((await ops(["whale", "bulk", "export", job.jobId], env)).code, "the export is an admin RPC").toBe(2);
    const exported = await ops(["whale", "bulk", "export", job.jobId], { ...env, ADMIN_TOKEN });
    expect(exported.code, exported.stderr).toBe(0);
    const lines = exported.stdout.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines[0]).toBe("seq,code");
    expect(lines).toHaveLength(TOTAL + 1);
    const { rows } = await database.db.query<{ seq: number; code: string }>(
      `SELECT seq, code FROM vouchers.internal_code WHERE send_channel_order_id = $1 ORDER BY seq`,
      [bulkOrderId(job.jobId)],
    );
    expect(rows).toHaveLength(TOTAL);
    expect(lines.slice(1)).toEqual(rows.map((row) => `${row.seq},${row.code}`));
  }, 120_000);

  it("streams the export over the RPC in pages of at most 10,000 codes (the service never holds a job's codes at once)", async () => {
    const codes = createClient(CodeService, rpcTransport(voucherUrl));
    const { job } = await codes.startBulkJob({ requestId: "process-export-1", templateId, total: TOTAL, actor: "ops" });
    expect(job?.made).toBe(TOTAL);
    const pages: number[] = [];
    let next = 1;
    for await (const page of codes.exportBulkCodes({ jobId: job!.jobId }, { headers: adminAuthorization(ADMIN_TOKEN), timeoutMs: 60_000 })) {
      expect(page.firstSeq).toBe(next);
      next += page.codes.length;
      pages.push(page.codes.length);
    }
    expect(pages).toEqual([10_000, 10_000, 5_000]);
  }, 60_000);

  it("serves the back office through the gateway role, ready while the voucher service is and not without it", async () => {
    const served = await gateway(voucherUrl);
    await until(async () => (await fetch(`${served}/readyz`)).status === 200, 10_000, "the gateway is ready");
    const { job } = await createClient(CodeService, rpcTransport(voucherUrl)).startBulkJob({ requestId: "process-export-1", templateId, total: TOTAL, actor: "ops" });
    expect(await erpPost(served, "bulkMakeCodeQuery", { jobId: job!.jobId })).toMatchObject({ returnCode: "00", made: TOTAL, state: "DONE" });

    const stranded = await gateway(`http://127.0.0.1:${await freePort()}`);
    const ready = await fetch(`${stranded}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "unavailable", failed: ["voucher"] });
  }, 60_000);
});
