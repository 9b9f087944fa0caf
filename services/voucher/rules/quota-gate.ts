// The make-code scene's quota gate: before any code is made, the scene's limit rules (ScenceLimit,
// ActivityLimit, CardBinLimit, CardNoLimit, CityLimit, PosTidLimit) are checked and their counters charged in
// one step, so concurrent make-codes never make more codes than a quota allows. A make-code that fails after
// reserving gives its reservation back.
import { randomUUID } from "node:crypto";
import type { Clock } from "../../common/clock.js";
import type { Database, Queryable, Transaction } from "../../common/database.js";
import { voucherError, VoucherError } from "../errors.js";
import { limitVerdict, type QuotaCharge } from "./limits.js";
import { LIMIT_RULE_KEYS, type LimitRuleKey, type RuleDefinition } from "./rule-definition.js";

export { LIMIT_RULE_KEYS, type LimitRuleKey };

/** The rule scene of a make-code (a rule's `ruleScene`). */
export const MAKE_CODE_SCENE = "makeCode";

/** A record a rule can be attached to: its `ruleScenceKey` (e.g. "saleChannel") and `ruleSceneItemKey` (its id). */
export interface RuleSubject {
  sceneKey: string;
  sceneItemKey: string;
}

/** The records a make-code's rules can be attached to, by their `ruleScenceKey`. */
export const MAKE_CODE_SUBJECT_KEYS = ["saleChannel", "activity", "template"] as const;
export type MakeCodeSubjectKey = (typeof MAKE_CODE_SUBJECT_KEYS)[number];

/** A make-code's subjects: its sale channel, activity and template. */
export function makeCodeSubjects(ids: Record<MakeCodeSubjectKey, string>): RuleSubject[] {
  return MAKE_CODE_SUBJECT_KEYS.map((sceneKey) => ({ sceneKey, sceneItemKey: ids[sceneKey] }));
}

/** A limit rule as the gate runs it. */
export interface LimitRule {
  ruleId: string;
  definition: RuleDefinition;
}

export interface QuotaRequest {
  /** The rules' `ruleScene`: MAKE_CODE_SCENE for a make-code. */
  scene: string;
  /**
   * The records the call concerns (a make-code: its sale channel, activity and template). A rule applies when
   * its `ruleScenceKey` is one of their sceneKeys and its `ruleSceneItemKey` is empty or that record's id.
   */
  subjects: readonly RuleSubject[];
  /**
   * What the call presents to each limit kind, matched against the rule's `limitItems[].limitKey`: ScenceLimit
   * the scene item (e.g. the sale channel id), ActivityLimit the activity id, CardNoLimit the card number,
   * CardBinLimit the card number too (the rule cuts its bin: first binPrefixNum digits, then the last
   * binSuffixNum), CityLimit the city code, PosTidLimit the terminal id. A white-list rule refuses a call that
   * presents no key of its kind.
   */
  keys: Partial<Record<LimitRuleKey, string>>;
  /** Codes to make: what quantity (`limitWay` Q) rules count. A positive integer. */
  count: number;
  /** Their total face value in fen: what amount (`limitWay` A) rules count. A non-negative integer. */
  amountFen: number;
  /** The business time of the call (the service clock): picks the rules, items and day/week/month/year. */
  at: Date;
  /**
   * The call's idempotency key (a make-code: sale channel id + saleChannelOrderId). A second reserve with the
   * same reference answers the first's reservation and charges nothing more, so a retried make-code is
   * counted once.
   */
  reference: string;
}

export type QuotaDecision =
  /** `reservationId` "" when no limit rule applied and nothing was charged. */
  | { ok: true; reservationId: string }
  /** Refused by the rule `ruleId`: `field` is the path in its ruleValue that refused (e.g. `limitItems[0].limitMaxDay`), `message` its messageTpl. */
  | { ok: false; ruleId: string; field: string; message: string };

