// The make-code use case on its real stores (PostgreSQL when DATABASE_URL is set, else PGlite): the catalogue's
// tables seeded directly, the real quota gate, WHALE's own send channel (counted) and a send channel that fails on
// demand. Each story asserts the answer, what the stores hold and what the channel was asked.
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import { seedOffer, type OfferOptions, type WhaleOffer } from "../../../test/support/whale-codes.js";
import { TestClock } from "../../../test/support/test-clock.js";
import { systemClock, type Clock } from "../../common/clock.js";
import { openDatabase, type Database } from "../../common/database.js";
import { reasonOf } from "../../common/errors.js";
import { KeyRing } from "../../common/key-ring.js";
import { createLogger } from "../../common/logger.js";
import { migrate } from "../../common/migrate.js";
import { UpstreamError } from "../../common/upstream-http.js";
import { CodeErrorSchema, MakeCodeRequestSchema, type MakeCodeRequest } from "../../../proto/gen/rights/voucher/v1/codes_pb.js";
import { CatalogueStore } from "../catalogue/catalogue-store.js";
import { createInternalChannel } from "../channels/internal/channel.js";
import { isWellFormedCode } from "../channels/internal/code-generator.js";
import type { MakeCodesOrder, SendChannel } from "../channels/send-channel.js";
import { createQuotaGate, MAKE_CODE_SCENE, type QuotaGate, type RuleSubject } from "../rules/quota-gate.js";
import { validateRule } from "../rules/rule-definition.js";
import { RuleStore } from "../rules/rule-store.js";
import { VOUCHER_SCHEMA } from "../voucher-store.js";
import { CodeOrderStore } from "./code-order-store.js";
import { CodeError } from "./errors.js";
import { MakeCodes, requestHashOf, validDaysCovering } from "./make-code.js";

const logger = createLogger("make-code-test", "silent");
/** Beijing is UTC+8 all year: its business day starts at 16:00 UTC. */
const BEIJING_OFFSET_MS = 8 * 3_600_000;
const DAY_MS = 86_400_000;

let t: TestDatabase;

let db: Database;
let catalogue: CatalogueStore;
let rules: RuleStore;
let quota: QuotaGate;
let internal: SendChannel;
/** What the send channel was asked, and the failures it is told to answer next (a promise: once it settles). */
const asked: MakeCodesOrder[] = [];
const failNext: unknown[] = [];
let released: string[] = [];

function makeCodes(leaseMs = 5_000, clock: Clock = systemClock, gate: QuotaGate = quota): MakeCodes {
  const channel: SendChannel = {
    async makeCodes(order) {
      asked.push(order);
      // A promise is an answer that comes late: a failure once it settles, or the codes if it settles with none.
      const next = failNext.shift();
      const failure = next instanceof Promise ? await next : next;
      if (failure) throw failure;
      return internal.makeCodes(order);
    },
    voidCode: (code) => internal.voidCode(code),
    queryCode: (code) => internal.queryCode(code),
  };
  const counted: QuotaGate = {
    reserve: (request, limits) => gate.reserve(request, limits),
    async release(id) {
      released.push(id);
      await gate.release(id);
    },
    releaseReference: (reference) => gate.releaseReference(reference),
  };
  return new MakeCodes({
    orders: new CodeOrderStore(db), catalogue, quota: counted, channelFor: async () => channel, clock, logger, leaseMs,
  });
}

async function one<T extends object>(sql: string, params: unknown[]): Promise<T> {
  const { rows } = await db.query<T>(sql, params);
  if (!rows[0]) throw new Error("no row");
  return rows[0];
}

const keys = new KeyRing(Buffer.alloc(32, 7));
const offer = (options?: OfferOptions) => seedOffer(db, keys, options);
type Offer = Pick<WhaleOffer, "saleChannelId" | "templateId">;

