import path from "node:path";
import Postgrator from "postgrator";
import type { Database } from "./database.js";
import type { Logger } from "./logger.js";

export interface MigrateOptions {
  /** The schema the service owns; its version table is `<schema>.schemaversion`. */
  schema: string;
  /** Absolute folder of `NNN.do.<what>.sql` files (resolve it from the caller's module, which runs from dist/). */
  migrationsDir: string;
  logger: Logger;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * Brings `schema` to the newest migration. The whole run is one transaction holding
 * `pg_advisory_xact_lock(hashtext(schema))`: replicas starting together apply each file once (the others wait,
 * then find nothing to do), and a failing file leaves no half-applied schema behind. A migration that cannot
 * run in a transaction (CREATE INDEX CONCURRENTLY) is therefore not supported.
 */
export async function migrate(db: Database, options: MigrateOptions): Promise<void> {
  const { schema, logger } = options;
  if (!IDENTIFIER.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const started = performance.now();
  const applied = await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock(hashtext($1))", [schema]);
    await tx.execScript(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    const postgrator = new Postgrator({
      driver: "pg",
      schemaTable: `${schema}.schemaversion`,
      migrationPattern: path.join(options.migrationsDir, "*.sql"),
      execQuery: (sql) => tx.query(sql),
      execSqlScript: (sql) => tx.execScript(sql),
    });
    postgrator.on("migration-started", (migration) =>
      logger.info({ schema, version: migration.version, migration: migration.name }, "applying migration"),
    );
    return postgrator.migrate();
  });
  const ms = Math.round(performance.now() - started);
  logger.info({ schema, applied: applied.length, ms }, applied.length > 0 ? "schema migrated" : "schema up to date");
}
