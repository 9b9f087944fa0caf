// The rules and their versions (migrations/004). Each write is one transaction that adds a version and moves the
// rule's lookup columns to it; nothing is overwritten, so every version stays listable.
import type { Database, Queryable } from "../../common/database.js";
import { parseBusinessTime } from "../../common/clock.js";
import type { RuleDefinition, RuleKey } from "./rule-definition.js";
import type { LimitRule, RuleSubject } from "./quota-gate.js";

export type RuleChange = "created" | "updated" | "enabled" | "disabled";

export interface RuleRecord {
  ruleId: string;
  version: number;
  definition: RuleDefinition;
  changedBy: string;
  change: RuleChange;
  /** When this version was written. */
  changedAt: Date;
  createdAt: Date;
}

export interface RuleFilter {
  sceneKey?: string;
  sceneItemKey?: string;
  ruleScene?: string;
  isActive?: boolean;
  ruleNamePrefix?: string;
  ruleKey?: string;
  /** Rules after this id (paging). */
  after?: string;
  limit: number;
}

interface Row {
  rule_id: string;
  version: number;
  definition: RuleDefinition;
  changed_by: string;
  change: RuleChange;
  changed_at: Date;
  created_at: Date;
}

const CURRENT = `SELECT r.rule_id, v.version, v.definition, v.changed_by, v.change, v.created_at AS changed_at, r.created_at
  FROM vouchers.rule r JOIN vouchers.rule_version v ON v.rule_id = r.rule_id AND v.version = r.version`;

/** The order the gate runs a scene's rules in: `ruleOrder`, then the id (as a number: ids are digits). */
export const RULE_EXECUTION_ORDER = "r.rule_order, length(r.rule_id), r.rule_id";

/**
 * FROM and WHERE of the active rules of a scene at a time that concern one of the subjects (a rule with no scene
 * item concerns every record of its scene key), `r` the rule and `v` its current version; each argument a
 * placeholder or SQL expression, so a read that finds the subjects itself (the make-code offer) can hold it.
 */
export function applicableRules(sql: { scene: string; sceneKeys: string; sceneItemKeys: string; ruleKeys: string; at: string }): string {
  return `FROM vouchers.rule r JOIN vouchers.rule_version v ON v.rule_id = r.rule_id AND v.version = r.version
       WHERE r.is_active AND r.rule_scene = ${sql.scene} AND r.rule_key = ANY(${sql.ruleKeys}) AND r.start_time <= ${sql.at} AND ${sql.at} <= r.end_time
         AND EXISTS (SELECT 1 FROM unnest(${sql.sceneKeys}, ${sql.sceneItemKeys}) AS s(scene_key, scene_item_key)
                     WHERE r.scene_key = s.scene_key AND (r.scene_item_key = '' OR r.scene_item_key = s.scene_item_key))`;
}

export class RuleStore {
  constructor(private readonly db: Database) {}