let sequence = 0;
function request(o: Offer, more: { orderId?: string; codeNum?: number; validDays?: number; mobile?: string } = {}): MakeCodeRequest {
  sequence += 1;
  return create(MakeCodeRequestSchema, {
    saleChannelId: o.saleChannelId,
    saleChannelOrderId: more.orderId ?? `SO${Date.now()}${sequence}`,
    requestId: `R${sequence}`,
    mobilePhone: more.mobile ?? "",
    item: {
      saleChannelItemId: `I${sequence}`,
      commissionDate: "1",
      validDays: more.validDays ?? 10,
      ticketId: o.templateId,
      codeNum: more.codeNum ?? 1,
      makeFundsChannel: { channelBenefit: 0n, merchantBenefit: 500n, userRealAmount: 2500n },
    },
  });
}

async function reasonOfFailure(call: Promise<unknown>): Promise<CodeError | undefined> {
  try {
    await call;
  } catch (err) {
    return reasonOf(err, CodeErrorSchema);
  }
  throw new Error("expected the make-code to fail");
}

/** A ScenceLimit of the sale channel's codes, attached to the sale channel unless `to` says which record. */
async function quotaRule(saleChannelId: string, total: number, day = 0, to: RuleSubject = { sceneKey: "saleChannel", sceneItemKey: saleChannelId }): Promise<void> {
  const checked = validateRule({
    ruleScenceKey: to.sceneKey, ruleSceneItemKey: to.sceneItemKey, ruleScene: MAKE_CODE_SCENE, ruleName: "total", ruleKey: "ScenceLimit",
    ruleValue: {
      limitWay: "Q", limitType: "W",
      limitItems: [{ limitKey: saleChannelId, limitMaxDay: day, limitMaxWeek: 0, limitMaxMonth: 0, limitMaxYear: 0, limitMaxTotal: total, startTime: "20260101000000", endTime: "20361231235959" }],
    },
    startTime: "20260101000000", endTime: "20361231235959", messageTpl: "本渠道制码数量已达上限",
  });
  if (!checked.ok) throw new Error(checked.message);
  await rules.create(checked.value, "test", new Date());
}

