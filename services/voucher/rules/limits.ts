// What one limit rule says of one call: refused (and by which field), or the period counters it charges. Pure;
// the quota gate (quota-gate.ts) loads the rules and applies the charges atomically.
import { formatBusinessTime } from "../../common/clock.js";
import type { QuotaRequest } from "./quota-gate.js";
import { MAXIMA, type LimitItem, type LimitRuleKey, type LimitValue } from "./rule-definition.js";

export interface LimitRule {
  ruleId: string;
  ruleKey: LimitRuleKey;
  value: LimitValue;
}

/** One counter a call raises: `amount` more on (rule, limitKey, period), at most `max`. */
export interface QuotaCharge {
  ruleId: string;
  limitKey: string;
  period: string;
  amount: number;
  max: number;
  /** The ruleValue path of the maximum, named when it is reached. */
  field: string;
}

export type LimitVerdict = { ok: true; charges: QuotaCharge[] } | { ok: false; field: string };

const DAY_MS = 86_400_000;

/** The key a rule's limitItems are matched against, from what the call presents. */
export function presentedKey(rule: LimitRule, keys: QuotaRequest["keys"]): string | undefined {
  const presented = keys[rule.ruleKey];
  if (presented === undefined || rule.ruleKey !== "CardBinLimit") return presented;
  const prefix = rule.value.binPrefixNum ?? 0;
  const suffix = rule.value.binSuffixNum ?? 0;
  if (!/^\d+$/.test(presented) || presented.length < prefix + suffix) return undefined;
  return presented.slice(0, prefix) + (suffix > 0 ? presented.slice(-suffix) : "");
}

/**
 * W (white list): the call must present a key with an item in force at `at`, and every non-zero maximum of that
 * item is charged (Q: the code count; A: the amount in fen). B (black list): a key with an item in force is
 * refused; any other passes uncharged.
 */
export function limitVerdict(rule: LimitRule, request: Pick<QuotaRequest, "keys" | "count" | "amountFen" | "at">): LimitVerdict {
  const key = presentedKey(rule, request.keys);
  const now = formatBusinessTime(request.at);
  const index = rule.value.limitItems.findIndex((item) => item.limitKey === key && item.startTime <= now && now <= item.endTime);
  if (rule.value.limitType === "B") return index < 0 ? { ok: true, charges: [] } : { ok: false, field: `limitItems[${index}].limitKey` };
  if (index < 0) return { ok: false, field: "limitItems" };
  const item = rule.value.limitItems[index]!;
  const amount = rule.value.limitWay === "Q" ? request.count : request.amountFen;
  const charges: QuotaCharge[] = [];
  for (const { field, period } of periodsOf(request.at, item)) {
    const max = item[field];
    if (max === 0) continue; // 0: unlimited
    const path = `limitItems[${index}].${field}`;
    if (amount > max) return { ok: false, field: path };
    charges.push({ ruleId: rule.ruleId, limitKey: item.limitKey, period, amount, max, field: path });
  }
  return { ok: true, charges };
}

/**
 * The calendar periods of `at` in Asia/Shanghai, one per maximum: the day, the week (Monday to Sunday, named
 * by its Monday), the month, the year, and the item's whole window (named by its start, so a new window of the
 * same key counts afresh).
 */
export function periodsOf(at: Date, item: Pick<LimitItem, "startTime">): Array<{ field: (typeof MAXIMA)[number]; period: string }> {
  const day = formatBusinessTime(at).slice(0, 8);
  const shanghai = new Date(at.getTime() + 8 * 3_600_000);
  const sinceMonday = (shanghai.getUTCDay() + 6) % 7;
  const monday = formatBusinessTime(new Date(at.getTime() - sinceMonday * DAY_MS)).slice(0, 8);
  return [
    { field: "limitMaxDay", period: `D${day}` },
    { field: "limitMaxWeek", period: `W${monday}` },
    { field: "limitMaxMonth", period: `M${day.slice(0, 6)}` },
    { field: "limitMaxYear", period: `Y${day.slice(0, 4)}` },
    { field: "limitMaxTotal", period: `T${item.startTime}` },
  ];
}
