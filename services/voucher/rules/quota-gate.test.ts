// The make-code quota gate on its real store (PostgreSQL when DATABASE_URL is set, else PGlite): W/B lists,
// the calendar periods in Asia/Shanghai and their rollover, amounts, release, idempotent references, and the
// race: many concurrent reservations against a small quota, exactly the quota succeeds.
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../../test/support/databases.js";
import { clockStartingAt, type Clock } from "../../common/clock.js";
import { openDatabase, type Database } from "../../common/database.js";
import { createLogger } from "../../common/logger.js";
import { migrate } from "../../common/migrate.js";
import { VOUCHER_SCHEMA } from "../voucher-store.js";
import { createQuotaGate, MAKE_CODE_SCENE, type QuotaGate, type QuotaRequest } from "./quota-gate.js";
import { validateRule } from "./rule-definition.js";
import { RuleStore } from "./rule-store.js";

const logger = createLogger("quota-gate-test", "silent");
const clock: Clock = { now: () => new Date() };

let t: TestDatabase;
let db: Database;
let rules: RuleStore;
let gate: QuotaGate;

beforeAll(async () => {
  t = await testDatabase();
  await migrate(t.db, { schema: VOUCHER_SCHEMA, migrationsDir: fileURLToPath(new URL("../migrations", import.meta.url)), logger });
  // On the real server, more connections than the race has reservations in flight at once: real contention.
  db = t.url ? await openDatabase({ url: t.url, logger, poolSize: 20 }) : t.db;
  rules = new RuleStore(db);
  gate = createQuotaGate({ db, rules, clock });
});

afterAll(async () => {
  if (db !== t.db) await db.close();
  await t.drop();
});

interface ItemMaxima {
  limitMaxDay?: number;
  limitMaxWeek?: number;
  limitMaxMonth?: number;
  limitMaxYear?: number;
  limitMaxTotal?: number;
}

/** A sale channel of its own per test, so the tests' rules never meet. */
function newChannel(): string {
  return `SC${randomUUID().slice(0, 8)}`;
}

async function limitRule(
  channel: string,
  options: { ruleKey?: string; limitWay?: "Q" | "A"; limitType?: "W" | "B"; limitKey?: string; maxima?: ItemMaxima; extra?: object; top?: object } = {},
): Promise<string> {
  const checked = validateRule({
    ruleScenceKey: "saleChannel",
    ruleSceneItemKey: channel,
    ruleScene: MAKE_CODE_SCENE,
    ruleName: "limit",
    ruleKey: options.ruleKey ?? "ScenceLimit",
    ruleValue: {
      limitWay: options.limitWay ?? "Q",
      limitType: options.limitType ?? "W",
      ...options.extra,
      limitItems: [
        {
          limitKey: options.limitKey ?? channel,
          limitMaxDay: 0,
          limitMaxWeek: 0,
          limitMaxMonth: 0,
          limitMaxYear: 0,
          limitMaxTotal: 0,
          ...options.maxima,
          startTime: "20260101000000",
          endTime: "20281231235959",
        },
      ],
    },
    startTime: "20260101000000",
    endTime: "20281231235959",
    messageTpl: `quota of ${channel} reached`,
    ...options.top,
  });
  if (!checked.ok) throw new Error(checked.message);
  return (await rules.create(checked.value, "test", new Date())).ruleId;
}

/** A make-code of `channel` at Shanghai time `at` (ISO with +08:00). */
function request(channel: string, at: string, more: Partial<QuotaRequest> = {}): QuotaRequest {
  return {
    scene: MAKE_CODE_SCENE,
    subjects: [{ sceneKey: "saleChannel", sceneItemKey: channel }],
    keys: { ScenceLimit: channel },
    count: 1,
    amountFen: 3000,
    at: new Date(at),
    reference: randomUUID(),
    ...more,
  };
}

