import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { openDatabase, type Database } from "./database.js";
import { createLogger } from "./logger.js";
import { migrate } from "./migrate.js";

const logger = createLogger("migrate-test", "warn");
const orderMigrations = fileURLToPath(new URL("../order/migrations", import.meta.url));

describe(`migrate (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    t = await testDatabase();
    dir = await mkdtemp(path.join(tmpdir(), "migrations-"));
    await writeFile(
      path.join(dir, "001.do.init.sql"),
      "CREATE TABLE mt.applied (version int NOT NULL);\nINSERT INTO mt.applied VALUES (1);\n",
    );
    await writeFile(path.join(dir, "002.do.more.sql"), "INSERT INTO mt.applied VALUES (2);\nCREATE INDEX applied_version ON mt.applied (version);\n");
  });
  afterAll(async () => {
    await t?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("applies each migration once even when two migrators start together", async () => {
    // On a real server the second migrator has its own pool, like a second replica.
    const second: Database = t.url ? await openDatabase({ url: t.url, logger }) : t.db;
    try {
      await Promise.all([
        migrate(t.db, { schema: "mt", migrationsDir: dir, logger }),
        migrate(second, { schema: "mt", migrationsDir: dir, logger }),
      ]);
    } finally {
      if (second !== t.db) await second.close();
    }
    const { rows } = await t.db.query<{ version: number }>("SELECT version FROM mt.applied ORDER BY version");
    expect(rows.map((r) => r.version)).toEqual([1, 2]);
    const versions = await t.db.query<{ version: number }>("SELECT version FROM mt.schemaversion WHERE version > 0 ORDER BY version");
    expect(versions.rows.map((r) => Number(r.version))).toEqual([1, 2]);
  });

  it("is a no-op when up to date, and applies a new file later", async () => {
    await migrate(t.db, { schema: "mt", migrationsDir: dir, logger });
    await writeFile(path.join(dir, "003.do.third.sql"), "INSERT INTO mt.applied VALUES (3);\n");
    await migrate(t.db, { schema: "mt", migrationsDir: dir, logger });
    const { rows } = await t.db.query<{ version: number }>("SELECT version FROM mt.applied ORDER BY version");
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3]);
  });

  it("leaves nothing behind when a migration fails", async () => {
    await writeFile(path.join(dir, "004.do.broken.sql"), "INSERT INTO mt.applied VALUES (4);\nSELECT * FROM mt.missing_table;\n");
    await expect(migrate(t.db, { schema: "mt", migrationsDir: dir, logger })).rejects.toThrow();
    const { rows } = await t.db.query<{ version: number }>("SELECT max(version) AS version FROM mt.applied");
    expect(rows[0]?.version).toBe(3);
    await rm(path.join(dir, "004.do.broken.sql"));
  });

  it("adds the shared outbox and processed_event to every schema, also one whose own 001 made its outbox", async () => {
    await migrate(t.db, { schema: "orders", migrationsDir: orderMigrations, logger });
    await migrate(t.db, { schema: "bare", logger });
    const { rows } = await t.db.query<{ schema: string; table: string }>(
      `SELECT table_schema AS schema, table_name AS table FROM information_schema.tables
        WHERE table_schema IN ('orders', 'bare') AND table_name IN ('outbox', 'processed_event') ORDER BY 1, 2`,
    );
    expect(rows).toEqual([
      { schema: "bare", table: "outbox" },
      { schema: "bare", table: "processed_event" },
      { schema: "orders", table: "outbox" },
      { schema: "orders", table: "processed_event" },
    ]);
  });

  it("rejects a schema name that is not a plain identifier", async () => {
    await expect(migrate(t.db, { schema: "mt; DROP", migrationsDir: dir, logger })).rejects.toThrow(/invalid schema/);
  });
});
