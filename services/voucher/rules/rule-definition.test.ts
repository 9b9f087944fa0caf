// The createRule checks as tables: a good request of each rule kind, then one change per row and the field and
// rule its failure names. fast-check for what no table covers: any JSON gets an answer, never a throw.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ruleBody, validateRule, type RuleDefinition } from "./rule-definition.js";

const base = {
  ruleScenceKey: "saleChannel",
  ruleSceneItemKey: "SC0001",
  ruleScene: "makeCode",
  ruleName: "每日制码限量",
  startTime: "20261201000000",
  endTime: "20271231235959",
  messageTpl: "超出制码限量",
};

const item = {
  limitKey: "SC0001",
  limitMaxDay: 100,
  limitMaxWeek: 0,
  limitMaxMonth: 0,
  limitMaxYear: 0,
  limitMaxTotal: 1000,
  startTime: "20261201000000",
  endTime: "20271231235959",
};

const GOOD: Record<string, object> = {
  BuyGet: {
    ...base,
    ruleKey: "BuyGet",
    ruleValue: {
      codeConfigList: '["111,222","333,444"]',
      codeType: "sku",
      checkExpression: "G0 && G1",
      returnExpression: "G1",
      limitMinAmount: 100,
      amountOff: "20.00",
      discountOff: 0.85,
      superposition: 1,
      fixedAmount: 10,
      setMealFixedAmount: "39.9",
      sort: "price/a",
      isMerchant: "N",
      faceValue: "30",
      netValue: 25.5,
      netRadio: "0.9",
      reduceValue: 5,
      cashierCode: "POS-01",
    },
  },
  ScenceLimit: { ...base, ruleKey: "ScenceLimit", ruleValue: { limitWay: "Q", limitType: "W", limitItems: [item] } },
  ActivityLimit: { ...base, ruleKey: "ActivityLimit", ruleValue: { limitWay: "A", limitType: "B", description: "黑名单活动", limitItems: [{ ...item, limitKey: "1000000006" }] } },
  CardBinLimit: {
    ...base,
    ruleKey: "CardBinLimit",
    ruleValue: { limitWay: "Q", limitType: "W", retained: "N", binPrefixNum: 6, binSuffixNum: 2, limitItems: [{ ...item, limitKey: "62215812" }] },
  },
  CardNoLimit: { ...base, ruleKey: "CardNoLimit", ruleValue: { limitWay: "Q", limitType: "B", limitItems: [{ ...item, limitKey: "6221581234567890" }] } },
  CityLimit: { ...base, ruleKey: "CityLimit", ruleValue: { limitWay: "Q", limitType: "W", limitItems: [{ ...item, limitKey: "310000" }] } },
  PosTidLimit: { ...base, ruleKey: "PosTidLimit", ruleValue: { limitWay: "A", limitType: "W", limitItems: [{ ...item, limitKey: "T0001" }] } },
  WeekTime: { ...base, ruleKey: "WeekTime", ruleValue: { weekDay: "0111110", times: "090000120000,220000235959" } },
};

/** A good request of `kind` with `change` applied: a value replaces a field, undefined removes it. */
function changed(kind: string, change: Record<string, unknown>, valueChange: Record<string, unknown> = {}, itemChange: Record<string, unknown> = {}): unknown {
  const good = structuredClone(GOOD[kind]) as Record<string, unknown> & { ruleValue: Record<string, unknown> };
  const apply = (target: Record<string, unknown>, edits: Record<string, unknown>) => {
    for (const [field, value] of Object.entries(edits)) {
      if (value === undefined) delete target[field];
      else target[field] = value;
    }
  };
  apply(good, change);
  if (typeof good.ruleValue === "object" && good.ruleValue !== null) {
    apply(good.ruleValue, valueChange);
    const items = good.ruleValue.limitItems;
    if (Array.isArray(items) && typeof items[0] === "object") apply(items[0] as Record<string, unknown>, itemChange);
  }
  return good;
}

