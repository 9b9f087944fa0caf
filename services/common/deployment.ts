// Which deployment (PLATFORM_INSTANCE) uses a service's PostgreSQL schema and the Redis database. Their names
// are the same in every release, so a second release pointed at the first's database would share its rows (the
// outbox, the claims, the orders) and its locks. The first to start claims them; a service of another
// deployment then refuses to start, naming both, as it does for the NATS streams (StreamsOwnedElsewhere).
import type { Redis } from "ioredis";
import { checkedSchema, type Database } from "./database.js";

/** The Redis key holding the deployment that uses the database (it never expires). */
export const REDIS_DEPLOYMENT_KEY = "rights:deployment";

const RENAME_HINT = "each deployment needs its own PostgreSQL database, Redis database and NATS account (README, Running on Kubernetes)";

export class OwnedElsewhere extends Error {
  override readonly name = "OwnedElsewhere";
}

/** The deployment that claimed `schema`; undefined while none has, or before the migration making its table. */
export async function schemaOwner(db: Database, schema: string): Promise<string | undefined> {
  const table = `${checkedSchema(schema)}.deployment`;
  const { rows } = await db.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [table]);
  if (!rows[0]?.present) return undefined;
  const owner = await db.query<{ instance: string }>(`SELECT instance FROM ${table}`);
  return owner.rows[0]?.instance;
}

/** Fails with OwnedElsewhere when another deployment claimed `schema` (a schema nobody claimed passes). */
export async function checkSchemaOwner(db: Database, schema: string, instance: string): Promise<void> {
  const owner = await schemaOwner(db, schema);
  if (owner !== undefined && owner !== instance) {
    throw new OwnedElsewhere(`schema ${schema} belongs to ${owner}, not ${instance}: ${RENAME_HINT}`);
  }
}

/** Claims the (migrated) schema for `instance` unless a deployment has; then fails if that one is another. */
export async function claimSchema(db: Database, schema: string, instance: string): Promise<void> {
  await db.query(`INSERT INTO ${checkedSchema(schema)}.deployment (instance) VALUES ($1) ON CONFLICT (single) DO NOTHING`, [instance]);
  await checkSchemaOwner(db, schema, instance);
}

/**
 * Claims the Redis database for `instance` unless a deployment has (one atomic SET NX GET); else as claimSchema.
 * `key`: another than the platform's, for tests sharing one Redis.
 */
export async function claimRedis(redis: Pick<Redis, "set">, instance: string, key = REDIS_DEPLOYMENT_KEY): Promise<void> {
  const owner = await redis.set(key, instance, "NX", "GET");
  if (owner !== null && owner !== instance) {
    throw new OwnedElsewhere(`the Redis database belongs to ${owner}, not ${instance}: ${RENAME_HINT}`);
  }
}
