// Bulk make-code (批导) from the back office, as an ERP does it: bulkMakeCode and bulkMakeCodeQuery (our
// actions, not the seed's) signed through the gateway to the voucher service's background job, on both run
// modes (cluster: real PostgreSQL and Redis, a NATS of its own); every answer checked against the contract file.
import { generateKeyPairSync } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { beforeAll, describe, expect, it } from "vitest";
import { CatalogueService } from "../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { CodeService } from "../proto/gen/rights/voucher/v1/codes_pb.js";
import { adminAuthorization } from "../services/common/admin-credential.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { bulkOrderId } from "../services/voucher/codes/bulk-code-writer.js";
import { modes, type TestPlatform, useTestPlatform } from "./support/platform.js";
import { until } from "./support/until.js";
import { erpOk, erpPost, erpTime, setUpMakeCodeOffer, unique, type ErpAnswer } from "./support/whale-erp.js";

const channelKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });

describe.each(modes)("bulk make-code from the back office (%s)", (mode) => {
  const running = useTestPlatform(mode);
  let platform: TestPlatform;
  /** A bulk (sendType 2) template of WHALE's own generator, set up through the back office. */
  let bulkTemplateId: number;
  let perCallTemplateId: number;
  let sendChannelId: number;

  beforeAll(async () => {
    platform = running.platform;
    const offer = await setUpMakeCodeOffer(platform.gatewayUrl, { channelPublicKey: channelKeys.publicKey, sendChannelConfig: { sendChannelType: "INTERNAL" } });
    perCallTemplateId = offer.template.templateId as number;
    sendChannelId = offer.send.sendChannelId as number;
    const bulk = await erpOk(platform.gatewayUrl, "templateInsert", {
      templateName: "批导券", sendChannelId, brandId: 686, productId: Date.now() * 10 + 7, ticketType: 1, sendType: 2,
      faceValue: "000000001000", createTime: erpTime(), updateTime: erpTime(),
    });
    bulkTemplateId = bulk.templateId as number;
  });

  const post = (action: string, body: unknown, options?: Parameters<typeof erpPost>[3]) => erpPost(platform.gatewayUrl, action, body, options);
  const ok = (action: string, body: unknown) => erpOk(platform.gatewayUrl, action, body);
  const storedCodes = async (jobId: string) =>
    Number((await platform.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.internal_code WHERE send_channel_order_id = $1`, [bulkOrderId(jobId)])).rows[0]!.n);
  const jobs = async () => Number((await platform.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.bulk_job`)).rows[0]!.n);

  it("starts a job of a bulk template, answers the same job to a repeat, and its progress reaches DONE with every code stored", async () => {
    const requestId = unique("erp-bulk-");
    const started = await ok("bulkMakeCode", { requestId, templateId: bulkTemplateId, total: 2_500 });
    expect(started).toMatchObject({ requestId, templateId: bulkTemplateId, total: 2_500, state: "RUNNING" });
    expect(started.jobId).toMatch(/^[0-9a-f]{32}$/);
    expect(started.createTime).toMatch(/^[0-9]{14}$/);
    expect((await ok("bulkMakeCode", { requestId, templateId: bulkTemplateId, total: 2_500 })).jobId).toBe(started.jobId);

    let progress: ErpAnswer = started;
    await until(async () => {
      progress = await ok("bulkMakeCodeQuery", { jobId: started.jobId });
      return progress.state === "DONE";
    }, 30_000, "the bulk job is done");
    expect(progress).toMatchObject({ jobId: started.jobId, made: 2_500, total: 2_500, state: "DONE" });
    expect(await storedCodes(started.jobId as string)).toBe(2_500);
    // No code in a back-office answer: the export is the operator's.
    expect(Object.keys(progress).sort()).toEqual(["createTime", "jobId", "made", "requestId", "returnCode", "returnMsg", "state", "templateId", "total", "updateTime"]);
  });

  it("answers what holds a running job while the back office has its template or send channel disabled, and nothing once both are enabled", async () => {
    // A million codes: no runner finishes them before the disable lands (a runner that took the job stops at its next batch).
    const started = await ok("bulkMakeCode", { requestId: unique("erp-bulk-"), templateId: bulkTemplateId, total: 1_000_000 });
    const query = () => ok("bulkMakeCodeQuery", { jobId: started.jobId });
    try {
      await ok("templateDisable", { templateId: bulkTemplateId, updateTime: erpTime() });
      expect(await query()).toMatchObject({ state: "RUNNING", heldBy: "TEMPLATE_DISABLED" });
      await ok("templateEnable", { templateId: bulkTemplateId, updateTime: erpTime() });
      await ok("sendChannelDisable", { sendChannelId });
      expect(await query()).toMatchObject({ state: "RUNNING", heldBy: "SEND_CHANNEL_DISABLED" });
      await ok("sendChannelEnable", { sendChannelId });
      const going = await query();
      expect(going).toMatchObject({ state: "RUNNING" });
      expect(going).not.toHaveProperty("heldBy");
    } finally {
      await ok("templateEnable", { templateId: bulkTemplateId, updateTime: erpTime() });
      await ok("sendChannelEnable", { sendChannelId });
      // The operator's stop (admin), so the million codes are not made; its codes are deleted in the background.
      const codes = createClient(CodeService, rpcTransport(platform.serviceUrl("voucher")));
      await codes.cancelBulkJob({ jobId: started.jobId as string, actor: "ops" }, { headers: adminAuthorization(platform.adminToken) });
    }
  });

  it("audits a started job once, as the app that started it", async () => {
    const started = await ok("bulkMakeCode", { requestId: unique("erp-bulk-"), templateId: bulkTemplateId, total: 10 });
    await ok("bulkMakeCode", { requestId: started.requestId, templateId: bulkTemplateId, total: 10 });
    const { audits } = await ok("auditQuery", { recordType: "bulk_job", recordId: started.jobId });
    expect(audits).toEqual([
      expect.objectContaining({ actor: "erp-sandbox", action: "bulkMakeCode", recordType: "bulk_job", recordId: started.jobId, before: null,
        after: { requestId: started.requestId, templateId: String(bulkTemplateId), total: 10 } }),
    ]);
  });

  it("answers 03 for a request id used for another job, 04 for a template it cannot bulk-make or an unknown job, and starts nothing", async () => {
    const requestId = unique("erp-bulk-");
    await ok("bulkMakeCode", { requestId, templateId: bulkTemplateId, total: 5 });
    const before = await jobs();
    expect(await post("bulkMakeCode", { requestId, templateId: bulkTemplateId, total: 6 })).toEqual({
      returnCode: "03", returnMsg: "requestId: used before for a job of another template or total",
    });
    expect(await post("bulkMakeCode", { requestId: unique("erp-bulk-"), templateId: perCallTemplateId, total: 5 })).toEqual({
      returnCode: "04", returnMsg: "templateId: not a bulk (sendType 2) template",
    });
    expect(await post("bulkMakeCode", { requestId: unique("erp-bulk-"), templateId: 999_999_999, total: 5 })).toEqual({
      returnCode: "04", returnMsg: "templateId: no active template has that id",
    });
    await ok("templateDisable", { templateId: bulkTemplateId, updateTime: erpTime() });
    try {
      expect((await post("bulkMakeCode", { requestId: unique("erp-bulk-"), templateId: bulkTemplateId, total: 5 })).returnCode).toBe("04");
    } finally {
      await ok("templateEnable", { templateId: bulkTemplateId, updateTime: erpTime() });
    }
    expect(await post("bulkMakeCodeQuery", { jobId: "0".repeat(32) })).toEqual({ returnCode: "04", returnMsg: "jobId: no such bulk job" });
    expect(await jobs()).toBe(before);
  });

  it("refuses each field that breaks its rule with 01 naming the field, and starts nothing", async () => {
    const before = await jobs();
    const good = { requestId: unique("erp-bulk-"), templateId: bulkTemplateId, total: 5 };
    const cases: Array<[string, Record<string, unknown>]> = [
      ["requestId", { ...good, requestId: "" }],
      ["requestId", { ...good, requestId: "x".repeat(65) }],
      ["requestId", { ...good, requestId: "中文" }],
      ["requestId", { ...good, requestId: "a\u0000b" }],
      ["templateId", { ...good, templateId: "9000000001" }],
      ["templateId", { ...good, templateId: 0 }],
      ["total", { ...good, total: 0 }],
      ["total", { ...good, total: 1_000_001 }],
      ["total", { ...good, total: 1.5 }],
      ["total", { requestId: good.requestId, templateId: good.templateId }],
      ["sendType", { ...good, sendType: 2 }],
    ];
    for (const [field, body] of cases) {
      const answer = await post("bulkMakeCode", body);
      expect(answer.returnCode, `${field} ${JSON.stringify(body)}: ${answer.returnMsg}`).toBe("01");
      expect(answer.returnMsg.startsWith(`${field}:`), answer.returnMsg).toBe(true);
    }
    for (const jobId of ["", "0".repeat(31), "G".repeat(32), 7]) {
      const answer = await post("bulkMakeCodeQuery", { jobId });
      expect(answer.returnCode).toBe("01");
      expect(answer.returnMsg.startsWith("jobId:"), answer.returnMsg).toBe(true);
    }
    expect(await jobs()).toBe(before);
  });

  it("serves the actions only to an app they are granted to, signed, once per nonce (02)", async () => {
    const catalogue = createClient(CatalogueService, rpcTransport(platform.serviceUrl("voucher")));
    const admin = { headers: adminAuthorization(platform.adminToken) };
    const appId = unique("erp-bulk-reader-");
    const { secret } = await catalogue.putErpApp({ appId, actions: ["bulkMakeCodeQuery"] }, admin);
    const reader = { appId, secret };
    const before = await jobs();
    expect(await post("bulkMakeCode", { requestId: unique("erp-bulk-"), templateId: bulkTemplateId, total: 5 }, { app: reader })).toEqual({
      returnCode: "02", returnMsg: `authentication failed: action bulkMakeCode is not granted to app ${appId}`,
    });
    expect((await post("bulkMakeCodeQuery", { jobId: "0".repeat(32) }, { app: reader })).returnCode).toBe("04");
    expect((await post("bulkMakeCodeQuery", { jobId: "0".repeat(32) }, { app: { appId, secret: "not-this-app-secret" } })).returnCode).toBe("02");
    const nonce = unique("nonce-").padEnd(24, "0");
    expect((await post("bulkMakeCodeQuery", { jobId: "0".repeat(32) }, { app: reader, nonce })).returnCode).toBe("04");
    expect((await post("bulkMakeCodeQuery", { jobId: "0".repeat(32) }, { app: reader, nonce })).returnCode).toBe("02");
    expect(await jobs()).toBe(before);
  });
});
