// PostgreSQL access shared by every service: a pg pool (cluster) or PGlite (embedded), one interface.
import { mkdir } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PGlite, types as pgliteTypes } from "@electric-sql/pglite";
import pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import type { Logger } from "./logger.js";

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** A schema name safe to write into SQL text (schema names cannot be bound as parameters). */
export function checkedSchema(schema: string): string {
  if (!IDENTIFIER.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  return schema;
}

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** Something that runs SQL: the database itself or an open transaction. */
export interface Queryable {
  query<R extends object = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** An open transaction: queries, plus multi-statement scripts (migrations). */
export interface Transaction extends Queryable {
  /** Runs a script of several statements without parameters (simple protocol). */
  execScript(sql: string): Promise<void>;
  /**
   * `COPY … FROM STDIN` of `data` (text format) inside this transaction (pg-copy-streams). PostgreSQL only: on
   * PGlite writers batch INSERTs instead.
   */
  copyFrom?(sql: string, data: string): Promise<void>;
}

export interface Database extends Queryable {
  /** Runs `fn` in one transaction: COMMIT when it resolves, ROLLBACK when it throws (and rethrows). */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Runs a script of several statements without parameters (simple protocol). */
  execScript(sql: string): Promise<void>;
  /** Resolves when the database answers `SELECT 1`. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * The bytes of a `COPY … TO STDOUT` statement as PostgreSQL sends them, on a connection of its own
   * (pg-copy-streams), paused while the caller is busy. PostgreSQL only: PGlite copies only into a buffer it
   * holds whole. COPY takes no parameters: quote values with `sqlLiteral`.
   */
  copyOut?(copySql: string): AsyncIterable<Buffer>;
}

/** A string as an SQL literal, for the statements that take no parameters (COPY). */
export const sqlLiteral = (value: string): string => pg.escapeLiteral(value);

/**
 * Whether input text holds a control character or a lone surrogate: PostgreSQL refuses a NUL in text and a lone
 * surrogate reaches it as U+FFFD, so an input field with either is refused rather than stored changed.
 */
export const hasControlCharacter = (text: string): boolean => /[\p{Cc}\p{Cs}]/u.test(text);

/**
 * A failure's text as a text column takes it: it quotes an upstream's message, which may hold a NUL (PostgreSQL
 * refuses one in text, and the statement recording the failure with it), and is kept to `max` characters.
 */
export const storableText = (text: string, max = 500): string => text.replaceAll("\u0000", "").slice(0, max);

export interface DatabaseOptions {
  /** postgres://… for the cluster path; absent means embedded PGlite in `dataDir`. */
  url?: string;
  /** PGlite data folder; absent means in memory (tests). */
  dataDir?: string;
  poolSize?: number;
  logger: Logger;
}

/** Queries slower than this are logged at warn. */
const SLOW_QUERY_MS = 500;
/** Server-side limit of one statement; the client gives up a little later in case the server is unreachable. */
const STATEMENT_TIMEOUT_MS = 10_000;
const CLIENT_QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 5_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** A copied query may sort its whole result before the first row (one statement): it gets longer. */
const STREAM_STATEMENT_TIMEOUT_MS = 5 * 60_000;
/** Bound on distinct named statements, so dynamic SQL cannot grow the cache (and each connection) forever. */
const MAX_NAMED_STATEMENTS = 1_000;

const OID_INT8 = 20;
const OID_DATE = 1082;

/**
 * Both drivers decode values the same way: int8 (counts, ids) as a JS number, and `date` as its
 * 'YYYY-MM-DD' text (pg would make a local-midnight Date, PGlite a UTC-midnight one).
 */
const pgTypeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === OID_INT8) return (value: string) => Number(value);
    if (oid === OID_DATE) return (value: string) => value;
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig["getTypeParser"],
};
const pgliteParsers = {
  [pgliteTypes.INT8]: (value: string) => Number(value),
  [pgliteTypes.DATE]: (value: string) => value,
};

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? openPool(options.url, options) : openPglite(options);
}

