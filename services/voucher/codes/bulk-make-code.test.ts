// Bulk make-code on PGlite and, with DATABASE_URL, on the real PostgreSQL (COPY there): a job through its RPCs
// (createRouterTransport over the real use case and stores), interrupted runs, racing runners, the export.
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import { seedOffer } from "../../../test/support/whale-codes.js";
import { openDatabase } from "../../common/database.js";
import { reasonOf } from "../../common/errors.js";
import { KeyRing } from "../../common/key-ring.js";
import { createLogger } from "../../common/logger.js";
import { migrate } from "../../common/migrate.js";
import { BulkJobHold, BulkJobState, CodeErrorSchema, CodeService } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import { AuditStore } from "../catalogue/audit-store.js";
import { CatalogueStore } from "../catalogue/catalogue-store.js";
import { isWellFormedCode } from "../channels/internal/code-generator.js";
import { VOUCHER_SCHEMA } from "../voucher-store.js";
import { bulkCodeWriter, bulkOrderId, type BulkCodeWriter } from "./bulk-code-writer.js";
import { BulkJobStore } from "./bulk-job-store.js";
import { BulkMakeCodes, type BulkMakeCodesDeps } from "./bulk-make-code.js";
import { CodeError } from "./errors.js";
import { bulkServiceImpl } from "./routes.js";

const logger = createLogger("bulk-make-code-test", "silent");
const keys = new KeyRing(Buffer.alloc(32, 7));

const modes: Array<[string, () => Promise<TestDatabase>]> = [
  ["PGlite", async () => {
    const db = await openDatabase({ logger });
    return { db, drop: () => db.close() };
  }],
];
if (process.env.DATABASE_URL) modes.push(["PostgreSQL", testDatabase]);

