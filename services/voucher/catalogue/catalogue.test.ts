// The catalogue's use cases on their own, on the real store (PGlite, or PostgreSQL when DATABASE_URL is set):
// what each answers, what the tables and the audit hold afterwards, and the reads make-code builds on.
import { createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from "node:crypto";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import { errorDetailOf } from "../../common/errors.js";
import { KeyRing } from "../../common/key-ring.js";
import { createLogger } from "../../common/logger.js";
import { migrate } from "../../common/migrate.js";
import {
  InsertActivityRequestSchema,
  InsertSaleChannelRequestSchema,
  InsertSendChannelRequestSchema,
  InsertTemplateRequestSchema,
  UpdateActivityRequestSchema,
  UpdateSendChannelRequestSchema,
  type InsertSaleChannelRequest,
} from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { VOUCHER_SCHEMA } from "../voucher-store.js";
import { AuditStore } from "./audit-store.js";
import { Catalogue } from "./catalogue.js";
import { CatalogueStore } from "./catalogue-store.js";

const logger = createLogger("catalogue-test", "silent");
const BY = (action: string) => ({ actor: "erp-test", action });
const TIME = "20261201100000";

let t: TestDatabase;
let store: CatalogueStore;
let audit: AuditStore;
let catalogue: Catalogue;
let keys: KeyRing;

beforeAll(async () => {
  t = await testDatabase();
  await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)), logger });
  keys = new KeyRing(randomBytes(32), undefined, "WHALE_KEK");
  store = new CatalogueStore(t.db, keys);
  audit = new AuditStore(t.db);
  catalogue = new Catalogue({ db: t.db, store, audit });
});
afterAll(async () => {
  await t?.drop();
});

let sequence = 0;
const next = () => `${Date.now().toString(36)}${++sequence}`;

const saleChannel = (extra: Partial<Omit<InsertSaleChannelRequest, "$typeName" | "$unknown">> = {}) =>
  catalogue.insertSaleChannel(create(InsertSaleChannelRequestSchema, { saleChannelName: `sale-${next()}`, isActive: true, createTime: TIME, updateTime: TIME, ...extra }), BY("saleChanneInsert"));
const sendChannel = (orderEncryptKey?: string) =>
  catalogue.insertSendChannel(
    create(InsertSendChannelRequestSchema, { sendChannelName: `send-${next()}`, isActive: true, sendChannelConfig: { channelMid: "M1", channelTid: "T1", encryptType: "3DES", orderEncryptKey } }),
    BY("sendChanneInsert"),
  );
let product = Date.now();
const template = (sendChannelId: string) =>
  catalogue.insertTemplate(
    create(InsertTemplateRequestSchema, {
      templateName: "COSTA30元代金券",
      sendChannelId,
      brandId: "686",
      productId: String(++product),
      ticketType: 1,
      faceValue: "000000003000",
      sendType: 1,
      isActive: true,
      createTime: TIME,
      updateTime: TIME,
    }),
    BY("templateInsert"),
  );
const activity = (saleChannelId: string, ebuyActivityId = `E${next()}`) =>
  catalogue.insertActivity(
    create(InsertActivityRequestSchema, { activityName: "活动", ebuyActivityId, saleChannelId, validStart: "20261201000000", validEnd: "20271201000000", isActive: true, createTime: TIME, updateTime: TIME }),
    BY("activityInsert"),
  );

const reasonOfFailure = async (work: Promise<unknown>) => {
  try {
    await work;
  } catch (err) {
    return errorDetailOf(err)?.reason;
  }
  return "succeeded";
};