/**
 * A handle on a database owned by someone else: everything passes through except `close`, so each service of
 * the embedded process can close its handle while the one PGlite instance lives on.
 */
export function sharedDatabase(db: Database): Database {
  return {
    query: (text, params) => db.query(text, params),
    transaction: (fn) => db.transaction(fn),
    execScript: (sql) => db.execScript(sql),
    ping: () => db.ping(),
    close: async () => {},
    ...(db.copyOut ? { copyOut: db.copyOut.bind(db) } : {}),
  };
}

/** Logs slow and failed statements by their SQL text only: parameter values may hold personal data. */
class QueryLog {
  constructor(private readonly logger: Logger) {}

  async timed<T>(text: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await run();
      const ms = Math.round(performance.now() - started);
      if (ms >= SLOW_QUERY_MS) this.logger.warn({ sql: summarize(text), ms }, "slow query");
      return result;
    } catch (err) {
      const code = sqlState(err);
      const ms = Math.round(performance.now() - started);
      // Constraint violations and serialization failures are routine (idempotency keys, retries).
      const routine = code !== undefined && (code.startsWith("23") || code === "40001" || code === "40P01");
      const fields = { sql: summarize(text), ms, code, error: err instanceof Error ? err.message : String(err) };
      if (routine) this.logger.debug(fields, "query failed");
      else this.logger.warn(fields, "query failed");
      throw err;
    }
  }
}

function summarize(text: string): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine;
}

function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** Maps SQL text to a stable statement name, so each connection parses and plans a statement once. */
class StatementNames {
  private readonly names = new Map<string, string>();
  private counter = 0;

  nameOf(text: string): string | undefined {
    const known = this.names.get(text);
    if (known !== undefined) return known;
    if (this.names.size >= MAX_NAMED_STATEMENTS) return undefined;
    const name = `s${++this.counter}`;
    this.names.set(text, name);
    return name;
  }

  /** After a schema change invalidated a cached plan, the next use gets a fresh name (and a fresh parse). */
  forget(text: string): void {
    this.names.delete(text);
  }
}

/** PostgreSQL's answer when a prepared statement's result columns changed under it (a migration ran). */
function isStalePlan(err: unknown): boolean {
  return sqlState(err) === "0A000" && err instanceof Error && err.message.includes("cached plan must not change result type");
}

type PgRunner = Pick<pg.Pool, "query"> | Pick<pg.PoolClient, "query">;

async function runNamed<R extends object>(
  runner: PgRunner,
  names: StatementNames,
  text: string,
  params: readonly unknown[] | undefined,
  retryStalePlan: boolean,
): Promise<QueryResult<R>> {
  const values = params ? [...params] : [];
  const name = names.nameOf(text);
  try {
    const result = await runner.query<R & pg.QueryResultRow>(name ? { name, text, values } : { text, values });
    return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
  } catch (err) {
    if (!name || !isStalePlan(err)) throw err;
    names.forget(text);
    if (!retryStalePlan) throw err;
    return runNamed(runner, names, text, params, false);
  }
}