describe("the quota race", () => {
  it("lets exactly 7 of 50 concurrent reservations through a total quota of 7", async () => {
    const channel = newChannel();
    const ruleId = await limitRule(channel, { maxima: { limitMaxTotal: 7 } });
    const decisions = await Promise.all(Array.from({ length: 50 }, () => gate.reserve(request(channel, "2026-12-01T10:00:00+08:00"))));
    expect(decisions.filter((d) => d.ok)).toHaveLength(7);
    expect(decisions.filter((d) => !d.ok)).toHaveLength(43);
    expect(decisions.find((d) => !d.ok)).toEqual({ ok: false, ruleId, field: "ruleValue.limitItems[0].limitMaxTotal", message: `quota of ${channel} reached` });
    const { rows } = await db.query<{ used: number }>(`SELECT used FROM vouchers.quota_usage WHERE rule_id = $1`, [ruleId]);
    expect(rows).toEqual([{ used: 7 }]);
  });

  it("never exceeds a day quota when counts of several codes race over two rules of one channel", async () => {
    const channel = newChannel();
    await limitRule(channel, { maxima: { limitMaxDay: 10 } });
    await limitRule(channel, { ruleKey: "ActivityLimit", limitKey: "A1", maxima: { limitMaxTotal: 100 } });
    const decisions = await Promise.all(
      Array.from({ length: 30 }, (_, i) => gate.reserve(request(channel, "2026-12-01T10:00:00+08:00", { count: 1 + (i % 3), keys: { ScenceLimit: channel, ActivityLimit: "A1" } }))),
    );
    const made = decisions.reduce((sum, d, i) => sum + (d.ok ? 1 + (i % 3) : 0), 0);
    expect(made).toBeLessThanOrEqual(10);
    expect(made).toBeGreaterThanOrEqual(9); // the last refusals were of counts that no longer fit
  });

  it("charges a reference once, even when its repeats race", async () => {
    const channel = newChannel();
    const ruleId = await limitRule(channel, { maxima: { limitMaxTotal: 5 } });
    const one = request(channel, "2026-12-01T10:00:00+08:00", { count: 2 });
    const decisions = await Promise.all(Array.from({ length: 10 }, () => gate.reserve(one)));
    const ids = new Set(decisions.map((d) => (d.ok ? d.reservationId : "refused")));
    expect(ids.size).toBe(1);
    expect([...ids][0]).not.toBe("refused");
    const { rows } = await db.query<{ used: number }>(`SELECT used FROM vouchers.quota_usage WHERE rule_id = $1`, [ruleId]);
    expect(rows).toEqual([{ used: 2 }]);
  });
});

