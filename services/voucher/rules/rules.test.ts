// RuleService through its Connect client on the real store (PostgreSQL when DATABASE_URL is set): a rule's life
// (create, read, list, update, disable, enable) as versions, and the errors a caller is answered.
import { fileURLToPath } from "node:url";
import { createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import type { Clock } from "../../common/clock.js";
import { ConnectError, reasonOf } from "../../common/errors.js";
import { createLogger } from "../../common/logger.js";
import { migrate } from "../../common/migrate.js";
import { VoucherError, VoucherErrorSchema } from "../../../proto/gen/rights/voucher/v1/errors_pb.js";
import { RuleService } from "../../../proto/gen/rights/voucher/v1/rules_pb.js";
import { VOUCHER_SCHEMA } from "../voucher-store.js";
import { RuleStore } from "./rule-store.js";
import { Rules } from "./rules.js";
import { ruleServiceImpl } from "./routes.js";
import { scenceLimitRule } from "../../../test/support/whale-rules.js";

const logger = createLogger("rules-test", "silent");
let now = new Date("2026-12-01T10:00:00+08:00");
const clock: Clock = { now: () => now };

let t: TestDatabase;
let client: Client<typeof RuleService>;

beforeAll(async () => {
  t = await testDatabase();
  await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)), logger });
  const rules = new Rules({ store: new RuleStore(t.db), clock });
  client = createClient(RuleService, createRouterTransport((router) => router.service(RuleService, ruleServiceImpl(rules))));
});

afterAll(() => t.drop());

const createRule = scenceLimitRule("SC0001");

async function refusal(call: Promise<unknown>): Promise<{ reason: VoucherError | undefined; message: string }> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!err) throw new Error("the call succeeded");
  return { reason: reasonOf(err, VoucherErrorSchema), message: ConnectError.from(err).rawMessage };
}

describe("a rule's life", () => {
  it("is created with the defaults, read back, listed by its scene item, updated and toggled as versions", async () => {
    const { rule } = await client.createRule({ ruleJson: JSON.stringify(createRule), changedBy: "erp-sandbox" });
    expect(rule).toMatchObject({ version: 1, ruleKey: "ScenceLimit", isActive: true, isContinue: false, ruleOrder: 0, changedBy: "erp-sandbox", change: "created" });
    const ruleId = rule!.ruleId;
    expect(ruleId).toMatch(/^\d{10}$/);
    expect(JSON.parse(rule!.ruleValueJson)).toEqual(createRule.ruleValue);

    expect((await client.getRule({ ruleId })).rule).toEqual(rule);
    const listed = await client.listRules({ ruleScenceKey: "saleChannel", ruleSceneItemKey: "SC0001" });
    expect(listed.rules.map((r) => r.ruleId)).toContain(ruleId);
    expect((await client.listRules({ ruleScenceKey: "saleChannel", ruleSceneItemKey: "SC9999" })).rules).toEqual([]);

    now = new Date("2026-12-02T09:00:00+08:00");
    const { rule: updated } = await client.updateRule({ ruleId, changesJson: JSON.stringify({ ruleName: "每日限量200", ruleOrder: 2 }), changedBy: "operator-li", expectedVersion: 1 });
    expect(updated).toMatchObject({ version: 2, ruleName: "每日限量200", ruleOrder: 2, ruleKey: "ScenceLimit", change: "updated", changedBy: "operator-li" });

    const { rule: disabled } = await client.setRuleActive({ ruleId, active: false, changedBy: "operator-li" });
    expect(disabled).toMatchObject({ version: 3, isActive: false, change: "disabled" });
    // Already disabled: no new version.
    expect((await client.setRuleActive({ ruleId, active: false, changedBy: "operator-li" })).rule?.version).toBe(3);
    const { rule: enabled } = await client.setRuleActive({ ruleId, active: true, changedBy: "erp-sandbox" });
    expect(enabled).toMatchObject({ version: 4, isActive: true, change: "enabled" });

    const { versions } = await client.listRuleVersions({ ruleId });
    expect(versions.map((v) => [v.version, v.change, v.ruleName, v.isActive])).toEqual([
      [4, "enabled", "每日限量200", true],
      [3, "disabled", "每日限量200", false],
      [2, "updated", "每日限量200", true],
      [1, "created", "每日制码限量", true],
    ]);
    expect(versions[1]!.changedAt).toEqual(versions[0]!.changedAt);
    expect(versions.at(-1)!.changedAt!.seconds).toBeLessThan(versions[0]!.changedAt!.seconds);
  });

  it("pages the listing by rule id", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      ids.push((await client.createRule({ ruleJson: JSON.stringify({ ...createRule, ruleScenceKey: "paged" }), changedBy: "erp" })).rule!.ruleId);
    }
    const first = await client.listRules({ ruleScenceKey: "paged", limit: 2 });
    expect(first.rules.map((r) => r.ruleId)).toEqual(ids.slice(0, 2));
    expect((await client.listRules({ ruleScenceKey: "paged", afterRuleId: ids[1]! })).rules.map((r) => r.ruleId)).toEqual([ids[2]]);
  });

  it("an update that changes the rule kind must bring a value of that kind, checked whole", async () => {
    const { rule } = await client.createRule({ ruleJson: JSON.stringify(createRule), changedBy: "erp" });
    const wrong = await refusal(client.updateRule({ ruleId: rule!.ruleId, changesJson: JSON.stringify({ ruleKey: "WeekTime" }), changedBy: "erp" }));
    expect(wrong).toEqual({ reason: VoucherError.PARAMETER_INVALID, message: "ruleValue.limitWay: not a field of this object" });
    const { rule: weekly } = await client.updateRule({
      ruleId: rule!.ruleId,
      changesJson: JSON.stringify({ ruleKey: "WeekTime", ruleValue: { weekDay: "0111110" }, ruleSceneItemKey: null }),
      changedBy: "erp",
    });
    expect(weekly).toMatchObject({ version: 2, ruleKey: "WeekTime", ruleSceneItemKey: "", ruleValueJson: '{"weekDay":"0111110"}' });
  });
});

