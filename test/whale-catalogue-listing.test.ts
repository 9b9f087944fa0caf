// Listing the WHALE catalogue from the back office, as an ERP pages through it: saleChannelList,
// sendChannelList, templateList, activityList (ours, not the seed's) and ruleList's filters, signed through the
// gateway on both run modes (cluster: real PostgreSQL and Redis, a NATS of its own); every answer checked
// against the contract file. Each test's records share a name prefix of its own, so other tests' rows (and
// earlier runs on the same servers) do not show.
import { generateKeyPairSync } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { modes, type TestPlatform, useTestPlatform } from "./support/platform.js";
import { erpOk, erpPost, erpTime, unique, type ErpAnswer } from "./support/whale-erp.js";
import { scenceLimitRule } from "./support/whale-rules.js";

const channelKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" }).toString("base64");

describe.each(modes)("listing the catalogue through the back office (%s)", (mode) => {
  const running = useTestPlatform(mode);
  let platform: TestPlatform;
  beforeAll(() => {
    platform = running.platform;
  });
  const ok = (action: string, body: unknown) => erpOk(platform.gatewayUrl, action, body);
  const post = (action: string, body: unknown) => erpPost(platform.gatewayUrl, action, body);
  const ids = (answer: ErpAnswer, list: string, id: string) => (answer[list] as ErpAnswer[]).map((record) => record[id]);

  const saleChannel = async (name: string) =>
    (await ok("saleChanneInsert", { saleChannelName: name, createTime: erpTime(), updateTime: erpTime(), saleChannelConfig: { channelPublicKey: channelKey } })).saleChannelId as string;
  const sendChannel = async (name: string, type = "INTERNAL") =>
    (await ok("sendChanneInsert", { sendChannelName: name, sendChannelConfig: { sendChannelType: type } })).sendChannelId as number;
  let product = Date.now() * 100;
  const template = async (name: string, sendChannelId: number) =>
    (await ok("templateInsert", { templateName: name, sendChannelId, brandId: 686, productId: ++product, ticketType: 1, sendType: 1, faceValue: "000000001000", createTime: erpTime(), updateTime: erpTime() }))
      .templateId as number;
  const activity = async (name: string, saleChannelId: string) =>
    (await ok("activityInsert", { activityName: name, ebuyActivityId: unique("E"), saleChannelId, validStart: erpTime(-1), validEnd: erpTime(30), createTime: erpTime(), updateTime: erpTime() }))
      .activityId as string;

  it("pages sale channels by id under a name prefix, and filters them by isActive", async () => {
    const prefix = unique("列表渠道");
    const made = [await saleChannel(`${prefix}-a`), await saleChannel(`${prefix}-b`), await saleChannel(`${prefix}-c`)];
    await saleChannel(unique("别的渠道"));
    await ok("saleChannelDisable", { saleChannelId: made[1], updateTime: erpTime() });

    const all = await ok("saleChannelList", { namePrefix: prefix });
    expect(ids(all, "saleChannels", "saleChannelId")).toEqual(made);
    expect((all.saleChannels as ErpAnswer[])[0]).toMatchObject({ saleChannelName: `${prefix}-a`, isActive: "Y", saleChannelConfig: { channelPublicKey: channelKey, whalePublicKey: expect.any(String) } });
    const first = await ok("saleChannelList", { namePrefix: prefix, pageSize: 2 });
    expect(ids(first, "saleChannels", "saleChannelId")).toEqual(made.slice(0, 2));
    expect(ids(await ok("saleChannelList", { namePrefix: prefix, pageSize: 2, afterSaleChannelId: made[1] }), "saleChannels", "saleChannelId")).toEqual([made[2]]);
    expect(ids(await ok("saleChannelList", { namePrefix: prefix, isActive: "N" }), "saleChannels", "saleChannelId")).toEqual([made[1]]);
    expect(ids(await ok("saleChannelList", { namePrefix: prefix, isActive: "Y" }), "saleChannels", "saleChannelId")).toEqual([made[0], made[2]]);
    // A prefix is a prefix, not a pattern: LIKE's wildcards match only themselves.
    expect(await ok("saleChannelList", { namePrefix: `${prefix.slice(0, 3)}%` })).toMatchObject({ saleChannels: [] });
  });

  it("lists send channels by type, templates of a send channel, activities of a sale channel, each with its bindings", async () => {
    const prefix = unique("列表");
    const internal = await sendChannel(`${prefix}-自制`);
    const esb = await sendChannel(`${prefix}-esb`, "ESB");
    expect(ids(await ok("sendChannelList", { namePrefix: prefix }), "sendChannels", "sendChannelId")).toEqual([internal, esb]);
    expect(ids(await ok("sendChannelList", { namePrefix: prefix, sendChannelType: "ESB" }), "sendChannels", "sendChannelId")).toEqual([esb]);

    const templates = [await template(`${prefix}-券1`, internal), await template(`${prefix}-券2`, internal), await template(`${prefix}-券3`, esb)];
    expect(ids(await ok("templateList", { sendChannelId: internal }), "templates", "templateId")).toEqual(templates.slice(0, 2));
    expect(ids(await ok("templateList", { namePrefix: prefix, afterTemplateId: templates[0] }), "templates", "templateId")).toEqual(templates.slice(1));

    const sale = await saleChannel(`${prefix}-渠道`);
    const other = await saleChannel(`${prefix}-渠道2`);
    const activities = [await activity(`${prefix}-活动1`, sale), await activity(`${prefix}-活动2`, sale)];
    await activity(`${prefix}-活动3`, other);
    await ok("activityTemplateBind", { activityId: activities[0], templateId: templates[0] });
    await ok("activityTemplateBind", { activityId: activities[0], templateId: templates[1] });
    const listed = await ok("activityList", { saleChannelId: sale });
    expect(ids(listed, "activities", "activityId")).toEqual(activities);
    expect((listed.activities as ErpAnswer[]).map((a) => a.templateIds)).toEqual([templates.slice(0, 2), []]);
    expect((await ok("templateList", { sendChannelId: internal })).templates).toMatchObject([{ activityIds: [activities[0]] }, { activityIds: [activities[0]] }]);
    await ok("activityDisable", { activityId: activities[1], updateTime: erpTime() });
    expect(ids(await ok("activityList", { saleChannelId: sale, isActive: "Y" }), "activities", "activityId")).toEqual([activities[0]]);
  });

  it("filters rules by ruleKey, isActive and ruleName prefix beside their scene", async () => {
    const item = unique("SC");
    const name = unique("列表规则");
    const created: string[] = [];
    for (const ruleName of [`${name}-日`, `${name}-周`, "其他规则"]) created.push((await ok("createRule", { ...scenceLimitRule(item), ruleName })).ruleId as string);
    await ok("ruleDisable", { ruleId: created[1] });
    expect(ids(await ok("ruleList", { ruleSceneItemKey: item, ruleNamePrefix: name }), "rules", "ruleId")).toEqual(created.slice(0, 2));
    expect(ids(await ok("ruleList", { ruleSceneItemKey: item, isActive: "Y" }), "rules", "ruleId")).toEqual([created[0], created[2]]);
    expect(ids(await ok("ruleList", { ruleSceneItemKey: item, ruleKey: "ScenceLimit", isActive: "N" }), "rules", "ruleId")).toEqual([created[1]]);
    expect(await ok("ruleList", { ruleSceneItemKey: item, ruleKey: "WeekTime" })).toMatchObject({ rules: [] });
  });

  it("refuses each filter out of its rule with 01 naming the field", async () => {
    const cases: Array<[string, string, Record<string, unknown>]> = [
      ["saleChannelList", "pageSize", { pageSize: 0 }],
      ["saleChannelList", "pageSize", { pageSize: 1001 }],
      ["saleChannelList", "namePrefix", { namePrefix: "" }],
      ["saleChannelList", "namePrefix", { namePrefix: "名".repeat(100) }],
      ["saleChannelList", "namePrefix", { namePrefix: "a\u0000" }],
      ["saleChannelList", "isActive", { isActive: "X" }],
      ["saleChannelList", "afterSaleChannelId", { afterSaleChannelId: "abc" }],
      ["sendChannelList", "sendChannelType", { sendChannelType: "FOO" }],
      ["sendChannelList", "afterSendChannelId", { afterSendChannelId: "20000001" }],
      ["templateList", "sendChannelId", { sendChannelId: -1 }],
      ["activityList", "saleChannelId", { saleChannelId: "01" }],
      ["activityList", "activityName", { activityName: "x" }],
      ["ruleList", "ruleKey", { ruleKey: "Nope" }],
      ["ruleList", "ruleNamePrefix", { ruleNamePrefix: "a\u0007" }],
      ["ruleList", "isActive", { isActive: true }],
    ];
    for (const [action, field, body] of cases) {
      const answer = await post(action, body);
      expect(answer.returnCode, `${action} ${JSON.stringify(body)}: ${answer.returnMsg}`).toBe("01");
      expect(answer.returnMsg.startsWith(`${field}:`), `${action}: ${answer.returnMsg}`).toBe(true);
    }
  });
});
