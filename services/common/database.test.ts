import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { openDatabase, sharedDatabase } from "./database.js";
import { createLogger } from "./logger.js";

describe(`database (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await testDatabase();
    await t.db.execScript(`
      CREATE SCHEMA dbt;
      CREATE TABLE dbt.item (id int PRIMARY KEY, name text NOT NULL, n int8, day date, blob bytea);
    `);
  });
  afterAll(async () => {
    await t?.drop();
  });

  it("runs parameterised queries and decodes values the same way on both drivers", async () => {
    const insert = await t.db.query("INSERT INTO dbt.item (id, name, n, day, blob) VALUES ($1, $2, $3, $4, $5)", [
      1,
      "one",
      42,
      "2025-03-31",
      new Uint8Array([1, 2, 255]),
    ]);
    expect(insert.rowCount).toBe(1);
    const { rows, rowCount } = await t.db.query<{ name: string; n: number; day: string; blob: Uint8Array }>(
      "SELECT name, n, day, blob FROM dbt.item WHERE id = $1",
      [1],
    );
    expect(rowCount).toBe(1);
    expect(rows[0]).toMatchObject({ name: "one", n: 42, day: "2025-03-31" });
    expect([...(rows[0]?.blob ?? [])]).toEqual([1, 2, 255]);
    const count = await t.db.query<{ c: number }>("SELECT count(*) AS c FROM dbt.item");
    expect(count.rows[0]?.c).toBe(1);
  });

  it("reuses a statement with new parameters", async () => {
    for (let i = 10; i < 15; i++) await t.db.query("INSERT INTO dbt.item (id, name) VALUES ($1, $2)", [i, `n${i}`]);
    const { rows } = await t.db.query<{ id: number }>("SELECT id FROM dbt.item WHERE id >= $1 ORDER BY id", [10]);
    expect(rows.map((r) => r.id)).toEqual([10, 11, 12, 13, 14]);
  });

  it("commits a transaction that resolves and rolls back one that throws", async () => {
    const value = await t.db.transaction(async (tx) => {
      await tx.query("INSERT INTO dbt.item (id, name) VALUES ($1, $2)", [20, "kept"]);
      return "done";
    });
    expect(value).toBe("done");
    await expect(
      t.db.transaction(async (tx) => {
        await tx.query("INSERT INTO dbt.item (id, name) VALUES ($1, $2)", [21, "dropped"]);
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const { rows } = await t.db.query<{ id: number }>("SELECT id FROM dbt.item WHERE id IN (20, 21) ORDER BY id");
    expect(rows.map((r) => r.id)).toEqual([20]);
  });

  it("keeps answering a statement after a migration changed its result columns", async () => {
    const select = "SELECT * FROM dbt.item WHERE id = $1";
    await t.db.query(select, [1]);
    await t.db.execScript("ALTER TABLE dbt.item ADD COLUMN extra text");
    const { rows } = await t.db.query<{ extra: string | null }>(select, [1]);
    expect(rows[0]?.extra).toBeNull();
  });

  it("reports constraint violations with their SQLSTATE", async () => {
    await expect(t.db.query("INSERT INTO dbt.item (id, name) VALUES ($1, $2)", [1, "dup"])).rejects.toMatchObject({ code: "23505" });
  });

  it("a shared handle's close leaves the database open", async () => {
    const shared = sharedDatabase(t.db);
    await shared.close();
    await shared.ping();
    await t.db.ping();
  });

  it.runIf(process.env.DATABASE_URL)("streams a COPY's bytes as PostgreSQL writes them", async () => {
    const copyOut = t.db.copyOut?.bind(t.db);
    expect(copyOut).toBeTypeOf("function");
    const pieces: Buffer[] = [];
    for await (const piece of copyOut!("COPY (SELECT id, name FROM dbt.item ORDER BY id) TO STDOUT (FORMAT csv)")) pieces.push(piece);
    const { rows } = await t.db.query<{ id: number; name: string }>("SELECT id, name FROM dbt.item ORDER BY id");
    expect(Buffer.concat(pieces).toString("utf8")).toBe(rows.map((r) => `${r.id},${r.name}\n`).join(""));
  });
});

describe("embedded database (PGlite in DATA_DIR)", () => {
  let root: string | undefined;
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("opens a DATA_DIR whose parent folders do not exist yet, and finds its data there again", async () => {
    root = await mkdtemp(join(tmpdir(), "rights-data-"));
    // As `data/pglite` in a fresh clone: neither folder exists.
    const dataDir = join(root, "data", "pglite");
    const logger = createLogger("test", "silent");

    const first = await openDatabase({ dataDir, logger });
    try {
      await first.execScript("CREATE TABLE kept (id int PRIMARY KEY); INSERT INTO kept VALUES (7);");
    } finally {
      await first.close();
    }
    const second = await openDatabase({ dataDir, logger });
    try {
      expect((await second.query<{ id: number }>("SELECT id FROM kept")).rows).toEqual([{ id: 7 }]);
    } finally {
      await second.close();
    }
  });
});