describe("refusals", () => {
  it.each([
    ["a broken field, by its path", { ...createRule, ruleValue: { ...createRule.ruleValue, limitWay: "X" } }, "ruleValue.limitWay: one of Q, A"],
    ["an unknown ruleKey", { ...createRule, ruleKey: "Bogus" }, "ruleKey: unknown rule; one of BuyGet, ScenceLimit, ActivityLimit, CardBinLimit, CardNoLimit, CityLimit, PosTidLimit, WeekTime"],
    ["a NUL in a name", { ...createRule, ruleName: "a\u0000" }, "ruleName: no control characters"],
  ])("%s: PARAMETER_INVALID", async (_, body, message) => {
    expect(await refusal(client.createRule({ ruleJson: JSON.stringify(body), changedBy: "erp" }))).toEqual({ reason: VoucherError.PARAMETER_INVALID, message });
  });

  it("a body that is not a JSON object", async () => {
    for (const ruleJson of ["", "[]", "nope", "null"]) {
      expect(await refusal(client.createRule({ ruleJson, changedBy: "erp" }))).toMatchObject({ reason: VoucherError.PARAMETER_INVALID });
    }
  });

  it("no author", async () => {
    expect(await refusal(client.createRule({ ruleJson: JSON.stringify(createRule), changedBy: "" }))).toMatchObject({ reason: VoucherError.PARAMETER_INVALID, message: expect.stringContaining("changedBy") });
  });

  it("an unknown rule id, whatever its form", async () => {
    for (const ruleId of ["9999999999", "", "1; DROP TABLE x", "x".repeat(100)]) {
      expect((await refusal(client.getRule({ ruleId }))).reason).toBe(VoucherError.REFERENCE_INVALID);
      expect((await refusal(client.updateRule({ ruleId, changesJson: "{}", changedBy: "erp" }))).reason).toBe(VoucherError.REFERENCE_INVALID);
      expect((await refusal(client.setRuleActive({ ruleId, active: false, changedBy: "erp" }))).reason).toBe(VoucherError.REFERENCE_INVALID);
      expect((await refusal(client.listRuleVersions({ ruleId }))).reason).toBe(VoucherError.REFERENCE_INVALID);
    }
  });

  it("an update based on an old version", async () => {
    const { rule } = await client.createRule({ ruleJson: JSON.stringify(createRule), changedBy: "erp" });
    await client.updateRule({ ruleId: rule!.ruleId, changesJson: JSON.stringify({ ruleName: "b" }), changedBy: "erp", expectedVersion: 1 });
    const stale = await refusal(client.updateRule({ ruleId: rule!.ruleId, changesJson: JSON.stringify({ ruleName: "c" }), changedBy: "erp", expectedVersion: 1 }));
    expect(stale.reason).toBe(VoucherError.RULE_VERSION_CONFLICT);
    expect((await client.getRule({ ruleId: rule!.ruleId })).rule?.ruleName).toBe("b");
  });

  it("a listing limit out of range, or a filter PostgreSQL would refuse", async () => {
    expect((await refusal(client.listRules({ limit: 1001 }))).reason).toBe(VoucherError.PARAMETER_INVALID);
    expect(await refusal(client.listRules({ ruleScenceKey: "a\u0000b" }))).toEqual({ reason: VoucherError.PARAMETER_INVALID, message: "ruleScenceKey: letters, digits, _ . : - only, at most 64" });
  });
});
