// The deployment claims on the real servers (PostgreSQL when DATABASE_URL is set, else PGlite; Redis when
// REDIS_URL is set): the first deployment claims, its own replicas pass, another is refused naming both, and of
// deployments racing for a fresh schema or Redis database exactly one wins.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabase, type TestDatabase } from "../../test/support/databases.js";
import { checkSchemaOwner, claimRedis, claimSchema, OwnedElsewhere, schemaOwner } from "./deployment.js";
import { createLogger } from "./logger.js";
import { migrate } from "./migrate.js";
import { closeRedis, connectRedis } from "./redis.js";

const logger = createLogger("deployment-test", "silent");

describe(`deployment claims (${process.env.DATABASE_URL ? "PostgreSQL" : "PGlite"})`, () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await testDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  it("claims a schema for the first deployment; its replicas pass, another deployment is refused naming both", async () => {
    await migrate(t.db, { schema: "first", logger });
    expect(await schemaOwner(t.db, "first")).toBeUndefined();
    await claimSchema(t.db, "first", "staging/rights");
    await claimSchema(t.db, "first", "staging/rights");
    const refused = claimSchema(t.db, "first", "production/rights");
    await expect(refused).rejects.toThrow(OwnedElsewhere);
    await expect(refused).rejects.toThrow(/schema first belongs to staging\/rights, not production\/rights/);
    expect(await schemaOwner(t.db, "first")).toBe("staging/rights");
  });

  it("lets any deployment through a schema not migrated yet (no claim table) or never claimed", async () => {
    await checkSchemaOwner(t.db, "never_made", "production/rights");
    await migrate(t.db, { schema: "unclaimed", logger });
    await checkSchemaOwner(t.db, "unclaimed", "production/rights");
  });

  it("gives a fresh schema to exactly one of deployments racing for it", async () => {
    await migrate(t.db, { schema: "raced", logger });
    const names = Array.from({ length: 8 }, (_, i) => `ns${i}/rights`);
    const results = await Promise.allSettled(names.map((name) => claimSchema(t.db, "raced", name)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const winner = names[results.findIndex((r) => r.status === "fulfilled")];
    expect(await schemaOwner(t.db, "raced")).toBe(winner);
  });
});

describe.skipIf(!process.env.REDIS_URL)("the Redis database's deployment claim", () => {
  const redis = connectRedis(process.env.REDIS_URL ?? "", logger);
  // A key of its own: parallel runs against one Redis never share it.
  const key = `test:deployment:${randomBytes(4).toString("hex")}`;
  afterAll(async () => {
    await redis.del(key);
    await closeRedis(redis);
  });

  it("claims it for the first deployment; its replicas pass, another is refused naming both; of racers one wins", async () => {
    const names = Array.from({ length: 8 }, (_, i) => `ns${i}/rights`);
    const results = await Promise.allSettled(names.map((name) => claimRedis(redis, name, key)));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const winner = names[results.findIndex((r) => r.status === "fulfilled")] ?? "";
    await claimRedis(redis, winner, key);
    await expect(claimRedis(redis, "production/rights", key)).rejects.toThrow(new RegExp(`Redis database belongs to ${winner}, not production/rights`));
    expect(await redis.get(key)).toBe(winner);
  });
});
