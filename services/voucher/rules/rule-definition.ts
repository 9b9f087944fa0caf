// A rule as the ERP's createRule gives it (seed 002, 规则创建接口), checked field by field. Pure: no I/O, so the
// tables of good and bad inputs in rule-definition.test.ts are the specification. A failure names the field's
// path and the rule it broke; the ERP answers it as returnCode 01.
import { parseBusinessTime } from "../../common/clock.js";

/** The limit rule kinds (the seed's 限制规则): each names the value of a request that its limitKeys match. */
export const LIMIT_RULE_KEYS = ["ScenceLimit", "ActivityLimit", "CardBinLimit", "CardNoLimit", "CityLimit", "PosTidLimit"] as const;
export type LimitRuleKey = (typeof LIMIT_RULE_KEYS)[number];

export const RULE_KEYS = ["BuyGet", ...LIMIT_RULE_KEYS, "WeekTime"] as const;
export type RuleKey = (typeof RULE_KEYS)[number];

/** BuyGet (买赠/折扣): amounts are decimal strings with at most 2 places, kept exact. */
export interface BuyGetValue {
  codeConfigList?: string;
  codeType?: "sku" | "type" | "spec";
  checkExpression?: string;
  returnExpression?: string;
  limitMinAmount?: string;
  amountOff?: string;
  discountOff?: string;
  superposition?: 0 | 1;
  fixedAmount?: string;
  setMealFixedAmount?: string;
  sort?: string;
  isMerchant?: "Y" | "N";
  faceValue?: string;
  netValue?: string;
  netRadio?: string;
  reduceValue?: string;
  cashierCode?: string;
}

export interface LimitItem {
  limitKey: string;
  /** 0: unlimited. */
  limitMaxDay: number;
  limitMaxWeek: number;
  limitMaxMonth: number;
  limitMaxYear: number;
  limitMaxTotal: number;
  /** yyyyMMddHHmmss, Asia/Shanghai; the item applies from startTime to endTime inclusive. */
  startTime: string;
  endTime: string;
}

export interface LimitValue {
  /** Q: counts codes; A: counts amounts (fen). */
  limitWay: "Q" | "A";
  /** W: only listed keys pass, each within its maxima; B: a listed key is refused. */
  limitType: "W" | "B";
  retained?: "Y" | "N";
  binPrefixNum?: number;
  binSuffixNum?: number;
  description?: string;
  limitItems: LimitItem[];
}

export interface WeekTimeValue {
  /** Seven 0/1 characters, Sunday first. */
  weekDay: string;
  /** 12-digit HHmmssHHmmss windows separated by commas. */
  times?: string;
}

export type RuleValue =
  | { ruleKey: "BuyGet"; value: BuyGetValue }
  | { ruleKey: LimitRuleKey; value: LimitValue }
  | { ruleKey: "WeekTime"; value: WeekTimeValue };

export interface RuleDefinition {
  ruleScenceKey: string;
  ruleSceneItemKey?: string;
  ruleScene: string;
  ruleName: string;
  rule: RuleValue;
  startTime: string;
  endTime: string;
  messageTpl: string;
  isActive: boolean;
  isContinue: boolean;
  ruleOrder: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; field: string; message: string };

export const LIMITS = {
  sceneKey: 64,
  sceneItemKey: 64,
  scene: 32,
  ruleName: 100,
  messageTpl: 200,
  description: 200,
  expression: 1000,
  cashierCode: 64,
  limitKey: 64,
  limitItems: 1000,
  codeConfigList: 4000,
  timeWindows: 48,
} as const;

