// The rule actions through the gateway's back-office plugin, signed as an ERP signs them, on the real
// RuleService and its store (PostgreSQL when DATABASE_URL is set). AuthenticateErpCall is a stand-in that
// checks the signature with one app's secret (the catalogue's tests cover the real one).
import { fileURLToPath } from "node:url";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import { buildTestGateway } from "../../../test/support/gateway.js";
import { CatalogueService } from "../../../proto/gen/rights/voucher/v1/catalogue_pb.js";
import { RuleService } from "../../../proto/gen/rights/voucher/v1/rules_pb.js";
import { systemClock } from "../../../services/common/clock.js";
import { createLogger } from "../../../services/common/logger.js";
import { migrate } from "../../../services/common/migrate.js";
import { erpCallHeaders, erpSignatureMatches } from "../../../services/voucher/catalogue/erp-signature.js";
import { voucherError, VoucherError } from "../../../services/voucher/errors.js";
import { RuleStore } from "../../../services/voucher/rules/rule-store.js";
import { Rules } from "../../../services/voucher/rules/rules.js";
import { ruleServiceImpl } from "../../../services/voucher/rules/routes.js";
import { VOUCHER_SCHEMA } from "../../../services/voucher/voucher-store.js";
import { scenceLimitRule } from "../../../test/support/whale-rules.js";

const APP = { appId: "erp-test", secret: "erp-test-secret" };
const logger = createLogger("erp-rules-test", "silent");

let t: TestDatabase;
let app: FastifyInstance;

beforeAll(async () => {
  t = await testDatabase();
  await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../../../services/voucher/migrations", import.meta.url)), logger });
  const rules = new Rules({ store: new RuleStore(t.db), clock: systemClock });
  const voucherTransport = createRouterTransport((router) => {
    router.service(RuleService, ruleServiceImpl(rules));
    router.service(CatalogueService, {
      authenticateErpCall(req) {
        if (req.appId !== APP.appId || !erpSignatureMatches(APP.secret, req.path, req.timestamp, req.nonce, req.bodySha256, req.signature)) {
          throw voucherError(VoucherError.ERP_UNAUTHENTICATED, "X-Signature does not match");
        }
        return { appId: req.appId };
      },
    });
  });
  app = await buildTestGateway({ whaleErp: { voucherTransport } });
});

afterAll(async () => {
  await app.close();
  await t.drop();
});

async function erp(action: string, body: unknown, app_ = APP): Promise<Record<string, unknown>> {
  const path = `/whale/erp/${action}`;
  const payload = JSON.stringify(body);
  const res = await app.inject({ method: "POST", url: path, payload, headers: { "content-type": "application/json", ...erpCallHeaders(app_, path, payload) } });
  expect(res.statusCode).toBe(200);
  return res.json();
}

const createRule = scenceLimitRule("1000000001");

describe("createRule", () => {
  it("answers 00 with the new ruleId, and ruleQuery reads it back as written", async () => {
    const created = await erp("createRule", createRule);
    expect(created).toEqual({ returnCode: "00", returnMsg: "SUCCESS", ruleId: expect.stringMatching(/^\d{10}$/) });
    const queried = await erp("ruleQuery", { ruleId: created.ruleId });
    expect(queried).toMatchObject({
      returnCode: "00",
      rule: { ...createRule, ruleId: created.ruleId, version: 1, isActive: "Y", isContinue: "N", ruleOrder: 0, changedBy: APP.appId, change: "created", changeTime: expect.stringMatching(/^\d{14}$/) },
    });
  });

  it.each([
    ["a broken ruleValue field, by its path", { ...createRule, ruleValue: { ...createRule.ruleValue, limitType: "X" } }, "ruleValue.limitType: one of W, B"],
    ["an unknown ruleKey", { ...createRule, ruleKey: "SceneLimit" }, "ruleKey: unknown rule; one of BuyGet, ScenceLimit, ActivityLimit, CardBinLimit, CardNoLimit, CityLimit, PosTidLimit, WeekTime"],
    ["a BuyGet amount with 3 places", { ...createRule, ruleKey: "BuyGet", ruleValue: { amountOff: 1.005 } }, "ruleValue.amountOff: a decimal of at most 10 integer digits and 2 places, not negative, e.g. 12.50"],
    ["a WeekTime window of 11 digits", { ...createRule, ruleKey: "WeekTime", ruleValue: { weekDay: "0111110", times: "09000012000" } }, "ruleValue.times: 12-digit windows HHmmssHHmmss separated by commas, e.g. 090000120000,220000235959"],
    ["an impossible date", { ...createRule, endTime: "20270230000000" }, "endTime: a real date and time yyyyMMddHHmmss"],
    ["a lone surrogate", { ...createRule, ruleName: "\ud800" }, "ruleName: not valid Unicode (a lone surrogate)"],
    ["a missing field", { ...createRule, messageTpl: undefined }, "messageTpl: is required"],
    ["a field of another action", { ...createRule, activityId: "1" }, "activityId: is not a field of this action"],
    ["ruleValue as a string", { ...createRule, ruleValue: "{}" }, "ruleValue: must be an object"],
  ])("answers 01 for %s, naming the field and the rule", async (_, body, returnMsg) => {
    expect(await erp("createRule", body)).toEqual({ returnCode: "01", returnMsg });
  });

  it("answers 02 for a call signed with another secret, and stores nothing", async () => {
    const before = await erp("ruleList", { ruleScenceKey: "forged" });
    expect(await erp("createRule", { ...createRule, ruleScenceKey: "forged" }, { ...APP, secret: "wrong" })).toMatchObject({ returnCode: "02" });
    expect(await erp("ruleList", { ruleScenceKey: "forged" })).toEqual(before);
  });
});