describe("the catalogue", () => {
  it("gives a new sale channel WHALE's key pair: the public half on the record, the private half opened only by findSaleChannelKeys", async () => {
    const channel = await saleChannel();
    const found = await store.findSaleChannelKeys(channel.saleChannelId);
    expect(found?.whalePublicKey).toBe(channel.whalePublicKey);
    const probe = Buffer.from("make-code answer");
    const signature = sign("sha256", probe, found!.whalePrivateKey);
    expect(verify("sha256", probe, createPublicKey({ key: Buffer.from(channel.whalePublicKey, "base64"), format: "der", type: "spki" }), signature)).toBe(true);
    // Sealed to its row: copied into another row it does not open.
    const other = await saleChannel();
    await t.db.query(
      `UPDATE vouchers.sale_channel SET (whale_private_ciphertext, whale_private_nonce, whale_private_tag) =
         (SELECT whale_private_ciphertext, whale_private_nonce, whale_private_tag FROM vouchers.sale_channel WHERE sale_channel_id = $1)
       WHERE sale_channel_id = $2`,
      [channel.saleChannelId, other.saleChannelId],
    );
    await expect(store.findSaleChannelKeys(other.saleChannelId)).rejects.toThrow();
  });

  it("normalises the channel's public key to Base64 DER, from PEM", async () => {
    const key = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    const channel = await saleChannel({ channelPublicKey: key.export({ type: "spki", format: "pem" }).toString() });
    expect(channel.channelPublicKey).toBe(key.export({ type: "spki", format: "der" }).toString("base64"));
  });

  it("seals a send channel's orderEncryptKey and merges a config update into the stored one", async () => {
    const channel = await sendChannel("0123456789abcdef01234567");
    expect(channel).toMatchObject({ channelType: "ESB", hasOrderEncryptKey: true, config: { channelMid: "M1", encryptType: "3DES" } });
    expect(await store.sendChannelSecret(channel.sendChannelId)).toBe("0123456789abcdef01234567");
    const updated = await catalogue.updateSendChannel(
      create(UpdateSendChannelRequestSchema, { sendChannelId: channel.sendChannelId, sendChannelConfig: { channelTid: "T2", orderEncryptKey: "fedcba9876543210fedcba98" } }),
      BY("sendChannelUpdate"),
    );
    expect(updated.config).toEqual({ channelMid: "M1", channelTid: "T2", encryptType: "3DES" });
    expect(await store.sendChannelSecret(channel.sendChannelId)).toBe("fedcba9876543210fedcba98");
    expect(JSON.stringify(await audit.list({ recordType: "send_channel", recordId: channel.sendChannelId, limit: 5 }))).not.toContain("fedcba98");
  });

  it("describes the sealed orderEncryptKey in the catalogue as WHALE's private key for an RSA channel, not the ESB's public key", async () => {
    const { rows } = await t.db.query<{ comment: string | null }>(
      `SELECT col_description('vouchers.send_channel'::regclass, attnum) AS comment FROM pg_attribute
        WHERE attrelid = 'vouchers.send_channel'::regclass AND attname = 'secret_ciphertext'`,
    );
    expect(rows[0]?.comment).toMatch(/for RSA WHALE's private key for the channel/);
  });

  it("answers the reads make-code needs: template, activity, whether the activity offers the template", async () => {
    const sale = await saleChannel();
    const send = await sendChannel();
    const tpl = await template(send.sendChannelId);
    const act = await activity(sale.saleChannelId);
    expect(await store.activityOffersTemplate(act.activityId, tpl.templateId)).toBe(false);
    expect(await catalogue.bind(act.activityId, tpl.templateId, BY("activityTemplateBind"))).toBe(true);
    expect(await store.activityOffersTemplate(act.activityId, tpl.templateId)).toBe(true);
    expect(await store.findTemplate(tpl.templateId)).toMatchObject({ sendChannelId: send.sendChannelId, ticketType: 1, faceValue: 3000, sendType: 1, isActive: true });
    expect(await store.findActivity(act.activityId)).toMatchObject({
      saleChannelId: sale.saleChannelId,
      validStart: new Date("2026-11-30T16:00:00Z"),
      validEnd: new Date("2027-11-30T16:00:00Z"),
      isActive: true,
    });
    expect(await catalogue.unbind(act.activityId, tpl.templateId, BY("activityTemplateUnbind"))).toBe(true);
    expect(await catalogue.unbind(act.activityId, tpl.templateId, BY("activityTemplateUnbind"))).toBe(false);
    for (const id of ["0", "01", "x", "1".repeat(19), ""]) expect(await store.findTemplate(id)).toBeUndefined();
  });

  it("makes one activity of racing inserts with one ebuyActivityId; the others DUPLICATE; one audit row", async () => {
    const sale = await saleChannel();
    const ebuy = `E${next()}`;
    const reasons = await Promise.all(Array.from({ length: 6 }, () => reasonOfFailure(activity(sale.saleChannelId, ebuy))));
    expect(reasons.sort()).toEqual(["VOUCHER_ERROR_DUPLICATE", "VOUCHER_ERROR_DUPLICATE", "VOUCHER_ERROR_DUPLICATE", "VOUCHER_ERROR_DUPLICATE", "VOUCHER_ERROR_DUPLICATE", "succeeded"]);
    const { rows } = await t.db.query<{ activity_id: string }>("SELECT activity_id::text FROM vouchers.activity WHERE ebuy_activity_id = $1", [ebuy]);
    expect(rows).toHaveLength(1);
    expect(await audit.list({ recordType: "activity", recordId: rows[0]!.activity_id, limit: 10 })).toHaveLength(1);
  });

  it("leaves no change and no audit row when an update is refused", async () => {
    const sale = await saleChannel();
    const act = await activity(sale.saleChannelId);
    const refuse = (fields: Record<string, string>) =>
      reasonOfFailure(catalogue.updateActivity(create(UpdateActivityRequestSchema, { activityId: act.activityId, updateTime: TIME, ...fields }), BY("activityUpdate")));
    expect(await refuse({ activityName: "新名字", validEnd: "20261130000000" })).toBe("VOUCHER_ERROR_PARAMETER_INVALID");
    expect(await refuse({ activityName: "新名字", saleChannelId: "99999999" })).toBe("VOUCHER_ERROR_REFERENCE_INVALID");
    expect(await refuse({ updateTime: "20261301000000" })).toBe("VOUCHER_ERROR_PARAMETER_INVALID");
    expect((await store.findActivity(act.activityId))?.name).toBe("活动");
    expect(await audit.list({ recordType: "activity", recordId: act.activityId, limit: 10 })).toHaveLength(1);
  });

  it("disables a record once: a repeat changes nothing and writes no audit row; a disabled sale channel takes no activity", async () => {
    const sale = await saleChannel();
    expect(await catalogue.setActive("sale_channel", sale.saleChannelId, false, TIME, BY("saleChannelDisable"))).toBe(true);
    expect(await catalogue.setActive("sale_channel", sale.saleChannelId, false, TIME, BY("saleChannelDisable"))).toBe(false);
    expect(await reasonOfFailure(activity(sale.saleChannelId))).toBe("VOUCHER_ERROR_REFERENCE_INVALID");
    expect((await audit.list({ recordType: "sale_channel", recordId: sale.saleChannelId, limit: 10 })).map((e) => e.action)).toEqual(["saleChannelDisable", "saleChanneInsert"]);
    expect(await reasonOfFailure(catalogue.setActive("activity", "99999999", false, TIME, BY("activityDisable")))).toBe("VOUCHER_ERROR_REFERENCE_INVALID");
  });

  it("lists the audit newest first by number and pages it with beforeAuditId, across a digit boundary (9999999999 → 10000000000)", async () => {
    await t.db.query("ALTER TABLE vouchers.catalogue_audit ALTER COLUMN audit_id RESTART WITH 9999999998");
    const recordId = `audit-order-${next()}`;
    for (const action of ["a1", "a2", "a3", "a4"]) {
      await audit.record(t.db, { actor: "erp-test", action, recordType: "activity", recordId, before: null, after: null });
    }
    const all = await audit.list({ recordType: "activity", recordId, limit: 10 });
    expect(all.map((e) => [e.auditId, e.action])).toEqual([["10000000001", "a4"], ["10000000000", "a3"], ["9999999999", "a2"], ["9999999998", "a1"]]);
    const page = await audit.list({ recordType: "activity", recordId, beforeAuditId: "10000000000", limit: 1 });
    expect(page.map((e) => e.action)).toEqual(["a2"]);
  });

  it("checks its fields again without the gateway: text rules, ids, times, the pair of WHALE's keys", async () => {
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => saleChannel({ saleChannelName: "a\u0000b" }), "saleChannelName"],
      [() => saleChannel({ saleChannelName: "\ud800" }), "saleChannelName"],
      [() => saleChannel({ saleChannelName: "x".repeat(100) }), "saleChannelName"],
      [() => saleChannel({ createTime: "20260230000000" }), "createTime"],
      [() => saleChannel({ whalePublicKey: "abc" }), "saleChannelConfig.whalePublicKey"],
      [() => saleChannel({ verifyNotifyUrl: "ftp://x" }), "saleChannelConfig.verifyNotifyURL"],
      [() => activity("0"), "saleChannelId"],
      [() => catalogue.insertSaleChannel(create(InsertSaleChannelRequestSchema, { saleChannelName: "x", createTime: TIME, updateTime: TIME }), { actor: "", action: "saleChanneInsert" }), "actor"],
    ];
    for (const [work, field] of cases) {
      await expect(work()).rejects.toMatchObject({ rawMessage: expect.stringMatching(new RegExp(`^${field.replace(".", "\\.")}: `)) });
    }
  });
});
