import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Postgrator from "postgrator";
import { checkedSchema, type Database } from "./database.js";
import type { Logger } from "./logger.js";

export interface MigrateOptions {
  /** The schema the service owns; its version table is `<schema>.schemaversion`. */
  schema: string;
  /** Absolute folder of `NNN.do.<what>.sql` files (resolve it from the caller's module, which runs from dist/). */
  migrationsDir: string;
  logger: Logger;
}

function postgratorFor(db: Pick<Database, "query" | "execScript">, options: Pick<MigrateOptions, "schema" | "migrationsDir">): Postgrator {
  return new Postgrator({
    driver: "pg",
    schemaTable: `${checkedSchema(options.schema)}.schemaversion`,
    migrationPattern: path.join(options.migrationsDir, "*.sql"),
    execQuery: (sql) => db.query(sql),
    execSqlScript: (sql) => db.execScript(sql),
  });
}

/** The schema's applied version and the newest migration this code ships (0 when none is applied). */
export async function schemaVersion(db: Database, options: Pick<MigrateOptions, "schema" | "migrationsDir">): Promise<{ applied: number; latest: number }> {
  const postgrator = postgratorFor(db, options);
  const [applied, latest] = await Promise.all([postgrator.getDatabaseVersion(), postgrator.getMaxVersion()]);
  return { applied, latest };
}

/**
 * Waits until the migration command (a Job, a Helm hook) has brought `schema` to the newest version this code
 * knows, checking every `intervalMs`; so replicas of a new version never race each other to migrate. A schema
 * already newer than the code (a rollback) is accepted: migrations are written to be backward compatible.
 */
export async function awaitSchema(
  db: Database,
  options: Pick<MigrateOptions, "schema" | "migrationsDir" | "logger"> & { intervalMs?: number; signal: AbortSignal },
): Promise<void> {
  const { schema, logger, signal } = options;
  for (let logged = false; ; logged = true) {
    const version = await schemaVersion(db, options).catch((err: unknown) => {
      logger.warn({ schema, err }, "cannot read the schema version");
      return undefined;
    });
    if (version && version.applied >= version.latest) {
      if (version.applied > version.latest) logger.warn({ schema, ...version }, "schema is newer than this code");
      return;
    }
    if (version && !logged) logger.warn({ schema, ...version }, "waiting for the migration command to bring the schema up to date");
    await sleep(options.intervalMs ?? 2_000, undefined, { signal });
  }
}

/**
 * Brings `schema` to the newest migration. The whole run is one transaction holding
 * `pg_advisory_xact_lock(hashtext(schema))`: replicas starting together apply each file once (the others wait,
 * then find nothing to do), and a failing file leaves no half-applied schema behind. A migration that cannot
 * run in a transaction (CREATE INDEX CONCURRENTLY) is therefore not supported.
 */
export async function migrate(db: Database, options: MigrateOptions): Promise<void> {
  const { schema, logger } = options;
  const started = performance.now();
  const applied = await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [checkedSchema(schema)]);
    await tx.execScript(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const postgrator = postgratorFor(tx, options);
    postgrator.on("migration-started", (migration) =>
      logger.info({ schema, version: migration.version, migration: migration.name }, "applying migration"),
    );
    return postgrator.migrate();
  });
  const ms = Math.round(performance.now() - started);
  logger.info({ schema, applied: applied.length, ms }, applied.length > 0 ? "schema migrated" : "schema up to date");
}