  async create(definition: RuleDefinition, changedBy: string, now: Date): Promise<RuleRecord> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ rule_id: string }>(
        `INSERT INTO vouchers.rule (version, rule_scene, scene_key, scene_item_key, rule_key, is_active, rule_order, start_time, end_time, created_at, updated_at)
         VALUES (1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING rule_id`,
        [...lookupColumns(definition), now],
      );
      const ruleId = rows[0]!.rule_id;
      await insertVersion(tx, ruleId, 1, definition, changedBy, "created", now);
      return { ruleId, version: 1, definition, changedBy, change: "created", changedAt: now, createdAt: now };
    });
  }

  async get(ruleId: string): Promise<RuleRecord | undefined> {
    const { rows } = await this.db.query<Row>(`${CURRENT} WHERE r.rule_id = $1`, [ruleId]);
    return rows[0] && record(rows[0]);
  }

  /** By rule id, ascending. */
  async list(filter: RuleFilter): Promise<RuleRecord[]> {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (filter.sceneKey) conditions.push(`r.scene_key = $${params.push(filter.sceneKey)}`);
    if (filter.sceneItemKey) conditions.push(`r.scene_item_key = $${params.push(filter.sceneItemKey)}`);
    if (filter.ruleScene) conditions.push(`r.rule_scene = $${params.push(filter.ruleScene)}`);
    if (filter.isActive !== undefined) conditions.push(`r.is_active = $${params.push(filter.isActive)}`);
    if (filter.ruleKey) conditions.push(`r.rule_key = $${params.push(filter.ruleKey)}`);
    if (filter.ruleNamePrefix) conditions.push(`starts_with(v.definition->>'ruleName', $${params.push(filter.ruleNamePrefix)})`);
    // Ids are decimal numbers from one sequence: order by length, then text.
    if (filter.after) conditions.push(`(length(r.rule_id), r.rule_id) > (length($${params.push(filter.after)}), $${params.length})`);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
    const { rows } = await this.db.query<Row>(`${CURRENT} ${where} ORDER BY length(r.rule_id), r.rule_id LIMIT $${params.push(filter.limit)}`, params);
    return rows.map(record);
  }

  /**
   * A new version with the definition `change` makes of the current one (the whole rule), under the rule's lock,
   * so a concurrent change (a disable) is never overwritten with what the rule was before it. `expectedVersion`
   * (when not 0) must be the current one, so two editors do not overwrite each other unseen.
   */
  async update(
    ruleId: string,
    change: (current: RuleDefinition) => RuleDefinition,
    changedBy: string,
    now: Date,
    expectedVersion = 0,
  ): Promise<RuleRecord | "not-found" | "version-conflict"> {
    return this.newVersion(ruleId, now, expectedVersion, (current) => ({ definition: change(current), change: "updated" as const, changedBy }));
  }

  /** Enables or disables: a new version, unless the rule is already so (then the current one, unchanged). */
  async setActive(ruleId: string, active: boolean, changedBy: string, now: Date): Promise<RuleRecord | "not-found"> {
    const outcome = await this.newVersion(ruleId, now, 0, (current) =>
      current.isActive === active ? undefined : { definition: { ...current, isActive: active }, change: active ? ("enabled" as const) : ("disabled" as const), changedBy },
    );
    if (outcome === "version-conflict") throw new Error("unreachable: no expected version");
    return outcome;
  }

  /** Every version, newest first. */
  async versions(ruleId: string): Promise<RuleRecord[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT v.rule_id, v.version, v.definition, v.changed_by, v.change, v.created_at AS changed_at, r.created_at
       FROM vouchers.rule_version v JOIN vouchers.rule r USING (rule_id) WHERE v.rule_id = $1 ORDER BY v.version DESC`,
      [ruleId],
    );
    return rows.map(record);
  }

  /**
   * The active rules of `ruleKeys` in a scene that apply to any of `subjects` at `at`, in execution order
   * (ruleOrder, then the older rule first). `on`: the transaction to read in.
   */
  async applicable(
    scene: string,
    subjects: readonly RuleSubject[],
    ruleKeys: readonly RuleKey[],
    at: Date,
    on: Queryable = this.db,
  ): Promise<LimitRule[]> {
    if (subjects.length === 0) return [];
    const { rows } = await on.query<{ rule_id: string; definition: RuleDefinition }>(
      `SELECT r.rule_id, v.definition ${applicableRules({ scene: "$1", sceneKeys: "$2::text[]", sceneItemKeys: "$3::text[]", ruleKeys: "$4::text[]", at: "$5" })}
       ORDER BY ${RULE_EXECUTION_ORDER}`,
      [scene, subjects.map((s) => s.sceneKey), subjects.map((s) => s.sceneItemKey), [...ruleKeys], at],
    );
    return rows.map((row) => ({ ruleId: row.rule_id, definition: row.definition }));
  }

  private async newVersion(
    ruleId: string,
    now: Date,
    expectedVersion: number,
    next: (current: RuleDefinition) => { definition: RuleDefinition; change: RuleChange; changedBy: string } | undefined,
  ): Promise<RuleRecord | "not-found" | "version-conflict"> {
    return this.db.transaction(async (tx) => {
      // The rule's row locked on its own, then read: locked through the join, a call that waited for a concurrent
      // writer rechecks the join against its snapshot, which lacks the writer's new version, and finds no rule.
      const { rows: locked } = await tx.query(`SELECT 1 FROM vouchers.rule WHERE rule_id = $1 FOR UPDATE`, [ruleId]);
      if (locked.length === 0) return "not-found";
      const { rows } = await tx.query<Row>(`${CURRENT} WHERE r.rule_id = $1`, [ruleId]);
      const current = rows[0];
      if (!current) return "not-found";
      if (expectedVersion !== 0 && expectedVersion !== current.version) return "version-conflict";
      const written = next(current.definition);
      if (!written) return record(current);
      const version = current.version + 1;
      await tx.query(
        `UPDATE vouchers.rule SET version = $2, rule_scene = $3, scene_key = $4, scene_item_key = $5, rule_key = $6, is_active = $7,
           rule_order = $8, start_time = $9, end_time = $10, updated_at = $11 WHERE rule_id = $1`,
        [ruleId, version, ...lookupColumns(written.definition), now],
      );
      await insertVersion(tx, ruleId, version, written.definition, written.changedBy, written.change, now);
      return { ruleId, version, definition: written.definition, changedBy: written.changedBy, change: written.change, changedAt: now, createdAt: new Date(current.created_at) };
    });
  }
}

function lookupColumns(definition: RuleDefinition): unknown[] {
  return [
    definition.ruleScene,
    definition.ruleScenceKey,
    definition.ruleSceneItemKey ?? "",
    definition.rule.ruleKey,
    definition.isActive,
    definition.ruleOrder,
    parseBusinessTime(definition.startTime),
    parseBusinessTime(definition.endTime),
  ];
}

async function insertVersion(tx: Queryable, ruleId: string, version: number, definition: RuleDefinition, changedBy: string, change: RuleChange, now: Date): Promise<void> {
  await tx.query(
    `INSERT INTO vouchers.rule_version (rule_id, version, definition, changed_by, change, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
    [ruleId, version, JSON.stringify(definition), changedBy, change, now],
  );
}

function record(row: Row): RuleRecord {
  return {
    ruleId: row.rule_id,
    version: row.version,
    definition: row.definition,
    changedBy: row.changed_by,
    change: row.change,
    changedAt: new Date(row.changed_at),
    createdAt: new Date(row.created_at),
  };
}
