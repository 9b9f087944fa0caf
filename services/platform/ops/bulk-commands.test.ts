// `whale bulk …` against the real bulk make-code (its RPCs over createRouterTransport, the stores on PostgreSQL
// when DATABASE_URL is set, else PGlite): start, watch, export; the CSV's lines are the stored codes.
import { fileURLToPath } from "node:url";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import { seedOffer } from "../../../test/support/whale-codes.js";
import { CodeService } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import { adminCredentialInterceptor } from "../../common/admin-credential.js";
import { KeyRing } from "../../common/key-ring.js";
import { createLogger } from "../../common/logger.js";
import { migrate } from "../../common/migrate.js";
import { AuditStore } from "../../voucher/catalogue/audit-store.js";
import { CatalogueStore } from "../../voucher/catalogue/catalogue-store.js";
import { bulkCodeWriter, bulkOrderId } from "../../voucher/codes/bulk-code-writer.js";
import { BulkJobStore } from "../../voucher/codes/bulk-job-store.js";
import { BulkMakeCodes } from "../../voucher/codes/bulk-make-code.js";
import { bulkServiceImpl, CODE_ADMIN_METHODS } from "../../voucher/codes/routes.js";
import { VOUCHER_SCHEMA } from "../../voucher/voucher-store.js";
import { progressLine } from "./bulk-commands.js";
import { runOps } from "./cli.js";

const logger = createLogger("bulk-commands-test", "silent");
const TOKEN = "t".repeat(40);
const keys = new KeyRing(Buffer.alloc(32, 7));

