// The back office's rule actions: the seed's createRule, and the query, listing, update, enable/disable and
// history it leaves out. The schemas here state the fields' JSON types only; every rule of a field (lengths,
// formats, the ruleValue of each ruleKey) is checked by the voucher service's RuleService (one validator for
// every caller), whose message names the field and the rule broken (returnCode 01).
import { Type, type Static } from "typebox";
import { RuleService, type Rule } from "../../../proto/gen/rights/voucher/v1/rules_pb.js";
import { formatTimestamp } from "../../../services/common/clock.js";
import { LIMITS, RULE_KEYS } from "../../../services/voucher/rules/rule-definition.js";
import { erpAction, type ErpAction } from "../action.js";
import { body, stringId } from "../schemas.js";
import { activeFilter, isActiveOf } from "./listing.js";

const TAG = "rules";

const ruleFields = {
  ruleScenceKey: Type.String({ description: `场景关键字 (the seed's spelling): the kind of record limited, e.g. saleChannel, activity; at most ${LIMITS.sceneKey} letters, digits, _ . : -` }),
  ruleSceneItemKey: Type.Optional(Type.String({ description: `场景对象ID: the record's id; absent: every record of ruleScenceKey; at most ${LIMITS.sceneItemKey}` })),
  ruleScene: Type.String({ description: `规则适用场景: makeCode for code making; at most ${LIMITS.scene}` }),
  ruleName: Type.String({ description: `规则名称: at most ${LIMITS.ruleName} characters` }),
  ruleKey: Type.String({ description: `规则关键字: one of ${RULE_KEYS.join(", ")}` }),
  ruleValue: Type.Record(Type.String(), Type.Unknown(), { description: "规则内容: the fields of the ruleKey's table (README, WHALE rules and quotas)" }),
  startTime: Type.String({ description: "规则开始时间: yyyyMMddHHmmss (Asia/Shanghai)" }),
  endTime: Type.String({ description: "规则结束时间: yyyyMMddHHmmss, after startTime" }),
  messageTpl: Type.String({ description: `规则不满足提示消息: at most ${LIMITS.messageTpl} characters` }),
  isActive: Type.Optional(Type.String({ description: "Y or N; absent means Y" })),
  isContinue: Type.Optional(Type.String({ description: "规则不满足是否继续: Y or N; absent means N" })),
  ruleOrder: Type.Optional(Type.Integer({ description: "规则执行顺序: smaller runs first; absent means 0" })),
};

const ruleId = stringId("ruleId");

/** A rule as the back office reads it: createRule's fields, its id and version, and who last changed it when. */
const RuleAnswer = Type.Object(
  {
    ruleId: Type.String(),
    version: Type.Integer(),
    ruleScenceKey: Type.String(),
    ruleSceneItemKey: Type.String(),
    ruleScene: Type.String(),
    ruleName: Type.String(),
    ruleKey: Type.String(),
    ruleValue: Type.Record(Type.String(), Type.Unknown()),
    startTime: Type.String(),
    endTime: Type.String(),
    messageTpl: Type.String(),
    isActive: Type.String(),
    isContinue: Type.String(),
    ruleOrder: Type.Integer(),
    changedBy: Type.String({ description: "the app or operator that wrote this version" }),
    change: Type.String({ description: "created, updated, enabled or disabled" }),
    changeTime: Type.String({ description: "when this version was written, yyyyMMddHHmmss" }),
    createTime: Type.String(),
  },
  { additionalProperties: false },
);

function ruleAnswer(rule: Rule | undefined): Static<typeof RuleAnswer> {
  if (!rule) throw new Error("RuleService answered no rule");
  return {
    ruleId: rule.ruleId,
    version: rule.version,
    ruleScenceKey: rule.ruleScenceKey,
    ruleSceneItemKey: rule.ruleSceneItemKey,
    ruleScene: rule.ruleScene,
    ruleName: rule.ruleName,
    ruleKey: rule.ruleKey,
    ruleValue: JSON.parse(rule.ruleValueJson) as Record<string, unknown>,
    startTime: rule.startTime,
    endTime: rule.endTime,
    messageTpl: rule.messageTpl,
    isActive: rule.isActive ? "Y" : "N",
    isContinue: rule.isContinue ? "Y" : "N",
    ruleOrder: rule.ruleOrder,
    changedBy: rule.changedBy,
    change: rule.change,
    changeTime: formatTimestamp(rule.changedAt) ?? "",
    createTime: formatTimestamp(rule.createdAt) ?? "",
  };
}