describe("validateRule accepts", () => {
  it.each(Object.keys(GOOD))("a complete %s rule", (kind) => {
    const checked = validateRule(GOOD[kind]);
    expect(checked).toMatchObject({ ok: true, value: { rule: { ruleKey: kind } } });
  });

  it("the defaults: isActive Y, isContinue N, ruleOrder 0, and no scene item", () => {
    const checked = validateRule(changed("ScenceLimit", { ruleSceneItemKey: undefined }));
    expect(checked.ok && checked.value).toMatchObject({ isActive: true, isContinue: false, ruleOrder: 0 });
    expect(checked.ok && "ruleSceneItemKey" in checked.value).toBe(false);
  });

  it("isActive N, isContinue Y and a ruleOrder", () => {
    const checked = validateRule(changed("WeekTime", { isActive: "N", isContinue: "Y", ruleOrder: -3 }));
    expect(checked.ok && checked.value).toMatchObject({ isActive: false, isContinue: true, ruleOrder: -3 });
  });

  it("amounts kept as their exact decimal text", () => {
    const checked = validateRule(GOOD.BuyGet);
    const value = checked.ok && (checked.value as RuleDefinition).rule.value;
    expect(value).toMatchObject({ limitMinAmount: "100", amountOff: "20.00", discountOff: "0.85", netValue: "25.5", setMealFixedAmount: "39.9" });
  });

  it("a key with two items whose windows do not overlap", () => {
    const later = { ...item, startTime: "20280101000000", endTime: "20281231235959" };
    expect(validateRule(changed("ScenceLimit", {}, { limitItems: [item, later] })).ok).toBe(true);
  });

  it("the seed's weekDay example 0000000 and no times", () => {
    expect(validateRule(changed("WeekTime", {}, { weekDay: "0000000", times: undefined })).ok).toBe(true);
  });
});

// kind, change of the request, of its ruleValue, of its first limit item; the field named; the rule's words.
type Row = [string, Record<string, unknown>, Record<string, unknown>, Record<string, unknown>, string, string];