describe(`whale bulk (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  let bulk: BulkMakeCodes;
  let templateId: string;
  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../../voucher/migrations", import.meta.url)), logger });
    templateId = (await seedOffer(t.db, keys, { sendType: 2 })).templateId;
    bulk = new BulkMakeCodes({
      db: t.db, jobs: new BulkJobStore(t.db), catalogue: new CatalogueStore(t.db, keys), audit: new AuditStore(t.db), writer: bulkCodeWriter, logger,
      leaseMs: 60_000, batchSize: 500, roundMs: 0,
    });
  });
  afterAll(async () => {
    await t?.drop();
  });

  async function ops(argv: string[], options: { tty?: boolean; env?: NodeJS.ProcessEnv } = {}) {
    let stdout = "";
    let stderr = "";
    const exitCode = await runOps(argv, {
      env: options.env ?? { ADMIN_TOKEN: TOKEN },
      stdout: (text) => (stdout += text),
      stderr: (text) => (stderr += text),
      stderrIsTTY: options.tty,
      transport: () =>
        createRouterTransport(({ service }) => service(CodeService, bulkServiceImpl(bulk)), {
          router: { interceptors: [adminCredentialInterceptor({ token: TOKEN, adminMethods: CODE_ADMIN_METHODS, logger })] },
        }),
    });
    return { exitCode, stdout, stderr };
  }

  it("starts a job, watches it to the end (a bar on a terminal, plain lines otherwise) and exports exactly its stored codes", async () => {
    const started = await ops(["whale", "bulk", "start", "--template", templateId, "--total", "1800", "--request", "cli-1"]);
    expect(started.exitCode).toBe(0);
    const { jobId } = JSON.parse(started.stdout) as { jobId: string };
    // A runner makes one batch per round meanwhile.
    const runner = (async () => {
      while (await bulk.runRound()) await new Promise((resolve) => setTimeout(resolve, 15));
    })();
    const watched = await ops(["whale", "bulk", "status", jobId, "--watch", "--every", "10"]);
    await runner;
    expect(watched.exitCode).toBe(0);
    expect(JSON.parse(watched.stdout)).toMatchObject({ jobId, made: 1800, total: 1800, state: "DONE" });
    const lines = watched.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(/^\[#{30}\] 100\.0%  1800\/1800  DONE$/);
    expect(lines.every((line) => /^\[[#-]{30}\]/.test(line))).toBe(true);
    const onTty = await ops(["whale", "bulk", "status", jobId, "--watch"], { tty: true });
    expect(onTty.stderr).toMatch(/^\r\[#{30}\] 100\.0%.*\n$/);

    const exported = await ops(["whale", "bulk", "export", jobId]);
    expect(exported.exitCode).toBe(0);
    const { rows } = await t.db.query<{ code: string; seq: number }>(
      `SELECT code, seq FROM vouchers.internal_code WHERE send_channel_order_id = $1 ORDER BY seq`,
      [bulkOrderId(jobId)],
    );
    expect(rows).toHaveLength(1800);
    expect(exported.stdout).toBe(`seq,code\n${rows.map((row) => `${row.seq},${row.code}\n`).join("")}`);
  });

  it("shows what holds a job whose template is disabled, in its status and its progress line", async () => {
    const started = await ops(["whale", "bulk", "start", "--template", templateId, "--total", "1000", "--request", "cli-held"]);
    const { jobId } = JSON.parse(started.stdout) as { jobId: string };
    await t.db.query(`UPDATE vouchers.template SET is_active = false WHERE template_id = $1`, [templateId]);
    try {
      expect(await bulk.runRound()).toBe(false);
      expect(JSON.parse((await ops(["whale", "bulk", "status", jobId])).stdout)).toMatchObject({ state: "RUNNING", made: 0, heldBy: "TEMPLATE_DISABLED" });
      const { job } = await createClient(CodeService, createRouterTransport(({ service }) => service(CodeService, bulkServiceImpl(bulk)))).getBulkJob({ jobId });
      expect(progressLine(job!)).toBe(`[${"-".repeat(30)}]   0.0%  0/1000  RUNNING (held: TEMPLATE_DISABLED)`);
      await t.db.query(`UPDATE vouchers.template SET is_active = true WHERE template_id = $1`, [templateId]);
      while (await bulk.runRound());
      const watched = await ops(["whale", "bulk", "status", jobId, "--watch", "--every", "10"]);
      expect(JSON.parse(watched.stdout)).toMatchObject({ state: "DONE", made: 1000 });
      expect(JSON.parse(watched.stdout)).not.toHaveProperty("heldBy");
      expect(watched.stderr).not.toContain("held");
    } finally {
      await t.db.query(`UPDATE vouchers.template SET is_active = true WHERE template_id = $1`, [templateId]);
    }
  });

  it("lists jobs newest first, the held ones on their own, and says what a bad listing lacks", async () => {
    const { jobId } = JSON.parse((await ops(["whale", "bulk", "start", "--template", templateId, "--total", "10", "--request", "cli-list"])).stdout) as { jobId: string };
    const listed = await ops(["whale", "bulk", "list", "--limit", "1"]);
    expect(listed.exitCode).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ jobId, state: "RUNNING", made: 0, total: 10 })]);
    expect(JSON.parse((await ops(["whale", "bulk", "list", "--held"])).stdout)).toEqual([]);
    await t.db.query(`UPDATE vouchers.template SET is_active = false WHERE template_id = $1`, [templateId]);
    try {
      expect(JSON.parse((await ops(["whale", "bulk", "list", "--held"])).stdout)).toEqual([expect.objectContaining({ jobId, heldBy: "TEMPLATE_DISABLED" })]);
    } finally {
      await t.db.query(`UPDATE vouchers.template SET is_active = true WHERE template_id = $1`, [templateId]);
    }
    while (await bulk.runRound());
    expect(JSON.parse((await ops(["whale", "bulk", "list", "--state", "done"])).stdout).map((job: { jobId: string }) => job.jobId)).toContain(jobId);
    expect(await ops(["whale", "bulk", "list", "--state", "paused"])).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("--state is one of running, done, cancelled") });
    expect(await ops(["whale", "bulk", "list", "--limit", "0"])).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("--limit is 1 to 1000") });
  });

  it("exports only with the admin token, and says what a bad command line lacks", async () => {
    expect(await ops(["whale", "bulk", "export", "0".repeat(32)], { env: {} })).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("ADMIN_TOKEN") });
    expect(await ops(["whale", "bulk", "export", "0".repeat(32)], { env: { ADMIN_TOKEN: "x".repeat(40) } })).toMatchObject({ exitCode: 1, stdout: "", stderr: expect.stringContaining("Unauthenticated") });
    // Starting and watching a job are not admin RPCs (the back office's bulkMakeCode starts jobs too).
    expect(await ops(["whale", "bulk", "status", "0".repeat(32)], { env: {} })).toMatchObject({ exitCode: 1, stderr: expect.stringContaining("NotFound") });
    expect(await ops(["whale", "bulk", "start", "--template", templateId, "--total", "ten", "--request", "r"])).toMatchObject({ exitCode: 2 });
    expect(await ops(["whale", "bulk", "start", "--total", "10", "--request", "r"])).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("--template") });
    expect(await ops(["whale", "bulk", "status", "0".repeat(32)])).toMatchObject({ exitCode: 1, stderr: expect.stringContaining("NotFound") });
    expect(await ops(["whale", "bulk", "export"])).toMatchObject({ exitCode: 2 });
  });

  it("cancels a running job with the admin token: it stays at what it made, its watch ends, its export is refused", async () => {
    const started = await ops(["whale", "bulk", "start", "--template", templateId, "--total", "5000", "--request", "cli-cancel"]);
    const { jobId } = JSON.parse(started.stdout) as { jobId: string };
    await bulk.runRound();
    expect(await ops(["whale", "bulk", "cancel", jobId], { env: {} })).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("ADMIN_TOKEN") });
    const cancelled = await ops(["whale", "bulk", "cancel", jobId]);
    expect(cancelled.exitCode).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ jobId, state: "CANCELLED", made: 500, total: 5000 });
    expect(await bulk.runRound()).toBe(false);
    expect(JSON.parse((await ops(["whale", "bulk", "status", jobId, "--watch", "--every", "10"])).stdout)).toMatchObject({ state: "CANCELLED", made: 500 });
    expect(await ops(["whale", "bulk", "export", jobId])).toMatchObject({ exitCode: 1, stdout: "", stderr: expect.stringContaining("cancelled after 500 of 5000") });
    expect(await ops(["whale", "bulk", "cancel"])).toMatchObject({ exitCode: 2 });
  });
});