describe("the other rule actions", () => {
  it("update, disable, enable and history: each change a version, by the app that made it", async () => {
    const { ruleId } = await erp("createRule", { ...createRule, ruleSceneItemKey: "1000000002" });
    expect(await erp("ruleUpdate", { ruleId, ruleName: "每日限量200", ruleOrder: 1 })).toEqual({ returnCode: "00", returnMsg: "SUCCESS", ruleId, version: 2 });
    expect(await erp("ruleDisable", { ruleId })).toMatchObject({ returnCode: "00", version: 3 });
    expect(await erp("ruleEnable", { ruleId })).toMatchObject({ returnCode: "00", version: 4 });
    const history = await erp("ruleHistory", { ruleId });
    expect((history.versions as Array<Record<string, unknown>>).map((v) => [v.version, v.change, v.ruleName, v.isActive, v.changedBy])).toEqual([
      [4, "enabled", "每日限量200", "Y", APP.appId],
      [3, "disabled", "每日限量200", "N", APP.appId],
      [2, "updated", "每日限量200", "Y", APP.appId],
      [1, "created", "每日制码限量", "Y", APP.appId],
    ]);
    const listed = await erp("ruleList", { ruleScenceKey: "saleChannel", ruleSceneItemKey: "1000000002" });
    expect((listed.rules as Array<Record<string, unknown>>).map((r) => r.ruleId)).toEqual([ruleId]);
  });

  it("an update racing a disable keeps both: the rule stays disabled, with the updated name", async () => {
    for (let round = 0; round < 20; round += 1) {
      const { ruleId } = await erp("createRule", { ...createRule, ruleSceneItemKey: "1000000003" });
      const [updated, disabled] = await Promise.all([erp("ruleUpdate", { ruleId, ruleName: `第${round}轮` }), erp("ruleDisable", { ruleId })]);
      expect([updated, disabled].map((a) => `${a.returnCode} ${a.returnMsg}`)).toEqual(["00 SUCCESS", "00 SUCCESS"]);
      expect(await erp("ruleQuery", { ruleId })).toMatchObject({ rule: { version: 3, isActive: "N", ruleName: `第${round}轮` } });
    }
  });

  it("an update made against a version the rule has moved on from (expectedVersion) answers 01 and changes nothing; against the current one it applies", async () => {
    const { ruleId } = await erp("createRule", createRule);
    expect(await erp("ruleUpdate", { ruleId, expectedVersion: 1, ruleName: "第一个操作员" })).toMatchObject({ returnCode: "00", version: 2 });
    // A second operator who read version 1 too.
    expect(await erp("ruleUpdate", { ruleId, expectedVersion: 1, ruleName: "第二个操作员" })).toEqual({
      returnCode: "01",
      returnMsg: `expectedVersion: rule ${String(ruleId)} has changed since version 1; read it again`,
    });
    expect(await erp("ruleQuery", { ruleId })).toMatchObject({ rule: { version: 2, ruleName: "第一个操作员" } });
    expect(await erp("ruleUpdate", { ruleId, expectedVersion: 0, ruleName: "x" })).toMatchObject({ returnCode: "01", returnMsg: expect.stringMatching(/^expectedVersion/) });
    expect(await erp("ruleUpdate", { ruleId, expectedVersion: 2, ruleName: "第二个操作员" })).toMatchObject({ returnCode: "00", version: 3 });
  });

  it("an update is checked whole: a bad field answers 01 and changes nothing", async () => {
    const { ruleId } = await erp("createRule", createRule);
    expect(await erp("ruleUpdate", { ruleId, ruleValue: { limitWay: "Q", limitType: "W", limitItems: [] } })).toEqual({
      returnCode: "01",
      returnMsg: "ruleValue.limitItems: required: a non-empty array",
    });
    expect(await erp("ruleQuery", { ruleId })).toMatchObject({ rule: { version: 1 } });
  });

  it.each(["ruleQuery", "ruleUpdate", "ruleEnable", "ruleDisable", "ruleHistory"])("%s of an unknown ruleId answers 04", async (action) => {
    expect(await erp(action, { ruleId: "9999999999" })).toMatchObject({ returnCode: "04", returnMsg: expect.stringContaining("ruleId") });
  });

  it("a ruleId that is not an id answers 01", async () => {
    expect(await erp("ruleQuery", { ruleId: "abc" })).toMatchObject({ returnCode: "01", returnMsg: expect.stringMatching(/^ruleId: /) });
  });

  it("a failure of the voucher service answers 99", async () => {
    const failing = createRouterTransport((router) => {
      router.service(CatalogueService, { authenticateErpCall: (req) => ({ appId: req.appId }) });
      router.service(RuleService, {
        getRule() {
          throw new ConnectError("database away", Code.Unavailable);
        },
      });
    });
    const broken = await buildTestGateway({ whaleErp: { voucherTransport: failing } });
    try {
      const payload = JSON.stringify({ ruleId: "1000000001" });
      const res = await broken.inject({ method: "POST", url: "/whale/erp/ruleQuery", payload, headers: { "content-type": "application/json", ...erpCallHeaders(APP, "/whale/erp/ruleQuery", payload) } });
      expect(res.json()).toEqual({ returnCode: "99", returnMsg: "system error" });
    } finally {
      await broken.close();
    }
  });
});
