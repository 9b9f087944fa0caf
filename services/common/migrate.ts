import path from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import Postgrator from "postgrator";
import { checkedSchema, type Database, type Transaction } from "./database.js";
import type { Logger } from "./logger.js";

export interface MigrateOptions {
  /** The schema the service owns; its version table is `<schema>.schemaversion`. */
  schema: string;
  /**
   * Absolute folder of `NNN.do.<what>.sql` files (resolve it from the caller's module, which runs from dist/);
   * absent when the schema holds only the shared infrastructure tables.
   */
  migrationsDir?: string;
  logger: Logger;
}

/**
 * The tables every service's schema has (the outbox, the consumers' processed events): one definition, in
 * services/common/migrations, written without a schema and applied with search_path set to each service's
 * schema, versioned in `<schema>.infrastructure_version`. They come after the service's own migrations
 * because the first services' 001 created their outbox themselves (applied files are never edited).
 */
const INFRASTRUCTURE_MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

/** A folder of migrations and the table recording how far a schema got through it. */
interface MigrationSet {
  versionTable: string;
  dir: string;
  /** Its files name no schema: run them with search_path set to the service's schema. */
  unqualified: boolean;
}

function migrationSets(options: Pick<MigrateOptions, "schema" | "migrationsDir">): MigrationSet[] {
  const schema = checkedSchema(options.schema);
  const infrastructure = { versionTable: `${schema}.infrastructure_version`, dir: INFRASTRUCTURE_MIGRATIONS, unqualified: true };
  if (!options.migrationsDir) return [infrastructure];
  return [{ versionTable: `${schema}.schemaversion`, dir: options.migrationsDir, unqualified: false }, infrastructure];
}

function postgratorFor(db: Pick<Database, "query" | "execScript">, set: MigrationSet): Postgrator {
  return new Postgrator({
    driver: "pg",
    schemaTable: set.versionTable,
    migrationPattern: path.join(set.dir, "*.sql"),
    execQuery: (sql) => db.query(sql),
    execSqlScript: (sql) => db.execScript(sql),
  });
}

/** Whether every migration this code ships is applied to the schema (a newer schema, after a rollback, counts). */
async function schemaCurrent(db: Database, options: MigrateOptions): Promise<boolean> {
  for (const set of migrationSets(options)) {
    const postgrator = postgratorFor(db, set);
    const [applied, latest] = await Promise.all([postgrator.getDatabaseVersion(), postgrator.getMaxVersion()]);
    if (applied > latest) options.logger.warn({ schema: options.schema, versionTable: set.versionTable, applied, latest }, "schema is newer than this code");
    if (applied < latest) {
      options.logger.debug({ schema: options.schema, versionTable: set.versionTable, applied, latest }, "schema behind this code");
      return false;
    }
  }
  return true;
}

/**
 * Waits until the migration command (a Job, a Helm hook) has brought `schema` to the newest version this code
 * knows, checking every `intervalMs`; so replicas of a new version never race each other to migrate. A schema
 * already newer than the code (a rollback) is accepted: migrations are written to be backward compatible.
 */
export async function awaitSchema(
  db: Database,
  options: MigrateOptions & { intervalMs?: number; signal: AbortSignal },
): Promise<void> {
  const { schema, logger, signal } = options;
  for (let logged = false; ; logged = true) {
    const current = await schemaCurrent(db, options).catch((err: unknown) => {
      logger.warn({ schema, err }, "cannot read the schema version");
      return undefined;
    });
    if (current) return;
    if (current === false && !logged) logger.warn({ schema }, "waiting for the migration command to bring the schema up to date");
    await sleep(options.intervalMs ?? 2_000, undefined, { signal });
  }
}

/**
 * Brings `schema` to the newest migration, the service's own and then the shared infrastructure tables. The
 * whole run is one transaction holding `pg_advisory_xact_lock(hashtext(schema))`: replicas starting together
 * apply each file once (the others wait, then find nothing to do), and a failing file leaves no half-applied
 * schema behind. A migration that cannot run in a transaction (CREATE INDEX CONCURRENTLY) is therefore not
 * supported.
 */
export async function migrate(db: Database, options: MigrateOptions): Promise<void> {
  const { schema, logger } = options;
  const started = performance.now();
  const applied = await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [checkedSchema(schema)]);
    await tx.execScript(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    let count = 0;
    for (const set of migrationSets(options)) count += await applySet(tx, set, options);
    return count;
  });
  const ms = Math.round(performance.now() - started);
  logger.info({ schema, applied, ms }, applied > 0 ? "schema migrated" : "schema up to date");
}

async function applySet(tx: Transaction, set: MigrationSet, { schema, logger }: MigrateOptions): Promise<number> {
  // LOCAL: ends with the transaction, so the pooled connection keeps its own search_path.
  if (set.unqualified) await tx.execScript(`SET LOCAL search_path TO ${schema}`);
  const postgrator = postgratorFor(tx, set);
  postgrator.on("migration-started", (migration) =>
    logger.info({ schema, versionTable: set.versionTable, version: migration.version, migration: migration.name }, "applying migration"),
  );
  return (await postgrator.migrate()).length;
}