export interface QuotaGate {
  /**
   * Checks the scene's active limit rules at `at` (by ruleOrder; a failed rule with isContinue Y is passed
   * over) and charges every period counter they limit, all or nothing. ATOMIC: under any concurrency the
   * charged total never exceeds a maximum. `limits`: those rules, when the caller read them already in a
   * statement of its own (a new make-code's offer read): the gate then reads none.
   */
  reserve(request: QuotaRequest, limits?: readonly LimitRule[]): Promise<QuotaDecision>;
  /** Gives a reservation's charges back (a make-code that failed after reserving). Idempotent; unknown ids are ignored. */
  release(reservationId: string): Promise<void>;
  /** The same for the reservation of `reference`, whoever made it (an order taken over from a caller that died). */
  releaseReference(reference: string): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// The gate on PostgreSQL (both run modes: PGlite embedded): see the README, "WHALE rules and quotas".
// ---------------------------------------------------------------------------------------------------------

/** The rules the gate reads: the scene's active limit rules, in execution order. */
export interface LimitRuleSource {
  applicable(
    scene: string,
    subjects: readonly RuleSubject[],
    ruleKeys: readonly LimitRuleKey[],
    at: Date,
    on: Queryable,
  ): Promise<LimitRule[]>;
}

/** A refusal found inside the transaction: thrown to roll back every charge already made, then answered. */
class Refused extends Error {
  constructor(readonly decision: QuotaDecision & { ok: false }) {
    super(decision.message);
  }
}

/**
 * Counters in PostgreSQL, raised by a conditional upsert (`used + n <= max`) under the row's lock: a
 * concurrent reservation waits for the row, then sees the committed count, so no interleaving overruns a
 * maximum. One transaction per reservation makes it all or nothing; counters are locked in one global order
 * (rule, key, period) so two reservations never deadlock.
 */
export function createQuotaGate(deps: { db: Database; rules: LimitRuleSource; clock: Clock }): QuotaGate {
  const { db, rules, clock } = deps;
  return {
    async reserve(request, read) {
      checkRequest(request);
      // Most make-codes meet no limit rule (a PSBC booking's, unless an operator set one): then nothing is
      // counted and no transaction is opened. Reading the rules before the transaction rather than in it
      // changes nothing of the counters' atomicity: that is the conditional upsert's, under the row's lock.
      const limits = read ?? (await rules.applicable(request.scene, request.subjects, LIMIT_RULE_KEYS, request.at, db));
      if (limits.length === 0) return { ok: true, reservationId: "" };
      try {
        return await db.transaction((tx) => reserveIn(tx, limits, request, clock.now()));
      } catch (err) {
        if (err instanceof Refused) return err.decision;
        throw err;
      }
    },
    async release(reservationId) {
      if (UUID.test(reservationId)) await releaseWhere(db, "reservation_id", reservationId, clock.now());
    },
    async releaseReference(reference) {
      await releaseWhere(db, "reference", reference, clock.now());
    },
  };
}

/** Marks the reservation released and takes its charges off the counters, once (a second release finds it released). */
async function releaseWhere(db: Database, column: "reservation_id" | "reference", value: string, now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ charges: StoredCharge[] }>(
      `UPDATE vouchers.quota_reservation SET released_at = $2 WHERE ${column} = $1 AND released_at IS NULL RETURNING charges`,
      [value, now],
    );
    for (const [ruleId, limitKey, period, amount] of rows[0]?.charges ?? []) {
      await tx.query(`UPDATE vouchers.quota_usage SET used = used - $4 WHERE rule_id = $1 AND limit_key = $2 AND period = $3`, [ruleId, limitKey, period, amount]);
    }
  });
}