describe("a make-code no limit rule applies to", () => {
  it("passes without a reservation or any counter written, and its empty reservation releases as a no-op", async () => {
    const channel = newChannel();
    const one = request(channel, "2026-12-01T10:00:00+08:00");
    expect(await gate.reserve(one)).toEqual({ ok: true, reservationId: "" });
    await gate.release("");
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM vouchers.quota_reservation WHERE reference = $1`, [one.reference]);
    expect(rows).toEqual([{ n: 0 }]);
  });
});

describe("the quota under any interleaving (fast-check)", () => {
  it("never charges past a maximum, and the counter is what the live reservations charged", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        // Rounds of concurrent steps: reserve n codes, or release an earlier reservation (by its index).
        fc.array(fc.array(fc.oneof(fc.record({ reserve: fc.integer({ min: 1, max: 3 }) }), fc.record({ release: fc.nat(20) })), { minLength: 1, maxLength: 6 }), {
          minLength: 1,
          maxLength: 5,
        }),
        async (max, rounds) => {
          const channel = newChannel();
          const ruleId = await limitRule(channel, { maxima: { limitMaxTotal: max } });
          const live = new Map<string, number>();
          const made: Array<{ id: string; count: number }> = [];
          for (const round of rounds) {
            await Promise.all(
              round.map(async (step) => {
                if ("reserve" in step) {
                  const decision = await gate.reserve(request(channel, "2026-12-01T10:00:00+08:00", { count: step.reserve }));
                  if (decision.ok) {
                    live.set(decision.reservationId, step.reserve);
                    made.push({ id: decision.reservationId, count: step.reserve });
                  }
                } else {
                  const target = made[step.release % Math.max(made.length, 1)];
                  if (!target) return;
                  live.delete(target.id);
                  await gate.release(target.id);
                }
              }),
            );
            const { rows } = await db.query<{ used: number }>(`SELECT used FROM vouchers.quota_usage WHERE rule_id = $1`, [ruleId]);
            const used = rows[0]?.used ?? 0;
            expect(used).toBeLessThanOrEqual(max);
            expect(used).toBe([...live.values()].reduce((sum, n) => sum + n, 0));
          }
        },
      ),
      { numRuns: 15 },
    );
  });
});

describe("periods in Asia/Shanghai", () => {
  it("rolls a day quota over at Shanghai midnight, not UTC's", async () => {
    const channel = newChannel();
    await limitRule(channel, { maxima: { limitMaxDay: 2 } });
    expect((await gate.reserve(request(channel, "2026-12-01T00:00:00+08:00"))).ok).toBe(true);
    expect((await gate.reserve(request(channel, "2026-12-01T23:59:59+08:00"))).ok).toBe(true);
    // 2026-12-01T23:59:59+08:00 and 2026-12-01T08:00:00Z are the same Shanghai day.
    expect(await gate.reserve(request(channel, "2026-12-01T15:59:59Z"))).toMatchObject({ ok: false, field: "ruleValue.limitItems[0].limitMaxDay" });
    expect((await gate.reserve(request(channel, "2026-12-01T16:00:00Z"))).ok).toBe(true); // 12-02 00:00 in Shanghai
  });

  it("rolls over as the service clock (clock.ts) passes Shanghai midnight", async () => {
    const channel = newChannel();
    await limitRule(channel, { maxima: { limitMaxDay: 1, limitMaxTotal: 3 } });
    let realNow = 1_000_000;
    const service = clockStartingAt(new Date("2026-12-01T23:59:58+08:00"), () => realNow);
    const makeCode = () => gate.reserve({ ...request(channel, "2026-01-01T00:00:00Z"), at: service.now() });
    expect((await makeCode()).ok).toBe(true);
    realNow += 1_000; // 23:59:59
    expect(await makeCode()).toMatchObject({ ok: false, field: "ruleValue.limitItems[0].limitMaxDay" });
    realNow += 1_000; // 00:00:00 of 12-02
    expect((await makeCode()).ok).toBe(true);
    realNow += 86_400_000; // 12-03
    expect((await makeCode()).ok).toBe(true);
    realNow += 86_400_000; // 12-04: the total of 3 is spent
    expect(await makeCode()).toMatchObject({ ok: false, field: "ruleValue.limitItems[0].limitMaxTotal" });
  });

  it("rolls a week quota over on Monday and a month quota on the 1st", async () => {
    const channel = newChannel();
    await limitRule(channel, { maxima: { limitMaxWeek: 1 } });
    // 2026-12-06 is a Sunday, 2026-12-07 a Monday.
    expect((await gate.reserve(request(channel, "2026-12-01T09:00:00+08:00"))).ok).toBe(true);
    expect((await gate.reserve(request(channel, "2026-12-06T23:00:00+08:00"))).ok).toBe(false);
    expect((await gate.reserve(request(channel, "2026-12-07T00:00:01+08:00"))).ok).toBe(true);

    const monthly = newChannel();
    await limitRule(monthly, { maxima: { limitMaxMonth: 1, limitMaxYear: 2 } });
    expect((await gate.reserve(request(monthly, "2026-11-30T23:59:59+08:00"))).ok).toBe(true);
    expect((await gate.reserve(request(monthly, "2026-11-30T23:59:59+08:00"))).ok).toBe(false);
    expect((await gate.reserve(request(monthly, "2026-12-01T00:00:00+08:00"))).ok).toBe(true);
    expect(await gate.reserve(request(monthly, "2027-01-01T00:00:00+08:00"))).toMatchObject({ ok: true });
    expect(await gate.reserve(request(monthly, "2026-12-31T00:00:00+08:00"))).toMatchObject({ ok: false, field: "ruleValue.limitItems[0].limitMaxMonth" });
  });

  it("counts every period at once: a refusal by the week leaves the day's count as it was", async () => {
    const channel = newChannel();
    const ruleId = await limitRule(channel, { maxima: { limitMaxDay: 5, limitMaxWeek: 1 } });
    expect((await gate.reserve(request(channel, "2026-12-01T09:00:00+08:00"))).ok).toBe(true);
    expect(await gate.reserve(request(channel, "2026-12-02T09:00:00+08:00"))).toMatchObject({ ok: false, field: "ruleValue.limitItems[0].limitMaxWeek" });
    const { rows } = await db.query<{ period: string; used: number }>(`SELECT period, used FROM vouchers.quota_usage WHERE rule_id = $1 ORDER BY period`, [ruleId]);
    expect(rows).toEqual([
      { period: "D20261201", used: 1 },
      { period: "W20261130", used: 1 },
    ]);
  });
});

describe("the rules of a reservation", () => {
  it("A rules count the amount in fen, Q rules the codes", async () => {
    const channel = newChannel();
    await limitRule(channel, { limitWay: "A", maxima: { limitMaxTotal: 10_000 } });
    expect((await gate.reserve(request(channel, "2026-12-01T10:00:00+08:00", { count: 3, amountFen: 9_000 }))).ok).toBe(true);
    expect((await gate.reserve(request(channel, "2026-12-01T10:00:00+08:00", { count: 1, amountFen: 1_001 }))).ok).toBe(false);
    expect((await gate.reserve(request(channel, "2026-12-01T10:00:00+08:00", { count: 1, amountFen: 1_000 }))).ok).toBe(true);
  });

  it("a request larger than a maximum is refused without touching the counters", async () => {
    const channel = newChannel();
    const ruleId = await limitRule(channel, { maxima: { limitMaxTotal: 3 } });
    expect(await gate.reserve(request(channel, "2026-12-01T10:00:00+08:00", { count: 4 }))).toMatchObject({ ok: false, ruleId });
    expect((await db.query(`SELECT 1 FROM vouchers.quota_usage WHERE rule_id = $1`, [ruleId])).rows).toHaveLength(0);
  });

  it("a white list refuses a key it does not list and a call that presents none", async () => {
    const channel = newChannel();
    const ruleId = await limitRule(channel, { ruleKey: "ActivityLimit", limitKey: "A1" });
    const at = "2026-12-01T10:00:00+08:00";
    expect((await gate.reserve(request(channel, at, { keys: { ActivityLimit: "A1" } }))).ok).toBe(true);
    expect(await gate.reserve(request(channel, at, { keys: { ActivityLimit: "A2" } }))).toEqual({ ok: false, ruleId, field: "ruleValue.limitItems", message: `quota of ${channel} reached` });
    expect((await gate.reserve(request(channel, at, { keys: {} }))).ok).toBe(false);
  });

  it("a black list refuses a listed key and lets any other through", async () => {
    const channel = newChannel();
    const ruleId = await limitRule(channel, { ruleKey: "CardNoLimit", limitType: "B", limitKey: "6221581234567890" });
    const at = "2026-12-01T10:00:00+08:00";
    expect(await gate.reserve(request(channel, at, { keys: { CardNoLimit: "6221581234567890" } }))).toMatchObject({ ok: false, ruleId, field: "ruleValue.limitItems[0].limitKey" });
    expect((await gate.reserve(request(channel, at, { keys: { CardNoLimit: "6221580000000000" } }))).ok).toBe(true);
    expect((await gate.reserve(request(channel, at, { keys: {} }))).ok).toBe(true);
  });

  it("a card bin rule cuts the bin from the card number: prefix digits, then suffix digits", async () => {
    const channel = newChannel();
    await limitRule(channel, { ruleKey: "CardBinLimit", limitKey: "62215890", extra: { binPrefixNum: 6, binSuffixNum: 2 }, maxima: { limitMaxTotal: 1 } });
    const at = "2026-12-01T10:00:00+08:00";
    expect((await gate.reserve(request(channel, at, { keys: { CardBinLimit: "6221581234567891" } }))).ok).toBe(false); // bin 62215891
    expect((await gate.reserve(request(channel, at, { keys: { CardBinLimit: "6221581234567890" } }))).ok).toBe(true);
    expect((await gate.reserve(request(channel, at, { keys: { CardBinLimit: "6221589999999990" } }))).ok).toBe(false); // quota spent
  });

  it("passes over a failed rule whose isContinue is Y, charging nothing of it", async () => {
    const channel = newChannel();
    const soft = await limitRule(channel, { maxima: { limitMaxTotal: 1 }, top: { isContinue: "Y" } });
    const hard = await limitRule(channel, { ruleKey: "ActivityLimit", limitKey: "A1", maxima: { limitMaxTotal: 3 } });
    const keys = { ScenceLimit: channel, ActivityLimit: "A1" };
    const at = "2026-12-01T10:00:00+08:00";
    for (let i = 0; i < 3; i += 1) expect((await gate.reserve(request(channel, at, { keys }))).ok).toBe(true);
    expect(await gate.reserve(request(channel, at, { keys }))).toMatchObject({ ok: false, ruleId: hard });
    const { rows } = await db.query<{ rule_id: string; used: number }>(`SELECT rule_id, used FROM vouchers.quota_usage WHERE rule_id = ANY($1::text[]) ORDER BY rule_id`, [[soft, hard]]);
    expect(rows).toEqual([
      { rule_id: soft, used: 1 },
      { rule_id: hard, used: 3 },
    ]);
  });

  it("applies only active rules of the scene in their window, to their scene item or to every item", async () => {
    const channel = newChannel();
    const at = "2026-12-01T10:00:00+08:00";
    const disabled = await limitRule(channel, { maxima: { limitMaxTotal: 1 }, top: { isActive: "N" } });
    await limitRule(channel, { maxima: { limitMaxTotal: 1 }, top: { ruleScene: "verify" } });
    await limitRule(channel, { maxima: { limitMaxTotal: 1 }, top: { startTime: "20270101000000" } });
    for (let i = 0; i < 3; i += 1) expect((await gate.reserve(request(channel, at))).ok).toBe(true);
    await rules.setActive(disabled, true, "test", new Date());
    expect((await gate.reserve(request(channel, at))).ok).toBe(true);
    expect((await gate.reserve(request(channel, at))).ok).toBe(false);

    // A rule without a scene item limits every sale channel (here: its key must be listed).
    const everyone = `every-${randomUUID().slice(0, 8)}`;
    const checked = validateRule({
      ruleScenceKey: everyone,
      ruleScene: MAKE_CODE_SCENE,
      ruleName: "any",
      ruleKey: "CityLimit",
      ruleValue: { limitWay: "Q", limitType: "B", limitItems: [{ limitKey: "310000", limitMaxDay: 0, limitMaxWeek: 0, limitMaxMonth: 0, limitMaxYear: 0, limitMaxTotal: 0, startTime: "20260101000000", endTime: "20281231235959" }] },
      startTime: "20260101000000",
      endTime: "20281231235959",
      messageTpl: "city refused",
    });
    if (!checked.ok) throw new Error(checked.message);
    await rules.create(checked.value, "test", new Date());
    const anyItem = { subjects: [{ sceneKey: everyone, sceneItemKey: newChannel() }] };
    expect(await gate.reserve(request(channel, at, { ...anyItem, keys: { CityLimit: "310000" } }))).toMatchObject({ ok: false, message: "city refused" });
    expect((await gate.reserve(request(channel, at, { ...anyItem, keys: { CityLimit: "110000" } }))).ok).toBe(true);
  });
});

describe("release", () => {
  it("gives a reservation's charges back once, and a released reference may reserve again", async () => {
    const channel = newChannel();
    const ruleId = await limitRule(channel, { maxima: { limitMaxDay: 2, limitMaxTotal: 2 } });
    const first = request(channel, "2026-12-01T10:00:00+08:00", { count: 2 });
    const reserved = await gate.reserve(first);
    if (!reserved.ok) throw new Error("refused");
    expect((await gate.reserve(request(channel, "2026-12-01T10:00:00+08:00"))).ok).toBe(false);
    await gate.release(reserved.reservationId);
    await gate.release(reserved.reservationId);
    await gate.release(randomUUID());
    await gate.release("not a uuid");
    const { rows } = await db.query<{ used: number }>(`SELECT used FROM vouchers.quota_usage WHERE rule_id = $1 ORDER BY period`, [ruleId]);
    expect(rows).toEqual([{ used: 0 }, { used: 0 }]);
    const again = await gate.reserve(first);
    expect(again.ok && again.reservationId).not.toBe(reserved.reservationId);
    expect((await gate.reserve(request(channel, "2026-12-01T10:00:00+08:00"))).ok).toBe(false);
  });

  it("gives a reference's reservation back by the reference alone, once, whoever reserved it", async () => {
    const channel = newChannel();
    const ruleId = await limitRule(channel, { maxima: { limitMaxDay: 2, limitMaxTotal: 2 } });
    const first = request(channel, "2026-12-01T10:00:00+08:00", { count: 2 });
    expect((await gate.reserve(first)).ok).toBe(true);
    await gate.releaseReference(first.reference);
    await gate.releaseReference(first.reference);
    await gate.releaseReference("no such reference");
    const { rows } = await db.query<{ used: number }>(`SELECT used FROM vouchers.quota_usage WHERE rule_id = $1 ORDER BY period`, [ruleId]);
    expect(rows).toEqual([{ used: 0 }, { used: 0 }]);
  });

  it("refuses a malformed request as a parameter error", async () => {
    await expect(gate.reserve(request(newChannel(), "2026-12-01T10:00:00+08:00", { count: 0 }))).rejects.toThrow(/count/);
    await expect(gate.reserve(request(newChannel(), "2026-12-01T10:00:00+08:00", { amountFen: 1.5 }))).rejects.toThrow(/amountFen/);
    await expect(gate.reserve(request(newChannel(), "2026-12-01T10:00:00+08:00", { reference: "" }))).rejects.toThrow(/reference/);
  });
});
