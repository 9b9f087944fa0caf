// The make-code scene's quota gate: before any code is made, the scene's limit rules (ScenceLimit,
// ActivityLimit, CardBinLimit, CardNoLimit, CityLimit, PosTidLimit) are checked and their counters charged in
// one step, so concurrent make-codes never make more codes than a quota allows. A make-code that fails after
// reserving gives its reservation back.

/** The limit rule kinds (the seed's 限制规则): each names the value of a request that its limitKeys match. */
export const LIMIT_RULE_KEYS = ["ScenceLimit", "ActivityLimit", "CardBinLimit", "CardNoLimit", "CityLimit", "PosTidLimit"] as const;
export type LimitRuleKey = (typeof LIMIT_RULE_KEYS)[number];

/** The rule scene of a make-code (a rule's `ruleScene`). */
export const MAKE_CODE_SCENE = "makeCode";

/** A record a rule can be attached to: its `ruleScenceKey` (e.g. "saleChannel") and `ruleSceneItemKey` (its id). */
export interface RuleSubject {
  sceneKey: string;
  sceneItemKey: string;
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
  | { ok: true; reservationId: string }
  /** Refused by the rule `ruleId`: `field` is the path in its ruleValue that refused (e.g. `limitItems[0].limitMaxDay`), `message` its messageTpl. */
  | { ok: false; ruleId: string; field: string; message: string };

export interface QuotaGate {
  /**
   * Checks the scene's active limit rules at `at` (by ruleOrder; a failed rule with isContinue Y is passed
   * over) and charges every period counter they limit, all or nothing. ATOMIC: under any concurrency the
   * charged total never exceeds a maximum.
   */
  reserve(request: QuotaRequest): Promise<QuotaDecision>;
  /** Gives a reservation's charges back (a make-code that failed after reserving). Idempotent; unknown ids are ignored. */
  release(reservationId: string): Promise<void>;
}
