// WHALE rules end to end, as the ERP manages them: signed posts through the gateway to the voucher service's
// RuleService, authenticated as the embedded erp-sandbox app, on both run modes (cluster: real PostgreSQL and
// Redis, a NATS of its own), every answer checked against the contract file.
import { beforeAll, describe, expect, it } from "vitest";
import { modes, type TestPlatform, useTestPlatform } from "./support/platform.js";
import { erpPost, erpTime, unique, SANDBOX_ERP_APP, type ErpAnswer } from "./support/whale-erp.js";
import { scenceLimitRule } from "./support/whale-rules.js";

describe.each(modes)("WHALE rules through the back office (%s)", (mode) => {
  const running = useTestPlatform(mode);
  let platform: TestPlatform;
  const post = (action: string, body: unknown, options?: Parameters<typeof erpPost>[3]) => erpPost(platform.gatewayUrl, action, body, options);

  beforeAll(() => {
    platform = running.platform;
  });

  const limitRule = (sceneItem: string) => scenceLimitRule(sceneItem, { limitMaxTotal: 5000, startTime: erpTime(), endTime: erpTime(365) });

  it("creates, reads, updates, disables and lists a rule's versions, each by the calling app", async () => {
    const item = unique("SC");
    const body = limitRule(item);
    const created = await post("createRule", body);
    expect(created).toMatchObject({ returnCode: "00", ruleId: expect.stringMatching(/^\d{10}$/) });
    const ruleId = created.ruleId as string;

    const queried = await post("ruleQuery", { ruleId });
    expect(queried.rule).toMatchObject({ ...body, ruleId, version: 1, isActive: "Y", isContinue: "N", ruleOrder: 0, changedBy: SANDBOX_ERP_APP.appId });

    expect(await post("ruleUpdate", { ruleId, ruleOrder: 5, isContinue: "Y" })).toMatchObject({ returnCode: "00", ruleId, version: 2 });
    expect(await post("ruleDisable", { ruleId })).toMatchObject({ returnCode: "00", version: 3 });
    const history = (await post("ruleHistory", { ruleId })).versions as ErpAnswer[];
    expect(history.map((v) => [v.version, v.change, v.ruleOrder, v.isActive])).toEqual([
      [3, "disabled", 5, "N"],
      [2, "updated", 5, "Y"],
      [1, "created", 0, "Y"],
    ]);
    const listed = (await post("ruleList", { ruleScenceKey: "saleChannel", ruleSceneItemKey: item })).rules as ErpAnswer[];
    expect(listed.map((r) => [r.ruleId, r.version])).toEqual([[ruleId, 3]]);
  });

  it("answers 01 with the field and the rule for a broken ruleValue of each kind, and stores nothing", async () => {
    const item = unique("SC");
    const good = limitRule(item);
    const cases: Array<[object, string]> = [
      [{ ...good, ruleKey: "BuyGet", ruleValue: { codeConfigList: "111,222" } }, 'ruleValue.codeConfigList: a JSON array of groups, each codes separated by commas, e.g. ["111,222","333,444"]'],
      [{ ...good, ruleValue: { ...good.ruleValue, limitWay: "X" } }, "ruleValue.limitWay: one of Q, A"],
      [{ ...good, ruleKey: "WeekTime", ruleValue: { weekDay: "01111100" } }, "ruleValue.weekDay: seven 0/1 characters, Sunday first (1: usable), e.g. 0111110"],
      [{ ...good, ruleKey: "Unknown" }, "ruleKey: unknown rule; one of BuyGet, ScenceLimit, ActivityLimit, CardBinLimit, CardNoLimit, CityLimit, PosTidLimit, WeekTime"],
      [{ ...good, ruleName: "a\u0000b" }, "ruleName: no control characters"],
    ];
    for (const [body, returnMsg] of cases) expect(await post("createRule", body)).toEqual({ returnCode: "01", returnMsg });
    expect(await post("ruleList", { ruleSceneItemKey: item })).toMatchObject({ returnCode: "00", rules: [] });
  });

  it("answers 04 for an unknown rule and 02 for a wrong signature", async () => {
    expect(await post("ruleQuery", { ruleId: "9999999999" })).toMatchObject({ returnCode: "04" });
    expect(await post("createRule", limitRule(unique("SC")), { app: { ...SANDBOX_ERP_APP, secret: "not-the-secret" } })).toMatchObject({ returnCode: "02" });
  });
});