describe.each(modes)("bulk make-code (%s)", (_mode, open) => {
  let t: TestDatabase;
  let templateId: string;
  let sendChannelId: string;
  let sequence = 0;

  beforeAll(async () => {
    t = await open();
    await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)), logger });
    ({ templateId, sendChannelId } = await seedOffer(t.db, keys, { sendType: 2 }));
  });
  afterAll(async () => {
    await t?.drop();
  });

  function bulk(more: Partial<BulkMakeCodesDeps> = {}): BulkMakeCodes {
    return new BulkMakeCodes({
      db: t.db, jobs: new BulkJobStore(t.db), catalogue: new CatalogueStore(t.db, keys), audit: new AuditStore(t.db), writer: bulkCodeWriter, logger,
      leaseMs: 60_000, batchSize: 700, roundMs: 60_000, ...more,
    });
  }
  const client = (b: BulkMakeCodes): Client<typeof CodeService> =>
    createClient(CodeService, createRouterTransport(({ service }) => service(CodeService, bulkServiceImpl(b))));
  const requestId = () => `bulk-${process.pid}-${++sequence}`;

  async function storedCodes(jobId: string): Promise<Array<{ code: string; seq: number }>> {
    const { rows } = await t.db.query<{ code: string; seq: number }>(
      `SELECT code, seq FROM vouchers.internal_code WHERE send_channel_order_id = $1 ORDER BY seq`,
      [bulkOrderId(jobId)],
    );
    return rows;
  }
  async function reason(call: Promise<unknown>): Promise<CodeError | undefined> {
    try {
      await call;
    } catch (err) {
      return reasonOf(err, CodeErrorSchema);
    }
    throw new Error("expected the call to fail");
  }
  function expectComplete(codes: Array<{ code: string; seq: number }>, total: number): void {
    expect(codes).toHaveLength(total);
    expect(codes.map((c) => c.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(new Set(codes.map((c) => c.code)).size).toBe(total);
    expect(codes.every((c) => isWellFormedCode(c.code))).toBe(true);
  }

  it("makes a job of a few thousand codes: distinct, check digits valid, progress DONE; the export's lines are the stored codes", async () => {
    const b = bulk();
    const rpc = client(b);
    const { job } = await rpc.startBulkJob({ requestId: requestId(), templateId, total: 3_000, actor: "ops" });
    expect(job).toMatchObject({ total: 3_000, made: 0, state: BulkJobState.RUNNING });
    // A repeat answers the same job.
    expect((await rpc.startBulkJob({ requestId: job!.requestId, templateId, total: 3_000, actor: "ops" })).job?.jobId).toBe(job!.jobId);
    expect(await reason(rpc.startBulkJob({ requestId: job!.requestId, templateId, total: 3_001, actor: "ops" }))).toBe(CodeError.DUPLICATE_ORDER);
    expect(await reason((async () => { for await (const _ of rpc.exportBulkCodes({ jobId: job!.jobId })); })())).toBe(CodeError.IN_PROGRESS);

    while (await b.runRound());
    expect((await rpc.getBulkJob({ jobId: job!.jobId })).job).toMatchObject({ made: 3_000, total: 3_000, state: BulkJobState.DONE });
    const stored = await storedCodes(job!.jobId);
    expectComplete(stored, 3_000);

    const exported: string[] = [];
    for await (const page of rpc.exportBulkCodes({ jobId: job!.jobId })) {
      expect(page.firstSeq).toBe(exported.length + 1);
      exported.push(...page.codes);
    }
    expect(exported).toEqual(stored.map((c) => c.code));
  });

  it("refuses what it cannot make: a per-call template, a bad total or request id, an unknown job", async () => {
    const rpc = client(bulk());
    const perCall = (await seedOffer(t.db, keys, { sendType: 1 })).templateId;
    expect(await reason(rpc.startBulkJob({ requestId: requestId(), templateId: perCall, total: 10, actor: "ops" }))).toBe(CodeError.NOT_AVAILABLE);
    expect(await reason(rpc.startBulkJob({ requestId: requestId(), templateId: "999999", total: 10, actor: "ops" }))).toBe(CodeError.NOT_AVAILABLE);
    for (const total of [0, -1, 1_000_001])
      expect(await reason(rpc.startBulkJob({ requestId: requestId(), templateId, total, actor: "ops" }))).toBe(CodeError.PARAMETER_INVALID);
    for (const id of ["", "a\u0000b", "x".repeat(65), "\ud800"])
      expect(await reason(rpc.startBulkJob({ requestId: id, templateId, total: 1, actor: "ops" }))).toBe(CodeError.PARAMETER_INVALID);
    expect(await reason(rpc.getBulkJob({ jobId: "0".repeat(32) }))).toBe(CodeError.NOT_FOUND);
    expect(await reason(rpc.getBulkJob({ jobId: "'; DROP TABLE x" }))).toBe(CodeError.NOT_FOUND);
  });

  it("resumes a job whose runner died mid-way (its lease ran out) and ends with exactly total codes", async () => {
    let batches = 0;
    const dying: BulkCodeWriter = {
      async write(tx, orderId, firstSeq, codes) {
        if (++batches === 3) throw new Error("killed mid-batch");
        await bulkCodeWriter.write(tx, orderId, firstSeq, codes);
      },
    };
    const job = await bulk().start({ requestId: requestId(), templateId, total: 2_500, actor: "ops" });
    await expect(bulk({ writer: dying, leaseMs: 300 }).runRound()).rejects.toThrow("killed mid-batch");
    // Two batches committed, the third rolled back with its progress.
    expect((await bulk().get(job.jobId)).made).toBe(1_400);
    expect(await storedCodes(job.jobId)).toHaveLength(1_400);
    // Still held: nobody takes it before the lease ends.
    expect(await bulk().runRound()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 400));
    while (await bulk().runRound());
    expect(await bulk().get(job.jobId)).toMatchObject({ made: 2_500, state: "DONE" });
    expectComplete(await storedCodes(job.jobId), 2_500);
  });

  it("a round whose time is up lets the job go; the next round carries on where it stopped", async () => {
    const job = await bulk().start({ requestId: requestId(), templateId, total: 2_000, actor: "ops" });
    expect(await bulk({ roundMs: 0 }).runRound()).toBe(true);
    expect((await bulk().get(job.jobId)).made).toBe(700);
    while (await bulk({ roundMs: 0 }).runRound());
    expectComplete(await storedCodes(job.jobId), 2_000);
  });

  it("two runners never both make codes of one job", async () => {
    const wrote: Array<[string, number]> = [];
    const counted = (name: string): BulkCodeWriter => ({
      async write(tx, orderId, firstSeq, codes) {
        await bulkCodeWriter.write(tx, orderId, firstSeq, codes);
        wrote.push([name, firstSeq]);
      },
    });
    const job = await bulk().start({ requestId: requestId(), templateId, total: 4_000, actor: "ops" });
    const [a, b] = [bulk({ writer: counted("a") }), bulk({ writer: counted("b") })];
    await Promise.all([a.runRound(), b.runRound()]);
    // One of them claimed it and made every batch; the other found nothing to claim.
    expect(new Set(wrote.map(([name]) => name)).size).toBe(1);
    expect(wrote).toHaveLength(Math.ceil(4_000 / 700));
    expectComplete(await storedCodes(job.jobId), 4_000);
  });

  it("draws a batch again when one of its codes is taken (the code's primary key refuses the whole batch)", async () => {
    const zeros = (size: number) => Buffer.alloc(size, 0);
    const first = await bulk().start({ requestId: requestId(), templateId, total: 1, actor: "ops" });
    while (await bulk({ random: zeros }).runRound());
    expect((await storedCodes(first.jobId))[0]?.code).toBe("0".repeat(26));
    let draws = 0;
    const zerosOnce = (size: number) => (draws++ === 0 ? zeros(size) : randomBytes(size));
    const second = await bulk().start({ requestId: requestId(), templateId, total: 5, actor: "ops" });
    while (await bulk({ random: zerosOnce }).runRound());
    expect(draws).toBeGreaterThan(1);
    expectComplete(await storedCodes(second.jobId), 5);
  });

  it("cancels a running job: no runner takes it again, its codes are not exported, a second cancel answers it as it is (audited once); a done job stays done", async () => {
    const b = bulk({ roundMs: 0 });
    const job = await b.start({ requestId: requestId(), templateId, total: 2_100, actor: "ops" });
    expect(await b.runRound()).toBe(true);
    const { job: cancelled } = await client(b).cancelBulkJob({ jobId: job.jobId, actor: "ops" });
    expect(cancelled).toMatchObject({ state: BulkJobState.CANCELLED, made: 700 });
    expect(await b.runRound()).toBe(false);
    expect(await storedCodes(job.jobId)).toHaveLength(700);
    expect(await reason(client(b).exportBulkCodes({ jobId: job.jobId })[Symbol.asyncIterator]().next())).toBe(CodeError.NOT_AVAILABLE);
    expect((await client(b).cancelBulkJob({ jobId: job.jobId, actor: "ops" })).job).toMatchObject({ state: BulkJobState.CANCELLED, made: 700 });
    const { rows } = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.catalogue_audit WHERE record_id = $1 AND action = 'bulkCancel'`, [job.jobId]);
    expect(rows[0]?.n).toBe(1);

    const done = await b.start({ requestId: requestId(), templateId, total: 10, actor: "ops" });
    while (await b.runRound());
    expect((await client(b).cancelBulkJob({ jobId: done.jobId, actor: "ops" })).job).toMatchObject({ state: BulkJobState.DONE, made: 10 });
    expect(await reason(client(b).cancelBulkJob({ jobId: "0".repeat(32), actor: "ops" }))).toBe(CodeError.NOT_FOUND);
    expect(await reason(client(b).cancelBulkJob({ jobId: done.jobId, actor: "" }))).toBe(CodeError.PARAMETER_INVALID);
  });

  it("deletes a cancelled job's codes a batch at a time, then never takes it again; a running or done job's codes stay", async () => {
    const b = bulk({ roundMs: 0 });
    const cancelled = await b.start({ requestId: requestId(), templateId, total: 2_100, actor: "ops" });
    expect(await b.runRound()).toBe(true);
    expect(await b.runRound()).toBe(true);
    await b.cancel({ jobId: cancelled.jobId, actor: "ops" });
    const done = await b.start({ requestId: requestId(), templateId, total: 10, actor: "ops" });
    while (await b.runRound());
    const running = await b.start({ requestId: requestId(), templateId, total: 2_100, actor: "ops" });
    expect(await b.runRound()).toBe(true);

    // Other tests' cancelled jobs share the database: this job's batches are picked out of every purge.
    const jobs = new BulkJobStore(t.db);
    const batches: { deleted: number; done: boolean }[] = [];
    for (let purged; (purged = await t.db.transaction((tx) => jobs.purgeCancelledCodes(tx, 500))); ) {
      if (purged.jobId === cancelled.jobId) batches.push({ deleted: purged.deleted, done: purged.done });
    }
    expect(batches).toEqual([{ deleted: 500, done: false }, { deleted: 500, done: false }, { deleted: 400, done: true }]);
    expect(await storedCodes(cancelled.jobId)).toHaveLength(0);
    expect(await b.purgeCancelledCodes()).toBe(false);
    expect(await b.get(cancelled.jobId)).toMatchObject({ state: "CANCELLED", made: 1_400 });
    expectComplete(await storedCodes(done.jobId), 10);
    expect(await storedCodes(running.jobId)).toHaveLength(700);
    await b.cancel({ jobId: running.jobId, actor: "ops" });
    expect(await b.purgeCancelledCodes()).toBe(true);
    expect(await storedCodes(running.jobId)).toHaveLength(0);
    // The batch took all 700, so the round after it finds none left and marks the job; that one is audited.
    expect(await b.purgeCancelledCodes()).toBe(true);
    expect(await b.purgeCancelledCodes()).toBe(false);
    // The service's own deletion is in the audit, with the cancel before it.
    const { rows } = await t.db.query<{ actor: string; action: string; before: unknown; after: unknown }>(
      `SELECT actor, action, before, after FROM vouchers.catalogue_audit WHERE record_type = 'bulk_job' AND record_id = $1 ORDER BY audit_id`,
      [running.jobId],
    );
    expect(rows.map(({ actor, action }) => `${actor} ${action}`)).toEqual(["ops bulkMakeCode", "ops bulkCancel", "system bulkCodesPurge"]);
    expect(rows[2]).toMatchObject({ before: { state: "CANCELLED", codes: 700 }, after: { state: "CANCELLED", codes: 0 } });
  });

  it("lists jobs newest first, by state or only the held ones, within its limit; refuses a limit or state out of range", async () => {
    const b = bulk({ roundMs: 0 });
    const done = await b.start({ requestId: requestId(), templateId, total: 5, actor: "ops" });
    while (await b.runRound());
    const cancelled = await b.start({ requestId: requestId(), templateId, total: 5, actor: "ops" });
    await b.cancel({ jobId: cancelled.jobId, actor: "ops" });
    const held = await b.start({ requestId: requestId(), templateId, total: 5, actor: "ops" });
    const ids = (jobs: { jobId: string }[]) => jobs.map((job) => job.jobId);
    await t.db.query(`UPDATE vouchers.template SET is_active = false WHERE template_id = $1`, [templateId]);
    try {
      const list = (request: Parameters<Client<typeof CodeService>["listBulkJobs"]>[0]) => client(b).listBulkJobs(request).then((answer) => answer.jobs);
      expect(ids(await list({ limit: 3 }))).toEqual([held.jobId, cancelled.jobId, done.jobId]);
      expect(ids(await list({ held: true }))).toContain(held.jobId);
      expect((await list({ held: true })).every((job) => job.state === BulkJobState.RUNNING && job.heldBy === BulkJobHold.TEMPLATE_DISABLED)).toBe(true);
      expect(ids(await list({ state: BulkJobState.CANCELLED }))).toContain(cancelled.jobId);
      expect((await list({ state: BulkJobState.CANCELLED })).every((job) => job.state === BulkJobState.CANCELLED)).toBe(true);
      expect(ids(await list({ state: BulkJobState.DONE, limit: 1 }))).toEqual([done.jobId]);
      expect(await reason(list({ limit: 1_001 }))).toBe(CodeError.PARAMETER_INVALID);
      expect(await reason(list({ limit: -1 }))).toBe(CodeError.PARAMETER_INVALID);
      expect(await reason(list({ state: 9 as BulkJobState }))).toBe(CodeError.PARAMETER_INVALID);
    } finally {
      await t.db.query(`UPDATE vouchers.template SET is_active = true WHERE template_id = $1`, [templateId]);
    }
    expect(ids(await client(b).listBulkJobs({ held: true }).then((answer) => answer.jobs))).not.toContain(held.jobId);
    await b.cancel({ jobId: held.jobId, actor: "ops" });
  });

  it("holds a job while its template or send channel is disabled: no runner takes it, its holder's next batch is refused; it carries on once both are active", async () => {
    const jobs = new BulkJobStore(t.db);
    const active = (table: "template" | "send_channel", id: string, on: boolean) =>
      t.db.query(`UPDATE vouchers.${table} SET is_active = $2 WHERE ${table}_id = $1`, [id, on]);
    const b = bulk({ roundMs: 0 });
    const job = await b.start({ requestId: requestId(), templateId, total: 2_100, actor: "ops" });
    expect(await b.runRound()).toBe(true);
    expect(await b.get(job.jobId)).toMatchObject({ state: "RUNNING", heldBy: null });
    try {
      await active("template", templateId, false);
      expect(await b.runRound()).toBe(false);
      // What holds it is answered with the job, so an operator sees why it stands still.
      expect((await client(b).getBulkJob({ jobId: job.jobId })).job).toMatchObject({ state: BulkJobState.RUNNING, heldBy: BulkJobHold.TEMPLATE_DISABLED });
      await active("send_channel", sendChannelId, false);
      expect(await b.get(job.jobId)).toMatchObject({ heldBy: "TEMPLATE_DISABLED" });
      await active("template", templateId, true);
      expect(await b.runRound()).toBe(false);
      expect((await client(b).getBulkJob({ jobId: job.jobId })).job).toMatchObject({ heldBy: BulkJobHold.SEND_CHANNEL_DISABLED });
      await active("send_channel", sendChannelId, true);
      // Disabled while a runner holds it: the runner's next batch is refused, as a cancelled job's is.
      const claim = await jobs.claim(60_000);
      expect(claim?.job).toMatchObject({ jobId: job.jobId, made: 700 });
      await active("template", templateId, false);
      expect(await t.db.transaction((tx) => jobs.advance(tx, claim!, 700, 60_000))).toBe(false);
      await jobs.release(claim!);
      expect(await b.get(job.jobId)).toMatchObject({ state: "RUNNING", made: 700 });
    } finally {
      await active("template", templateId, true);
      await active("send_channel", sendChannelId, true);
    }
    while (await b.runRound());
    expect(await b.get(job.jobId)).toMatchObject({ state: "DONE", made: 2_100, heldBy: null });
    expectComplete(await storedCodes(job.jobId), 2_100);
  });

  it.skipIf(!process.env.DATABASE_URL || _mode !== "PostgreSQL")("a cancel while a runner writes a batch waits for it; the runner stops at its next batch", async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let cancelling: Promise<unknown> | undefined;
    let job: { jobId: string } | undefined;
    const writer: BulkCodeWriter = {
      async write(tx, orderId, firstSeq, codes) {
        await bulkCodeWriter.write(tx, orderId, firstSeq, codes);
        if (firstSeq === 701) {
          // The second batch's transaction holds the job's row: the cancel waits for it to commit.
          cancelling = bulk().cancel({ jobId: job!.jobId, actor: "ops" });
          setTimeout(release, 100);
          await held;
        }
      },
    };
    job = await bulk().start({ requestId: requestId(), templateId, total: 7_000, actor: "ops" });
    await bulk({ writer }).runRound();
    expect(await cancelling).toMatchObject({ state: "CANCELLED", made: 1_400 });
    expect(await bulk().get(job.jobId)).toMatchObject({ state: "CANCELLED", made: 1_400 });
    expect(await storedCodes(job.jobId)).toHaveLength(1_400);
  });

  it("a runner that outlived its lease cannot move the job: the new holder's progress stands", async () => {
    const jobs = new BulkJobStore(t.db);
    const job = await bulk().start({ requestId: requestId(), templateId, total: 2_100, actor: "ops" });
    const stale = await jobs.claim(100);
    expect(stale?.job.jobId).toBe(job.jobId);
    await new Promise((resolve) => setTimeout(resolve, 200));
    while (await bulk().runRound());
    expect(await t.db.transaction((tx) => jobs.advance(tx, stale!, 700, 60_000))).toBe(false);
    expect(await bulk().get(job.jobId)).toMatchObject({ made: 2_100, state: "DONE" });
    expectComplete(await storedCodes(job.jobId), 2_100);
  });
});
