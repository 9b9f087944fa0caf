// The rules' use cases: a request's JSON checked by the pure rules of rule-definition.ts, then stored as a new
// version. Every failure is a voucher domain error the ERP plugin answers in its own codes.
import type { Clock } from "../../common/clock.js";
import { voucherError, VoucherError } from "../errors.js";
import { optionalText } from "../catalogue/fields.js";
import { LIMITS, RULE_KEYS, ruleBody, validateRule, type RuleDefinition } from "./rule-definition.js";
import type { RuleFilter, RuleRecord, RuleStore } from "./rule-store.js";

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
const RULE_ID = /^\d{1,18}$/;

export class Rules {
  constructor(private readonly deps: { store: RuleStore; clock: Clock }) {}

  async create(ruleJson: string, changedBy: string): Promise<RuleRecord> {
    const definition = checked(parseObject(ruleJson, "request"));
    return this.deps.store.create(definition, author(changedBy), this.deps.clock.now());
  }

  async get(ruleId: string): Promise<RuleRecord> {
    const rule = RULE_ID.test(ruleId) ? await this.deps.store.get(ruleId) : undefined;
    if (!rule) throw voucherError(VoucherError.REFERENCE_INVALID, "ruleId: no such rule");
    return rule;
  }

  async list(filter: Omit<RuleFilter, "limit"> & { limit: number }): Promise<RuleRecord[]> {
    if (!Number.isInteger(filter.limit) || filter.limit < 0 || filter.limit > MAX_LIMIT) {
      throw voucherError(VoucherError.PARAMETER_INVALID, `limit: 1 to ${MAX_LIMIT} (0: ${DEFAULT_LIMIT})`);
    }
    if (filter.after && !RULE_ID.test(filter.after)) throw voucherError(VoucherError.PARAMETER_INVALID, "afterRuleId: a rule id");
    for (const [field, value] of [["ruleScenceKey", filter.sceneKey], ["ruleSceneItemKey", filter.sceneItemKey], ["ruleScene", filter.ruleScene]] as const) {
      if (value !== undefined && !/^[A-Za-z0-9_.:-]{1,64}$/.test(value)) throw voucherError(VoucherError.PARAMETER_INVALID, `${field}: letters, digits, _ . : - only, at most 64`);
    }
    if (filter.ruleKey !== undefined && !(RULE_KEYS as readonly string[]).includes(filter.ruleKey)) {
      throw voucherError(VoucherError.PARAMETER_INVALID, `ruleKey: one of ${RULE_KEYS.join(", ")}`);
    }
    optionalText("ruleNamePrefix", filter.ruleNamePrefix, LIMITS.ruleName);
    return this.deps.store.list({ ...filter, limit: filter.limit || DEFAULT_LIMIT });
  }

  /** The fields of `changesJson` over the current version, checked whole, as a new version. */
  async update(ruleId: string, changesJson: string, changedBy: string, expectedVersion = 0): Promise<RuleRecord> {
    const changes = parseObject(changesJson, "request");
    checkRuleIdForm(ruleId);
    const updated = await this.deps.store.update(ruleId, (current) => checked({ ...ruleBody(current), ...changes }), author(changedBy), this.deps.clock.now(), expectedVersion);
    if (updated === "not-found") throw voucherError(VoucherError.REFERENCE_INVALID, "ruleId: no such rule");
    if (updated === "version-conflict") {
      throw voucherError(VoucherError.RULE_VERSION_CONFLICT, `rule ${ruleId} has changed since version ${expectedVersion}; read it again`);
    }
    return updated;
  }

  async setActive(ruleId: string, active: boolean, changedBy: string): Promise<RuleRecord> {
    checkRuleIdForm(ruleId);
    const rule = await this.deps.store.setActive(ruleId, active, author(changedBy), this.deps.clock.now());
    if (rule === "not-found") throw voucherError(VoucherError.REFERENCE_INVALID, "ruleId: no such rule");
    return rule;
  }

  async versions(ruleId: string): Promise<RuleRecord[]> {
    await this.get(ruleId);
    return this.deps.store.versions(ruleId);
  }
}

/** A rule id's form, checked before a statement would cast it; whether the rule exists, the store's write answers. */
function checkRuleIdForm(ruleId: string): void {
  if (!RULE_ID.test(ruleId)) throw voucherError(VoucherError.REFERENCE_INVALID, "ruleId: no such rule");
}

function checked(body: unknown): RuleDefinition {
  const result = validateRule(body);
  if (!result.ok) throw voucherError(VoucherError.PARAMETER_INVALID, result.message);
  return result.value;
}

function parseObject(json: string, field: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw voucherError(VoucherError.PARAMETER_INVALID, `${field}: must be a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

function author(changedBy: string): string {
  if (!/^[\p{L}\p{N}_.:@-]{1,64}$/u.test(changedBy)) {
    throw voucherError(VoucherError.PARAMETER_INVALID, "changedBy: 1 to 64 letters, digits or _ . : @ -");
  }
  return changedBy;
}
