// A database of its own for each test file: a fresh PostgreSQL database when DATABASE_URL is set (parallel test
// files never collide), else an in-memory PGlite.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "../../services/common/database.js";
import { createLogger } from "../../services/common/logger.js";

export interface TestDatabase {
  /** The new database's URL (real server only), for code under test that opens its own connections. */
  url?: string;
  db: Database;
  /** Closes `db` and drops the database. */
  drop(): Promise<void>;
}

const logger = createLogger("test-db", process.env.LOG_LEVEL ?? "warn");

async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: 30_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function testDatabase(): Promise<TestDatabase> {
  const serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    const db = await openDatabase({ logger });
    return { db, drop: () => db.close() };
  }
  const name = `t_${randomBytes(6).toString("hex")}`;
  await withAdmin(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = await openDatabase({ url: url.toString(), logger, poolSize: 5 });
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.close();
      await withAdmin(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}