/** Thrown inside the checks, caught at the top: the first broken rule ends the check. */
class Broken extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field}: ${rule}`);
  }
}

/** The createRule request (its JSON body), or the first field that breaks the seed's tables. */
export function validateRule(input: unknown): Checked<RuleDefinition> {
  try {
    return { ok: true, value: ruleDefinition(input) };
  } catch (err) {
    if (err instanceof Broken) return { ok: false, field: err.field, message: err.message };
    throw err;
  }
}

/** Only the ruleValue of a ruleKey (the same checks as validateRule), with paths under `ruleValue`. */
export function validateRuleValue(ruleKey: unknown, ruleValue: unknown): Checked<RuleValue> {
  try {
    return { ok: true, value: ruleValueOf(ruleKey, ruleValue) };
  } catch (err) {
    if (err instanceof Broken) return { ok: false, field: err.field, message: err.message };
    throw err;
  }
}

const TOP_FIELDS = [
  "ruleScenceKey",
  "ruleSceneItemKey",
  "ruleScene",
  "ruleName",
  "ruleKey",
  "ruleValue",
  "startTime",
  "endTime",
  "messageTpl",
  "isActive",
  "isContinue",
  "ruleOrder",
] as const;

function ruleDefinition(input: unknown): RuleDefinition {
  const body = object(input, "request", TOP_FIELDS);
  const ruleSceneItemKey = optional(body, "ruleSceneItemKey", (v, f) => key(v, f, LIMITS.sceneItemKey));
  const startTime = time(body.startTime, "startTime");
  const endTime = time(body.endTime, "endTime");
  if (endTime <= startTime) throw new Broken("endTime", "must be after startTime");
  return {
    ruleScenceKey: key(body.ruleScenceKey, "ruleScenceKey", LIMITS.sceneKey),
    ...(ruleSceneItemKey === undefined ? {} : { ruleSceneItemKey }),
    ruleScene: key(body.ruleScene, "ruleScene", LIMITS.scene),
    ruleName: text(body.ruleName, "ruleName", LIMITS.ruleName),
    rule: ruleValueOf(body.ruleKey, body.ruleValue),
    startTime,
    endTime,
    messageTpl: text(body.messageTpl, "messageTpl", LIMITS.messageTpl),
    isActive: (optional(body, "isActive", yesNo) ?? "Y") === "Y",
    isContinue: (optional(body, "isContinue", yesNo) ?? "N") === "Y",
    ruleOrder: optional(body, "ruleOrder", ruleOrder) ?? 0,
  };
}

function ruleValueOf(ruleKey: unknown, ruleValue: unknown): RuleValue {
  if (typeof ruleKey !== "string" || ruleKey === "") throw new Broken("ruleKey", "required");
  if (!(RULE_KEYS as readonly string[]).includes(ruleKey)) throw new Broken("ruleKey", `unknown rule; one of ${RULE_KEYS.join(", ")}`);
  const key = ruleKey as RuleKey;
  if (key === "BuyGet") return { ruleKey: key, value: buyGet(ruleValue) };
  if (key === "WeekTime") return { ruleKey: key, value: weekTime(ruleValue) };
  return { ruleKey: key, value: limit(key, ruleValue) };
}

// ---------------------------------------------------------------------------------------------------------
// BuyGet
// ---------------------------------------------------------------------------------------------------------

const BUY_GET_FIELDS = [
  "codeConfigList",
  "codeType",
  "checkExpression",
  "returnExpression",
  "limitMinAmount",
  "amountOff",
  "discountOff",
  "superposition",
  "fixedAmount",
  "setMealFixedAmount",
  "sort",
  "isMerchant",
  "faceValue",
  "netValue",
  "netRadio",
  "reduceValue",
  "cashierCode",
] as const;

const AMOUNT_FIELDS = ["limitMinAmount", "amountOff", "fixedAmount", "setMealFixedAmount", "faceValue", "netValue", "reduceValue"] as const;
const RATIO_FIELDS = ["discountOff", "netRadio"] as const;

function buyGet(input: unknown): BuyGetValue {
  const value = object(input, "ruleValue", BUY_GET_FIELDS);
  if (Object.keys(value).length === 0) throw new Broken("ruleValue", "BuyGet needs at least one of its fields");
  const at = (field: string) => `ruleValue.${field}`;
  const out: BuyGetValue = {};
  const codeConfigList = optional(value, "codeConfigList", (v) => codeGroups(v, at("codeConfigList")));
  if (codeConfigList !== undefined) out.codeConfigList = codeConfigList;
  const codeType = optional(value, "codeType", (v) => oneOf(v, at("codeType"), ["sku", "type", "spec"] as const));
  if (codeType !== undefined) out.codeType = codeType;
  for (const field of ["checkExpression", "returnExpression"] as const) {
    const expression = optional(value, field, (v) => text(v, at(field), LIMITS.expression));
    if (expression !== undefined) out[field] = expression;
  }
  for (const field of AMOUNT_FIELDS) {
    const amount = optional(value, field, (v) => decimal(v, at(field)));
    if (amount !== undefined) out[field] = amount;
  }
  for (const field of RATIO_FIELDS) {
    const ratio = optional(value, field, (v) => decimal(v, at(field)));
    if (ratio === undefined) continue;
    if (Number(ratio) <= 0 || Number(ratio) > 1) throw new Broken(at(field), "a ratio above 0 and at most 1 (0.85: 85%)");
    out[field] = ratio;
  }
  const superposition = optional(value, "superposition", (v) => oneOf(v, at("superposition"), [0, 1] as const));
  if (superposition !== undefined) out.superposition = superposition;
  const sort = optional(value, "sort", (v) => pattern(v, at("sort"), /^[A-Za-z][A-Za-z0-9_]{0,31}\/[ad]$/, "field/a (ascending) or field/d (descending), e.g. price/a"));
  if (sort !== undefined) out.sort = sort;
  const isMerchant = optional(value, "isMerchant", (v) => yesNo(v, at("isMerchant")));
  if (isMerchant !== undefined) out.isMerchant = isMerchant;
  const cashierCode = optional(value, "cashierCode", (v) => key(v, at("cashierCode"), LIMITS.cashierCode));
  if (cashierCode !== undefined) out.cashierCode = cashierCode;
  if (out.checkExpression !== undefined && out.codeConfigList === undefined) {
    throw new Broken(at("codeConfigList"), "required with checkExpression (the groups it checks)");
  }
  return out;
}

/** `["111,222","333,444"]`: a JSON array (as a string) of groups, each codes separated by commas. */
function codeGroups(value: unknown, field: string): string {
  const raw = text(value, field, LIMITS.codeConfigList);
  const format = 'a JSON array of groups, each codes separated by commas, e.g. ["111,222","333,444"]';
  let groups: unknown;
  try {
    groups = JSON.parse(raw);
  } catch {
    throw new Broken(field, format);
  }
  if (!Array.isArray(groups) || groups.length === 0) throw new Broken(field, format);
  groups.forEach((group, index) => {
    if (typeof group !== "string" || !/^[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*$/.test(group)) {
      throw new Broken(`${field}[${index}]`, "codes of letters, digits, _ or - (at most 64 each) separated by commas");
    }
  });
  return raw;
}

// ---------------------------------------------------------------------------------------------------------
// Limit rules
// ---------------------------------------------------------------------------------------------------------

const LIMIT_FIELDS = ["limitWay", "limitType", "retained", "binPrefixNum", "binSuffixNum", "description", "limitItems"] as const;
const ITEM_FIELDS = ["limitKey", "limitMaxDay", "limitMaxWeek", "limitMaxMonth", "limitMaxYear", "limitMaxTotal", "startTime", "endTime"] as const;
export const MAXIMA = ["limitMaxDay", "limitMaxWeek", "limitMaxMonth", "limitMaxYear", "limitMaxTotal"] as const;
/** A card number's digits (ISO/IEC 7812: up to 19). */
const CARD_DIGITS = 19;

function limit(ruleKey: LimitRuleKey, input: unknown): LimitValue {
  const value = object(input, "ruleValue", LIMIT_FIELDS);
  const out: LimitValue = {
    limitWay: oneOf(value.limitWay, "ruleValue.limitWay", ["Q", "A"] as const),
    limitType: oneOf(value.limitType, "ruleValue.limitType", ["W", "B"] as const),
    limitItems: [],
  };
  const retained = optional(value, "retained", (v) => yesNo(v, "ruleValue.retained"));
  if (retained !== undefined) out.retained = retained;
  const description = optional(value, "description", (v) => text(v, "ruleValue.description", LIMITS.description));
  if (description !== undefined) out.description = description;
  for (const field of ["binPrefixNum", "binSuffixNum"] as const) {
    const digits = optional(value, field, (v) => integer(v, `ruleValue.${field}`, 0, CARD_DIGITS));
    if (digits === undefined) continue;
    if (ruleKey !== "CardBinLimit") throw new Broken(`ruleValue.${field}`, "only for CardBinLimit");
    out[field] = digits;
  }
  if (ruleKey === "CardBinLimit") {
    if (!out.binPrefixNum) throw new Broken("ruleValue.binPrefixNum", "required for CardBinLimit: 1 to 19 digits");
    if (out.binPrefixNum + (out.binSuffixNum ?? 0) > CARD_DIGITS) {
      throw new Broken("ruleValue.binSuffixNum", `binPrefixNum + binSuffixNum at most ${CARD_DIGITS}`);
    }
  }
  const items = value.limitItems;
  if (!Array.isArray(items) || items.length === 0) throw new Broken("ruleValue.limitItems", "required: a non-empty array");
  if (items.length > LIMITS.limitItems) throw new Broken("ruleValue.limitItems", `at most ${LIMITS.limitItems} items`);
  items.forEach((item, index) => out.limitItems.push(limitItem(ruleKey, out, item, `ruleValue.limitItems[${index}]`)));
  // Two items of one key whose windows overlap would leave it unclear which maxima hold.
  const byKey = new Map<string, number[]>();
  out.limitItems.forEach((item, index) => {
    const earlier = byKey.get(item.limitKey) ?? [];
    const clash = earlier.find((other) => {
      const o = out.limitItems[other]!;
      return item.startTime <= o.endTime && o.startTime <= item.endTime;
    });
    if (clash !== undefined) {
      throw new Broken(`ruleValue.limitItems[${index}].limitKey`, `${item.limitKey} already has an item whose window overlaps (limitItems[${clash}])`);
    }
    byKey.set(item.limitKey, [...earlier, index]);
  });
  return out;
}

function limitItem(ruleKey: LimitRuleKey, rule: LimitValue, input: unknown, path: string): LimitItem {
  const item = object(input, path, ITEM_FIELDS);
  const limitKey = key(item.limitKey, `${path}.limitKey`, LIMITS.limitKey);
  if (ruleKey === "CardBinLimit") {
    const digits = (rule.binPrefixNum ?? 0) + (rule.binSuffixNum ?? 0);
    if (!new RegExp(`^\\d{${digits}}$`).test(limitKey)) {
      throw new Broken(`${path}.limitKey`, `a bin of ${digits} digits (binPrefixNum ${rule.binPrefixNum} + binSuffixNum ${rule.binSuffixNum ?? 0})`);
    }
  }
  if (ruleKey === "CardNoLimit" && !/^\d{12,19}$/.test(limitKey)) throw new Broken(`${path}.limitKey`, "a card number of 12 to 19 digits");
  const maxima = Object.fromEntries(MAXIMA.map((field) => [field, integer(item[field], `${path}.${field}`, 0, Number.MAX_SAFE_INTEGER)])) as Record<
    (typeof MAXIMA)[number],
    number
  >;
  const startTime = time(item.startTime, `${path}.startTime`);
  const endTime = time(item.endTime, `${path}.endTime`);
  if (endTime <= startTime) throw new Broken(`${path}.endTime`, "must be after startTime");
  return { limitKey, ...maxima, startTime, endTime };
}

// ---------------------------------------------------------------------------------------------------------
// WeekTime
// ---------------------------------------------------------------------------------------------------------

function weekTime(input: unknown): WeekTimeValue {
  const value = object(input, "ruleValue", ["weekDay", "times"] as const);
  const out: WeekTimeValue = {
    weekDay: pattern(value.weekDay, "ruleValue.weekDay", /^[01]{7}$/, "seven 0/1 characters, Sunday first (1: usable), e.g. 0111110"),
  };
  const times = optional(value, "times", (v) => timeWindows(v, "ruleValue.times"));
  if (times !== undefined) out.times = times;
  return out;
}

function timeWindows(value: unknown, field: string): string {
  const windows = pattern(value, field, /^\d{12}(,\d{12})*$/, "12-digit windows HHmmssHHmmss separated by commas, e.g. 090000120000,220000235959");
  const parts = windows.split(",");
  if (parts.length > LIMITS.timeWindows) throw new Broken(field, `at most ${LIMITS.timeWindows} windows`);
  parts.forEach((window, index) => {
    const from = window.slice(0, 6);
    const to = window.slice(6);
    if (!clockTime(from) || !clockTime(to)) throw new Broken(`${field}[${index}]`, "times of day HHmmss (00:00:00 to 23:59:59)");
    if (to <= from) throw new Broken(`${field}[${index}]`, "the window must end after it starts");
  });
  return windows;
}

function clockTime(hhmmss: string): boolean {
  const [h, m, s] = [hhmmss.slice(0, 2), hhmmss.slice(2, 4), hhmmss.slice(4)].map(Number) as [number, number, number];
  return h <= 23 && m <= 59 && s <= 59;
}

// ---------------------------------------------------------------------------------------------------------
// Field checks
// ---------------------------------------------------------------------------------------------------------

function object<F extends string>(value: unknown, path: string, fields: readonly F[]): Partial<Record<F, unknown>> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Broken(path, "must be a JSON object");
  for (const name of Object.keys(value)) {
    if ((fields as readonly string[]).includes(name)) continue;
    // A name is echoed only when it is plainly a name (never a control character or a page of text).
    if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new Broken(path, "has a field that is not one of this object's");
    throw new Broken(path === "request" ? name : `${path}.${name}`, "not a field of this object");
  }
  return value as Partial<Record<F, unknown>>;
}

/** An absent or null field is "not given"; any other value must pass `check`. */
function optional<F extends string, T>(object: Partial<Record<F, unknown>>, field: F, check: (value: unknown, field: F) => T): T | undefined {
  const value = object[field];
  if (value === undefined || value === null) return undefined;
  return check(value, field);
}

/**
 * Text PostgreSQL stores and a person can read: no control characters (C0, DEL, C1; PostgreSQL refuses NUL) and
 * no lone surrogates (not encodable as UTF-8), as services/order/psbc/envelope.ts.
 */
function text(value: unknown, field: string, max: number): string {
  if (typeof value !== "string" || value.trim() === "") throw new Broken(field, "required: a non-empty string");
  if ([...value].length > max) throw new Broken(field, `at most ${max} characters`);
  if (/\p{Cc}/u.test(value)) throw new Broken(field, "no control characters");
  if (/\p{Cs}/u.test(value)) throw new Broken(field, "not valid Unicode (a lone surrogate)");
  return value;
}

/** An identifier: letters, digits and _ . : - only. */
function key(value: unknown, field: string, max: number): string {
  const checked = text(value, field, max);
  if (!/^[A-Za-z0-9_.:-]+$/.test(checked)) throw new Broken(field, "letters, digits, _ . : - only");
  return checked;
}

function pattern(value: unknown, field: string, format: RegExp, description: string): string {
  if (typeof value !== "string" || !format.test(value)) throw new Broken(field, description);
  return value;
}

function oneOf<T extends string | number>(value: unknown, field: string, values: readonly T[]): T {
  if (value === undefined || value === null || value === "") throw new Broken(field, `required: one of ${values.join(", ")}`);
  if (!values.includes(value as T)) throw new Broken(field, `one of ${values.join(", ")}`);
  return value as T;
}

function yesNo(value: unknown, field: string): "Y" | "N" {
  return oneOf(value, field, ["Y", "N"] as const);
}

/** yyyyMMddHHmmss (Asia/Shanghai), a real date and time. */
function time(value: unknown, field: string): string {
  if (value === undefined || value === null || value === "") throw new Broken(field, "required: yyyyMMddHHmmss");
  if (typeof value !== "string" || !parseBusinessTime(value)) throw new Broken(field, "a real date and time yyyyMMddHHmmss");
  return value;
}

/** A JSON integer (a Long or Integer of the seed) in [min, max]. */
function integer(value: unknown, field: string, min: number, max: number): number {
  if (value === undefined || value === null || value === "") throw new Broken(field, "required: an integer");
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new Broken(field, "an integer");
  if (value < min || value > max) throw new Broken(field, `from ${min} to ${max}`);
  return value;
}

function ruleOrder(value: unknown, field: string): number {
  return integer(value, field, -2_147_483_648, 2_147_483_647);
}

/**
 * A BigDecimal amount: a JSON number or a string of digits, at most 2 decimal places, not negative, below 10^10;
 * answered as its exact decimal text (a JSON number's shortest form, which round-trips).
 */
function decimal(value: unknown, field: string): string {
  const textForm = typeof value === "number" && Number.isFinite(value) ? String(value) : typeof value === "string" ? value : undefined;
  if (textForm === undefined || !/^\d{1,10}(\.\d{1,2})?$/.test(textForm)) {
    throw new Broken(field, "a decimal of at most 10 integer digits and 2 places, not negative, e.g. 12.50");
  }
  return textForm;
}

/** A checked rule back in the createRule body's shape (what validateRule takes): the base of an update. */
export function ruleBody(definition: RuleDefinition): Record<string, unknown> {
  return {
    ruleScenceKey: definition.ruleScenceKey,
    ...(definition.ruleSceneItemKey === undefined ? {} : { ruleSceneItemKey: definition.ruleSceneItemKey }),
    ruleScene: definition.ruleScene,
    ruleName: definition.ruleName,
    ruleKey: definition.rule.ruleKey,
    ruleValue: definition.rule.value,
    startTime: definition.startTime,
    endTime: definition.endTime,
    messageTpl: definition.messageTpl,
    isActive: definition.isActive ? "Y" : "N",
    isContinue: definition.isContinue ? "Y" : "N",
    ruleOrder: definition.ruleOrder,
  };
}
