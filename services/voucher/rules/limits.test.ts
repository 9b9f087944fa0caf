// The limit verdicts as tables: the periods an instant falls in (Asia/Shanghai), the key a rule matches, and
// what a W or B rule says of a call.
import { describe, expect, it } from "vitest";
import { limitVerdict, periodsOf, presentedKey, type LimitRule } from "./limits.js";
import type { LimitValue } from "./rule-definition.js";

const item = { limitKey: "K", limitMaxDay: 0, limitMaxWeek: 0, limitMaxMonth: 0, limitMaxYear: 0, limitMaxTotal: 0, startTime: "20260101000000", endTime: "20261231235959" };

function rule(value: Partial<LimitValue> & { ruleKey?: LimitRule["ruleKey"] } = {}): LimitRule {
  const { ruleKey = "ScenceLimit", ...rest } = value;
  return { ruleId: "1000000001", ruleKey, value: { limitWay: "Q", limitType: "W", limitItems: [item], ...rest } };
}

describe("periodsOf", () => {
  it.each([
    // instant, day, week (its Monday), month, year
    ["2026-12-01T00:00:00+08:00", "D20261201", "W20261130", "M202612", "Y2026"],
    ["2026-11-30T16:00:00Z", "D20261201", "W20261130", "M202612", "Y2026"],
    ["2026-11-30T15:59:59Z", "D20261130", "W20261130", "M202611", "Y2026"],
    ["2026-12-06T23:59:59+08:00", "D20261206", "W20261130", "M202612", "Y2026"],
    ["2026-12-07T00:00:00+08:00", "D20261207", "W20261207", "M202612", "Y2026"],
    ["2027-01-01T00:00:00+08:00", "D20270101", "W20261228", "M202701", "Y2027"],
    ["2028-02-29T12:00:00+08:00", "D20280229", "W20280228", "M202802", "Y2028"],
  ])("%s is %s, %s, %s, %s", (at, day, week, month, year) => {
    expect(periodsOf(new Date(at), item).map((p) => p.period)).toEqual([day, week, month, year, "T20260101000000"]);
  });
});

describe("presentedKey", () => {
  it.each([
    ["ScenceLimit", {}, { ScenceLimit: "SC1" }, "SC1"],
    ["ActivityLimit", {}, { ScenceLimit: "SC1" }, undefined],
    ["CardBinLimit", { binPrefixNum: 6 }, { CardBinLimit: "6221581234567890" }, "622158"],
    ["CardBinLimit", { binPrefixNum: 6, binSuffixNum: 4 }, { CardBinLimit: "6221581234567890" }, "6221587890"],
    ["CardBinLimit", { binPrefixNum: 6, binSuffixNum: 4 }, { CardBinLimit: "62215" }, undefined],
    ["CardBinLimit", { binPrefixNum: 6 }, { CardBinLimit: "62215x1234567890" }, undefined],
  ] as const)("%s %o of %o is %s", (ruleKey, value, keys, expected) => {
    expect(presentedKey(rule({ ruleKey, ...value }), keys)).toBe(expected);
  });
});

describe("limitVerdict", () => {
  const at = new Date("2026-06-01T10:00:00+08:00");
  const call = { keys: { ScenceLimit: "K" }, count: 3, amountFen: 5000, at };

  it.each([
    ["W, a listed key, no maxima: passes uncharged", rule(), call, { ok: true, charges: [] }],
    ["W, an unlisted key", rule(), { ...call, keys: { ScenceLimit: "X" } }, { ok: false, field: "limitItems" }],
    ["W, no key", rule(), { ...call, keys: {} }, { ok: false, field: "limitItems" }],
    ["W, the item out of its window", rule({ limitItems: [{ ...item, endTime: "20260531235959" }] }), call, { ok: false, field: "limitItems" }],
    ["B, a listed key", rule({ limitType: "B" }), call, { ok: false, field: "limitItems[0].limitKey" }],
    ["B, an unlisted key", rule({ limitType: "B" }), { ...call, keys: { ScenceLimit: "X" } }, { ok: true, charges: [] }],
    ["W, more than a maximum at once", rule({ limitItems: [{ ...item, limitMaxWeek: 2 }] }), call, { ok: false, field: "limitItems[0].limitMaxWeek" }],
  ])("%s", (_, limit, request, verdict) => {
    expect(limitVerdict(limit, request)).toEqual(verdict);
  });

  it("charges Q rules the count and A rules the amount, on each non-zero maximum", () => {
    const maxima = { ...item, limitMaxDay: 10_000, limitMaxTotal: 20_000 };
    const q = limitVerdict(rule({ limitItems: [maxima] }), call);
    const a = limitVerdict(rule({ limitWay: "A", limitItems: [maxima] }), call);
    expect(q).toEqual({
      ok: true,
      charges: [
        { ruleId: "1000000001", limitKey: "K", period: "D20260601", amount: 3, max: 10_000, field: "limitItems[0].limitMaxDay" },
        { ruleId: "1000000001", limitKey: "K", period: "T20260101000000", amount: 3, max: 20_000, field: "limitItems[0].limitMaxTotal" },
      ],
    });
    expect(a.ok && a.charges.map((c) => c.amount)).toEqual([5000, 5000]);
  });
});