async function openPool(url: string, options: DatabaseOptions): Promise<Database> {
  const log = new QueryLog(options.logger);
  const names = new StatementNames();
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: CLIENT_QUERY_TIMEOUT_MS,
    // A transaction left open by a stuck caller must not hold its locks forever.
    idle_in_transaction_session_timeout: 60_000,
    keepAlive: true,
    types: pgTypeParsers,
  });
  // An idle client losing its connection emits here; without a listener the process would crash.
  pool.on("error", (err) => options.logger.warn({ error: err.message }, "idle database connection failed"));

  const txOf = (client: pg.PoolClient): Transaction => ({
    // Inside a transaction a stale plan aborts the transaction, so no retry there.
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      log.timed(text, () => runNamed<R>(client, names, text, params, false)),
    execScript: async (sql) => {
      await log.timed(sql, () => client.query(sql));
    },
    // COPY FROM clears pg's query timer itself (unlike COPY TO, below).
    copyFrom: async (sql, data) => {
      await log.timed(sql, () => pipeline(Readable.from([data]), client.query(copyFrom(sql))));
    },
  });

  return {
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      log.timed(text, () => runNamed<R>(pool, names, text, params, true)),
    execScript: async (sql) => {
      await log.timed(sql, () => pool.query(sql));
    },
    async transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        const result = await fn(txOf(client));
        await client.query("COMMIT");
        return result;
      } catch (err) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          // The connection is in an unknown state: release(err) destroys it instead of pooling it.
          broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
        }
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async ping() {
      await pool.query("SELECT 1");
    },
    async close() {
      await pool.end();
    },
    async *copyOut(copySql: string): AsyncIterable<Buffer> {
      const client = await pool.connect();
      let finished = false;
      try {
        await client.query(`SET statement_timeout = ${STREAM_STATEMENT_TIMEOUT_MS}`);
        for await (const data of client.query(copyQuery(copySql))) yield data as Buffer;
        // Back to the pool's own timeout (the connection's startup value).
        await client.query("RESET statement_timeout");
        finished = true;
      } finally {
        // A copy left half-way (the caller stopped, or it failed) leaves the connection mid-statement: destroy it.
        client.release(!finished);
      }
    },
  };
}

/** What pg and pg-copy-streams do with a COPY TO query beyond its typings. */
type CopyQuery = ReturnType<typeof copyTo> & {
  query_timeout?: number;
  callback?: (err?: Error) => void;
  handleReadyForQuery(): void;
  handleError(err: Error): void;
};

/**
 * A COPY TO query whose client-side timeout pg can clear. pg times every query from its start and clears the
 * timer in the callback it gives the query, which pg-copy-streams' COPY TO never calls (brianc/node-pg-copy-streams
 * #156): the pool's 15 s would cut a long copy short, and the timer would fire after a copy ended (holding the
 * process open until then). So: the copy's own timeout, the longer statement timeout's plus the same margin, and
 * the callback called when the copy ends or fails.
 */
function copyQuery(copySql: string): CopyQuery {
  const query = copyTo(copySql) as CopyQuery;
  query.query_timeout = STREAM_STATEMENT_TIMEOUT_MS + CLIENT_QUERY_TIMEOUT_MS - STATEMENT_TIMEOUT_MS;
  const ended = query.handleReadyForQuery.bind(query);
  const failed = query.handleError.bind(query);
  query.handleReadyForQuery = () => {
    query.callback?.();
    ended();
  };
  query.handleError = (err) => {
    query.callback?.(err);
    failed(err);
  };
  return query;
}

type PgliteRunner = Pick<PGlite, "query" | "exec">;

function pgliteQueryable(runner: PgliteRunner, log: QueryLog): Transaction {
  return {
    query: <R extends object>(text: string, params?: readonly unknown[]) =>
      log.timed(text, async () => {
        const result = await runner.query<R>(text, params ? [...params] : undefined);
        // PGlite reports affectedRows only for writes; pg's rowCount is the row count of a SELECT too.
        const rowCount = result.fields.length > 0 ? result.rows.length : (result.affectedRows ?? 0);
        return { rows: result.rows, rowCount };
      }),
    execScript: async (sql) => {
      await log.timed(sql, () => runner.exec(sql));
    },
  };
}

async function openPglite(options: DatabaseOptions): Promise<Database> {
  const log = new QueryLog(options.logger);
  // PGlite creates its own folder but not the folders above it: the default `data/pglite` of a fresh clone.
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const pglite = new PGlite({ ...(options.dataDir ? { dataDir: options.dataDir } : {}), parsers: pgliteParsers });
  await pglite.waitReady;
  const direct = pgliteQueryable(pglite, log);
  return {
    ...direct,
    // PGlite is one connection: its transaction holds a mutex, so other queries wait until it ends.
    // A transaction's callback must therefore use `tx`, never the database itself, or it deadlocks.
    transaction: (fn) => pglite.transaction((tx) => fn(pgliteQueryable(tx, log))),
    async ping() {
      await pglite.query("SELECT 1");
    },
    async close() {
      if (!pglite.closed) await pglite.close();
    },
  };
}