const REFUSED: Row[] = [
  // The request
  ["ScenceLimit", { ruleScenceKey: undefined }, {}, {}, "ruleScenceKey", "required"],
  ["ScenceLimit", { ruleScenceKey: "sale channel" }, {}, {}, "ruleScenceKey", "letters, digits"],
  ["ScenceLimit", { ruleScenceKey: "a".repeat(65) }, {}, {}, "ruleScenceKey", "at most 64"],
  ["ScenceLimit", { ruleSceneItemKey: 12 }, {}, {}, "ruleSceneItemKey", "non-empty string"],
  ["ScenceLimit", { ruleScene: "" }, {}, {}, "ruleScene", "required"],
  ["ScenceLimit", { ruleName: undefined }, {}, {}, "ruleName", "required"],
  ["ScenceLimit", { ruleName: "名".repeat(101) }, {}, {}, "ruleName", "at most 100"],
  ["ScenceLimit", { ruleName: "a\u0000b" }, {}, {}, "ruleName", "control"],
  ["ScenceLimit", { ruleName: "a\ud800b" }, {}, {}, "ruleName", "surrogate"],
  ["ScenceLimit", { ruleKey: undefined }, {}, {}, "ruleKey", "required"],
  ["ScenceLimit", { ruleKey: "SceneLimit" }, {}, {}, "ruleKey", "unknown rule"],
  ["ScenceLimit", { ruleKey: "buyget" }, {}, {}, "ruleKey", "unknown rule"],
  ["ScenceLimit", { ruleValue: undefined }, {}, {}, "ruleValue", "JSON object"],
  ["ScenceLimit", { ruleValue: "{}" }, {}, {}, "ruleValue", "JSON object"],
  ["ScenceLimit", { ruleValue: [] }, {}, {}, "ruleValue", "JSON object"],
  ["ScenceLimit", { startTime: undefined }, {}, {}, "startTime", "required"],
  ["ScenceLimit", { startTime: "20261301000000" }, {}, {}, "startTime", "real date"],
  ["ScenceLimit", { startTime: "2026-12-01 00:00:00" }, {}, {}, "startTime", "yyyyMMddHHmmss"],
  ["ScenceLimit", { endTime: "20261231246000" }, {}, {}, "endTime", "real date"],
  ["ScenceLimit", { endTime: "20261201000000" }, {}, {}, "endTime", "after startTime"],
  ["ScenceLimit", { messageTpl: undefined }, {}, {}, "messageTpl", "required"],
  ["ScenceLimit", { messageTpl: "x".repeat(201) }, {}, {}, "messageTpl", "at most 200"],
  ["ScenceLimit", { isActive: "y" }, {}, {}, "isActive", "one of Y, N"],
  ["ScenceLimit", { isActive: true }, {}, {}, "isActive", "one of Y, N"],
  ["ScenceLimit", { isContinue: "YES" }, {}, {}, "isContinue", "one of Y, N"],
  ["ScenceLimit", { ruleOrder: "1" }, {}, {}, "ruleOrder", "an integer"],
  ["ScenceLimit", { ruleOrder: 1.5 }, {}, {}, "ruleOrder", "an integer"],
  ["ScenceLimit", { ruleOrder: 2 ** 31 }, {}, {}, "ruleOrder", "to 2147483647"],
  ["ScenceLimit", { ruleId: "1" }, {}, {}, "ruleId", "not a field"],
  ["ScenceLimit", { "rule\u0000Id": "1" }, {}, {}, "request", "has a field that is not"],
  ["ScenceLimit", {}, { ["x".repeat(65)]: 1 }, {}, "ruleValue", "has a field that is not"],
  // BuyGet
  ["BuyGet", { ruleValue: {} }, {}, {}, "ruleValue", "at least one"],
  ["BuyGet", {}, { codeConfigList: "111,222" }, {}, "ruleValue.codeConfigList", "JSON array"],
  ["BuyGet", {}, { codeConfigList: "[]" }, {}, "ruleValue.codeConfigList", "JSON array"],
  ["BuyGet", {}, { codeConfigList: ["111,222"] }, {}, "ruleValue.codeConfigList", "non-empty string"],
  ["BuyGet", {}, { codeConfigList: '["111,,222"]' }, {}, "ruleValue.codeConfigList[0]", "separated by commas"],
  ["BuyGet", {}, { codeConfigList: '["111","333 444"]' }, {}, "ruleValue.codeConfigList[1]", "separated by commas"],
  ["BuyGet", {}, { codeConfigList: "[1,2]" }, {}, "ruleValue.codeConfigList[0]", "separated by commas"],
  ["BuyGet", {}, { codeType: "SKU" }, {}, "ruleValue.codeType", "one of sku, type, spec"],
  ["BuyGet", {}, { codeConfigList: undefined }, {}, "ruleValue.codeConfigList", "required with checkExpression"],
  ["BuyGet", {}, { checkExpression: "x".repeat(1001) }, {}, "ruleValue.checkExpression", "at most 1000"],
  ["BuyGet", {}, { limitMinAmount: 10.005 }, {}, "ruleValue.limitMinAmount", "2 places"],
  ["BuyGet", {}, { amountOff: "20.001" }, {}, "ruleValue.amountOff", "2 places"],
  ["BuyGet", {}, { amountOff: -1 }, {}, "ruleValue.amountOff", "not negative"],
  ["BuyGet", {}, { fixedAmount: "1e3" }, {}, "ruleValue.fixedAmount", "decimal"],
  ["BuyGet", {}, { fixedAmount: 1e21 }, {}, "ruleValue.fixedAmount", "decimal"],
  ["BuyGet", {}, { setMealFixedAmount: "" }, {}, "ruleValue.setMealFixedAmount", "decimal"],
  ["BuyGet", {}, { faceValue: "12345678901" }, {}, "ruleValue.faceValue", "10 integer digits"],
  ["BuyGet", {}, { netValue: true }, {}, "ruleValue.netValue", "decimal"],
  ["BuyGet", {}, { reduceValue: " 5" }, {}, "ruleValue.reduceValue", "decimal"],
  ["BuyGet", {}, { discountOff: 0 }, {}, "ruleValue.discountOff", "above 0 and at most 1"],
  ["BuyGet", {}, { discountOff: 8.5 }, {}, "ruleValue.discountOff", "above 0 and at most 1"],
  ["BuyGet", {}, { netRadio: "1.01" }, {}, "ruleValue.netRadio", "at most 1"],
  ["BuyGet", {}, { superposition: 2 }, {}, "ruleValue.superposition", "one of 0, 1"],
  ["BuyGet", {}, { superposition: "1" }, {}, "ruleValue.superposition", "one of 0, 1"],
  ["BuyGet", {}, { sort: "price" }, {}, "ruleValue.sort", "field/a"],
  ["BuyGet", {}, { sort: "price/up" }, {}, "ruleValue.sort", "field/a"],
  ["BuyGet", {}, { isMerchant: "1" }, {}, "ruleValue.isMerchant", "one of Y, N"],
  ["BuyGet", {}, { cashierCode: "POS 01" }, {}, "ruleValue.cashierCode", "letters, digits"],
  ["BuyGet", {}, { limitWay: "Q" }, {}, "ruleValue.limitWay", "not a field"],
  // Limit rules
  ["ScenceLimit", {}, { limitWay: undefined }, {}, "ruleValue.limitWay", "required: one of Q, A"],
  ["ScenceLimit", {}, { limitWay: "q" }, {}, "ruleValue.limitWay", "one of Q, A"],
  ["ScenceLimit", {}, { limitType: undefined }, {}, "ruleValue.limitType", "required: one of W, B"],
  ["CityLimit", {}, { limitType: "X" }, {}, "ruleValue.limitType", "one of W, B"],
  ["ScenceLimit", {}, { retained: "yes" }, {}, "ruleValue.retained", "one of Y, N"],
  ["ScenceLimit", {}, { description: "d".repeat(201) }, {}, "ruleValue.description", "at most 200"],
  ["ScenceLimit", {}, { binPrefixNum: 6 }, {}, "ruleValue.binPrefixNum", "only for CardBinLimit"],
  ["CardBinLimit", {}, { binPrefixNum: undefined }, {}, "ruleValue.binPrefixNum", "required for CardBinLimit"],
  ["CardBinLimit", {}, { binPrefixNum: 0 }, {}, "ruleValue.binPrefixNum", "required for CardBinLimit"],
  ["CardBinLimit", {}, { binPrefixNum: 20 }, {}, "ruleValue.binPrefixNum", "from 0 to 19"],
  ["CardBinLimit", {}, { binPrefixNum: "6" }, {}, "ruleValue.binPrefixNum", "an integer"],
  ["CardBinLimit", {}, { binSuffixNum: 14 }, {}, "ruleValue.binSuffixNum", "at most 19"],
  ["CardBinLimit", {}, {}, { limitKey: "622158" }, "ruleValue.limitItems[0].limitKey", "a bin of 8 digits"],
  ["CardBinLimit", {}, {}, { limitKey: "6221581X" }, "ruleValue.limitItems[0].limitKey", "a bin of 8 digits"],
  ["CardNoLimit", {}, {}, { limitKey: "62215812345" }, "ruleValue.limitItems[0].limitKey", "12 to 19 digits"],
  ["ScenceLimit", {}, { limitItems: undefined }, {}, "ruleValue.limitItems", "non-empty array"],
  ["ScenceLimit", {}, { limitItems: [] }, {}, "ruleValue.limitItems", "non-empty array"],
  ["ScenceLimit", {}, { limitItems: Array.from({ length: 1001 }, (_, i) => ({ ...item, limitKey: `K${i}` })) }, {}, "ruleValue.limitItems", "at most 1000"],
  ["ScenceLimit", {}, { limitItems: ["SC0001"] }, {}, "ruleValue.limitItems[0]", "JSON object"],
  ["ScenceLimit", {}, { limitItems: [item, item] }, {}, "ruleValue.limitItems[1].limitKey", "overlaps (limitItems[0])"],
  ["ScenceLimit", {}, {}, { limitKey: undefined }, "ruleValue.limitItems[0].limitKey", "required"],
  ["ScenceLimit", {}, {}, { limitKey: "k".repeat(65) }, "ruleValue.limitItems[0].limitKey", "at most 64"],
  ["ScenceLimit", {}, {}, { limitMaxDay: undefined }, "ruleValue.limitItems[0].limitMaxDay", "required"],
  ["ScenceLimit", {}, {}, { limitMaxWeek: -1 }, "ruleValue.limitItems[0].limitMaxWeek", "from 0"],
  ["ScenceLimit", {}, {}, { limitMaxMonth: 1.5 }, "ruleValue.limitItems[0].limitMaxMonth", "an integer"],
  ["ScenceLimit", {}, {}, { limitMaxYear: "10" }, "ruleValue.limitItems[0].limitMaxYear", "an integer"],
  ["ScenceLimit", {}, {}, { limitMaxTotal: 2 ** 53 }, "ruleValue.limitItems[0].limitMaxTotal", "an integer"],
  ["ScenceLimit", {}, {}, { startTime: undefined }, "ruleValue.limitItems[0].startTime", "required"],
  ["ScenceLimit", {}, {}, { startTime: "20260230000000" }, "ruleValue.limitItems[0].startTime", "real date"],
  ["ScenceLimit", {}, {}, { endTime: "20261130000000" }, "ruleValue.limitItems[0].endTime", "after startTime"],
  ["ScenceLimit", {}, {}, { limitMax: 1 }, "ruleValue.limitItems[0].limitMax", "not a field"],
  // WeekTime
  ["WeekTime", {}, { weekDay: undefined }, {}, "ruleValue.weekDay", "seven 0/1"],
  ["WeekTime", {}, { weekDay: "011111" }, {}, "ruleValue.weekDay", "seven 0/1"],
  ["WeekTime", {}, { weekDay: "01111102" }, {}, "ruleValue.weekDay", "seven 0/1"],
  ["WeekTime", {}, { weekDay: 111110 }, {}, "ruleValue.weekDay", "seven 0/1"],
  ["WeekTime", {}, { times: "0900001200" }, {}, "ruleValue.times", "12-digit"],
  ["WeekTime", {}, { times: "090000120000;220000235959" }, {}, "ruleValue.times", "12-digit"],
  ["WeekTime", {}, { times: "090000120000," }, {}, "ruleValue.times", "12-digit"],
  ["WeekTime", {}, { times: "090000120000,240000250000" }, {}, "ruleValue.times[1]", "HHmmss"],
  ["WeekTime", {}, { times: "096000120000" }, {}, "ruleValue.times[0]", "HHmmss"],
  ["WeekTime", {}, { times: "120000090000" }, {}, "ruleValue.times[0]", "end after it starts"],
  ["WeekTime", {}, { times: Array.from({ length: 49 }, () => "090000100000").join(",") }, {}, "ruleValue.times", "at most 48"],
  ["WeekTime", {}, { limitItems: [] }, {}, "ruleValue.limitItems", "not a field"],
];