const codeCount = async (tradeNo: string) =>
  (await one<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.made_code WHERE trade_no = $1`, [tradeNo])).n;

describe(`Make-code (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  beforeAll(async () => {
    t = await testDatabase();
    await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)), logger });
    // On the real server, enough connections for the races to contend for real.
    db = t.url ? await openDatabase({ url: t.url, logger, poolSize: 20 }) : t.db;
    catalogue = new CatalogueStore(db, keys);
    rules = new RuleStore(db);
    quota = createQuotaGate({ db, rules, clock: systemClock });
    internal = createInternalChannel({ db });
  });
  afterAll(async () => {
    if (db && db !== t.db) await db.close();
    await t?.drop();
  });

  it("makes the codes through the template's send channel, valid from tomorrow for validDays; a repeat answers the same codes", async () => {
    const o = await offer();
    const req = request(o, { codeNum: 3 });
    const made = await makeCodes().make(req);
    expect(made).toMatchObject({
      status: "MADE", saleChannelId: o.saleChannelId, saleChannelOrderId: req.saleChannelOrderId, templateId: o.templateId, activityId: o.activityId,
      ticketName: "COSTA30元代金券", activityName: "中信银行星巴克代金券活动", codeNum: 3, useTimes: 10,
    });
    expect(made.tradeNo).toMatch(/^[0-9a-f]{32}$/);
    expect(made.codes).toHaveLength(3);
    for (const code of made.codes) expect(isWellFormedCode(code.code)).toBe(true);
    // Tomorrow 00:00 Shanghai, for 10 days.
    expect(made.validStart.getTime() % 86_400_000).toBe(16 * 3_600_000);
    expect(made.validStart.getTime() - Date.now()).toBeGreaterThan(0);
    expect(made.validStart.getTime() - Date.now()).toBeLessThanOrEqual(86_400_000);
    expect(made.validEnd.getTime() - made.validStart.getTime()).toBe(10 * 86_400_000);
    const askedBefore = asked.length;
    expect(await makeCodes().make(req)).toEqual(made);
    expect(asked.length).toBe(askedBefore);
    expect(asked.at(-1)).toMatchObject({ sendChannelOrderId: made.tradeNo, codeNum: 3, useTimes: 10, saleChannelId: o.saleChannelId });
  });

  it("refuses the same order id with another request (03), and keeps the first order's codes", async () => {
    const o = await offer();
    const req = request(o);
    const made = await makeCodes().make(req);
    const other = create(MakeCodeRequestSchema, structuredClone(req));
    if (other.item) other.item.validDays = 11;
    expect(await reasonOfFailure(makeCodes().make(other))).toBe(CodeError.DUPLICATE_ORDER);
    expect(await makeCodes().make(req)).toEqual(made);
  });

  it("a caller that wrongly says the order was never asked for still gets the first order's codes, or 03 for another request, and its send channel's kind", async () => {
    const o = await offer();
    const req = request(o);
    const made = await makeCodes().make(req);
    expect(made.sendChannelType).toBe("INTERNAL");
    const askedBefore = asked.length;
    expect(await makeCodes().make(req, {}, { neverAsked: true })).toEqual(made);
    const other = create(MakeCodeRequestSchema, structuredClone(req));
    if (other.item) other.item.validDays = 11;
    expect(await reasonOfFailure(makeCodes().make(other, {}, { neverAsked: true }))).toBe(CodeError.DUPLICATE_ORDER);
    expect(asked.length).toBe(askedBefore);
  });

  it("another sale channel's order id is its own order, never the other's codes", async () => {
    const [a, b] = [await offer(), await offer()];
    const madeA = await makeCodes().make(request(a, { orderId: "SHARED-ID-1" }));
    const madeB = await makeCodes().make(request(b, { orderId: "SHARED-ID-1" }));
    expect(madeB.tradeNo).not.toBe(madeA.tradeNo);
    expect(madeB.codes[0]?.code).not.toBe(madeA.codes[0]?.code);
    expect(madeB.saleChannelId).toBe(b.saleChannelId);
  });

  it("makes codes once when twenty repeats of an order arrive at once", async () => {
    const o = await offer();
    const req = request(o, { codeNum: 2 });
    const askedBefore = asked.length;
    const answers = await Promise.all(Array.from({ length: 20 }, () => makeCodes().make(req)));
    for (const answer of answers) expect(answer).toEqual(answers[0]);
    expect(asked.length - askedBefore).toBe(1);
    const { n } = await one<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.code_order WHERE sale_channel_id = $1`, [o.saleChannelId]);
    expect(n).toBe(1);
    expect(await codeCount(answers[0]?.tradeNo ?? "")).toBe(2);
  });

  it("never makes more codes than the quota allows when orders race (total 3, ten orders of one code)", async () => {
    const o = await offer();
    await quotaRule(o.saleChannelId, 3);
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => makeCodes().make(request(o))));
    const made = outcomes.filter((x) => x.status === "fulfilled");
    expect(made).toHaveLength(3);
    for (const refused of outcomes.filter((x) => x.status === "rejected")) {
      expect(reasonOf(refused.reason, CodeErrorSchema)).toBe(CodeError.QUOTA_EXCEEDED);
      expect((refused.reason as Error).message).toContain("本渠道制码数量已达上限");
    }
    const { n } = await one<{ n: number }>(
      `SELECT count(*)::int AS n FROM vouchers.made_code m JOIN vouchers.code_order o USING (trade_no) WHERE o.sale_channel_id = $1`,
      [o.saleChannelId],
    );
    expect(n).toBe(3);
  });

  it("holds a new order to the rules of its activity and template, read with its offer (the gate reads none); a failed order's repeat is held to its own activity's", async () => {
    const [byActivity, byTemplate, free, repeated] = await Promise.all([offer(), offer(), offer(), offer()]);
    await quotaRule(byActivity.saleChannelId, 1, 0, { sceneKey: "activity", sceneItemKey: byActivity.activityId });
    await quotaRule(byTemplate.saleChannelId, 1, 0, { sceneKey: "template", sceneItemKey: byTemplate.templateId });
    await quotaRule(repeated.saleChannelId, 1, 0, { sceneKey: "activity", sceneItemKey: repeated.activityId });
    let reads = 0;
    const gate = createQuotaGate({
      db,
      clock: systemClock,
      rules: {
        applicable(...args) {
          reads += 1;
          return rules.applicable(...args);
        },
      },
    });
    const make = (req: MakeCodeRequest) => makeCodes(5_000, systemClock, gate).make(req);
    for (const o of [byActivity, byTemplate]) {
      expect(await make(request(o))).toMatchObject({ status: "MADE" });
      expect(await reasonOfFailure(make(request(o)))).toBe(CodeError.QUOTA_EXCEEDED);
    }
    // The rules of another offer's activity and template leave this one alone.
    expect(await make(request(free))).toMatchObject({ status: "MADE" });
    expect(await make(request(free))).toMatchObject({ status: "MADE" });
    expect(reads).toBe(0);

    const req = request(repeated);
    failNext.push(new UpstreamError("timeout", "esb", "makeCode", "TIMEOUT", "no answer"));
    expect(await reasonOfFailure(make(req))).toBe(CodeError.CHANNEL_FAILED);
    expect(await make(req)).toMatchObject({ status: "MADE", attempt: 2 });
    expect(reads).toBe(1);
    expect(await reasonOfFailure(make(request(repeated)))).toBe(CodeError.QUOTA_EXCEEDED);
  });

  it("gives the quota back when the send channel fails; the repeat makes the codes under the same channel order id", async () => {
    const o = await offer();
    await quotaRule(o.saleChannelId, 1);
    const req = request(o);
    released = [];
    failNext.push(new UpstreamError("timeout", "esb", "makeCode", "TIMEOUT", "no answer"));
    expect(await reasonOfFailure(makeCodes().make(req))).toBe(CodeError.CHANNEL_FAILED);
    expect(released).toHaveLength(1);
    const failed = await new CodeOrderStore(db).find(o.saleChannelId, req.saleChannelOrderId);
    expect(failed).toMatchObject({ status: "FAILED", failure: "send channel: timeout TIMEOUT", codes: [] });
    // The quota of one is free again: the repeat gets it.
    const made = await makeCodes().make(req);
    expect(made).toMatchObject({ status: "MADE", attempt: 2, tradeNo: failed?.tradeNo });
    expect(asked.at(-1)?.sendChannelOrderId).toBe(asked.at(-2)?.sendChannelOrderId);
    expect(await reasonOfFailure(makeCodes().make(request(o)))).toBe(CodeError.QUOTA_EXCEEDED);
  });

  it("counts a repeat's codes on the day they are made: a failed order repeated the next day is held to that day's quota", async () => {
    const o = await offer();
    await quotaRule(o.saleChannelId, 0, 1);
    const clock = new TestClock(new Date());
    const yesterdays = request(o);
    failNext.push(new UpstreamError("timeout", "esb", "makeCode", "TIMEOUT", "no answer"));
    expect(await reasonOfFailure(makeCodes(5_000, clock).make(yesterdays))).toBe(CodeError.CHANNEL_FAILED);
    clock.set(new Date(Date.now() + 86_400_000).toISOString());
    expect(await makeCodes(5_000, clock).make(request(o))).toMatchObject({ status: "MADE" });
    // Today's one code is made: the repeat of yesterday's order is today's second.
    expect(await reasonOfFailure(makeCodes(5_000, clock).make(yesterdays))).toBe(CodeError.QUOTA_EXCEEDED);
  });

  it("refuses (04) a repeat of a failed order once its codes' validity is over, asking no channel: they would be dead on arrival", async () => {
    const o = await offer();
    const clock = new TestClock(new Date());
    const req = request(o, { validDays: 1 });
    failNext.push(new UpstreamError("timeout", "esb", "makeCode", "TIMEOUT", "no answer"));
    expect(await reasonOfFailure(makeCodes(5_000, clock).make(req))).toBe(CodeError.CHANNEL_FAILED);
    const askedBefore = asked.length;
    // Valid from tomorrow (commissionDate 1) for one day: three days on, that day is over.
    clock.set(new Date(Date.now() + 3 * 86_400_000).toISOString());
    expect(await reasonOfFailure(makeCodes(5_000, clock).make(req))).toBe(CodeError.NOT_AVAILABLE);
    expect(asked).toHaveLength(askedBefore);
  });

  it("repeats a failed order at the send channel it was first tried at, though its template names another since", async () => {
    const o = await offer();
    const req = request(o);
    failNext.push(new UpstreamError("timeout", "esb", "makeCode", "TIMEOUT", "no answer"));
    expect(await reasonOfFailure(makeCodes().make(req))).toBe(CodeError.CHANNEL_FAILED);
    const { send_channel_id: other } = await one<{ send_channel_id: string }>(
      `INSERT INTO vouchers.send_channel (name, channel_type, config) VALUES ($1, 'INTERNAL', '{}') RETURNING send_channel_id::text`,
      [`moved-${o.templateId}`],
    );
    await db.query(`UPDATE vouchers.template SET send_channel_id = $2 WHERE template_id = $1`, [o.templateId, other]);
    expect(await makeCodes().make(req)).toMatchObject({ status: "MADE", sendChannelId: o.sendChannelId });
    expect(asked.at(-1)?.sendChannelId).toBe(o.sendChannelId);
  });

  it("hands the channel what an in-process caller adds (the PSBC rights code and customer), outside the request's identity, and keeps the channel's error as the cause", async () => {
    const o = await offer();
    const req = request(o);
    const refusal = new UpstreamError("rejected", "blue-brothers", "issue", "40901", "conflict");
    failNext.push(refusal);
    const failure = await makeCodes().make(req, { rightsCode: "R-1", customerRef: "mac-1" }).catch((err: unknown) => err);
    expect(reasonOf(failure, CodeErrorSchema)).toBe(CodeError.CHANNEL_FAILED);
    expect((failure as { cause?: unknown }).cause).toBe(refusal);
    // The corrected customer of a later try reaches the channel; the order is the same one.
    const made = await makeCodes().make(req, { rightsCode: "R-1", customerRef: "mac-2" });
    expect(made).toMatchObject({ status: "MADE", attempt: 2 });
    expect(asked.slice(-2).map(({ rightsCode, customerRef }) => ({ rightsCode, customerRef }))).toEqual([
      { rightsCode: "R-1", customerRef: "mac-1" },
      { rightsCode: "R-1", customerRef: "mac-2" },
    ]);
    expect(await makeCodes().make(req)).toEqual(made);
  });

  it("a repeat while another caller holds the order answers IN_PROGRESS after waiting; once its lease ran out, the repeat takes the order over", async () => {
    const o = await offer();
    const store = new CodeOrderStore(db);
    const held = async (req: MakeCodeRequest, leaseMs: number) =>
      store.create(
        {
          saleChannelId: o.saleChannelId, saleChannelOrderId: req.saleChannelOrderId, requestHash: requestHashOf(req), requestId: req.requestId,
          saleChannelItemId: "I", templateId: o.templateId, activityId: o.activityId, sendChannelId: "20000001", ticketName: "t", activityName: "a",
          codeNum: 1, useTimes: 1, validStart: new Date(), validEnd: new Date(Date.now() + 86_400_000), orderMobile: null, createdAt: new Date(),
        },
        leaseMs,
      );
    const busy = request(o);
    await held(busy, 60_000);
    const started = Date.now();
    expect(await reasonOfFailure(makeCodes(300).make(busy))).toBe(CodeError.IN_PROGRESS);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);

    const dead = request(o);
    const orphan = await held(dead, -1_000);
    const made = await makeCodes().make(dead);
    expect(made).toMatchObject({ status: "MADE", tradeNo: orphan?.tradeNo, attempt: 2 });
    expect(made.codes).toHaveLength(1);
  });

  /**
   * An order of an offer under a quota of one whose first caller reserved, then hung at the send channel until
   * `answerLate`, past its 200 ms lease.
   */
  async function orderOfHungCaller() {
    const o = await offer();
    await quotaRule(o.saleChannelId, 1);
    const req = request(o);
    let answerLate!: (failure: unknown) => void;
    failNext.push(new Promise((resolve) => (answerLate = resolve)));
    const hung = makeCodes(200).make(req);
    await new Promise((resolve) => setTimeout(resolve, 400));
    return { o, req, hung, answerLate };
  }

  it("an order taken over from a caller that hung after reserving is that caller's charge, not a second; its late failure gives nothing back", async () => {
    const { o, req, hung, answerLate } = await orderOfHungCaller();
    // Its lease ran out: the repeat takes the order over, under the quota the first caller reserved for it.
    const made = await makeCodes().make(req);
    expect(made).toMatchObject({ status: "MADE", attempt: 2, codes: [expect.anything()] });
    answerLate(new UpstreamError("timeout", "esb", "makeCode", "TIMEOUT", "no answer"));
    expect(await reasonOfFailure(hung)).toBe(CodeError.CHANNEL_FAILED);
    // The late failure neither undid the order nor gave its code's quota back.
    expect(await makeCodes().make(req)).toEqual(made);
    expect(await reasonOfFailure(makeCodes().make(request(o)))).toBe(CodeError.QUOTA_EXCEEDED);
  });

  it("a hung caller whose codes come after its order was taken over and failed is told the channel failed, not handed a failed order as made; the repeat makes them", async () => {
    const { o, req, hung, answerLate } = await orderOfHungCaller();
    failNext.push(new UpstreamError("unavailable", "esb", "makeCode", "HTTP_503", "unavailable"));
    expect(await reasonOfFailure(makeCodes().make(req))).toBe(CodeError.CHANNEL_FAILED);
    // The first caller's codes arrive now: the order is FAILED and its quota given back by the one that took it over.
    answerLate(undefined);
    expect(await reasonOfFailure(hung)).toBe(CodeError.CHANNEL_FAILED);
    const order = await new CodeOrderStore(db).find(o.saleChannelId, req.saleChannelOrderId);
    expect(order).toMatchObject({ status: "FAILED", codes: [] });
    const made = await makeCodes().make(req);
    expect(made).toMatchObject({ status: "MADE", attempt: 3, codes: [expect.anything()] });
    expect(await codeCount(made.tradeNo)).toBe(1);
  });

  it("gives back the quota of an order taken over from a caller that hung after reserving, when its offer no longer stands (04)", async () => {
    const { o, req, hung, answerLate } = await orderOfHungCaller();
    // Its template disabled since: the repeat takes the order over and refuses it, making nothing.
    await db.query(`UPDATE vouchers.template SET is_active = false WHERE template_id = $1`, [o.templateId]);
    expect(await reasonOfFailure(makeCodes().make(req))).toBe(CodeError.NOT_AVAILABLE);
    await db.query(`UPDATE vouchers.template SET is_active = true WHERE template_id = $1`, [o.templateId]);
    // The first caller's charge came back with the refusal: the quota of one still makes another order's code.
    expect(await makeCodes().make(request(o))).toMatchObject({ status: "MADE" });
    answerLate(new UpstreamError("timeout", "esb", "makeCode", "TIMEOUT", "no answer"));
    expect(await reasonOfFailure(hung)).toBe(CodeError.CHANNEL_FAILED);
  });

  it("refuses a sale channel, template or activity that is missing, inactive, unbound, bulk-only or over (04), making nothing", async () => {
    const askedBefore = asked.length;
    const offers: Array<() => Promise<Offer>> = [
      () => offer({ channelActive: false }),
      () => offer({ templateActive: false }),
      () => offer({ bound: false }),
      () => offer({ sendType: 2 }),
      () => offer({ activityEnds: new Date(Date.now() - 1000) }),
      async () => ({ ...(await offer()), templateId: "9999999999999" }),
      async () => ({ ...(await offer()), saleChannelId: "99999999" }),
    ];
    for (const unavailable of offers) expect(await reasonOfFailure(makeCodes().make(request(await unavailable())))).toBe(CodeError.NOT_AVAILABLE);
    // The codes would start at tomorrow's business day (Beijing midnight); an activity ending a second before has no
    // room for them. (It ended "within the hour" here, which is after that midnight from 15:00 to 16:00 UTC.)
    const tomorrowStart = (Math.floor((Date.now() + BEIJING_OFFSET_MS) / DAY_MS) + 1) * DAY_MS - BEIJING_OFFSET_MS;
    expect(await reasonOfFailure(makeCodes().make(request(await offer({ activityEnds: new Date(tomorrowStart - 1000) }))))).toBe(CodeError.NOT_AVAILABLE);
    expect(asked.length).toBe(askedBefore);
  });

  it("checks each field's limits before any lookup (01, naming the field)", async () => {
    const o = await offer();
    const base = request(o);
    const bad: Array<[string, (r: MakeCodeRequest) => void]> = [
      ["saleChannelOrderId", (r) => void (r.saleChannelOrderId = "")],
      ["saleChannelOrderId", (r) => void (r.saleChannelOrderId = "x".repeat(64))],
      ["saleChannelOrderId", (r) => void (r.saleChannelOrderId = "a\u0000b")],
      ["requestId", (r) => void (r.requestId = "")],
      ["mobilePhone", (r) => void (r.mobilePhone = "2352416180")],
      ["saleChannelItemId", (r) => void (r.item && (r.item.saleChannelItemId = "y".repeat(65)))],
      ["commissionDate", (r) => void (r.item && (r.item.commissionDate = "-1"))],
      ["validDays", (r) => void (r.item && (r.item.validDays = 0))],
      ["validDays", (r) => void (r.item && (r.item.validDays = 3661))],
      ["ticketId", (r) => void (r.item && (r.item.ticketId = "abc"))],
      ["codeNum", (r) => void (r.item && (r.item.codeNum = 101))],
      ["makeFundsChannel", (r) => void (r.item?.makeFundsChannel && (r.item.makeFundsChannel.userRealAmount = -1n))],
      ["item", (r) => void (r.item = undefined)],
    ];
    for (const [field, spoil] of bad) {
      const r = create(MakeCodeRequestSchema, structuredClone(base));
      spoil(r);
      const err = await makeCodes().make(r).catch((e: unknown) => e);
      expect(reasonOf(err, CodeErrorSchema), field).toBe(CodeError.PARAMETER_INVALID);
      expect((err as Error).message).toContain(field);
    }
    // The longest allowed values pass.
    const longest = request(o, { orderId: "x".repeat(63), validDays: 3660 });
    expect((await makeCodes().make(longest)).status).toBe("MADE");
  });
});

describe("validDaysCovering (a code ordered today, commissionDate 0, valid at least until a time)", () => {
  // 2026-12-01 12:00 Asia/Shanghai: its business day began at 00:00 that day.
  const from = new Date("2026-12-01T04:00:00Z");
  it.each([
    { when: "365 days on at the same hour", until: new Date(from.getTime() + 365 * 86_400_000), days: 366 },
    { when: "that evening", until: new Date("2026-12-01T15:00:00Z"), days: 1 },
    { when: "the next midnight exactly", until: new Date("2026-12-01T16:00:00Z"), days: 1 },
    { when: "a minute past it", until: new Date("2026-12-01T16:01:00Z"), days: 2 },
    { when: "already past", until: new Date("2026-11-01T00:00:00Z"), days: 1 },
    { when: "beyond the request's maximum", until: new Date("2046-12-01T00:00:00Z"), days: 3660 },
  ])("$when: $days days", ({ until, days }) => {
    expect(validDaysCovering(until, from)).toBe(days);
  });
});
