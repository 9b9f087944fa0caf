import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport, type ConnectRouter } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { NotifyService, TaskState, TaskType } from "../../../proto/gen/rights/notify/v1/notify_pb.js";
import { OrderService } from "../../../proto/gen/rights/order/v1/order_pb.js";
import { ReconciliationService } from "../../../proto/gen/rights/reconciliation/v1/reconciliation_pb.js";
import { CatalogueService } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { erpSignatureMatches } from "../../voucher/catalogue/erp-signature.js";
import { runOps, type OpsIo } from "./cli.js";

const TOKEN = "t".repeat(40);

/** Runs a command line against fake services (one router each), with what the fakes received. */
async function ops(
  argv: string[],
  routes: (router: ConnectRouter, seen: Array<{ rpc: string; request: unknown; authorization: string | null }>) => void,
  env: NodeJS.ProcessEnv = { ADMIN_TOKEN: TOKEN },
  fetch?: typeof globalThis.fetch,
) {
  const seen: Array<{ rpc: string; request: unknown; authorization: string | null }> = [];
  let stdout = "";
  let stderr = "";
  const urls: string[] = [];
  const io: OpsIo = {
    env,
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    transport: (_service, url) => {
      urls.push(url);
      return createRouterTransport((router) => routes(router, seen));
    },
    fetch,
  };
  const exitCode = await runOps(argv, io);
  return { exitCode, stdout, stderr, seen, urls };
}

const never = () => {
  throw new Error("not called");
};