describe("validateRule refuses, naming the field and the rule", () => {
  it.each(REFUSED)("%s %o %o %o: %s", (kind, change, valueChange, itemChange, field, words) => {
    const checked = validateRule(changed(kind, change, valueChange, itemChange));
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.field).toBe(field);
    expect(checked.message.startsWith(`${field}: `)).toBe(true);
    expect(checked.message).toContain(words);
  });

  it("a body that is not an object", () => {
    for (const body of [null, "x", 1, []]) expect(validateRule(body)).toMatchObject({ ok: false, field: "request" });
  });
});

describe("validateRule properties", () => {
  it("answers any JSON with a verdict, never a throw", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        const checked = validateRule(body);
        expect(typeof checked.ok).toBe("boolean");
      }),
    );
  });

  it("answers any change of a good rule's fields with a verdict that names a field of the request", () => {
    const kinds = Object.keys(GOOD);
    fc.assert(
      fc.property(fc.constantFrom(...kinds), fc.dictionary(fc.constantFrom("limitWay", "limitType", "weekDay", "times", "amountOff", "binPrefixNum"), fc.jsonValue()), (kind, edits) => {
        const checked = validateRule(changed(kind, {}, edits));
        if (!checked.ok) expect(checked.message.startsWith(`${checked.field}: `)).toBe(true);
      }),
    );
  });

  it("takes an amount with at most 2 places and refuses one with more", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 9_999_999_999 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 1, max: 9 }), (whole, cents, extra) => {
        const exact = `${whole}.${String(cents).padStart(2, "0")}`;
        expect(validateRule(changed("BuyGet", {}, { amountOff: exact })).ok).toBe(true);
        const third = validateRule(changed("BuyGet", {}, { amountOff: `${exact}${extra}` }));
        expect(third).toMatchObject({ ok: false, field: "ruleValue.amountOff" });
      }),
    );
  });

  it("takes exactly the weekDay strings of seven 0/1 characters", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("0", "1", "2", "a"), maxLength: 9 }), (weekDay) => {
        const good = /^[01]{7}$/.test(weekDay);
        expect(validateRule(changed("WeekTime", {}, { weekDay })).ok).toBe(good);
      }),
    );
  });

  it("takes limit maxima of any non-negative safe integer, 0 meaning unlimited", () => {
    fc.assert(
      fc.property(fc.constantFrom("limitMaxDay", "limitMaxWeek", "limitMaxMonth", "limitMaxYear", "limitMaxTotal"), fc.maxSafeInteger(), (field, n) => {
        expect(validateRule(changed("ScenceLimit", {}, {}, { [field]: n })).ok).toBe(n >= 0);
      }),
    );
  });
});

describe("ruleBody", () => {
  it.each(Object.keys(GOOD))("gives back a %s rule that checks to the same definition", (kind) => {
    const first = validateRule(GOOD[kind]);
    if (!first.ok) throw new Error(first.message);
    expect(validateRule(ruleBody(first.value))).toEqual(first);
  });
});
