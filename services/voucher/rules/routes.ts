import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { RuleSchema, RuleService, type Rule } from "../../../proto/gen/rights/voucher/v1/rules_pb.js";
import type { RuleRecord } from "./rule-store.js";
import type { Rules } from "./rules.js";

/** The gRPC face of the rules. */
export function ruleServiceImpl(rules: Rules): ServiceImpl<typeof RuleService> {
  return {
    async createRule(req) {
      return { rule: ruleMessage(await rules.create(req.ruleJson, req.changedBy)) };
    },
    async getRule(req) {
      return { rule: ruleMessage(await rules.get(req.ruleId)) };
    },
    async listRules(req) {
      const found = await rules.list({
        sceneKey: req.ruleScenceKey || undefined,
        sceneItemKey: req.ruleSceneItemKey || undefined,
        ruleScene: req.ruleScene || undefined,
        isActive: req.isActive,
        ruleNamePrefix: req.ruleNamePrefix || undefined,
        ruleKey: req.ruleKey || undefined,
        after: req.afterRuleId || undefined,
        limit: req.limit,
      });
      return { rules: found.map(ruleMessage) };
    },
    async updateRule(req) {
      return { rule: ruleMessage(await rules.update(req.ruleId, req.changesJson, req.changedBy, req.expectedVersion)) };
    },
    async setRuleActive(req) {
      return { rule: ruleMessage(await rules.setActive(req.ruleId, req.active, req.changedBy)) };
    },
    async listRuleVersions(req) {
      return { versions: (await rules.versions(req.ruleId)).map(ruleMessage) };
    },
  };
}

function ruleMessage(record: RuleRecord): Rule {
  const { definition } = record;
  return create(RuleSchema, {
    ruleId: record.ruleId,
    version: record.version,
    ruleScenceKey: definition.ruleScenceKey,
    ruleSceneItemKey: definition.ruleSceneItemKey ?? "",
    ruleScene: definition.ruleScene,
    ruleName: definition.ruleName,
    ruleKey: definition.rule.ruleKey,
    ruleValueJson: JSON.stringify(definition.rule.value),
    startTime: definition.startTime,
    endTime: definition.endTime,
    messageTpl: definition.messageTpl,
    isActive: definition.isActive,
    isContinue: definition.isContinue,
    ruleOrder: definition.ruleOrder,
    changedBy: record.changedBy,
    change: record.change,
    changedAt: timestampFromDate(record.changedAt),
    createdAt: timestampFromDate(record.createdAt),
  });
}
