// The WHALE back office end to end, as the ERP calls it: signed JSON posts through the gateway to the voucher
// service, on both run modes (cluster: real PostgreSQL and Redis, a NATS of its own), every answer checked
// against the contract file. The stories: a whole catalogue set up, duplicates and references, updates with
// their audit, and the attacks (fields, bytes PostgreSQL refuses, authentication, the HTTP envelope).
import { generateKeyPairSync } from "node:crypto";
import { createClient, type Client } from "@connectrpc/connect";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { erpActions } from "../gateway/whale-erp/actions.js";
import { CatalogueService } from "../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { adminAuthorization } from "../services/common/admin-credential.js";
import { rpcTransport } from "../services/common/rpc-client.js";
import { modes, type TestPlatform, useTestPlatform } from "./support/platform.js";
import { until } from "./support/until.js";
import { erpPost, erpTime, unique, type ErpAnswer } from "./support/whale-erp.js";

const rsa = (bits = 2048) => {
  const pair = generateKeyPairSync("rsa", { modulusLength: bits });
  return {
    publicPem: pair.publicKey.export({ type: "spki", format: "pem" }).toString(),
    publicDer: pair.publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    privatePem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
};
const CHANNEL_KEY = rsa();

describe.each(modes)("the WHALE back office through the gateway (%s)", (mode) => {
  const running = useTestPlatform(mode);
  let platform: TestPlatform;
  let catalogue: Client<typeof CatalogueService>;
  const admin = () => ({ headers: adminAuthorization(platform.adminToken) });
  const post = (action: string, body: unknown, options?: Parameters<typeof erpPost>[3]) => erpPost(platform.gatewayUrl, action, body, options);
  const ok = async (action: string, body: unknown): Promise<ErpAnswer> => {
    const answer = await post(action, body);
    expect(answer, `${action}: ${answer.returnMsg}`).toMatchObject({ returnCode: "00", returnMsg: "SUCCESS" });
    return answer;
  };
  const count = async (table: string) => Number((await platform.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.${table}`)).rows[0]!.n);

  beforeAll(() => {
    platform = running.platform;
    catalogue = createClient(CatalogueService, rpcTransport(platform.serviceUrl("voucher")));
  });

  const saleChannelBody = (extra: Record<string, unknown> = {}) => ({
    saleChannelName: unique("中信银行"),
    isActive: "Y",
    remark: "备注信息",
    creatorName: "xiedonglei",
    createTime: erpTime(),
    updateTime: erpTime(),
    saleChannelConfig: { channelPublicKey: CHANNEL_KEY.publicDer, verifyNotifyURL: "https://bank.example/verify-notify" },
    ...extra,
  });
  const sendChannelBody = (extra: Record<string, unknown> = {}) => ({
    sendChannelName: unique("资和信"),
    isActive: "Y",
    sendChannelConfig: { thirdChannelNo: "M000001545", makeCodeURL: "https://esb.example/make", verifyURL: "https://esb.example/verify", verifyNotifyURL: "https://esb.example/notify" },
    ...extra,
  });
  let productSequence = Date.now() * 100;
  const templateBody = (sendChannelId: number, extra: Record<string, unknown> = {}) => ({
    templateName: "COSTA30元代金券",
    sendChannelId,
    brandId: 686,
    productId: ++productSequence,
    ticketType: 1,
    sendType: 1,
    faceValue: "000000003000",
    isActive: "Y",
    remark: "备注信息",
    createUser: "xiedonglei",
    createTime: erpTime(),
    updateTime: erpTime(),
    ...extra,
  });
  const activityBody = (saleChannelId: string, extra: Record<string, unknown> = {}) => ({
    activityName: "中信电子凭证活动",
    ebuyActivityId: unique("E"),
    saleChannelId,
    validStart: erpTime(),
    validEnd: erpTime(30),
    createUser: "xiedonglei",
    createTime: erpTime(),
    updateTime: erpTime(),
    ...extra,
  });

  async function setUp() {
    const sale = await ok("saleChanneInsert", saleChannelBody());
    const send = await ok("sendChanneInsert", sendChannelBody());
    const template = await ok("templateInsert", templateBody(send.sendChannelId as number));
    const activity = await ok("activityInsert", activityBody(sale.saleChannelId as string));
    return { sale, send, template, activity };
  }

  it("sets up a catalogue as an ERP does: channels, a template, an activity offering it; each answers its new id and reads back", async () => {
    const { sale, send, template, activity } = await setUp();
    expect(sale.saleChannelId).toMatch(/^[1-9][0-9]*$/);
    // WHALE generated its pair for the channel: the public half answered, the private half sealed.
    expect(Buffer.from(sale.whalePublicKey as string, "base64").length).toBeGreaterThan(250);
    expect(await ok("activityTemplateBind", { activityId: activity.activityId, templateId: template.templateId })).toMatchObject({ changed: "Y" });
    expect(await ok("activityTemplateBind", { activityId: activity.activityId, templateId: template.templateId })).toMatchObject({ changed: "N" });

    expect(await ok("saleChannelQuery", { saleChannelId: sale.saleChannelId })).toMatchObject({
      saleChannelId: sale.saleChannelId,
      isActive: "Y",
      saleChannelConfig: { channelPublicKey: CHANNEL_KEY.publicDer, whalePublicKey: sale.whalePublicKey, verifyNotifyURL: "https://bank.example/verify-notify" },
    });
    expect(await ok("sendChannelQuery", { sendChannelId: send.sendChannelId })).toMatchObject({
      sendChannelId: send.sendChannelId,
      sendChannelConfig: { sendChannelType: "ESB", thirdChannelNo: "M000001545", hasOrderEncryptKey: "N" },
    });
    expect(await ok("templateQuery", { templateId: template.templateId })).toMatchObject({
      templateId: template.templateId,
      faceValue: "000000003000",
      ticketType: 1,
      sendType: "1",
      activityIds: [activity.activityId],
    });
    expect(await ok("activityQuery", { activityId: activity.activityId })).toMatchObject({
      activityId: activity.activityId,
      saleChannelId: sale.saleChannelId,
      templateIds: [template.templateId],
    });

    // The private key is at rest only sealed.
    const { rows } = await platform.db.query<Record<string, unknown>>(
      "SELECT whale_private_ciphertext FROM vouchers.sale_channel WHERE sale_channel_id = $1",
      [sale.saleChannelId],
    );
    expect(Buffer.from(rows[0]!.whale_private_ciphertext as Buffer).toString("latin1")).not.toContain("PRIVATE KEY");
  });

  it("keeps WHALE's pair when the ERP brings both halves, and refuses half a pair, halves that do not match, a weak or non-RSA key (01)", async () => {
    const whale = rsa();
    const brought = await ok("saleChanneInsert", saleChannelBody({ saleChannelConfig: { channelPublicKey: CHANNEL_KEY.publicPem, whalePublicKey: whale.publicPem, whalePrivateKey: whale.privatePem } }));
    expect(brought.whalePublicKey).toBe(whale.publicDer);

    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ whalePublicKey: whale.publicDer }, "saleChannelConfig.whalePublicKey"],
      [{ whalePublicKey: rsa().publicDer, whalePrivateKey: whale.privatePem }, "saleChannelConfig.whalePrivateKey"],
      [{ channelPublicKey: rsa(1024).publicDer }, "saleChannelConfig.channelPublicKey"],
      [{ channelPublicKey: "publicKey" }, "saleChannelConfig.channelPublicKey"],
      [{ channelPublicKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "der" }).toString("base64") }, "saleChannelConfig.channelPublicKey"],
    ];
    const before = await count("sale_channel");
    for (const [config, field] of refusals) {
      const answer = await post("saleChanneInsert", saleChannelBody({ saleChannelConfig: config }));
      expect(answer.returnCode, JSON.stringify(config).slice(0, 80)).toBe("01");
      expect(answer.returnMsg).toContain(field);
    }
    expect(await count("sale_channel")).toBe(before);
  });

  it("answers 03 for a unique key used twice, once even when eight inserts race (one activity made)", async () => {
    const { sale, send, template } = await setUp();
    const body = activityBody(sale.saleChannelId as string);
    const answers = await Promise.all(Array.from({ length: 8 }, () => post("activityInsert", body)));
    expect(answers.filter((a) => a.returnCode === "00")).toHaveLength(1);
    expect(answers.filter((a) => a.returnCode === "03").map((a) => a.returnMsg)).toEqual(Array(7).fill("ebuyActivityId: an activity for that e-buy activity exists"));
    const { rows } = await platform.db.query("SELECT 1 FROM vouchers.activity WHERE ebuy_activity_id = $1", [body.ebuyActivityId]);
    expect(rows).toHaveLength(1);

    const templateQuery = (await ok("templateQuery", { templateId: template.templateId })) as unknown as { productId: number };
    expect(await post("templateInsert", templateBody(send.sendChannelId as number, { productId: templateQuery.productId }))).toMatchObject({ returnCode: "03", returnMsg: "productId: a template for that product exists" });
    const saleName = (await ok("saleChannelQuery", { saleChannelId: sale.saleChannelId })).saleChannelName;
    expect(await post("saleChanneInsert", saleChannelBody({ saleChannelName: saleName }))).toMatchObject({ returnCode: "03" });
  });

  it("answers 04 for a referenced or named record that is missing or disabled, and stores nothing", async () => {
    const { sale, send, template, activity } = await setUp();
    const [activities, templates] = [await count("activity"), await count("template")];
    expect(await post("activityInsert", activityBody("99999999"))).toMatchObject({ returnCode: "04", returnMsg: "saleChannelId: no active sale channel has that id" });
    expect(await post("templateInsert", templateBody(99999999))).toMatchObject({ returnCode: "04", returnMsg: "sendChannelId: no active send channel has that id" });
    expect(await post("activityQuery", { activityId: "99999999" })).toMatchObject({ returnCode: "04" });
    expect(await post("templateQuery", { templateId: 99999999 })).toMatchObject({ returnCode: "04" });
    expect(await post("activityUpdate", { activityId: "99999999", updateTime: erpTime() })).toMatchObject({ returnCode: "04" });

    expect(await ok("saleChannelDisable", { saleChannelId: sale.saleChannelId, updateTime: erpTime() })).toMatchObject({ changed: "Y" });
    expect(await ok("saleChannelDisable", { saleChannelId: sale.saleChannelId, updateTime: erpTime() })).toMatchObject({ changed: "N" });
    expect(await post("activityInsert", activityBody(sale.saleChannelId as string))).toMatchObject({ returnCode: "04" });
    expect(await ok("sendChannelDisable", { sendChannelId: send.sendChannelId })).toMatchObject({ changed: "Y" });
    expect(await post("templateInsert", templateBody(send.sendChannelId as number))).toMatchObject({ returnCode: "04" });
    expect(await ok("templateDisable", { templateId: template.templateId, updateTime: erpTime() })).toMatchObject({ changed: "Y" });
    expect(await post("activityTemplateBind", { activityId: activity.activityId, templateId: template.templateId })).toMatchObject({
      returnCode: "04",
      returnMsg: "templateId: no active template has that id",
    });
    expect([await count("activity"), await count("template")]).toEqual([activities, templates]);

    expect(await ok("saleChannelEnable", { saleChannelId: sale.saleChannelId, updateTime: erpTime() })).toMatchObject({ changed: "Y" });
    await ok("activityInsert", activityBody(sale.saleChannelId as string));
  });

  it("updates only the fields given and audits each change: who (the app), what, before and after", async () => {
    const { sale, activity } = await setUp();
    const validEnd = erpTime(60);
    const updated = await ok("activityUpdate", { activityId: activity.activityId, updateTime: "20300101000000", activityName: "改名活动", validEnd });
    expect(updated).toMatchObject({ activityName: "改名活动", updateTime: "20300101000000", saleChannelId: sale.saleChannelId, validEnd });
    expect(await post("activityUpdate", { activityId: activity.activityId, updateTime: erpTime(), validEnd: "20000101000000" })).toMatchObject({
      returnCode: "01",
      returnMsg: "validEnd: must be after validStart",
    });
    await ok("activityDisable", { activityId: activity.activityId, updateTime: erpTime() });

    const { audits } = (await ok("auditQuery", { recordType: "activity", recordId: activity.activityId })) as unknown as {
      audits: Array<{ actor: string; action: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null; time: string }>;
    };
    expect(audits.map((a) => a.action)).toEqual(["activityDisable", "activityUpdate", "activityInsert"]);
    expect(audits.every((a) => a.actor === "erp-sandbox" && /^[0-9]{14}$/.test(a.time))).toBe(true);
    expect(audits[1]!.before).toMatchObject({ name: "中信电子凭证活动" });
    expect(audits[1]!.after).toMatchObject({ name: "改名活动" });
    expect(audits[0]).toMatchObject({ before: { isActive: true }, after: { isActive: false } });
    expect(audits[2]!.before).toBeNull();

    // The sale channel's audit never shows WHALE's private key.
    const channelAudit = await ok("auditQuery", { recordType: "sale_channel", recordId: sale.saleChannelId });
    expect(JSON.stringify(channelAudit)).not.toContain("PRIVATE");
  });

  it("refuses each field that breaks its rule with 01 naming the field, and stores nothing", async () => {
    const { sale, send } = await setUp();
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["activityInsert", activityBody(sale.saleChannelId as string, { activityName: "名".repeat(100) }), "activityName"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { activityName: "" }), "activityName"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { ebuyActivityId: "E".repeat(40) }), "ebuyActivityId"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { validStart: "20180231112600" }), "validStart"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { createTime: "2018-09-05 11:26" }), "createTime"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { isActive: "y" }), "isActive"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { saleChannelId: 10000001 }), "saleChannelId"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { updateTime: undefined }), "updateTime"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { activityConfig: { verifyNotifyURL: "javascript:alert(1)" } }), "activityConfig.verifyNotifyURL"],
      ["activityInsert", activityBody(sale.saleChannelId as string, { activityNmae: "typo" }), "activityNmae"],
      ["templateInsert", templateBody(send.sendChannelId as number, { ticketType: 5 }), "ticketType"],
      ["templateInsert", templateBody(send.sendChannelId as number, { ticketType: "1" }), "ticketType"],
      ["templateInsert", templateBody(send.sendChannelId as number, { faceValue: "3000" }), "faceValue"],
      ["templateInsert", templateBody(send.sendChannelId as number, { faceValue: 3000 }), "faceValue"],
      ["templateInsert", templateBody(send.sendChannelId as number, { sendType: 3 }), "sendType"],
      ["templateInsert", templateBody(send.sendChannelId as number, { sendChannelId: "123L" }), "sendChannelId"],
      ["templateInsert", templateBody(send.sendChannelId as number, { productId: 1.5 }), "productId"],
      ["templateInsert", templateBody(send.sendChannelId as number, { brandId: 2 ** 60 }), "brandId"],
      ["saleChanneInsert", saleChannelBody({ saleChannelName: undefined, sendChannelName: "中信银行" }), "saleChannelName"],
      ["sendChanneInsert", sendChannelBody({ sendChannelConfig: undefined }), "sendChannelConfig"],
      ["sendChanneInsert", sendChannelBody({ sendChannelConfig: { encryptType: "AES" } }), "sendChannelConfig.encryptType"],
    ];
    const before = [await count("activity"), await count("template"), await count("sale_channel"), await count("send_channel")];
    for (const [action, body, field] of cases) {
      const answer = await post(action, body);
      expect(answer.returnCode, `${action} ${field}: ${answer.returnMsg}`).toBe("01");
      expect(answer.returnMsg.startsWith(`${field}:`), `${action}: ${answer.returnMsg}`).toBe(true);
    }
    expect([await count("activity"), await count("template"), await count("sale_channel"), await count("send_channel")]).toEqual(before);
    // The bounds themselves are fine: 99 characters, both sendType forms.
    await ok("activityInsert", activityBody(sale.saleChannelId as string, { activityName: "名".repeat(99), ebuyActivityId: unique("E").padEnd(39, "x") }));
    await ok("templateInsert", templateBody(send.sendChannelId as number, { sendType: "2" }));
  });

  it("refuses bytes PostgreSQL cannot store (NUL, lone surrogates) and any text field out of its rules, never answering 99", async () => {
    const { sale } = await setUp();
    const hostile = fc.oneof(
      fc.constantFrom("\u0000", "a\u0000b", "\ud800", "x\udfffy", "\u001b[31m", "\u0085", "名".repeat(5000)),
      fc.string({ unit: "binary", maxLength: 120 }).filter((s) => /[\p{Cc}\p{Cs}]/u.test(s) || s.length > 99),
    );
    const fields = ["activityName", "ebuyActivityId", "createUser", "validStart", "createTime", "saleChannelId"] as const;
    const before = await count("activity");
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...fields), hostile, async (field, value) => {
        const answer = await post("activityInsert", activityBody(sale.saleChannelId as string, { [field]: value }));
        expect(answer.returnCode).toBe("01");
        expect(answer.returnMsg.startsWith(`${field}:`)).toBe(true);
      }),
      { numRuns: 40 },
    );
    expect(await count("activity")).toBe(before);
  });

  it("answers every generated body of every action within the contract, never a system error", async () => {
    const json = fc.jsonValue({ maxDepth: 2 });
    const bodies = fc.oneof(json, fc.dictionary(fc.constantFrom("activityId", "saleChannelId", "templateId", "sendChannelId", "updateTime", "activityName", "isActive", "faceValue"), json));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...erpActions.map((action) => action.name)), bodies, async (action, body) => {
        const answer = await post(action, body);
        expect(["00", "01", "03", "04"]).toContain(answer.returnCode);
      }),
      { numRuns: 60 },
    );
  });

  describe("authentication", () => {
    const body = () => ({ saleChannelId: "99999999" });
    const action = "saleChannelQuery";

    it("refuses (02, nothing run) a call missing a header, with a malformed one, an old or future timestamp, a wrong secret, a tampered body or path", async () => {
      const now = Date.now();
      const cases: Array<[string, Parameters<typeof erpPost>[3]]> = [
        ["no X-App-Id", { headers: { "x-app-id": undefined } }],
        ["no X-Signature", { headers: { "x-signature": undefined } }],
        ["no X-Nonce", { headers: { "x-nonce": undefined } }],
        ["no X-Timestamp", { headers: { "x-timestamp": undefined } }],
        ["short nonce", { nonce: "0123456789abcde" }],
        ["long nonce", { nonce: "n".repeat(65) }],
        ["uppercase signature", { headers: { "x-signature": "A".repeat(64) } }],
        ["6 minutes old", { now: now - 6 * 60_000 }],
        ["6 minutes ahead", { now: now + 6 * 60_000 }],
        ["wrong secret", { app: { appId: "erp-sandbox", secret: "not-the-sandbox-secret" } }],
        ["unknown app", { app: { appId: "erp-nobody", secret: "whatever-secret-0123" } }],
        ["signed another path", { signedPath: "/whale/erp/activityQuery" }],
        ["tampered body", { signedBody: JSON.stringify({ saleChannelId: "99999998" }) }],
      ];
      for (const [name, options] of cases) {
        const answer = await post(action, body(), options);
        expect(answer.returnCode, `${name}: ${answer.returnMsg}`).toBe("02");
        expect(answer.returnMsg).toMatch(/^authentication failed: /);
      }
    });

    it("refuses a replayed call (the same nonce within 10 minutes), even with a fresh timestamp and signature", async () => {
      const nonce = unique("nonce-").padEnd(24, "0");
      expect((await post(action, body(), { nonce })).returnCode).not.toBe("02");
      expect(await post(action, body(), { nonce })).toMatchObject({ returnCode: "02", returnMsg: "authentication failed: X-Nonce was already used within the last 10 minutes" });
    });

    it("lets an app call only the actions granted to it; a secret rotated with no overlap replaces the old at once; a refused call uses no nonce", async () => {
      const appId = unique("erp-reader-");
      const { secret } = await catalogue.putErpApp({ appId, actions: ["saleChannelQuery"] }, admin());
      const reader = { appId, secret };
      expect((await post(action, body(), { app: reader })).returnCode).toBe("04");
      expect(await post("activityQuery", { activityId: "1" }, { app: reader })).toMatchObject({
        returnCode: "02",
        returnMsg: `authentication failed: action activityQuery is not granted to app ${appId}`,
      });
      await catalogue.grantErpActions({ appId, actions: ["activityQuery"] }, admin());
      expect((await post("activityQuery", { activityId: "1" }, { app: reader })).returnCode).toBe("04");
      await catalogue.revokeErpActions({ appId, actions: ["saleChannelQuery"] }, admin());
      expect((await post(action, body(), { app: reader })).returnCode).toBe("02");

      const rotated = await catalogue.rotateErpAppSecret({ appId, overlapSeconds: 0n }, admin());
      expect((await post("activityQuery", { activityId: "1" }, { app: reader })).returnCode).toBe("02");
      const nonce = unique("nonce-").padEnd(24, "0");
      expect((await post("activityQuery", { activityId: "1" }, { app: reader, nonce })).returnCode).toBe("02");
      // The nonce of a refused call is still free for the rightful caller.
      expect((await post("activityQuery", { activityId: "1" }, { app: { appId, secret: rotated.secret }, nonce })).returnCode).toBe("04");

      const { apps } = await catalogue.listErpApps({}, admin());
      expect(apps.find((app) => app.appId === appId)?.actions).toEqual(["activityQuery"]);
      // Admin RPCs need the admin token.
      await expect(catalogue.rotateErpAppSecret({ appId })).rejects.toThrow(/admin credential required/);
      await expect(catalogue.resealSecrets({})).rejects.toThrow(/admin credential required/);
      // One KEK from the start: nothing to re-seal, nothing left under another.
      const resealed = await catalogue.resealSecrets({}, admin());
      expect(resealed.counts.map((count) => [count.resealed, count.remaining])).toEqual([[0, 0], [0, 0], [0, 0], [0, 0]]);
      await expect(catalogue.listErpApps({})).rejects.toThrow(/admin credential required/);
    });

    it("keeps a rotated secret verifying beside the new one through the overlap the operator set, then only the new one", async () => {
      const appId = unique("erp-rotating-");
      const { secret: old } = await catalogue.putErpApp({ appId, actions: ["activityQuery"] }, admin());
      const { secret: fresh, app } = await catalogue.rotateErpAppSecret({ appId, overlapSeconds: 2n }, admin());
      expect(app?.previousSecretUntil).toBeDefined();
      const query = (secret: string) => post("activityQuery", { activityId: "1" }, { app: { appId, secret } });
      expect((await query(old)).returnCode).toBe("04");
      expect((await query(fresh)).returnCode).toBe("04");
      await until(async () => (await query(old)).returnCode === "02", 10_000, "the old secret's overlap ends");
      expect((await query(fresh)).returnCode).toBe("04");
    });
  });

  describe("the HTTP envelope", () => {
    const raw = async (init: { method?: string; path?: string; body?: string | Buffer; contentType?: string }) => {
      const response = await fetch(`${platform.gatewayUrl}${init.path ?? "/whale/erp/activityQuery"}`, {
        method: init.method ?? "POST",
        headers: init.contentType === undefined ? { "content-type": "application/json" } : { "content-type": init.contentType },
        body: init.body,
      });
      return { status: response.status, body: (await response.json()) as ErpAnswer };
    };

    it("answers an unknown action, a GET, bad JSON, a too-large body and a wrong content type with 01 in the envelope, HTTP 200", async () => {
      const unknown = await post("activityDelete", { activityId: "1" });
      expect(unknown).toMatchObject({ returnCode: "01", returnMsg: expect.stringMatching(/^action: unknown/) });
      const cases = [
        await raw({ method: "GET", path: "/whale/erp/activityQuery" }),
        await raw({ body: "{not json" }),
        await raw({ body: JSON.stringify({ activityName: "x".repeat(20_000) }) }),
        await raw({ body: "activityId=1", contentType: "application/x-www-form-urlencoded" }),
        await raw({ body: JSON.stringify({ activityId: "1" }), contentType: "text/plain" }),
      ];
      expect(cases.map((c) => [c.status, c.body.returnCode])).toEqual(Array(5).fill([200, "01"]));
      expect(cases.map((c) => c.body.returnMsg)).toEqual([
        expect.stringMatching(/^action: unknown/),
        "body: is not valid JSON",
        "body: larger than the gateway accepts",
        "body: Content-Type must be application/json",
        "body: Content-Type must be application/json",
      ]);
    });

    it("answers a signed body that is not JSON, or not an object, with 01", async () => {
      expect(await post("activityQuery", undefined, { rawBody: "{\"activityId\":" })).toMatchObject({ returnCode: "01", returnMsg: "body: is not valid JSON" });
      expect(await post("activityQuery", undefined, { rawBody: "[]" })).toMatchObject({ returnCode: "01", returnMsg: "body: must be an object" });
    });
  });
});