type StoredCharge = [ruleId: string, limitKey: string, period: string, amount: number];

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function reserveIn(
  tx: Transaction,
  limits: readonly LimitRule[],
  request: QuotaRequest,
  now: Date,
): Promise<QuotaDecision> {
  // The reservation row first: a concurrent reserve of the same reference waits here for this one to end.
  const { rows: claimed } = await tx.query<{ reservation_id: string }>(
    `INSERT INTO vouchers.quota_reservation (reservation_id, reference, charges, created_at) VALUES ($1, $2, '[]', $3)
     ON CONFLICT (reference) DO UPDATE SET reservation_id = EXCLUDED.reservation_id, charges = '[]', created_at = EXCLUDED.created_at, released_at = NULL
       WHERE quota_reservation.released_at IS NOT NULL
     RETURNING reservation_id`,
    [randomUUID(), request.reference, now],
  );
  if (!claimed[0]) {
    const { rows } = await tx.query<{ reservation_id: string }>(`SELECT reservation_id FROM vouchers.quota_reservation WHERE reference = $1`, [request.reference]);
    return { ok: true, reservationId: rows[0]!.reservation_id };
  }
  const reservationId = claimed[0].reservation_id;

  // Which rules pass and what they charge, in ruleOrder.
  const toCharge: Array<{ rule: LimitRule; charges: QuotaCharge[] }> = [];
  for (const rule of limits) {
    const { rule: value, isContinue, messageTpl } = rule.definition;
    if (value.ruleKey === "BuyGet" || value.ruleKey === "WeekTime") continue;
    const verdict = limitVerdict({ ruleId: rule.ruleId, ruleKey: value.ruleKey, value: value.value }, request);
    if (verdict.ok) toCharge.push({ rule, charges: verdict.charges });
    else if (!isContinue) throw new Refused({ ok: false, ruleId: rule.ruleId, field: `ruleValue.${verdict.field}`, message: messageTpl });
  }

  // The counters, in one global order; a rule that may be passed over (isContinue) behind a savepoint.
  toCharge.sort((a, b) => compareIds(a.rule.ruleId, b.rule.ruleId));
  const charged: StoredCharge[] = [];
  for (const { rule, charges } of toCharge) {
    const passable = rule.definition.isContinue;
    if (passable) await tx.query("SAVEPOINT quota_rule");
    const ordered = [...charges].sort((a, b) => (a.limitKey === b.limitKey ? (a.period < b.period ? -1 : 1) : a.limitKey < b.limitKey ? -1 : 1));
    let exhausted: QuotaCharge | undefined;
    for (const charge of ordered) {
      const { rows } = await tx.query(
        `INSERT INTO vouchers.quota_usage (rule_id, limit_key, period, used) VALUES ($1, $2, $3, $4)
         ON CONFLICT (rule_id, limit_key, period) DO UPDATE SET used = quota_usage.used + EXCLUDED.used
           WHERE quota_usage.used + EXCLUDED.used <= $5
         RETURNING used`,
        [charge.ruleId, charge.limitKey, charge.period, charge.amount, charge.max],
      );
      if (rows.length === 0) {
        exhausted = charge;
        break;
      }
    }
    if (!exhausted) {
      charged.push(...ordered.map((c): StoredCharge => [c.ruleId, c.limitKey, c.period, c.amount]));
      if (passable) await tx.query("RELEASE SAVEPOINT quota_rule");
    } else if (passable) {
      await tx.query("ROLLBACK TO SAVEPOINT quota_rule");
    } else {
      throw new Refused({ ok: false, ruleId: rule.ruleId, field: `ruleValue.${exhausted.field}`, message: rule.definition.messageTpl });
    }
  }
  await tx.query(`UPDATE vouchers.quota_reservation SET charges = $2 WHERE reservation_id = $1`, [reservationId, JSON.stringify(charged)]);
  return { ok: true, reservationId };
}

/** Rule ids are decimals of one sequence: shorter is older. */
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

function checkRequest(request: QuotaRequest): void {
  const broken = (field: string, rule: string) => voucherError(VoucherError.PARAMETER_INVALID, `quota request ${field}: ${rule}`);
  if (!Number.isSafeInteger(request.count) || request.count < 1) throw broken("count", "a positive integer");
  if (!Number.isSafeInteger(request.amountFen) || request.amountFen < 0) throw broken("amountFen", "a non-negative integer");
  if (!request.reference || request.reference.length > 200) throw broken("reference", "1 to 200 characters");
  if (Number.isNaN(request.at.getTime())) throw broken("at", "a valid time");
}