export const ruleActions: readonly ErpAction[] = [
  erpAction({
    name: "createRule",
    summary: "规则创建接口: creates a rule; answers its ruleId",
    tag: TAG,
    body: body(ruleFields),
    answer: Type.Object({ ruleId: Type.String() }),
    async call({ body, appId, client, callOptions }) {
      const { rule } = await client(RuleService).createRule({ ruleJson: JSON.stringify(body), changedBy: appId }, callOptions);
      return { ruleId: ruleAnswer(rule).ruleId };
    },
  }),
  erpAction({
    name: "ruleQuery",
    summary: "规则查询: a rule's current version",
    tag: TAG,
    body: body({ ruleId }),
    answer: Type.Object({ rule: RuleAnswer }),
    async call({ body, client, callOptions }) {
      const { rule } = await client(RuleService).getRule({ ruleId: body.ruleId }, callOptions);
      return { rule: ruleAnswer(rule) };
    },
  }),
  erpAction({
    name: "ruleList",
    summary: "规则列表: the rules by ruleId, at most pageSize after afterRuleId, filtered by scene key (and item), scene, ruleKey, isActive, ruleName prefix",
    tag: TAG,
    body: body({
      ruleScenceKey: Type.Optional(Type.String({ maxLength: LIMITS.sceneKey, description: "only rules of this scene key" })),
      ruleSceneItemKey: Type.Optional(Type.String({ maxLength: LIMITS.sceneItemKey, description: "only rules of this scene item" })),
      ruleScene: Type.Optional(Type.String({ maxLength: LIMITS.scene, description: "only rules of this scene" })),
      ruleKey: Type.Optional(Type.String({ description: `only rules of this ruleKey: one of ${RULE_KEYS.join(", ")}` })),
      isActive: activeFilter("rules"),
      ruleNamePrefix: Type.Optional(Type.String({ minLength: 1, maxLength: LIMITS.ruleName, description: `only rules whose ruleName starts with this (case-sensitive); at most ${LIMITS.ruleName} characters` })),
      afterRuleId: Type.Optional(ruleId),
      pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: "1 to 1000; absent means 100" })),
    }),
    answer: Type.Object({ rules: Type.Array(RuleAnswer) }),
    async call({ body, client, callOptions }) {
      const { rules } = await client(RuleService).listRules(
        {
          ruleScenceKey: body.ruleScenceKey ?? "",
          ruleSceneItemKey: body.ruleSceneItemKey ?? "",
          ruleScene: body.ruleScene ?? "",
          ruleKey: body.ruleKey ?? "",
          isActive: isActiveOf(body.isActive),
          ruleNamePrefix: body.ruleNamePrefix ?? "",
          afterRuleId: body.afterRuleId ?? "",
          limit: body.pageSize ?? 0,
        },
        callOptions,
      );
      return { rules: rules.map(ruleAnswer) };
    },
  }),
  erpAction({
    name: "ruleUpdate",
    summary: "规则修改: the given fields changed (ruleValue whole), the others kept; a new version",
    tag: TAG,
    body: body({
      ruleId,
      // Ours, not the seed's: two operators editing one rule otherwise both succeed, the later's fields winning.
      expectedVersion: Type.Optional(
        Type.Integer({ minimum: 1, description: "the version the change was made against (ruleQuery's); the rule at another version answers 01 and changes nothing; absent: no check" }),
      ),
      ...Type.Partial(Type.Object(ruleFields)).properties,
    }),
    answer: Type.Object({ ruleId: Type.String(), version: Type.Integer() }),
    async call({ body: { ruleId, expectedVersion, ...changes }, appId, client, callOptions }) {
      const { rule } = await client(RuleService).updateRule(
        { ruleId, changesJson: JSON.stringify(changes), changedBy: appId, expectedVersion: expectedVersion ?? 0 },
        callOptions,
      );
      const answer = ruleAnswer(rule);
      return { ruleId: answer.ruleId, version: answer.version };
    },
  }),
  ...(["ruleEnable", "ruleDisable"] as const).map((name) =>
    erpAction({
      name,
      summary: name === "ruleEnable" ? "规则启用: enables a rule" : "规则停用: disables a rule (the quota gate passes it over)",
      tag: TAG,
      body: body({ ruleId }),
      answer: Type.Object({ ruleId: Type.String(), version: Type.Integer() }),
      async call({ body, appId, client, callOptions }) {
        const { rule } = await client(RuleService).setRuleActive({ ruleId: body.ruleId, active: name === "ruleEnable", changedBy: appId }, callOptions);
        const answer = ruleAnswer(rule);
        return { ruleId: answer.ruleId, version: answer.version };
      },
    }),
  ),
  erpAction({
    name: "ruleHistory",
    summary: "规则变更记录: every version of a rule, newest first (who, when, what it was)",
    tag: TAG,
    body: body({ ruleId }),
    answer: Type.Object({ versions: Type.Array(RuleAnswer) }),
    async call({ body, client, callOptions }) {
      const { versions } = await client(RuleService).listRuleVersions({ ruleId: body.ruleId }, callOptions);
      return { versions: versions.map(ruleAnswer) };
    },
  }),
];