describe("the ops CLI", () => {
  it("prints its usage on --help (0), and on no or an unknown command (2)", async () => {
    expect(await ops(["--help"], never)).toMatchObject({ exitCode: 0, stdout: expect.stringContaining("tasks [--state") });
    expect(await ops([], never)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("usage: npm run ops") });
    expect(await ops(["frobnicate"], never)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("unknown command") });
    expect(await ops(["tasks", "--colour", "red"], never)).toMatchObject({ exitCode: 2 });
    // An argument past the command's own would be silently dropped: `order A B` is usage, not a look-up of A.
    expect(await ops(["order", "A", "B"], never)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining('unexpected argument "B"') });
    expect(await ops(["whale", "app", "list", "extra"], never)).toMatchObject({ exitCode: 2 });
  });

  it("shows an order with its times in business time, from ORDER_SERVICE_URL", async () => {
    const result = await ops(
      ["order", "CODE1"],
      (router, seen) =>
        router.service(OrderService, {
          getOrder(request) {
            seen.push({ rpc: "getOrder", request, authorization: null });
            return { order: { orderNo: "O1", code: "CODE1", status: 200, keyStatus: 2, keyUsageTime: timestampFromDate(new Date("2026-10-20T02:30:00Z")) } };
          },
        }),
      { ORDER_SERVICE_URL: "http://order.example:50051" },
    );
    expect(result.exitCode).toBe(0);
    expect(result.urls).toEqual(["http://order.example:50051"]);
    expect(JSON.parse(result.stdout)).toMatchObject({ orderNo: "O1", status: 200, keyStatus: 2, keyUsageTime: "20261020103000" });
    expect(result.seen[0]?.request).toMatchObject({ code: "CODE1" });
  });

  it("answers 1 with the service's error when a call fails", async () => {
    const result = await ops(["order", "NOPE"], (router) =>
      router.service(OrderService, {
        getOrder() {
          throw new ConnectError("order not found", Code.NotFound);
        },
      }),
    );
    expect(result).toMatchObject({ exitCode: 1, stderr: "order failed: [NotFound] order not found\n" });
  });

  it("puts a service type pointing at its WHALE template, its AES secret from the environment, with the admin token", async () => {
    const order = (router: ConnectRouter, seen: Array<{ rpc: string; request: unknown; authorization: string | null }>) =>
      router.service(OrderService, {
        putServiceType(request, context) {
          seen.push({ rpc: "putServiceType", request, authorization: context.requestHeader.get("authorization") });
          return { type: request.type };
        },
      });
    const secret = { SERVICE_TYPE_AES_KEY: "k".repeat(16), SERVICE_TYPE_AES_IV: "v".repeat(16) };
    const argv = ["service-type", "put", "310009", "--name", "体检", "--provider-code", "A101", "--template", "9000000001", "--validity-days", "30"];
    const put = await ops(argv, order, { ADMIN_TOKEN: TOKEN, ...secret });
    expect(put.exitCode).toBe(0);
    expect(put.seen).toEqual([
      {
        rpc: "putServiceType",
        request: expect.objectContaining({
          type: "310009", name: "体检", aesKey: secret.SERVICE_TYPE_AES_KEY, aesIv: secret.SERVICE_TYPE_AES_IV, providerCode: "A101",
          voucherTemplateId: "9000000001", sendChannel: "BLUE_BROTHERS", validityDays: 30, strictMac: false,
        }) as unknown,
        authorization: `Bearer ${TOKEN}`,
      },
    ]);
    expect(JSON.parse(put.stdout)).toEqual({ type: "310009", template: "9000000001" });
    expect(await ops(argv, order, { ADMIN_TOKEN: TOKEN })).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("SERVICE_TYPE_AES_KEY") });
    expect(await ops(argv.filter((word) => word !== "--template" && word !== "9000000001"), order, { ADMIN_TOKEN: TOKEN, ...secret })).toMatchObject({ exitCode: 2 });
    expect(await ops(argv, order, secret)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("ADMIN_TOKEN") });
    // A template id that cannot be one is the command's misuse, refused before any call (the service's refusal was exit 1).
    for (const template of ["abc", "0123", "1".repeat(19)]) {
      const bad = argv.map((word) => (word === "9000000001" ? template : word));
      expect(await ops(bad, order, { ADMIN_TOKEN: TOKEN, ...secret })).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("--template"), seen: [] });
    }
  });

  it("takes --limit as 1 to the listing's maximum, refusing 0 (which the services read as their default) as usage", async () => {
    for (const limit of ["0", "1.5", "x", "1e3", "1001"]) {
      expect(await ops(["tasks", "--limit", limit], never)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("--limit is 1 to 1000") });
    }
    for (const limit of ["0", "501"]) {
      expect(await ops(["whale", "audit", "--limit", limit], never)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("--limit is 1 to 500") });
    }
  });

  it("lists tasks by state, type and codes, and retries one with the admin token", async () => {
    const notify = (router: ConnectRouter, seen: Array<{ rpc: string; request: unknown; authorization: string | null }>) =>
      router.service(NotifyService, {
        listTasks(request) {
          seen.push({ rpc: "listTasks", request, authorization: null });
          return { tasks: [{ taskId: "T1", type: TaskType.SERVICE_COMPLETE, state: TaskState.DEAD, code: "A", attempts: 12, lastError: "busy" }] };
        },
        retryTask(request, context) {
          seen.push({ rpc: "retryTask", request, authorization: context.requestHeader.get("authorization") });
          return { task: { taskId: request.taskId, state: TaskState.PENDING } };
        },
      });
    const listed = await ops(["tasks", "--state", "dead", "--type", "1", "--code", "A,B"], notify);
    expect(listed.exitCode).toBe(0);
    expect(listed.seen[0]?.request).toMatchObject({ state: TaskState.DEAD, type: TaskType.SERVICE_COMPLETE, codes: ["A", "B"] });
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ taskId: "T1", state: "dead", attempts: 12, lastError: "busy" })]);
    expect(await ops(["tasks", "--state", "lost"], notify)).toMatchObject({ exitCode: 2 });

    const retried = await ops(["retry", "T1"], notify);
    expect(retried.exitCode).toBe(0);
    expect(retried.seen).toEqual([{ rpc: "retryTask", request: expect.objectContaining({ taskId: "T1" }), authorization: `Bearer ${TOKEN}` }]);
    expect(await ops(["retry", "T1"], notify, {})).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("ADMIN_TOKEN") });
    expect(await ops(["retry"], notify)).toMatchObject({ exitCode: 2 });
  });

  it("regenerates a month's file, imports branches from a CSV and re-pushes by codes or by time range", async () => {
    const reconciliation = (router: ConnectRouter, seen: Array<{ rpc: string; request: unknown; authorization: string | null }>) =>
      router.service(ReconciliationService, {
        generateFile(request, context) {
          seen.push({ rpc: "generateFile", request, authorization: context.requestHeader.get("authorization") });
          return { files: [{ fileId: "F1", fileName: "RIGHTS_SERVICE_CHK_A101_202510.csv", fileSize: 10n }] };
        },
        importBranches(request) {
          seen.push({ rpc: "importBranches", request, authorization: null });
          return { imported: request.branches.length };
        },
        batchRepush(request) {
          seen.push({ rpc: "batchRepush", request, authorization: null });
          return { totalCount: 1, createdCount: 0, skippedCount: 0, orders: [{ orderNo: "O1", code: "A", hasTask: true }] };
        },
      });
    const generated = await ops(["reconcile", "202510", "--interface", "RIGHTS_SERVICE_CHK_A101"], reconciliation);
    expect(generated.exitCode).toBe(0);
    expect(generated.seen[0]).toMatchObject({ request: { month: "202510", fileIntfcName: "RIGHTS_SERVICE_CHK_A101" }, authorization: `Bearer ${TOKEN}` });
    expect(JSON.parse(generated.stdout)).toEqual([expect.objectContaining({ fileId: "F1", fileSize: 10 })]);
    expect(await ops(["reconcile", "2025-10"], reconciliation)).toMatchObject({ exitCode: 2 });

    const folder = await mkdtemp(path.join(tmpdir(), "branches-"));
    try {
      const file = path.join(folder, "branches.csv");
      await writeFile(file, "\uFEFFprovinceInstNo,name\n100000,北京分行\n110000,\"天津分行\"\n");
      const imported = await ops(["branches", "import", file], reconciliation);
      expect(imported.exitCode).toBe(0);
      expect(imported.seen[0]?.request).toMatchObject({ branches: [{ provinceInstNo: "100000", name: "北京分行" }, { provinceInstNo: "110000", name: "天津分行" }] });
      await writeFile(file, "100000\n");
      expect(await ops(["branches", "import", file], reconciliation)).toMatchObject({ exitCode: 2 });
      // A ragged file is the operator's to fix (2), not a failed call (1).
      await writeFile(file, "100000,北京分行\n110000,天津分行,extra\n");
      expect(await ops(["branches", "import", file], reconciliation)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("line 2") });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }

    const dryRun = await ops(["repush", "--codes", "A,B", "--dry-run"], reconciliation);
    expect(dryRun.seen[0]?.request).toMatchObject({ codes: ["A", "B"], startTime: "", endTime: "", dryRun: true });
    expect(JSON.parse(dryRun.stdout)).toMatchObject({ totalCount: 1, orders: [{ code: "A", hasTask: true }] });
    const byRange = await ops(["repush", "--start", "20251001000000", "--end", "20251031235959"], reconciliation);
    expect(byRange.seen[0]?.request).toMatchObject({ codes: [], startTime: "20251001000000", endTime: "20251031235959", dryRun: false });
    expect(JSON.parse(byRange.stdout)).not.toHaveProperty("orders");
    expect(await ops(["repush", "--codes", "A", "--start", "20251001000000"], reconciliation)).toMatchObject({ exitCode: 2 });
    expect(await ops(["repush", "--start", "20251001000000"], reconciliation)).toMatchObject({ exitCode: 2 });
  });

  it("manages the ERP apps with the admin token (a rotation's overlap as a duration), refusing actions the gateway does not serve, and lists the audit", async () => {
    const catalogue = (router: ConnectRouter, seen: Array<{ rpc: string; request: unknown; authorization: string | null }>) =>
      router.service(CatalogueService, {
        putErpApp(request, ctx) {
          seen.push({ rpc: "putErpApp", request, authorization: ctx.requestHeader.get("authorization") });
          return { app: { appId: request.appId, isActive: true, actions: request.actions }, secret: "generated-secret" };
        },
        grantErpActions(request, ctx) {
          seen.push({ rpc: "grantErpActions", request, authorization: ctx.requestHeader.get("authorization") });
          return { app: { appId: request.appId, isActive: true, actions: request.actions } };
        },
        rotateErpAppSecret(request, ctx) {
          seen.push({ rpc: "rotateErpAppSecret", request, authorization: ctx.requestHeader.get("authorization") });
          return { app: { appId: request.appId, isActive: true, actions: ["*"], previousSecretUntil: timestampFromDate(new Date("2026-10-21T02:00:00Z")) }, secret: "rotated-secret" };
        },
        listAudit(request) {
          return { entries: [{ auditId: "7", at: timestampFromDate(new Date("2026-10-20T02:00:00Z")), actor: "erp", action: "activityInsert", recordType: "activity", recordId: "1000000001", beforeJson: "", afterJson: '{"name":"a"}' }] };
        },
      });
    const added = await ops(["whale", "app", "add", "erp-main", "--actions", "activityInsert,activityQuery"], catalogue);
    expect(added.exitCode).toBe(0);
    expect(added.urls).toEqual(["http://127.0.0.1:50052"]);
    expect(added.seen[0]).toMatchObject({ request: { appId: "erp-main", actions: ["activityInsert", "activityQuery"] }, authorization: `Bearer ${TOKEN}` });
    expect(JSON.parse(added.stdout)).toMatchObject({ appId: "erp-main", secret: "generated-secret" });
    expect(await ops(["whale", "app", "add", "erp-main", "--actions", "activityDelete"], catalogue)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("activityDelete") });
    expect(await ops(["whale", "app", "add", "erp-main"], catalogue)).toMatchObject({ exitCode: 2 });
    expect(await ops(["whale", "app", "grant", "erp-main", "*"], catalogue, {})).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("ADMIN_TOKEN") });
    expect((await ops(["whale", "app", "grant", "erp-main", "*"], catalogue)).seen[0]).toMatchObject({ request: { actions: ["*"] } });
    const rotated = await ops(["whale", "app", "rotate", "erp-main"], catalogue);
    expect(rotated.seen[0]).toMatchObject({ request: { appId: "erp-main" }, authorization: `Bearer ${TOKEN}` });
    expect(rotated.seen[0]?.request).not.toHaveProperty("overlapSeconds");
    expect(JSON.parse(rotated.stdout)).toMatchObject({ secret: "rotated-secret", previousSecretUntil: "20261021100000" });
    for (const [overlap, seconds] of [["90m", 5_400n], ["2d", 172_800n], ["0", 0n], ["30", 30n]] as const)
      expect((await ops(["whale", "app", "rotate", "erp-main", "--overlap", overlap], catalogue)).seen[0]).toMatchObject({ request: { overlapSeconds: seconds } });
    for (const overlap of ["-1h", "1w", "h", "1.5h"])
      expect(await ops(["whale", "app", "rotate", "erp-main", "--overlap", overlap], catalogue)).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("--overlap") });
    const audit = await ops(["whale", "audit", "--record-type", "activity", "--record-id", "1000000001"], catalogue);
    expect(JSON.parse(audit.stdout)).toEqual([
      { auditId: "7", time: "20261020100000", actor: "erp", action: "activityInsert", record: "activity 1000000001", before: null, after: { name: "a" } },
    ]);
  });

  it("re-seals the back office's secrets (admin), printing the counts; exit 1 while any is left under another KEK", async () => {
    const answering = (remaining: number) => (router: ConnectRouter, seen: Array<{ rpc: string; request: unknown; authorization: string | null }>) =>
      router.service(CatalogueService, {
        resealSecrets(request, ctx) {
          seen.push({ rpc: "resealSecrets", request, authorization: ctx.requestHeader.get("authorization") });
          return { kekId: "0123456789abcdef", counts: [{ name: "erp_app.secret", resealed: 2, skipped: 0, failed: remaining, remaining }] };
        },
      });
    const done = await ops(["whale", "kek", "reseal"], answering(0));
    expect(done).toMatchObject({ exitCode: 0, stderr: "every secret is sealed under KEK 0123456789abcdef: WHALE_KEK_PREVIOUS can be dropped\n" });
    expect(done.seen[0]?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(done.stdout)).toEqual({ kekId: "0123456789abcdef", counts: [{ name: "erp_app.secret", resealed: 2, skipped: 0, failed: 0, remaining: 0 }] });
    expect(await ops(["whale", "kek", "reseal"], answering(1))).toMatchObject({ exitCode: 1, stderr: expect.stringContaining("1 secrets still sealed under another KEK (1 would not open)") });
    expect(await ops(["whale", "kek", "reseal"], answering(0), {})).toMatchObject({ exitCode: 2, stderr: expect.stringContaining("ADMIN_TOKEN") });
  });

  it("makes a signed back-office call as the ERP app of ERP_APP_ID/ERP_APP_SECRET, exit 1 unless returnCode 00", async () => {
    const calls: Array<{ url: string; headers: Record<string, string>; body: string }> = [];
    let answer = { returnCode: "00", returnMsg: "SUCCESS", activityId: "1000000001" };
    const fetch = (async (url: string, init: RequestInit) => {
      calls.push({ url, headers: init.headers as Record<string, string>, body: String(init.body) });
      return new Response(JSON.stringify(answer), { headers: { "content-type": "application/json" } });
    }) as typeof globalThis.fetch;
    const env = { GATEWAY_URL: "http://gw.example", ERP_APP_ID: "erp-main", ERP_APP_SECRET: "erp-main-secret-0123" };
    const body = '{"activityId":"1000000001"}';
    const done = await ops(["whale", "call", "activityQuery", body], never, env, fetch);
    expect(done).toMatchObject({ exitCode: 0 });
    expect(JSON.parse(done.stdout)).toEqual(answer);
    const [call] = calls;
    expect(call).toMatchObject({ url: "http://gw.example/whale/erp/activityQuery", body });
    const digest = (await import("node:crypto")).createHash("sha256").update(body).digest("hex");
    const h = call!.headers;
    expect(h["x-app-id"]).toBe("erp-main");
    expect(erpSignatureMatches("erp-main-secret-0123", "/whale/erp/activityQuery", h["x-timestamp"]!, h["x-nonce"]!, digest, h["x-signature"]!)).toBe(true);

    answer = { returnCode: "04", returnMsg: "activity 1000000001 does not exist", activityId: "" };
    expect(await ops(["whale", "call", "activityQuery", body], never, env, fetch)).toMatchObject({ exitCode: 1, stderr: expect.stringContaining("returnCode 04") });
    expect(await ops(["whale", "call", "activityQuery", "{not json"], never, env, fetch)).toMatchObject({ exitCode: 2 });
  });

  it("says why a call to the gateway failed (fetch's cause), exit 1", async () => {
    const down = (async () => {
      throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:8080") });
    }) as unknown as typeof globalThis.fetch;
    expect(await ops(["whale", "call", "activityQuery", "{}"], never, { ADMIN_TOKEN: TOKEN }, down)).toMatchObject({
      exitCode: 1,
      stderr: "whale call failed: fetch failed: connect ECONNREFUSED 127.0.0.1:8080\n",
    });
  });
});
