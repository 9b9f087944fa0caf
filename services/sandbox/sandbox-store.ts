import { fileURLToPath } from "node:url";
import type { Database } from "../common/database.js";
import type { Logger } from "../common/logger.js";
import { migrate } from "../common/migrate.js";

/**
 * Where a simulator keeps its state: JSON records by kind and key. In memory for unit tests and the standalone
 * sandbox process; in the embedded platform's database, so a restart keeps every booking and voucher URL.
 * Records go through JSON in both, so they behave the same (timestamps are ISO strings, values are copies).
 */
export interface SandboxStore {
  records<T>(kind: string): SandboxRecords<T>;
}

export interface SandboxRecords<T> {
  get(key: string): Promise<T | undefined>;
  /** Inserts or replaces; a replaced record keeps its place in `list()`. */
  put(key: string, value: T): Promise<void>;
  delete(key: string): Promise<void>;
  /** Every record, in the order their keys were first put. */
  list(): Promise<T[]>;
}

export function memorySandboxStore(): SandboxStore {
  const kinds = new Map<string, Map<string, string>>();
  return {
    records<T>(kind: string): SandboxRecords<T> {
      let records = kinds.get(kind);
      if (!records) kinds.set(kind, (records = new Map()));
      const byKey = records;
      return {
        get: async (key) => {
          const json = byKey.get(key);
          return json === undefined ? undefined : (JSON.parse(json) as T);
        },
        put: async (key, value) => {
          byKey.set(key, JSON.stringify(value));
        },
        delete: async (key) => {
          byKey.delete(key);
        },
        list: async () => [...byKey.values()].map((json) => JSON.parse(json) as T),
      };
    },
  };
}

/** The `sandbox` schema and its migrations, applied by the embedded platform as it starts. */
export const sandboxSchema = { schema: "sandbox", migrationsDir: fileURLToPath(new URL("./migrations", import.meta.url)) };

/** The records in `sandbox.record` of `db`, after bringing the schema to its newest migration. */
export async function databaseSandboxStore(db: Database, logger: Logger): Promise<SandboxStore> {
  await migrate(db, { ...sandboxSchema, logger });
  return {
    records<T>(kind: string): SandboxRecords<T> {
      // The value travels as text both ways, so both drivers see the same JSON.
      return {
        async get(key) {
          const { rows } = await db.query<{ value: string }>("SELECT value::text AS value FROM sandbox.record WHERE kind = $1 AND key = $2", [
            kind,
            key,
          ]);
          return rows[0] && (JSON.parse(rows[0].value) as T);
        },
        async put(key, value) {
          await db.query(
            "INSERT INTO sandbox.record (kind, key, value) VALUES ($1, $2, $3::text::jsonb) ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value",
            [kind, key, JSON.stringify(value)],
          );
        },
        async delete(key) {
          await db.query("DELETE FROM sandbox.record WHERE kind = $1 AND key = $2", [kind, key]);
        },
        async list() {
          const { rows } = await db.query<{ value: string }>("SELECT value::text AS value FROM sandbox.record WHERE kind = $1 ORDER BY seq", [kind]);
          return rows.map((row) => JSON.parse(row.value) as T);
        },
      };
    },
  };
}

/**
 * Runs the functions it is given one after another: a simulator's read-then-write on its store must not
 * interleave with another call's (two issues of one order would make two vouchers).
 */
export function oneAtATime(): <T>(fn: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = last.then(fn);
    last = run.catch(() => undefined);
    return run;
  };
}
